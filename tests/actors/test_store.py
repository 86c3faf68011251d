"""Tests for actors/store.py: the Store facade, its options, callbacks and lifecycle."""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pykka
import pytest

import actorstore
from actorstore import (
    Durability,
    OpFuture,
    OpsMaxExceededError,
    OpTimeoutError,
    OpType,
    Store,
)
from actorstore.retry import Callback, RetriesExhaustedError, RetryCallback, RetryPolicy
from actorstore.storage import (
    EncodeError,
    InvalidInputError,
    InvalidKeyError,
    InvalidOptionError,
    InvalidTableNameError,
    KeyExistsError,
    NotFoundError,
    OpVetoedError,
    StoreBusyError,
    StoreClosedError,
    StoreError,
    UnknownTableError,
)

WAIT = 5.0


class Veto(Exception):
    """Raised by a callback to veto its op."""


class Recorder(Callback):
    """A `retry.Callback` that records what it was told, and on which thread."""

    def __init__(self, *, veto: BaseException | None = None) -> None:
        self.results: list[Any] = []
        self.errors: list[BaseException] = []
        self.threads: list[str] = []
        self.veto = veto
        self.done = threading.Event()

    def callback(self, result: Any) -> object:
        self.threads.append(threading.current_thread().name)
        self.results.append(result)
        if self.veto is not None:
            raise self.veto
        self.done.set()
        return None

    def exception(self, error: BaseException) -> None:
        self.threads.append(threading.current_thread().name)
        self.errors.append(error)
        self.done.set()


@pytest.fixture
def executor() -> Iterator[concurrent.futures.ThreadPoolExecutor]:
    """A callback executor; request it before `make_store` so it outlives the store."""
    pool = concurrent.futures.ThreadPoolExecutor(
        max_workers=2, thread_name_prefix="callbacks"
    )
    yield pool
    pool.shutdown(wait=True)


def contents(store: Store, table: str = "users") -> dict[Any, Any]:
    return dict(store.scan(table).get(timeout=WAIT))


# -- opening ---------------------------------------------------------------------


def test_open_store_returns_an_open_store_with_its_options(
    make_store: Callable[..., Store],
) -> None:
    store = make_store(threads=3, ops_max=7, durability="none", sync_interval=0.5)

    assert isinstance(store, Store)
    assert not store.is_closed
    assert (store.threads, store.ops_max, store.sync_interval) == (3, 7, 0.5)
    assert store.durability is Durability.NONE
    assert "threads=3" in repr(store)
    assert "ops_max=7" in repr(store)


def test_new_tables_take_the_store_durability_unless_told(
    make_store: Callable[..., Store],
) -> None:
    store = make_store(durability=Durability.NONE)

    assert store.create_table("lazy").durability is Durability.NONE
    assert store.create_table("safe", durability="sync").durability is Durability.SYNC
    assert store.tables() == ["lazy", "safe"]


def test_each_table_is_owned_by_one_of_threads_workers(
    make_store: Callable[..., Store],
) -> None:
    store = make_store(threads=3)
    names = ["a", "b", "c"]
    threads: dict[str, set[str]] = {name: set() for name in names}
    for name in names:
        store.create_table(name)

    def record(table: str) -> Callable[[BaseException | None, Any], None]:
        def callback(error: BaseException | None, result: Any) -> None:
            threads[table].add(threading.current_thread().name)

        return callback

    futures = [
        store.upsert(name, f"k{i}", i, callback=record(name))
        for i in range(20)
        for name in names
    ]
    for future in futures:
        future.get(timeout=WAIT)

    assert all(len(owners) == 1 for owners in threads.values()), threads
    owners = {next(iter(owner)) for owner in threads.values()}
    assert len(owners) == 3
    assert all(name.startswith("TableOwner") for name in owners)


def test_store_is_a_context_manager_that_closes(store_path: Path) -> None:
    with actorstore.open_store(store_path) as store:
        store.create_table("users")
        store.upsert("users", "norma", {"age": 31})

    assert store.is_closed
    with actorstore.open_store(store_path) as store:
        assert store.search("users", "norma").get(timeout=WAIT) == {"age": 31}


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"threads": 0}, "threads must be an int >= 1"),
        ({"threads": 1.5}, "threads must be an int"),
        ({"threads": True}, "threads must be an int"),
        ({"ops_max": 0}, "ops_max must be an int >= 1"),
        ({"ops_max": "10"}, "ops_max must be an int"),
        ({"durability": "fast"}, "unknown durability 'fast'"),
        ({"sync_interval": -1}, "sync_interval must be a number of seconds > 0"),
        ({"wait_timeout": -0.5}, "wait_timeout must be a number of seconds >= 0"),
        ({"wait_timeout": "1"}, "wait_timeout must be a number"),
        ({"wait": "no"}, "wait must be"),
        ({"retry": {"max_attempts": 3}}, "retry must be an actorstore.RetryPolicy"),
        ({"callback_executor": object()}, "callback_executor must be a"),
    ],
)
def test_open_store_refuses_bad_options_and_leaves_the_path_usable(
    store_path: Path, options: dict[str, Any], match: str
) -> None:
    with pytest.raises(InvalidOptionError, match=match):
        actorstore.open_store(store_path, **options)

    with actorstore.open_store(store_path) as store:
        store.create_table("users")
        store.upsert("users", "k", 1).get(timeout=WAIT)


