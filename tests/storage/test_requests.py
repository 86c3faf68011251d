"""Tests for storage/_requests.py: table requests are validated when built."""

from __future__ import annotations

import pickle
import re
import subprocess
import sys
from pathlib import Path

import pytest

from actorstore.storage import (
    EncodeError,
    InvalidInputError,
    InvalidKeyError,
    KeyExistsError,
    OpType,
    StoreDirectory,
    get_codec,
)
from actorstore.storage._requests import (
    Batch,
    Outcome,
    TableRequest,
    _successor,
    build_request,
)
from actorstore.storage._session import TableSession
from actorstore.storage._table import Table
from actorstore.storage._table_codecs import TableCodecs

REPO_ROOT = Path(__file__).resolve().parents[2]


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
def test_build_request_of_every_kind(
    table: Table,
    kind: str,
    args: tuple[object, ...],
    options: dict[str, object],
    writes: bool,
) -> None:
    for spelled in (kind, OpType(kind)):
        op = build_request(table, spelled, *args, **options)
        assert op.type is OpType(kind)
        assert op.writes is writes
        assert op.codecs is table.codecs


@pytest.mark.parametrize(
    ("kind", "shown"), [("frob", "'frob'"), (["search"], "['search']"), (None, "None")]
)
def test_build_request_refuses_an_unknown_kind(
    table: Table, kind: object, shown: str
) -> None:
    expected = rf"unknown op type {re.escape(shown)}; use one of"
    with pytest.raises(InvalidInputError, match=expected):
        build_request(table, kind, "k")  # type: ignore[arg-type]


def test_build_request_refuses_options_except_for_scan(table: Table) -> None:
    with pytest.raises(InvalidInputError, match=r"search\(\) takes no options"):
        build_request(table, "search", "k", limit=1)


def test_build_request_refuses_bad_input_before_any_transaction(
    table: Table,
) -> None:
    with pytest.raises(InvalidKeyError, match="empty key"):
        build_request(table, "upsert", "", 1)
    with pytest.raises(EncodeError, match="cannot encode value"):
        build_request(table, "upsert", "k", object())


def test_an_op_shows_its_table_and_key(table: Table) -> None:
    op = build_request(table, "remove", "k")
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


# -- requests cross process boundaries -------------------------------------------

USERS = TableCodecs("users", "str", "json")


def every_kind(codecs: TableCodecs) -> list[TableRequest]:
    return [
        build_request(codecs, "insert", "a", {"n": 1}),
        build_request(codecs, "update", "a", {"n": 2}),
        build_request(codecs, "upsert", "b", [1, 2]),
        build_request(codecs, "remove", "b"),
        build_request(codecs, "search", "a"),
        build_request(codecs, "exists", "b"),
        build_request(codecs, "count"),
        build_request(codecs, "scan", prefix="a", limit=5, reverse=True),
        build_request(codecs, "batch", value=[("upsert", "c", 3), ("remove", "c")]),
        build_request(codecs, "batch", value=[("upsert", "d", 4)]),
        build_request(codecs, "compact"),
    ]


def encoded_fields(op: TableRequest) -> dict[str, object]:
    state = op.__getstate__()
    if isinstance(op, Batch):
        del state["_runs"]
        state["writes"] = op.encoded()
    return state


@pytest.mark.parametrize("op", every_kind(USERS), ids=repr)
def test_a_request_pickles_as_its_encoded_fields(op: TableRequest) -> None:
    copy = pickle.loads(pickle.dumps(op))
    assert type(copy) is type(op)
    assert copy.codecs == op.codecs
    assert copy.codecs.key_codec is get_codec("str")
    assert copy.key == op.key
    assert encoded_fields(copy) == encoded_fields(op)
    assert repr(copy) == repr(op)
    assert getattr(copy, "value", None) is None  # the caller's value stays behind


