"""Tests for storage/operations.py: ops are validated when they are built."""

from __future__ import annotations

import pytest

from storage import (
    EncodeError,
    InvalidInputError,
    InvalidKeyError,
    OpType,
    Outcome,
    StoreDirectory,
    Table,
    TableSession,
    build_operation,
)
from storage.operations import _successor


@pytest.fixture
def table(store: StoreDirectory, users: TableSession) -> Table:
    return store.table("users")


@pytest.mark.parametrize(
    ("kind", "args", "options", "writes"),
    [
        ("insert", ("k", 1), {}, True),
        ("update", ("k", 1), {}, True),
        ("upsert", ("k", 1), {}, True),
        ("remove", ("k",), {}, True),
        ("batch", (None, [("upsert", "k", 1)]), {}, True),
        ("search", ("k",), {}, False),
        ("exists", ("k",), {}, False),
        ("count", (), {}, False),
        ("scan", (), {"prefix": "k", "limit": 1}, False),
    ],
)
def test_build_operation_of_every_kind(
    table: Table,
    kind: str,
    args: tuple[object, ...],
    options: dict[str, object],
    writes: bool,
) -> None:
    for spelled in (kind, OpType(kind)):
        op = build_operation(table, spelled, *args, **options)
        assert op.type is OpType(kind)
        assert op.writes is writes
        assert op.table is table


def test_build_operation_refuses_an_unknown_kind(table: Table) -> None:
    with pytest.raises(InvalidInputError, match=r"unknown op type 'frob'; use one of"):
        build_operation(table, "frob", "k")


def test_build_operation_refuses_options_except_for_scan(table: Table) -> None:
    with pytest.raises(InvalidInputError, match=r"search\(\) takes no options"):
        build_operation(table, "search", "k", limit=1)


def test_build_operation_refuses_bad_input_before_any_transaction(
    table: Table,
) -> None:
    with pytest.raises(InvalidKeyError, match="empty key"):
        build_operation(table, "upsert", "", 1)
    with pytest.raises(EncodeError, match="cannot encode value"):
        build_operation(table, "upsert", "k", object())


def test_an_op_shows_its_table_and_key(table: Table) -> None:
    op = build_operation(table, "remove", "k")
    assert repr(op) == "<Remove table='users' key='k'>"
    assert op.key == "k"


def test_outcome_ok() -> None:
    assert Outcome(result=3).ok
    assert not Outcome(error=ValueError("x")).ok


@pytest.mark.parametrize(
    ("prefix", "successor"),
    [
        (b"a", b"b"),
        (b"a\x00", b"a\x01"),
        (b"a\xff", b"b"),
        (b"a\xfe\xff\xff", b"a\xff"),
        (b"\xff", None),
        (b"\xff\xff", None),
        (b"", None),
    ],
)
def test_successor_is_the_first_key_past_the_prefix(
    prefix: bytes, successor: bytes | None
) -> None:
    assert _successor(prefix) == successor
