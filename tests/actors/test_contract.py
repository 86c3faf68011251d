"""Independent tests of promises of the store's contract: the `ops_max` default
(waits, parks on a loop, refuses on store threads), the order promise of reads
that run without a thread hop, the serialized client's callback order, and
what an op handle and a RetryCallback show.

Real stores in `tmp_path`, real threads.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actorstore import OpFuture, OpsMaxExceededError, OpType, Store
from actorstore.retry import (
    AsyncCallback,
    Callback,
    RetriesExhaustedError,
    RetryCallback,
    RetryPolicy,
)
from actorstore.storage import (
    EncodeError,
    KeyExistsError,
    NotFoundError,
    StoreBusyError,
    TableBusyError,
)
from tests.actors.helpers import Notes, when

WAIT = 5.0
"""Seconds a test waits for something that signals; far above what it takes."""

AT_ONCE = 1.0
"""A call that must not wait at all returns well within this many seconds."""

ROOT = Path(__file__).resolve().parents[2]


# -- 9. the ops_max default contract ---------------------------------------------------


def test_a_naive_loop_of_5000_submissions_just_works(
    make_store: Callable[..., Store],
) -> None:
    store = make_store()
    store.create_table("t")

    futs = [store.upsert("t", f"k{i}", i) for i in range(5000)]

    assert store.ops_max == 1024
    assert [f.get(timeout=WAIT) for f in futs] == [None] * 5000
    assert store.count("t").get(timeout=WAIT) == 5000
    assert store.search("t", "k4999").get(timeout=WAIT) == 4999


async def _watchdog(lags: list[float], stop: asyncio.Event) -> None:
    """Record how late each short sleep of the loop ends, until `stop` is set."""
    tick = 0.005
    while not stop.is_set():
        started = time.monotonic()
        await asyncio.sleep(tick)
        lags.append(time.monotonic() - started - tick)


def test_gather_of_10000_ops_on_a_default_store_never_blocks_the_loop(
    make_store: Callable[..., Store],
) -> None:
    store = make_store()
    store.create_table("t")

    async def main() -> tuple[list[Any], list[float]]:
        lags: list[float] = []
        stop = asyncio.Event()
        dog = asyncio.create_task(_watchdog(lags, stop))
        await asyncio.sleep(0)
        futures: list[OpFuture[None]] = []
        # The submitting loop is this test's own code: it yields every 500
        # ops so the lags measured are the store's, not 10,000 calls in a row.
        for start in range(0, 10_000, 500):
            futures += [
                store.upsert("t", f"k{i}", i) for i in range(start, start + 500)
            ]
            await asyncio.sleep(0)
        results = await asyncio.gather(*futures)
        stop.set()
        await dog
        return results, lags

    results, lags = asyncio.run(main())

    assert results == [None] * 10_000  # no OpsMaxExceededError
    assert lags, "the watchdog never ran"
    assert max(lags) < 0.5, f"the loop was blocked for {max(lags):.3f} s"
    assert store.count("t").get(timeout=WAIT) == 10_000


def test_gather_past_ops_max_with_the_owner_held_parks_instead_of_blocking(
    make_store: Callable[..., Store], hold: Callable[..., Any]
) -> None:
    store = make_store()
    store.create_table("t")
    gate = hold(store, "t")  # no slot frees up until the gate opens

    async def main() -> tuple[int, list[Any]]:
        # Waiting for a slot on the loop's thread would block it until the
        # gate opens, which only this coroutine does: a deadlock.
        futures = [store.upsert("t", f"k{i}", i) for i in range(10_000)]
        parked = store.stats()["parked"]
        await asyncio.sleep(0)
        gate.open()
        return parked, await asyncio.gather(*futures)

    parked, results = asyncio.run(main())

    assert parked >= 10_000 - store.ops_max
    assert results == [None] * 10_000
    assert store.count("t").get(timeout=WAIT) == 10_001  # and the held op's key
    assert store.stats()["parked"] == 0


def test_a_plain_thread_past_ops_max_waits_for_a_slot(
    make_store: Callable[..., Store], hold: Callable[..., Any]
) -> None:
    store = make_store(ops_max=1)
    store.create_table("t")
    gate = hold(store, "t")
    when(lambda: store._inflight._waiters > 0, gate.open)  # once it waits

    future = store.upsert("t", "k", 1)

    assert gate.released.is_set()  # it returned only once its wait freed a slot
    assert future.get(timeout=WAIT) is None
    assert gate.future.get(timeout=0) is None


def test_past_ops_max_a_store_thread_is_refused_at_once(
    make_store: Callable[..., Store], hold: Callable[..., Any]
) -> None:
    store = make_store(ops_max=2, threads=2)
    store.create_table("t")
    store.create_table("u")
    gate = hold(store, "t")  # slot 1
    found: list[Any] = []

    def callback(error: BaseException | None, result: object) -> None:
        started = time.monotonic()
        try:
            store.upsert("u", "more", 1)  # no slot left: the op itself holds 2
        except OpsMaxExceededError as exc:
            found.append((exc, time.monotonic() - started))

    assert store.upsert("u", "k", 1, callback=callback).get(timeout=WAIT) is None

    assert len(found) == 1
    error, took = found[0]
    assert took < AT_ONCE
    assert error.ops_max == 2
    assert "ops_max=2" in str(error)
    gate.open()
    assert not store.exists("u", "more").get(timeout=WAIT)


def test_wait_false_is_refused_at_once(
    make_store: Callable[..., Store], hold: Callable[..., Any], tmp_path: Path
) -> None:
    store = make_store(tmp_path / "waits", ops_max=1)
    store.create_table("t")
    refusing = make_store(tmp_path / "refuses", ops_max=1, wait=False)
    refusing.create_table("t")
    gates = [hold(store, "t"), hold(refusing, "t")]

    for submit in (
        lambda: store.upsert("t", "k", 1, wait=False),
        lambda: refusing.upsert("t", "k", 1),
    ):
        started = time.monotonic()
        with pytest.raises(OpsMaxExceededError, match=r"ops_max=1"):
            submit()
        assert time.monotonic() - started < AT_ONCE

    for gate in gates:
        gate.open()
        assert gate.future.get(timeout=WAIT) is None  # its slot is free again
    assert store.upsert("t", "k", 1, wait=False).get(timeout=WAIT) is None
    assert refusing.upsert("t", "k", 1).get(timeout=WAIT) is None


def test_wait_timeout_bounds_the_wait(
    make_store: Callable[..., Store], hold: Callable[..., Any], tmp_path: Path
) -> None:
    store = make_store(tmp_path / "a", ops_max=1)
    store.create_table("t")
    short = make_store(tmp_path / "b", ops_max=1, wait_timeout=0.2)
    short.create_table("t")
    gates = [hold(store, "t"), hold(short, "t")]

    for submit in (
        lambda: store.upsert("t", "k", 1, wait_timeout=0.2),
        lambda: short.upsert("t", "k", 1),
    ):
        started = time.monotonic()
        with pytest.raises(OpsMaxExceededError, match=r"after waiting 0\.2 s"):
            submit()
        took = time.monotonic() - started
        assert 0.2 <= took < 0.2 + AT_ONCE

    for gate in gates:
        gate.open()
    assert not store.exists("t", "k").get(timeout=WAIT)
    assert not short.exists("t", "k").get(timeout=WAIT)


# -- 10. reads without a thread hop keep the order promise -----------------------------


@pytest.fixture
def fine_switching() -> Iterator[None]:
    """Switch threads every 10 us instead of every 5 ms.

    A submitter holds the GIL from a write's queueing to the next read's
    "is the table idle?" check, so with CPython's default interval an owner
    almost never runs in between, and a read wrongly running at once could
    hide. (With it, marking a group's ops done before their commit fails
    every layout below.)
    """
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(interval)


@pytest.mark.parametrize(
    ("layout", "threads", "pairs", "durability"),
    [
        ("one table", 8, 2000, "none"),
        ("a table each", 8, 2000, "none"),
        ("a table each", 4, 150, "sync"),
    ],
)
@pytest.mark.usefixtures("fine_switching")
def test_a_read_right_after_a_write_on_the_same_thread_sees_it(
    make_store: Callable[..., Store],
    layout: str,
    threads: int,
    pairs: int,
    durability: str,
) -> None:
    store = make_store()
    store.create_table("shared", durability=durability)
    for n in range(threads):
        store.create_table(f"own{n}", durability=durability)
    store.upsert("shared", "counter", 0).get(timeout=WAIT)
    # Updates of the counter are numbered in submission order (under a lock):
    # a read submitted after mine must see my number or a later one.
    numbering = threading.Lock()
    numbers = itertools.count(1)
    wrong: list[Any] = []

    def hammer(n: int) -> None:
        table = "shared" if layout == "one table" else f"own{n}"
        key = f"w{n}"
        seen: list[Any] = []

        def in_callback(error: BaseException | None, result: object) -> None:
            seen.append(result)

        for i in range(pairs):
            write = store.upsert(table, key, i)
            if i % 8 == 0:
                write.get(timeout=WAIT)  # the table may now be idle: read at once
            if i % 2:  # with a callback: it runs at the owner, after the write
                read = store.search(table, key, callback=in_callback).get(WAIT)
                if read != i or seen[-1] != i:
                    wrong.append((table, key, i, read, seen[-1]))
            else:  # plain: at once on this thread if the table is idle
                read = store.search(table, key).get(timeout=WAIT)
                if read != i:
                    wrong.append((table, key, i, read))
            if i % 4 == 0:
                with numbering:
                    mine = next(numbers)
                    store.update("shared", "counter", mine)
                counter = store.search("shared", "counter").get(timeout=WAIT)
                if counter < mine:
                    wrong.append(("counter", mine, counter))

    workers = [threading.Thread(target=hammer, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert not any(worker.is_alive() for worker in workers)

    assert wrong == []
    stats = store.stats()
    assert stats["failed"] == 0
    if layout == "a table each":
        assert stats["read_at_once"] > 0, "no read ran on the caller's thread"


KEYS = st.sampled_from(["a", "b", "c"])
VALUES = st.integers(0, 9)
STEPS = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(["upsert", "insert", "update"]), KEYS, VALUES),
        st.tuples(st.just("remove"), KEYS),
        st.tuples(st.sampled_from(["search", "exists"]), KEYS, st.booleans()),
        st.tuples(st.sampled_from(["count", "scan"]), st.booleans()),
        st.just(("wait",)),
    ),
    max_size=40,
)


@pytest.mark.usefixtures("fine_switching")
def test_reads_follow_a_random_history_of_writes(
    make_store: Callable[..., Store],
) -> None:
    store = make_store()
    tables = itertools.count()

    @settings(
        max_examples=150,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(steps=STEPS)
    def run(steps: list[tuple[Any, ...]]) -> None:
        table = f"h{next(tables)}"
        store.create_table(table, durability="none")
        model: dict[str, int] = {}
        checks: list[tuple[Any, OpFuture[Any], Any, list[Any]]] = []
        for step in steps:
            kind, args = step[0], step[1:]
            seen: list[Any] = []

            def callback(
                error: BaseException | None, result: object, seen: list[Any] = seen
            ) -> None:
                seen.append(type(error) if error is not None else ("ok", result))

            if kind == "wait":
                for _, future, _, _ in checks:
                    future.exception(timeout=WAIT)
                continue
            if kind in ("upsert", "insert", "update"):
                key, value = args
                if kind == "insert" and key in model:
                    expected: Any = KeyExistsError
                elif kind == "update" and key not in model:
                    expected = NotFoundError
                else:
                    model[key] = value
                    expected = ("ok", None)
                future = getattr(store, kind)(table, key, value)
            elif kind == "remove":
                (key,) = args
                expected = ("ok", None) if key in model else NotFoundError
                model.pop(key, None)
                future = store.remove(table, key)
            elif kind in ("search", "exists"):
                key, with_callback = args
                if kind == "exists":
                    expected = ("ok", key in model)
                else:
                    expected = ("ok", model[key]) if key in model else NotFoundError
                options = {"callback": callback} if with_callback else {}
                future = getattr(store, kind)(table, key, **options)
            else:
                (with_callback,) = args
                if kind == "count":
                    expected = ("ok", len(model))
                else:
                    expected = ("ok", sorted(model.items()))
                options = {"callback": callback} if with_callback else {}
                future = getattr(store, kind)(table, **options)
            checks.append((step, future, expected, seen))

        for step, future, expected, seen in checks:
            error = future.exception(timeout=WAIT)
            if error is not None:
                got: Any = type(error)
            else:
                result = future.get(timeout=0)
                if isinstance(result, list):
                    result = [tuple(pair) for pair in result]
                got = ("ok", result)
            assert got == expected, (step, steps)
            if seen and isinstance(seen[0], tuple) and isinstance(seen[0][1], list):
                seen[0] = ("ok", [tuple(pair) for pair in seen[0][1]])
            assert seen in ([], [expected]), (step, seen, steps)

    run()


def test_a_read_of_an_idle_table_runs_on_the_callers_thread(
    make_store: Callable[..., Store], hold: Callable[..., Any]
) -> None:
    store = make_store()
    store.create_table("t")
    store.upsert("t", "k", 1).get(timeout=WAIT)
    threads: dict[str, int] = {}

    def on(name: str) -> Callable[[BaseException | None, object], None]:
        def callback(error: BaseException | None, result: object) -> None:
            threads[name] = threading.get_ident()

        return callback

    at_once = store.stats()["read_at_once"]
    # Plain reads of an idle table run at once, here: done before they return.
    for read in (
        store.search("t", "k"),
        store.exists("t", "k"),
        store.count("t"),
        store.scan("t"),
    ):
        assert read.done()
    assert store.stats()["read_at_once"] == at_once + 4
    # A read with a callback runs at the owner: user code runs on a store
    # thread, never inside this thread's read transaction.
    assert store.search("t", "k", callback=on("idle")).get(timeout=WAIT) == 1
    gate = hold(store, "t")
    busy = store.search("t", "k")
    assert not busy.done()  # a pending write: it waits its turn at the owner
    gate.open()
    assert busy.get(timeout=WAIT) == 1
    assert threads["idle"] != threading.get_ident()


# -- 11. the serialized client's callbacks across a failing op -------------------------


def _recorder(
    fired: list[tuple[int, str | None]],
) -> Callable[[int], Callable[[BaseException | None, object], None]]:
    def label(n: int) -> Callable[[BaseException | None, object], None]:
        def callback(error: BaseException | None, result: object) -> None:
            fired.append((n, None if error is None else type(error).__name__))

        return callback

    return label


def test_serialized_callbacks_fire_in_submission_order_across_a_failing_op(
    make_store: Callable[..., Store],
) -> None:
    store = make_store()
    store.create_table("a")
    store.upsert("a", "taken", 0).get(timeout=WAIT)
    client = store.serialized()
    fired: list[tuple[int, str | None]] = []
    done: list[int] = []
    label = _recorder(fired)
    expected: list[tuple[int, str | None]] = []
    n = 0
    for round_ in range(30):
        for kind, key in (
            ("upsert", f"x{round_}"),
            ("insert", "taken"),  # fails: KeyExistsError
            ("upsert", f"y{round_}"),
            ("search", f"x{round_}"),
            ("insert", "taken"),
        ):
            if kind == "search":
                future = client.search("a", key, callback=label(n))
            else:
                future = getattr(client, kind)("a", key, n, callback=label(n))
            future.add_done_callback(lambda _, n=n: done.append(n))
            failing = kind == "insert"
            expected.append((n, "KeyExistsError" if failing else None))
            n += 1

    store.flush(timeout=WAIT)

    assert fired == expected
    assert done == list(range(n))


def test_serialized_callbacks_fire_in_submission_order_across_two_tables(
    make_store: Callable[..., Store],
) -> None:
    store = make_store(threads=2)
    store.create_table("a")
    store.create_table("b")
    store.upsert("a", "taken", 0).get(timeout=WAIT)
    store.upsert("b", "taken", 0).get(timeout=WAIT)
    client = store.serialized()
    fired: list[tuple[int, str | None]] = []
    done: list[int] = []
    label = _recorder(fired)
    expected: list[tuple[int, str | None]] = []
    n = 0
    for round_ in range(30):
        for table, kind, key in (
            ("a", "upsert", f"x{round_}"),
            ("b", "insert", "taken"),  # fails: KeyExistsError
            ("b", "upsert", f"y{round_}"),
            ("a", "insert", "taken"),  # fails
            ("a", "search", f"x{round_}"),
            ("b", "remove", "missing"),  # fails: NotFoundError
            ("b", "search", f"y{round_}"),
        ):
            if kind == "search":
                future = client.search(table, key, callback=label(n))
            elif kind == "remove":
                future = client.remove(table, key, callback=label(n))
            else:
                future = getattr(client, kind)(table, key, n, callback=label(n))
            future.add_done_callback(lambda _, n=n: done.append(n))
            error = {"insert": "KeyExistsError", "remove": "NotFoundError"}.get(kind)
            expected.append((n, error))
            n += 1

    store.flush(timeout=WAIT)

    assert fired == expected
    assert done == list(range(n))


# -- 12. what an op handle and a RetryCallback show ------------------------------------


def test_search_leaves_the_record_found_in_op_value(
    make_store: Callable[..., Store], hold: Callable[..., Any]
) -> None:
    store = make_store()
    store.create_table("t")
    store.upsert("t", "k", {"name": "Norma"}).get(timeout=WAIT)

    idle = store.new_op("t")
    idle.key = "k"
    assert idle.search().get(timeout=WAIT) == {"name": "Norma"}
    assert idle.type is OpType.SEARCH
    assert idle.value == {"name": "Norma"}

    gate = hold(store, "t")  # the search now waits at the owner
    queued = store.new_op("t")
    queued.key = "k"
    future = queued.search()
    gate.open()
    assert future.get(timeout=WAIT) == {"name": "Norma"}
    assert queued.value == {"name": "Norma"}


class Told(Callback):
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def callback(self, result: Any) -> object:
        self.calls.append(("callback", result))
        return None

    def exception(self, error: BaseException) -> None:
        self.calls.append(("exception", error))


def test_compact_calls_its_callback_once_on_success(
    make_store: Callable[..., Store],
) -> None:
    store = make_store()
    store.create_table("t")
    store.batch("t", [("upsert", f"k{i}", "x" * 100) for i in range(500)]).get(WAIT)
    store.batch("t", [("remove", f"k{i}") for i in range(500)]).get(WAIT)
    called: list[Any] = []
    told, notes = Told(), Notes()

    def function(error: BaseException | None, result: object) -> None:
        called.append((error, result))

    reclaimed = store.new_op("t", callback=function).compact().get(timeout=WAIT)
    again = [
        store.new_op("t", callback=told).compact().get(timeout=WAIT),
        store.new_op("t", callback=notes).compact().get(timeout=WAIT),
    ]

    assert isinstance(reclaimed, int) and reclaimed > 0
    assert called == [(None, reclaimed)]
    assert told.calls == [("callback", again[0])]
    assert notes.calls == [(OpType.COMPACT, None, again[1])]


HOLDER = """
    import sys
    import actorstore

    store = actorstore.open_store(sys.argv[1])
    store.count("t").get(timeout=5)  # this process now has table t open
    print("ready", flush=True)
    sys.stdin.readline()
    store.close(timeout=5)