# -- op methods ------------------------------------------------------------------


def test_every_op_method_round_trips(store: Store) -> None:
    assert store.insert("users", "norma", {"age": 31}).get(timeout=WAIT) is None
    assert store.upsert("users", "ada", {"age": 36}).get(timeout=WAIT) is None
    assert store.update("users", "norma", {"age": 32}).get(timeout=WAIT) is None
    assert store.search("users", "norma").get(timeout=WAIT) == {"age": 32}
    assert store.exists("users", "ada").get(timeout=WAIT) is True
    assert store.exists("users", "bob").get(timeout=WAIT) is False
    assert store.count("users").get(timeout=WAIT) == 2
    assert store.scan("users").get(timeout=WAIT) == [
        ("ada", {"age": 36}),
        ("norma", {"age": 32}),
    ]
    assert store.remove("users", "ada").get(timeout=WAIT) is None
    assert store.count("users").get(timeout=WAIT) == 1


def test_scan_takes_prefix_range_limit_and_reverse(store: Store) -> None:
    for key in ["a1", "a2", "a3", "b1", "b2"]:
        store.upsert("users", key, key.upper())
    store.flush(WAIT)

    def keys(**options: Any) -> list[str]:
        return [key for key, _ in store.scan("users", **options).get(timeout=WAIT)]

    assert keys(prefix="a") == ["a1", "a2", "a3"]
    assert keys(start="a2", end="b2") == ["a2", "a3", "b1"]
    assert keys(limit=2, reverse=True) == ["b2", "b1"]
    assert keys(prefix="b", reverse=True) == ["b2", "b1"]


def test_batch_is_all_or_nothing(store: Store) -> None:
    store.upsert("users", "kept", 1).get(timeout=WAIT)

    applied = store.batch("users", [("insert", "a", 1), ("upsert", "b", 2)])
    assert applied.get(timeout=WAIT) == 2
    failing = store.batch(
        "users", [("upsert", "c", 3), ("remove", "a"), ("insert", "kept", 0)]
    )
    with pytest.raises(KeyExistsError, match="'kept' already exists"):
        failing.get(timeout=WAIT)

    assert contents(store) == {"a": 1, "b": 2, "kept": 1}


def test_new_op_shares_the_path_of_the_op_methods(store: Store) -> None:
    op = store.new_op("users")
    op.key, op.value = "norma", {"age": 31}

    future = op.insert()

    assert future.get(timeout=WAIT) is None
    assert op.type is OpType.INSERT
    assert future.op_id == op.id
    assert store.search("users", "norma").get(timeout=WAIT) == {"age": 31}


@pytest.mark.parametrize(
    ("submit", "error", "match"),
    [
        (lambda s: s.insert("users", "here", 0), KeyExistsError, "already exists"),
        (
            lambda s: s.update("users", "gone", 0),
            NotFoundError,
            "'gone' not found by update",
        ),
        (lambda s: s.remove("users", "gone"), NotFoundError, "not found by remove"),
        (lambda s: s.search("users", "gone"), NotFoundError, "not found by search"),
    ],
)
def test_futures_fail_with_the_ops_own_error(
    store: Store,
    submit: Callable[[Store], OpFuture[Any]],
    error: type[StoreError],
    match: str,
) -> None:
    store.upsert("users", "here", 1).get(timeout=WAIT)

    future = submit(store)

    with pytest.raises(error, match=match) as caught:
        future.get(timeout=WAIT)
    assert type(caught.value) is error
    assert caught.value.table == "users"
    assert future.exception(timeout=WAIT) is caught.value


def test_compact_returns_the_bytes_reclaimed(store: Store) -> None:
    big = "x" * 4000
    store.batch("users", [("upsert", f"k{i}", big) for i in range(500)]).get(
        timeout=WAIT
    )
    store.batch("users", [("remove", f"k{i}") for i in range(500)]).get(timeout=WAIT)
    table = store._transport.directory.table("users")
    before = table.used_size()

    reclaimed = store.compact("users", timeout=WAIT)

    assert reclaimed > 0
    assert reclaimed == before - table.file_size()
    store.upsert("users", "after", 1).get(timeout=WAIT)
    assert contents(store) == {"after": 1}


