"""Tests for storage/errors.py: one tree, messages that say what to do."""

from __future__ import annotations

import pytest

from actorstore import storage
from actorstore.storage import (
    DecodeError,
    EncodeError,
    InvalidInputError,
    InvalidKeyError,
    InvalidOptionError,
    InvalidTableNameError,
    KeyExistsError,
    LmdbError,
    NotFoundError,
    OpVetoedError,
    StoreBusyError,
    StoreClosedError,
    StoreError,
    StoreFullError,
    TableExistsError,
    TransientError,
    UnknownFormatError,
    UnknownTableError,
)


def test_every_error_is_exported_and_derives_from_store_error() -> None:
    names = storage.errors.__all__
    assert names == sorted(names)
    for name in names:
        error = getattr(storage.errors, name)
        assert getattr(storage, name) is error
        assert issubclass(error, StoreError)


@pytest.mark.parametrize(
    "error",
    [
        InvalidTableNameError,
        InvalidKeyError,
        EncodeError,
        UnknownTableError,
        UnknownFormatError,
        TableExistsError,
        InvalidOptionError,
    ],
)
def test_bad_input_errors_are_invalid_input_and_value_errors(
    error: type[StoreError],
) -> None:
    assert issubclass(error, InvalidInputError)
    assert issubclass(error, ValueError)


def test_only_busy_is_transient() -> None:
    assert issubclass(StoreBusyError, TransientError)
    for error in (
        KeyExistsError,
        NotFoundError,
        StoreFullError,
        StoreClosedError,
        OpVetoedError,
        InvalidInputError,
        DecodeError,
        LmdbError,
    ):
        assert not issubclass(error, TransientError)


def test_key_exists_error_keeps_its_context() -> None:
    error = KeyExistsError(table="users", key="norma")
    assert str(error) == (
        "table 'users': key 'norma' already exists; use update() or upsert() to "
        "change it"
    )
    assert (error.table, error.key) == ("users", "norma")


@pytest.mark.parametrize(
    ("op", "hint"),
    [
        ("update", "use insert() or upsert() to create it"),
        ("remove", "check the key, or use exists() first"),
        ("search", "check the key, or use exists() first"),
    ],
)
def test_not_found_error_hints_by_op(op: str, hint: str) -> None:
    error = NotFoundError(table="t", key=b"k", op=op)
    assert str(error) == f"table 't': key b'k' not found by {op}(); {hint}"
    assert (error.table, error.key, error.op) == ("t", b"k", op)


def test_not_found_error_defaults_to_search() -> None:
    assert NotFoundError(table="t", key=1).op == "search"


def test_store_full_error_names_the_batch_size_for_removes() -> None:
    error = StoreFullError(table="big", max_map_size=1 << 21, remove_batch=20)
    assert "remove data in batches of at most 20 keys, then compact()" in str(error)
    assert error.remove_batch == 20


def test_store_full_error_says_how_to_make_room() -> None:
    error = StoreFullError(table="big", max_map_size=1 << 21)
    assert "2097152 bytes" in str(error)
    assert "larger max_map_size=" in str(error)
    assert "compact()" in str(error)
    assert (error.table, error.max_map_size) == ("big", 1 << 21)


def test_store_closed_error_names_what_is_closed() -> None:
    assert str(StoreClosedError()) == "the store is closed; open it again to use it"
    error = StoreClosedError("table", table="t")
    assert str(error).startswith("the table is closed")
    assert error.table == "t"


def test_op_vetoed_error_with_and_without_key() -> None:
    assert str(OpVetoedError(table="t", key="k")).startswith("table 't', key 'k': ")
    assert str(OpVetoedError(table="t")).startswith("table 't': the op was vetoed")


def test_unknown_table_and_invalid_name_errors() -> None:
    assert UnknownTableError(table="t").table == "t"
    assert "create_table()" in str(UnknownTableError(table="t"))
    error = InvalidTableNameError("a/b", "because")
    assert error.name == "a/b"
    assert str(error).startswith("invalid table name 'a/b': because; use 1 to 64")


def test_plain_errors_carry_optional_context() -> None:
    error = LmdbError("disk on fire", table="t", key=b"k")
    assert (str(error), error.table, error.key) == ("disk on fire", "t", b"k")
    assert StoreError("x").table is None