"""


def test_compact_calls_its_callback_once_on_failure(
    make_store: Callable[..., Store], store_path: Path
) -> None:
    store = make_store()
    store.create_table("t")
    store.upsert("t", "k", 1).get(timeout=WAIT)
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(HOLDER), str(store_path)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdin is not None
        assert holder.stdout.readline().strip() == "ready"
        called: list[Any] = []
        told, notes = Told(), Notes()

        def function(error: BaseException | None, result: object) -> None:
            called.append((type(error), result))

        futures = [
            store.new_op("t", callback=function).compact(),
            store.new_op("t", callback=told).compact(),
            store.new_op("t", callback=notes).compact(),
        ]
        errors = [future.exception(timeout=WAIT) for future in futures]

        assert all(isinstance(error, TableBusyError) for error in errors), errors
        assert called == [(TableBusyError, None)]
        assert told.calls == [("exception", errors[1])]
        assert notes.calls == [(OpType.COMPACT, errors[2], None)]
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.wait(timeout=30) == 0
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    assert store.upsert("t", "after", 2).get(timeout=WAIT) is None


class Ids(RetryCallback):
    """Records `self.attempt.op_id` in each hook; fails the first attempt."""

    def __init__(self) -> None:
        super().__init__(RetryPolicy(max_attempts=3))
        self.seen: list[tuple[str, int]] = []

    def callback(self, result: Any) -> object:
        self.seen.append(("callback", self.attempt.op_id))
        if len(self.seen) == 1:
            raise StoreBusyError("busy, try again", table="t")
        return None

    def exception(self, error: BaseException) -> None:
        self.seen.append(("exception", self.attempt.op_id))
        super().exception(error)

    def retry(self, error: BaseException) -> None:
        self.seen.append(("retry", self.attempt.op_id))
        super().retry(error)


@pytest.mark.parametrize("kind", ["upsert", "search"])
def test_inside_a_retry_callback_attempt_names_the_op(
    make_store: Callable[..., Store], kind: str
) -> None:
    store = make_store()
    store.create_table("t")
    store.upsert("t", "k", 0).get(timeout=WAIT)
    handler = Ids()
    op = store.new_op("t", callback=handler)
    op.key, op.value = "k", 1

    assert getattr(op, kind)().get(timeout=WAIT) == {"upsert": None, "search": 0}[kind]

    assert [hook for hook, _ in handler.seen] == [
        "callback",
        "exception",
        "retry",
        "callback",
    ]
    assert {op_id for _, op_id in handler.seen} == {op.id}


# -- 13. an op's value and error reach its callback and its caller whole -------


class ReadsOpValue(Callback):
    """A `Callback` that reads its op handle's `value` inside `callback()`,
    as WiredTiger's callback reads `op.get_value()`."""

    def __init__(self) -> None:
        self.op: Any = None
        self.seen: list[Any] = []

    def callback(self, result: Any) -> object:
        self.seen.append(self.op.value)
        return None