def test_compact_without_a_table_compacts_every_table(store: Store) -> None:
    store.create_table("other")
    store.upsert("other", "k", 1).get(timeout=WAIT)

    assert store.compact(timeout=WAIT) >= 0
    assert store.search("other", "k").get(timeout=WAIT) == 1


def test_compact_of_an_unknown_table_is_refused(store: Store) -> None:
    with pytest.raises(UnknownTableError, match="'nope' does not exist"):
        store.compact("nope")


# -- bad input -------------------------------------------------------------------

# Callables over `Any`: the point is to pass what the signatures forbid.
BAD_SUBMISSIONS: list[tuple[str, Callable[[Any], object], type[Exception], str]] = [
    (
        "unknown table",
        lambda s: s.upsert("nope", "k", 1),
        UnknownTableError,
        "table 'nope' does not exist; create it",
    ),
    (
        "bad table name",
        lambda s: s.upsert("../etc", "k", 1),
        InvalidTableNameError,
        "invalid table name",
    ),
    (
        "table name of the wrong type",
        lambda s: s.upsert(["users"], "k", 1),
        InvalidTableNameError,
        "expected str",
    ),
    (
        "key of the wrong type",
        lambda s: s.upsert("users", 5, 1),
        InvalidKeyError,
        "invalid key 5",
    ),
    ("empty key", lambda s: s.insert("users", "", 1), InvalidKeyError, "empty key"),
    (
        "over-long key",
        lambda s: s.upsert("users", "k" * 600, 1),
        InvalidKeyError,
        "511-byte limit",
    ),
    ("missing key", lambda s: s.search("users", None), InvalidKeyError, "invalid"),
    (
        "unencodable value",
        lambda s: s.upsert("users", "k", object()),
        EncodeError,
        "cannot encode value",
    ),
    (
        "NaN value",
        lambda s: s.upsert("users", "k", float("nan")),
        EncodeError,
        "cannot encode value",
    ),
    (
        "bad scan limit",
        lambda s: s.scan("users", limit=-1),
        InvalidInputError,
        "scan limit must be",
    ),
    (
        "bad batch item",
        lambda s: s.batch("users", [("upsert", "a", 1), ("frob", "b")]),
        InvalidInputError,
        "unknown kind 'frob'",
    ),
    (
        "bad batch value",
        lambda s: s.batch("users", [("upsert", "a", 1), ("upsert", "b", object())]),
        EncodeError,
        "cannot encode value",
    ),
    (
        "non-callable callback",
        lambda s: s.upsert("users", "k", 1, callback=42),
        InvalidOptionError,
        "callback must be an actorstore.Callback or a function",
    ),
    (
        "reply_to not an ActorRef",
        lambda s: s.upsert("users", "k", 1, reply_to="me"),
        InvalidOptionError,
        "reply_to must be a pykka.ActorRef, not str",
    ),
    (
        "unknown durability",
        lambda s: s.upsert("users", "k", 1, durability="fast"),
        InvalidOptionError,
        "unknown durability 'fast'",
    ),
    (
        "negative wait_timeout",
        lambda s: s.upsert("users", "k", 1, wait_timeout=-1),
        InvalidOptionError,
        "wait_timeout must be a number of seconds >= 0",
    ),
    (
        "wait not a bool",
        lambda s: s.upsert("users", "k", 1, wait="no"),
        InvalidOptionError,
        "wait must be",
    ),
    (
        "retry not a policy",
        lambda s: s.upsert("users", "k", 1, retry={"max_attempts": 2}),
        InvalidOptionError,
        "retry must be an actorstore.RetryPolicy",
    ),
    (
        "unknown option",
        lambda s: s.upsert("users", "k", 1, frobnicate=True),
        InvalidOptionError,
        r"unknown op option\(s\) \['frobnicate'\]",
    ),
]


@pytest.mark.parametrize(
    ("submit", "error", "match"),
    [case[1:] for case in BAD_SUBMISSIONS],
    ids=[case[0] for case in BAD_SUBMISSIONS],
)
def test_bad_input_is_refused_at_submit_before_anything_is_written(
    store: Store, submit: Callable[[Store], object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        submit(store)

    stats = store.stats()
    assert (stats["submitted"], stats["in_flight"]) == (0, 0)
    assert store.count("users").get(timeout=WAIT) == 0
    store.upsert("users", "k", 1).get(timeout=WAIT)
    assert contents(store) == {"k": 1}


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.flush(timeout=-1),
        lambda s: s.close(timeout=-1),
        lambda s: s.compact("users", timeout=-1),
        lambda s: s.upsert("users", "k", 1, wait=True, wait_timeout=-0.1),
    ],
    ids=["flush", "close", "compact", "wait_timeout"],
)
def test_negative_timeouts_are_refused_and_the_store_stays_usable(
    store: Store, call: Callable[[Store], object]
) -> None:
    with pytest.raises(InvalidOptionError, match=">= 0"):
        call(store)

    assert not store.is_closed
    store.upsert("users", "k", 1).get(timeout=WAIT)
    assert contents(store) == {"k": 1}