def test_a_pickled_operation_does_not_carry_the_callers_value() -> None:
    value = {"text": "x" * 10_000}
    op = build_request(USERS, "upsert", "k", value)
    data = pickle.dumps(op)
    assert len(data) < 10_000 + 500  # the encoded bytes once, not the value too
    assert pickle.loads(data).value_bytes == op.value_bytes


def test_many_operations_pickle_their_codecs_once() -> None:
    ops = [build_request(USERS, "upsert", f"k{i}", i) for i in range(100)]
    copies = pickle.loads(pickle.dumps(ops))
    assert all(copy.codecs is copies[0].codecs for copy in copies)


def test_an_outcome_pickles_with_its_error() -> None:
    outcome = Outcome(error=KeyExistsError(table="users", key="a"))
    copy = pickle.loads(pickle.dumps(outcome))
    assert isinstance(copy.error, KeyExistsError)
    assert (copy.error.table, copy.error.key) == ("users", "a")
    assert pickle.loads(pickle.dumps(Outcome(result=[("a", 1)]))) == Outcome(
        result=[("a", 1)]
    )


def test_an_unpickled_operation_runs_on_a_session_of_its_table(
    users: TableSession,
) -> None:
    ops = pickle.loads(pickle.dumps(every_kind(users.table.codecs)))
    outcomes = users.run_group([(op, None) for op in ops])
    assert [outcome.error for outcome in outcomes] == [None] * len(ops)
    assert [outcome.result for outcome in outcomes[4:8]] == [
        {"n": 2},
        False,
        1,
        [("a", {"n": 2})],
    ]
    assert dict(users.scan()) == {"a": {"n": 2}, "d": 4}


def test_run_group_refuses_an_op_of_the_same_name_with_other_formats(
    users: TableSession,
) -> None:
    other = TableCodecs("users", "str", "bytes")
    op = build_request(other, "upsert", "k", b"v")
    with pytest.raises(
        InvalidInputError,
        match=r"op for table 'users' with key_format='str', value_format='bytes', "
        r"not 'str', 'json' given to the session of table 'users'",
    ):
        users.run_group([(op, None)])
    with pytest.raises(InvalidInputError, match="op for table 'users' with"):
        users.table.run_group([(op, None)])
    assert users.count() == 0


def test_run_group_refuses_an_unpickled_op_of_another_table(
    users: TableSession,
) -> None:
    op = pickle.loads(
        pickle.dumps(
            build_request(TableCodecs("other", "str", "json"), "upsert", "k", 1)
        )
    )
    with pytest.raises(InvalidInputError, match="op for table 'other' given to"):
        users.table.run_group([(op, None)])


OWNER = """
import pickle, sys
from actorstore.storage import StoreDirectory
requests = pickle.loads(sys.stdin.buffer.read())
with StoreDirectory(sys.argv[1]) as store:
    outcomes = store.session("users").run_group([(op, None) for op in requests])
sys.stdout.buffer.write(pickle.dumps(outcomes))
"""


def test_operations_run_in_another_process_and_outcomes_come_back(
    store: StoreDirectory, users: TableSession, store_path: Path
) -> None:
    users.insert("a", 0)
    store.close()
    codecs = TableCodecs("users", "str", "json")  # no table open in this process
    ops = [
        build_request(codecs, "insert", "a", 1),
        build_request(codecs, "upsert", "b", {"x": [1]}),
        build_request(codecs, "scan"),
    ]
    done = subprocess.run(
        [sys.executable, "-c", OWNER, str(store_path)],
        input=pickle.dumps(ops),
        capture_output=True,
        cwd=REPO_ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    outcomes = pickle.loads(done.stdout)
    assert isinstance(outcomes[0].error, KeyExistsError)
    assert (outcomes[0].error.table, outcomes[0].error.key) == ("users", "a")
    assert outcomes[1] == Outcome()
    assert outcomes[2] == Outcome(result=[("a", 0), ("b", {"x": [1]})])