class RetryReadsOpValue(RetryCallback):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Any] = []

    def callback(self, result: Any) -> object:
        self.seen.append(self.attempt.op.value)
        return None


class NotifyReadsOpValue(AsyncCallback):
    def __init__(self) -> None:
        self.seen: list[Any] = []

    def notify(self, op: Any, error: BaseException | None, result: Any) -> object:
        self.seen.append(op.value)
        return None


@pytest.mark.parametrize("style", ["function", "Callback", "RetryCallback", "notify"])
@pytest.mark.parametrize(
    "where", ["in the transaction", "on an executor", "serialized client"]
)
def test_a_searchs_callback_reads_the_record_in_op_value(
    make_store: Callable[..., Store], style: str, where: str
) -> None:
    """Every callback style, on every path, sees `op.value` set to the record
    found before it runs (issue 24, item 5)."""
    executor = ThreadPoolExecutor(1) if where == "on an executor" else None
    try:
        store = make_store(callback_executor=executor)
        store.create_table("t")
        store.upsert("t", "k", {"name": "Norma"}).get(timeout=WAIT)
        client: Any = store.serialized() if where == "serialized client" else store
        seen: list[Any] = []
        callback: Any
        if style == "function":
            box: list[Any] = []
            callback = lambda error, result: seen.append(box[0].value)  # noqa: E731
        elif style == "Callback":
            callback = ReadsOpValue()
            seen = callback.seen
        elif style == "RetryCallback":
            callback = RetryReadsOpValue()
            seen = callback.seen
        else:
            callback = NotifyReadsOpValue()
            seen = callback.seen
        op = client.new_op("t", callback=callback)
        if style == "function":
            box.append(op)
        elif style == "Callback":
            callback.op = op
        op.key = "k"
        assert op.search().get(timeout=WAIT) == {"name": "Norma"}
        store.flush(timeout=WAIT)
        assert seen == [{"name": "Norma"}]
    finally:
        if executor is not None:
            executor.shutdown(wait=True)