# -- ops_max -----------------------------------------------------------------------


def test_ops_max_refuses_at_once_and_frees_slots_as_ops_finish(
    make_store: Callable[..., Store], hold: Callable[..., Any]
) -> None:
    store = make_store(threads=1, ops_max=3, wait=False)
    store.create_table("users")
    gate = hold(store, "users")
    queued = [store.upsert("users", f"k{i}", i) for i in range(2)]

    with pytest.raises(OpsMaxExceededError, match=r"ops_max=3") as caught:
        store.upsert("users", "over", 1, wait=False)
    assert caught.value.ops_max == 3
    assert store.stats()["in_flight"] == 3

    gate.open()
    for future in [gate.future, *queued]:
        future.get(timeout=WAIT)
    store.flush(WAIT)
    assert store.stats()["in_flight"] == 0
    refill = [store.upsert("users", f"again{i}", i) for i in range(3)]
    for future in refill:
        future.get(timeout=WAIT)
    assert "over" not in contents(store)


def test_ops_max_error_names_the_option_that_waits(
    make_store: Callable[..., Store], hold: Callable[..., Any]
) -> None:
    store = make_store(threads=1, ops_max=1)
    store.create_table("users")
    hold(store, "users")

    with pytest.raises(OpsMaxExceededError) as caught:
        store.upsert("users", "over", 1, wait=False)

    # The remedy it gives must be one that works: `timeout=` is not an op option.
    message = str(caught.value)
    assert "wait_timeout=" in message, message
    with pytest.raises(InvalidOptionError, match="unknown op option"):
        store.upsert("users", "over", 1, timeout=1)  # type: ignore[call-arg]


class Stop(BaseException):
    """What a done callback raises in these tests: not an `Exception`."""


def stop(_: OpFuture[Any]) -> None:
    """A done callback that raises `Stop`."""
    raise Stop


def test_a_done_callback_raising_base_exception_strands_no_op_of_its_group(
    make_store: Callable[..., Store], hold: Callable[..., Any]
) -> None:
    store = make_store(threads=1)
    store.create_table("users")
    gate = hold(store, "users")
    group = [store.upsert("users", f"k{i}", i) for i in range(3)]  # one group
    group[0].add_done_callback(stop)

    gate.open()

    assert [future.get(timeout=WAIT) for future in group] == [None, None, None]
    store.flush(timeout=WAIT)  # every op of the group counts as finished
    assert store.stats()["in_flight"] == 0


def test_a_failed_op_whose_done_callback_raises_base_exception_is_finished(
    make_store: Callable[..., Store], hold: Callable[..., Any]
) -> None:
    store = make_store(threads=1)
    store.create_table("users")
    store.insert("users", "k", 1).get(timeout=WAIT)
    gate = hold(store, "users")
    failing = store.insert("users", "k", 2)  # KeyExistsError once it runs
    seen: list[str] = []
    failing.add_done_callback(stop)
    failing.add_done_callback(lambda _: seen.append("second"))

    gate.open()

    with pytest.raises(KeyExistsError):
        failing.get(timeout=WAIT)
    store.flush(timeout=WAIT)
    assert seen == ["second"]
    assert store.stats()["in_flight"] == 0


def test_a_done_future_has_freed_its_slot(
    make_store: Callable[..., Store], hold: Callable[..., Any]
) -> None:
    store = make_store(threads=1, ops_max=1)
    store.create_table("users")
    gate = hold(store, "users")
    outcome: list[object] = []
    follow_up_done = threading.Event()

    def submit_follow_up(done: OpFuture[Any]) -> None:
        try:
            follow = store.upsert("users", "next", 1)
        except StoreError as exc:
            outcome.append(exc)
            follow_up_done.set()
        else:
            outcome.append(follow)
            follow.add_done_callback(lambda _: follow_up_done.set())

    gate.future.add_done_callback(submit_follow_up)
    gate.open()

    assert follow_up_done.wait(WAIT)
    assert isinstance(outcome[0], OpFuture), f"follow-up refused: {outcome[0]!r}"
    assert outcome[0].get(timeout=WAIT) is None


