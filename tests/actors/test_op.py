"""Tests for actors/op.py: Op handles, their ids, types and one-time submission."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from actorstore import Op, OpFuture, OpSubmittedError, OpType, Store, storage
from actorstore.storage import (
    InvalidKeyError,
    InvalidOptionError,
    NotFoundError,
    UnknownTableError,
)

WAIT = 5.0


def test_a_new_op_has_a_unique_id_and_no_type_yet(store: Store) -> None:
    first, second = store.new_op("users"), store.new_op("users")

    assert isinstance(first, Op)
    assert second.id > first.id
    assert first.type is None
    assert (first.table, first.key, first.value) == ("users", None, None)


def test_an_op_handle_shows_the_wiredtiger_surface_and_no_bookkeeping(
    store: Store,
) -> None:
    op = store.new_op("users")
    public = {name for name in dir(op) if not name.startswith("_")}

    assert public == {
        "id",
        "type",
        "table",
        "key",
        "value",
        "options",
        "insert",
        "update",
        "upsert",
        "remove",
        "search",
        "exists",
        "count",
        "scan",
        "batch",
        "compact",
    }


def test_op_ids_are_unique_across_threads(store: Store) -> None:
    ids: list[int] = []
    lock = threading.Lock()

    def make() -> None:
        mine = [store.new_op("users").id for _ in range(500)]
        with lock:
            ids.extend(mine)

    threads = [threading.Thread(target=make) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)

    assert len(ids) == len(set(ids)) == 2000


@pytest.mark.parametrize(
    ("method", "key", "value", "op_type", "result"),
    [
        ("insert", "new", 1, OpType.INSERT, None),
        ("update", "here", 2, OpType.UPDATE, None),
        ("upsert", "any", 3, OpType.UPSERT, None),
        ("remove", "here", None, OpType.REMOVE, None),
        ("search", "here", None, OpType.SEARCH, 0),
        ("exists", "here", None, OpType.EXISTS, True),
        ("count", None, None, OpType.COUNT, 1),
        ("scan", None, None, OpType.SCAN, [("here", 0)]),
        ("batch", None, [("upsert", "b", 1)], OpType.BATCH, 1),
        ("compact", None, None, OpType.COMPACT, None),
    ],
)
def test_each_op_method_submits_with_its_type(
    store: Store,
    method: str,
    key: Any,
    value: Any,
    op_type: OpType,
    result: Any,
) -> None:
    store.upsert("users", "here", 0).get(timeout=WAIT)
    op = store.new_op("users")
    op.key, op.value = key, value

    future: OpFuture[Any] = getattr(op, method)()

    outcome = future.get(timeout=WAIT)
    if op_type is OpType.COMPACT:
        assert isinstance(outcome, int)
    else:
        assert outcome == result
    assert op.type is op_type
    assert future.op_id == op.id


def test_scan_options_of_an_op(store: Store) -> None:
    for key in ["a1", "a2", "b1"]:
        store.upsert("users", key, key)
    op = store.new_op("users")
    op.options = {"prefix": "a", "reverse": True}

    assert op.scan().get(timeout=WAIT) == [("a2", "a2"), ("a1", "a1")]


def test_an_op_is_submitted_once(store: Store) -> None:
    op = store.new_op("users")
    op.key, op.value = "k", 1
    future = op.upsert()

    with pytest.raises(OpSubmittedError, match=f"op {op.id} was already submitted"):
        op.update()
    with pytest.raises(OpSubmittedError, match="use new_op"):
        op.upsert()
    assert future.get(timeout=WAIT) is None
    assert op.type is OpType.UPSERT


def test_an_op_refused_at_submit_can_be_fixed_and_submitted(store: Store) -> None:
    op = store.new_op("users")
    op.value = 1

    with pytest.raises(InvalidKeyError):
        op.insert()
    assert op.type is OpType.INSERT  # tried, but not submitted
    op.key = "k"

    assert op.insert().get(timeout=WAIT) is None
    assert store.search("users", "k").get(timeout=WAIT) == 1
    assert store.stats()["submitted"] == 2


def test_new_op_takes_a_callback_and_options(store: Store) -> None:
    calls: list[tuple[BaseException | None, Any]] = []
    op = store.new_op(
        "users", callback=lambda e, r: calls.append((e, r)), durability="none"
    )
    op.key = "gone"

    with pytest.raises(NotFoundError):
        op.search().get(timeout=WAIT)
    assert isinstance(calls[0][0], NotFoundError)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"timeout": 1}, r"unknown op option\(s\) \['timeout'\]"),
        ({"callbacks": None}, "unknown op option"),
        ({"durability": 1}, "unknown durability 1"),
        ({"wait_timeout": -2}, "wait_timeout must be"),
        ({"reply_to": object()}, "reply_to must be a pykka.ActorRef"),
    ],
)
def test_new_op_refuses_bad_options(
    store: Store, options: dict[str, Any], match: str
) -> None:
    with pytest.raises(InvalidOptionError, match=match):
        store.new_op("users", **options)


def test_new_op_refuses_a_callback_that_cannot_be_called(store: Store) -> None:
    with pytest.raises(InvalidOptionError, match="not int"):
        store.new_op("users", callback=3)  # type: ignore[arg-type]


def test_repr_shows_id_type_table_and_key(store: Store) -> None:
    op = store.new_op("users")
    op.key, op.value = "norma", 1

    assert repr(op) == f"<Op {op.id} new table='users' key='norma'>"
    op.upsert().get(timeout=WAIT)
    assert repr(op) == f"<Op {op.id} upsert table='users' key='norma'>"


def test_the_op_vocabulary_is_storage_s() -> None:
    assert OpType is storage.OpType
    assert OpType("compact") is OpType.COMPACT


def test_an_op_of_an_unknown_table_is_refused_only_at_submit(store: Store) -> None:
    op = store.new_op("nope")
    op.key, op.value = "k", 1

    with pytest.raises(UnknownTableError, match="'nope' does not exist"):
        op.upsert()
    assert store.tables() == ["users"]