def test_a_callback_raising_on_the_final_error_keeps_the_dead_letter_named(
    make_store: Callable[..., Store],
) -> None:
    """The callback's own error reaches the caller, chained to the error that
    named the dead letter, with its id (issue 24, item 3)."""
    store = make_store()
    store.create_table("t")

    def fails_twice(error: BaseException | None, result: object) -> None:
        if error is None:
            raise StoreBusyError("busy", table="t")  # vetoes: retried, then parked
        raise RuntimeError("the callback failed too")

    future = store.upsert(
        "t",
        "k",
        1,
        callback=fails_twice,
        retry=RetryPolicy(max_attempts=2, initial_wait=0.001),
    )
    with pytest.raises(RuntimeError, match="the callback failed too") as caught:
        future.get(timeout=WAIT)
    store.flush(timeout=WAIT)
    (letter,) = store.dead_letters.list()
    error = caught.value
    assert isinstance(error.__cause__, RetriesExhaustedError)
    assert error.__cause__.dead_letter.id == letter.id
    assert getattr(error, "dead_letter", None) == letter
    assert any(f"letter {letter.id}" in note for note in error.__notes__)


def test_none_durability_on_a_sync_table_is_synced_and_said_once(
    make_store: Callable[..., Store], caplog: pytest.LogCaptureFixture
) -> None:
    """An op asking for NONE on a SYNC table is synced anyway: the store warns
    once (issue 24, item 4), not per op, and not for NONE tables or reads."""
    caplog.set_level(logging.WARNING, logger="actorstore")
    store = make_store()
    store.create_table("synced")  # the store's default: SYNC
    store.create_table("lazy", durability="none")
    store.upsert("lazy", "k", 1, durability="none").get(timeout=WAIT)
    store.search("synced", "k", durability="none").exception(timeout=WAIT)
    assert not [r for r in caplog.records if "durability NONE" in r.getMessage()]
    for i in range(3):
        store.upsert("synced", f"k{i}", i, durability="none").get(timeout=WAIT)
    told = [
        r.getMessage() for r in caplog.records if "durability NONE" in r.getMessage()
    ]
    assert len(told) == 1
    assert "table synced, a SYNC table: it is synced anyway" in told[0]
    assert store.search("synced", "k2").get(timeout=WAIT) == 2


def test_json_keys_equal_in_python_are_one_record_through_the_store(
    make_store: Callable[..., Store],
) -> None:
    """Issue 24, item 1, through the Store and its read at once."""
    store = make_store()
    store.create_table("t", key_format="json")
    store.upsert("t", {"a": 1, "b": 2}, "first").get(timeout=WAIT)
    assert store.search("t", {"b": 2, "a": 1}).get(timeout=WAIT) == "first"
    store.upsert("t", {"b": 2.0, "a": 1}, "second").get(timeout=WAIT)
    assert store.count("t").get(timeout=WAIT) == 1
    assert store.scan("t").get(timeout=WAIT) == [({"a": 1, "b": 2}, "second")]
    with pytest.raises(EncodeError, match=r"keys 1 \(int\) and '1' \(str\)"):
        store.upsert("t", "k", {1: "int-key", "1": "str-key"})