def test_wait_true_on_the_store_waits_for_a_slot(
    make_store: Callable[..., Store], hold: Callable[..., Any]
) -> None:
    store = make_store(threads=1, ops_max=1, wait=True)
    store.create_table("users")
    gate = hold(store, "users")
    submitted: list[OpFuture[Any]] = []
    waiter = threading.Thread(
        target=lambda: submitted.append(store.upsert("users", "late", 1))
    )

    waiter.start()
    waiter.join(0.1)
    assert waiter.is_alive(), "the submit did not wait for a slot"
    gate.open()
    waiter.join(WAIT)

    assert not waiter.is_alive()
    assert submitted[0].get(timeout=WAIT) is None
    assert contents(store)["late"] == 1


def test_wait_false_on_the_call_overrides_the_store(
    make_store: Callable[..., Store], hold: Callable[..., Any]
) -> None:
    store = make_store(threads=1, ops_max=1, wait=True)
    store.create_table("users")
    hold(store, "users")

    with pytest.raises(OpsMaxExceededError):
        store.upsert("users", "over", 1, wait=False)


@pytest.mark.parametrize("on", ["call", "store"])
def test_wait_timeout_gives_up_with_ops_max_exceeded(
    make_store: Callable[..., Store], hold: Callable[..., Any], on: str
) -> None:
    store_options: dict[str, Any] = {"wait_timeout": 0.05} if on == "store" else {}
    call_options: dict[str, Any] = {"wait_timeout": 0.05} if on == "call" else {}
    store = make_store(threads=1, ops_max=1, **store_options)
    store.create_table("users")
    gate = hold(store, "users")

    with pytest.raises(OpsMaxExceededError, match=r"after waiting 0\.05 s"):
        store.upsert("users", "over", 1, **call_options)

    gate.open()
    assert store.upsert("users", "fits", 1, **call_options).get(timeout=WAIT) is None
    assert "over" not in contents(store)


# -- callbacks -----------------------------------------------------------------


def test_a_callback_object_gets_the_result_on_the_owner_before_the_future(
    store: Store, hold: Callable[..., Any]
) -> None:
    store.upsert("users", "norma", {"age": 31}).get(timeout=WAIT)
    futures: list[OpFuture[Any]] = []
    done_in_callback: list[bool] = []

    class Check(Recorder):
        def callback(self, result: Any) -> object:
            done_in_callback.append(futures[0].done())
            return super().callback(result)

    handler = Check()
    gate = hold(store, "users")  # so the future exists before the callback runs
    futures.append(store.search("users", "norma", callback=handler))
    gate.open()

    assert futures[0].get(timeout=WAIT) == {"age": 31}
    assert handler.results == [{"age": 31}]
    assert handler.errors == []
    assert done_in_callback == [False]
    assert handler.threads[0].startswith("TableOwner")


def test_a_callback_object_gets_the_ops_error(store: Store) -> None:
    handler = Recorder()

    future = store.update("users", "gone", 1, callback=handler)

    with pytest.raises(NotFoundError):
        future.get(timeout=WAIT)
    assert handler.results == []
    assert [type(e) for e in handler.errors] == [NotFoundError]
    assert handler.errors[0] is future.exception(timeout=WAIT)


def test_a_function_callback_gets_error_and_result(store: Store) -> None:
    calls: list[tuple[BaseException | None, Any]] = []

    def callback(error: BaseException | None, result: Any) -> None:
        calls.append((error, result))

    store.upsert("users", "k", 7, callback=callback).get(timeout=WAIT)
    store.search("users", "k", callback=callback).get(timeout=WAIT)
    with pytest.raises(NotFoundError):
        store.remove("users", "gone", callback=callback).get(timeout=WAIT)

    assert calls[0] == (None, None)
    assert calls[1] == (None, 7)
    assert isinstance(calls[2][0], NotFoundError)
    assert calls[2][1] is None


def test_a_raising_callback_vetoes_its_op_and_nothing_is_written(store: Store) -> None:
    handler = Recorder(veto=Veto("not norma"))

    future = store.insert("users", "norma", {"age": 31}, callback=handler)

    with pytest.raises(Veto, match="not norma"):
        future.get(timeout=WAIT)
    assert handler.results == [None]
    assert handler.errors == [handler.veto]
    assert contents(store) == {}
    assert store.stats()["failed"] == 1


def test_a_callback_returning_false_vetoes_with_op_vetoed_error(store: Store) -> None:
    calls: list[tuple[BaseException | None, Any]] = []

    def refuse(error: BaseException | None, result: Any) -> object:
        calls.append((error, result))
        return error is not None

    future = store.upsert("users", "norma", 1, callback=refuse)

    with pytest.raises(OpVetoedError, match="'norma': the op was vetoed"):
        future.get(timeout=WAIT)
    assert calls[0] == (None, None)
    assert isinstance(calls[1][0], OpVetoedError)
    assert calls[1][1] is None
    assert contents(store) == {}


def test_a_vetoed_batch_writes_none_of_its_items(store: Store) -> None:
    future = store.batch(
        "users",
        [("upsert", "a", 1), ("upsert", "b", 2)],
        callback=lambda error, result: error is not None,
    )

    with pytest.raises(OpVetoedError):
        future.get(timeout=WAIT)
    assert contents(store) == {}


def test_an_exception_handler_that_raises_reaches_the_future(store: Store) -> None:
    class Broken(Callback):
        def exception(self, error: BaseException) -> None:
            raise Veto("handler broke")

    future = store.search("users", "gone", callback=Broken())

    with pytest.raises(Veto, match="handler broke") as caught:
        future.get(timeout=WAIT)
    assert isinstance(caught.value.__context__, NotFoundError)
    store.upsert("users", "k", 1).get(timeout=WAIT)


def test_callback_executor_runs_callbacks_after_commit_on_the_executor(
    executor: concurrent.futures.ThreadPoolExecutor,
    make_store: Callable[..., Store],
) -> None:
    store = make_store(callback_executor=executor)
    store.create_table("users")
    seen: list[tuple[str, Any]] = []

    def callback(error: BaseException | None, result: Any) -> None:
        # After commit, so the callback may read the store itself.
        stored = store.search("users", "norma").get(timeout=WAIT)
        seen.append((threading.current_thread().name, stored))

    store.upsert("users", "norma", {"age": 31}, callback=callback).get(timeout=WAIT)

    ((thread, stored),) = seen
    assert thread.startswith("callbacks")
    assert stored == {"age": 31}


def test_callback_executor_callbacks_cannot_veto_but_their_error_reaches_the_future(
    executor: concurrent.futures.ThreadPoolExecutor,
    make_store: Callable[..., Store],
) -> None:
    store = make_store(callback_executor=executor)
    store.create_table("users")

    refused = store.upsert("users", "a", 1, callback=lambda error, result: False)
    raising = store.upsert("users", "b", 2, callback=Recorder(veto=Veto("late")))

    assert refused.get(timeout=WAIT) is None
    with pytest.raises(Veto, match="late") as caught:
        raising.get(timeout=WAIT)
    assert any("committed" in note for note in caught.value.__notes__)
    assert contents(store) == {"a": 1, "b": 2}
    assert store.stats()["callback_failed"] == 1


def test_callback_executor_routes_op_errors_to_exception(
    executor: concurrent.futures.ThreadPoolExecutor,
    make_store: Callable[..., Store],
) -> None:
    store = make_store(callback_executor=executor)
    store.create_table("users")
    handler = Recorder()

    future = store.remove("users", "gone", callback=handler)

    with pytest.raises(NotFoundError):
        future.get(timeout=WAIT)
    assert [type(e) for e in handler.errors] == [NotFoundError]
    assert handler.threads[0].startswith("callbacks")


def test_a_shut_down_callback_executor_reports_a_committed_op_as_committed(
    make_store: Callable[..., Store], caplog: pytest.LogCaptureFixture
) -> None:
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    pool.shutdown()
    store = make_store(callback_executor=pool)
    store.create_table("users")

    future = store.insert("users", "k", 1, callback=lambda error, result: None)

    # The insert committed: reporting it failed would make a retry fail with
    # KeyExistsError. The lost callback is logged and counted instead.
    assert future.get(timeout=WAIT) is None
    assert contents(store) == {"k": 1}
    assert store.stats()["callback_failed"] == 1
    assert "refused its callback" in caplog.text
    assert store.upsert("users", "k2", 2).get(timeout=WAIT) is None


# -- flush and close -----------------------------------------------------------


def test_flush_on_an_idle_store_returns(store: Store) -> None:
    store.flush(timeout=WAIT)
    store.flush()


def test_flush_waits_for_every_op_submitted_before_it(store: Store) -> None:
    store.create_table("other")
    futures = [store.upsert("users", f"k{i}", i) for i in range(50)]
    futures += [store.upsert("other", f"k{i}", i) for i in range(50)]

    store.flush(timeout=WAIT)

    assert all(future.done() for future in futures)
    assert store.stats()["in_flight"] == 0


@pytest.mark.parametrize("where", ["in transaction", "on executor"])
def test_flush_waits_for_callbacks(
    executor: concurrent.futures.ThreadPoolExecutor,
    make_store: Callable[..., Store],
    where: str,
) -> None:
    options = {"callback_executor": executor} if where == "on executor" else {}
    store = make_store(**options)
    store.create_table("users")
    entered, release = threading.Event(), threading.Event()

    def slow(error: BaseException | None, result: Any) -> None:
        entered.set()
        assert release.wait(WAIT)

    future = store.upsert("users", "k", 1, callback=slow)
    assert entered.wait(WAIT)

    with pytest.raises(OpTimeoutError, match=r"1 ops still outstanding after 0.2 s"):
        store.flush(timeout=0.2)
    assert not future.done()

    release.set()
    store.flush(timeout=WAIT)
    assert future.done()
    assert future.get() is None


def test_close_flushes_then_stops_every_worker(store_path: Path) -> None:
    store = actorstore.open_store(store_path, threads=2)
    store.create_table("users")
    store.create_table("other")
    futures = [store.upsert("users", f"k{i}", i) for i in range(100)]
    futures += [store.upsert("other", f"k{i}", i) for i in range(100)]
    refs = [mailbox.ref for mailbox in store._transport.local_owners.mailboxes]

    store.close(timeout=WAIT)

    assert store.is_closed
    assert all(future.done() and future.exception() is None for future in futures)
    assert not any(ref is not None and ref.is_alive() for ref in refs)
    with actorstore.open_store(store_path) as again:
        assert again.count("users").get(timeout=WAIT) == 100
        assert again.count("other").get(timeout=WAIT) == 100


def test_close_twice_is_safe(store: Store) -> None:
    store.upsert("users", "k", 1)

    store.close(timeout=WAIT)
    store.close(timeout=WAIT)
    store.close()

    assert store.is_closed


SUBMITTERS: list[tuple[str, Callable[[Store], object]]] = [
    ("insert", lambda s: s.insert("users", "k", 1)),
    ("update", lambda s: s.update("users", "k", 1)),
    ("upsert", lambda s: s.upsert("users", "k", 1)),
    ("remove", lambda s: s.remove("users", "k")),
    ("search", lambda s: s.search("users", "k")),
    ("exists", lambda s: s.exists("users", "k")),
    ("count", lambda s: s.count("users")),
    ("scan", lambda s: s.scan("users")),
    ("batch", lambda s: s.batch("users", [("upsert", "k", 1)])),
    ("compact", lambda s: s.compact("users")),
    ("new_op", lambda s: s.new_op("users").count()),
    ("serialized", lambda s: s.serialized().upsert("users", "k", 1)),
    ("create_table", lambda s: s.create_table("more")),
    ("stats", lambda s: s.stats()),
]


@pytest.mark.parametrize(
    "submit", [case[1] for case in SUBMITTERS], ids=[case[0] for case in SUBMITTERS]
)
def test_submitting_after_close_raises_store_closed_at_once(
    store: Store, submit: Callable[[Store], object]
) -> None:
    store.close(timeout=WAIT)

    with pytest.raises(StoreClosedError, match="the store is closed"):
        submit(store)


def test_close_with_a_held_op_times_out_and_can_be_called_again(
    store: Store, hold: Callable[..., Any]
) -> None:
    gate = hold(store, "users")

    with pytest.raises(OpTimeoutError):
        store.close(timeout=0.1)
    assert not store.is_closed
    assert not gate.future.done()
    with pytest.raises(StoreClosedError):  # it goes on closing
        store.upsert("users", "late", {"n": 1})

    gate.open()
    store.close(timeout=WAIT)
    assert store.is_closed
    assert gate.future.get(timeout=0) is None


def test_a_program_that_never_closes_exits_with_its_data(
    store_path: Path, request: pytest.FixtureRequest
) -> None:
    root = str(request.config.rootpath)
    code = textwrap.dedent(
        f"""
        import actorstore

        def main():
            store = actorstore.open_store({str(store_path)!r}, sync_interval=60)
            store.create_table("safe", durability="sync")
            store.create_table("lazy", durability="none")
            for i in range(300):
                store.upsert("safe", f"k{{i}}", i)
                store.upsert("lazy", f"k{{i}}", i)

        main()
        """
    )
    env = {**os.environ, "PYTHONPATH": root}

    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    with actorstore.open_store(store_path) as store:
        assert store.count("safe").get(timeout=WAIT) == 300
        assert store.count("lazy").get(timeout=WAIT) == 300
        assert store.search("lazy", "k299").get(timeout=WAIT) == 299


# -- stats -----------------------------------------------------------------------


def test_stats_counts_ops_tables_and_latency(
    store: Store, hold: Callable[..., Any]
) -> None:
    for i in range(10):
        store.upsert("users", f"k{i}", {"n": i})
    with pytest.raises(NotFoundError):
        store.search("users", "gone").get(timeout=WAIT)
    store.flush(WAIT)

    stats = store.stats()

    assert stats["submitted"] == 11
    assert stats["completed"] == 10
    assert stats["failed"] == 1
    assert stats["in_flight"] == 0
    assert stats["ops_max"] == 1024
    assert 0 < stats["latency_p50"] <= stats["latency_p99"]
    users = stats["tables"]["users"]
    assert users["records"] == 10
    assert users["file_size"] > 0
    assert users["durability"] == "sync"

    gate = hold(store, "users")
    assert store.stats()["in_flight"] == 1
    gate.open()
    gate.future.get(timeout=WAIT)


def test_stats_count_each_read_at_once_once(store: Store) -> None:
    store.upsert("users", "here", {"n": 1}).get(timeout=WAIT)
    assert store.search("users", "here").get(timeout=WAIT) == {"n": 1}
    with pytest.raises(NotFoundError):
        store.search("users", "gone").get(timeout=WAIT)
    store.flush(WAIT)

    stats = store.stats()

    assert stats["read_at_once"] == 2
    assert stats["submitted"] == 3
    assert (stats["completed"], stats["failed"]) == (2, 1)


def test_stats_of_a_fresh_store_has_no_latency(store: Store) -> None:
    stats = store.stats()

    assert stats["submitted"] == stats["completed"] == stats["in_flight"] == 0
    assert stats["latency_p50"] is None
    assert stats["tables"]["users"]["records"] == 0


# -- ops from an actor -------------------------------------------------------------


def test_ops_can_be_submitted_and_awaited_from_a_pykka_actor(store: Store) -> None:
    class Client(pykka.ThreadingActor):
        def on_receive(self, message: Any) -> Any:
            store.upsert("users", message, 1).get(timeout=WAIT)
            return store.search("users", message).get(timeout=WAIT)

    ref = Client.start()
    try:
        assert ref.ask("norma", timeout=WAIT) == 1
    finally:
        ref.stop()


# -- retries through the store -----------------------------------------------------

SHORT = 1.0
"""For a wait that only a bug makes long: fails fast, passes in milliseconds."""


class FailsFirst(Callback):
    """Fails the first `failures` attempts of its op with a transient error."""

    def __init__(self, failures: int = 1) -> None:
        self.failures = failures
        self.attempts = 0

    def callback(self, result: Any) -> object:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise StoreBusyError("busy, try again", table="users")
        return None


class RetriesFirst(FailsFirst, RetryCallback):
    """The same as a RetryCallback with its default retry() and dead()."""

    def __init__(self, failures: int = 1) -> None:
        FailsFirst.__init__(self, failures)
        RetryCallback.__init__(self, RetryPolicy(max_attempts=3, jitter=0.0))


def test_a_transient_failure_is_retried_by_the_ops_retry_policy(store: Store) -> None:
    handler = FailsFirst()
    policy = RetryPolicy(max_attempts=3, jitter=0.0)

    future = store.upsert("users", "k", 1, callback=handler, retry=policy)

    assert future.get(timeout=WAIT) is None
    assert handler.attempts == 2
    assert store.stats()["retried"] == 1
    assert contents(store) == {"k": 1}


def test_a_retry_callback_retries_its_failed_op(store: Store) -> None:
    handler = RetriesFirst()

    future = store.upsert("users", "k", 1, callback=handler)

    assert future.get(timeout=SHORT) is None
    assert handler.attempts == 2
    assert contents(store) == {"k": 1}


# -- table policies are kept -------------------------------------------------------


class AlwaysBusy:
    """A `fn(error, result)` callback that fails every attempt, transiently."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, error: BaseException | None, result: object) -> object:
        if error is None:
            self.calls += 1
            raise StoreBusyError("busy")
        return None


def test_a_table_policy_is_kept_when_the_store_is_reopened(store_path: Path) -> None:
    with actorstore.open_store(store_path) as store:
        store.create_table("jobs", retry=RetryPolicy(max_attempts=3, initial_wait=0))
    with actorstore.open_store(store_path) as store:
        busy = AlwaysBusy()
        error = store.upsert("jobs", "k", 1, callback=busy).exception(WAIT)
        assert isinstance(error, RetriesExhaustedError)
        assert busy.calls == 3  # the table's 3, not the default 10
        info = store._transport.directory.table_info("jobs")
        assert RetryPolicy.from_mapping(info.options["retry"]).max_attempts == 3


def test_create_table_with_exist_ok_replaces_the_kept_policy(store_path: Path) -> None:
    with actorstore.open_store(store_path) as store:
        store.create_table("jobs", retry=RetryPolicy(max_attempts=3))
        store.create_table(
            "jobs", exist_ok=True, retry=RetryPolicy(max_attempts=2, initial_wait=0)
        )
    with actorstore.open_store(store_path) as store:
        busy = AlwaysBusy()
        store.upsert("jobs", "k", 1, callback=busy).exception(WAIT)
        assert busy.calls == 2


def test_a_table_policy_that_is_code_is_refused_before_the_table_exists(
    store: Store,
) -> None:
    with pytest.raises(InvalidOptionError, match="per store or per op"):
        store.create_table("jobs", retry=RetryPolicy(retry_on=lambda error: True))
    assert "jobs" not in store.tables()
