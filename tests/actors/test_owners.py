"""Tests for actors/worker.py: group commit, per-table order, durability, survival."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pykka
import pytest

import actorstore
from actorstore import Durability, OpFuture, Store
from actorstore._record import OpRecord
from actorstore._transports.owners import DRAIN, MAX_GROUP, Mailbox
from actorstore.storage import (
    KeyExistsError,
    LmdbError,
    OpVetoedError,
    StoreClosedError,
)
from actorstore.storage._table import Table

WAIT = 5.0
SHORT = 1.0
"""For a wait that only a bug makes long (a dead owner): fails fast, passes in ms."""


class Veto(Exception):
    """Raised by a callback to veto its op."""


class Vetoes:
    """A `fn(error, result)` callback raising `veto` on success."""

    def __init__(self, veto: BaseException) -> None:
        self.veto = veto

    def __call__(self, error: BaseException | None, result: Any) -> None:
        if error is None:
            raise self.veto


def spy_groups(store: Store, table: str) -> list[int]:
    """Record the size of every group the owner runs on `table` (it still runs)."""
    instance = store._transport.directory.table(table)
    sizes: list[int] = []
    run_group = instance.run_group

    def recording(requests: Any, numbers: Any = None) -> Any:
        sizes.append(len(requests))
        return run_group(requests, numbers)

    instance.run_group = recording  # type: ignore[method-assign]
    return sizes


def spy_sync(table: Table, record: Callable[[], object]) -> None:
    """Call `record()` whenever `table.sync()` is called, then sync for real."""
    sync = table.sync

    def recording() -> None:
        record()
        sync()

    table.sync = recording  # type: ignore[method-assign]


def contents(store: Store, table: str = "users") -> dict[Any, Any]:
    return dict(store.scan(table).get(timeout=WAIT))


# -- groups ----------------------------------------------------------------------


def test_a_lone_op_runs_at_once_in_a_group_of_one(store: Store) -> None:
    sizes = spy_groups(store, "users")

    store.upsert("users", "k", 1).get(timeout=WAIT)

    assert sizes == [1]


def test_ops_queued_behind_a_busy_owner_run_as_one_group(
    store: Store, hold: Callable[..., Any]
) -> None:
    sizes = spy_groups(store, "users")
    gate = hold(store, "users")
    futures = [store.upsert("users", f"k{i}", i) for i in range(10)]
    reads = [store.search("users", f"k{i}") for i in range(10)]

    gate.open()
    assert [future.get(timeout=WAIT) for future in futures] == [None] * 10
    assert [future.get(timeout=WAIT) for future in reads] == list(range(10))

    assert sizes == [1, 20]


def test_groups_are_capped_at_max_group(store: Store, hold: Callable[..., Any]) -> None:
    sizes = spy_groups(store, "users")
    gate = hold(store, "users")
    futures = [store.upsert("users", f"k{i}", i) for i in range(MAX_GROUP + 88)]

    gate.open()
    for future in futures:
        future.get(timeout=WAIT)

    assert sizes == [1, MAX_GROUP, 88]
    assert store.count("users").get(timeout=WAIT) == MAX_GROUP + 89


def test_a_vetoed_op_in_a_busy_group_leaves_its_group_mates_committed(
    store: Store, hold: Callable[..., Any]
) -> None:
    sizes = spy_groups(store, "users")
    gate = hold(store, "users")
    before = store.upsert("users", "before", 1)
    vetoed = store.upsert("users", "vetoed", 2, callback=Vetoes(Veto("no")))
    refused = store.upsert("users", "refused", 3, callback=lambda e, r: e is not None)
    failed = store.insert("users", "before", 4)
    after = store.upsert("users", "after", 5)

    gate.open()

    assert before.get(timeout=WAIT) is None
    with pytest.raises(Veto, match="no"):
        vetoed.get(timeout=WAIT)
    with pytest.raises(OpVetoedError):
        refused.get(timeout=WAIT)
    with pytest.raises(KeyExistsError):
        failed.get(timeout=WAIT)
    assert after.get(timeout=WAIT) is None
    assert sizes == [1, 5]
    assert contents(store) == {"__hold__": 0, "before": 1, "after": 5}


def test_no_op_is_acknowledged_before_its_group_committed(
    store: Store, hold: Callable[..., Any]
) -> None:
    sizes = spy_groups(store, "users")
    gate = hold(store, "users")
    first = store.upsert("users", "first", 1)
    seen: list[bool] = []
    last = store.upsert(
        "users", "last", 2, callback=lambda e, r: seen.append(first.done())
    )

    gate.open()
    last.get(timeout=WAIT)

    assert sizes == [1, 2]
    assert seen == [False]  # `first` ran, but its group had not committed yet
    assert first.get(timeout=0) is None


def test_compact_between_writes_splits_the_group_and_keeps_order(
    store: Store, hold: Callable[..., Any]
) -> None:
    sizes = spy_groups(store, "users")
    gate = hold(store, "users")
    first = store.upsert("users", "k", 1)
    compacted = store.new_op("users").compact()
    second = store.update("users", "k", 2)

    gate.open()

    assert first.get(timeout=WAIT) is None
    assert compacted.get(timeout=WAIT) >= 0
    assert second.get(timeout=WAIT) is None
    assert sizes == [1, 1, 1]
    assert store.search("users", "k").get(timeout=WAIT) == 2


def test_tables_of_one_owner_run_as_separate_groups(
    make_store: Callable[..., Store], hold: Callable[..., Any]
) -> None:
    store = make_store(threads=1)
    store.create_table("a")
    store.create_table("b")
    sizes_a, sizes_b = spy_groups(store, "a"), spy_groups(store, "b")
    gate = hold(store, "a")
    futures = [store.upsert(name, f"k{i}", i) for i in range(5) for name in ("a", "b")]

    gate.open()
    for future in futures:
        future.get(timeout=WAIT)

    assert (sizes_a, sizes_b) == ([1, 5], [5])


# -- order -----------------------------------------------------------------------


def test_per_table_order_holds_under_concurrency_from_several_threads(
    store: Store,
) -> None:
    submitters, rounds = 6, 60
    start = threading.Barrier(submitters)
    seen: list[tuple[int, int]] = []  # appended on the owner only
    futures: list[list[OpFuture[Any]]] = [[] for _ in range(submitters)]

    def submit(who: int) -> None:
        start.wait(WAIT)
        for n in range(rounds):
            # Reordered, an insert would meet KeyExistsError or a remove NotFound.
            futures[who].append(
                store.insert(
                    "users",
                    f"key{who}",
                    n,
                    callback=lambda e, r, n=n: (
                        seen.append((who, n)) if e is None else 0
                    ),
                )
            )
            futures[who].append(store.remove("users", f"key{who}"))
        futures[who].append(store.upsert("users", f"last{who}", rounds))

    threads = [threading.Thread(target=submit, args=(who,)) for who in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)

    for mine in futures:
        assert [future.get(timeout=WAIT) for future in mine] == [None] * len(mine)
    for who in range(submitters):
        assert [n for w, n in seen if w == who] == list(range(rounds))
    assert contents(store) == {f"last{who}": rounds for who in range(submitters)}


# -- durability ------------------------------------------------------------------


@pytest.fixture
def lazy_store(make_store: Callable[..., Store]) -> Store:
    """A store whose table `lazy` is Durability.NONE; no sync tick within a test."""
    store = make_store(sync_interval=60)
    store.create_table("lazy", durability=Durability.NONE)
    return store


def test_a_sync_op_on_a_none_table_is_acked_only_after_its_sync(
    lazy_store: Store, hold: Callable[..., Any]
) -> None:
    table = lazy_store._transport.directory.table("lazy")
    key = table.codecs.encode_key("k")
    at_sync: list[tuple[bool, bool]] = []
    futures: list[OpFuture[Any]] = []

    def record() -> None:
        committed = table.read(lambda txn: txn.get(key)) is not None
        at_sync.append((futures[0].done(), committed))

    gate = hold(lazy_store, "lazy")  # so the future exists before its group runs
    spy_sync(table, record)
    futures.append(lazy_store.upsert("lazy", "k", 1, durability="sync"))
    gate.open()

    assert futures[0].get(timeout=WAIT) is None
    # The sync came after the group's commit and before the ack.
    assert at_sync[:1] == [(False, True)]


def test_none_ops_on_a_none_table_are_acked_without_a_sync_then_synced_on_flush(
    lazy_store: Store,
) -> None:
    table = lazy_store._transport.directory.table("lazy")
    syncs: list[int] = []
    spy_sync(table, lambda: syncs.append(1))

    for i in range(20):
        lazy_store.upsert("lazy", f"k{i}", i).get(timeout=WAIT)
    assert syncs == []

    lazy_store.flush(timeout=WAIT)
    assert syncs == [1]


def test_none_tables_are_synced_on_close(lazy_store: Store) -> None:
    table = lazy_store._transport.directory.table("lazy")
    syncs: list[int] = []
    spy_sync(table, lambda: syncs.append(1))
    lazy_store.upsert("lazy", "k", 1)

    lazy_store.close(timeout=WAIT)

    assert syncs


def test_none_tables_are_synced_within_sync_interval(
    make_store: Callable[..., Store],
) -> None:
    store = make_store(sync_interval=0.02)
    store.create_table("lazy", durability="none")
    synced = threading.Event()
    spy_sync(store._transport.directory.table("lazy"), synced.set)

    store.upsert("lazy", "k", 1).get(timeout=WAIT)

    assert synced.wait(WAIT)


def test_a_failed_sync_fails_the_sync_op_and_flush_syncs_again(
    lazy_store: Store,
) -> None:
    table = lazy_store._transport.directory.table("lazy")
    calls: list[int] = []
    sync = table.sync

    def failing_once() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise LmdbError("sync failed: disk gone", table="lazy")
        sync()

    table.sync = failing_once  # type: ignore[method-assign]

    future = lazy_store.upsert("lazy", "k", 1, durability="sync")
    with pytest.raises(LmdbError, match="disk gone"):
        future.get(timeout=WAIT)

    # The write committed but is not known to be on disk: flush must sync it.
    lazy_store.flush(timeout=WAIT)
    assert len(calls) == 2


# -- survival ----------------------------------------------------------------------


def test_a_raising_callback_does_not_harm_the_worker(store: Store) -> None:
    def broken(error: BaseException | None, result: Any) -> None:
        raise Veto("always")

    failures = [store.upsert("users", f"k{i}", i, callback=broken) for i in range(5)]
    for future in failures:
        with pytest.raises(Veto):
            future.get(timeout=WAIT)

    assert store.upsert("users", "fine", 1).get(timeout=WAIT) is None


class Fatal(BaseException):
    """Not an Exception: what `sys.exit()` or a KeyboardInterrupt look like."""


def test_a_callback_raising_a_base_exception_does_not_kill_the_worker(
    store: Store,
) -> None:
    def fatal(error: BaseException | None, result: Any) -> None:
        if error is None:
            raise Fatal("stop everything")

    future = store.upsert("users", "k", 1, callback=fatal)

    with pytest.raises(BaseException) as caught:  # any end but a hang
        future.get(timeout=SHORT)
    assert not isinstance(caught.value, actorstore.OpTimeoutError), "the op never ended"
    assert store.upsert("users", "k2", 2).get(timeout=SHORT) is None
    assert contents(store) == {"k2": 2}


def test_ops_queued_when_an_owner_stops_fail_with_store_closed(
    store: Store, hold: Callable[..., Any]
) -> None:
    gate = hold(store, "users")
    queued = store.upsert("users", "queued", 1)
    mailbox = store._transport.local_owners.mailbox_for("users")
    assert mailbox.ref is not None
    stopped = mailbox.ref.stop(block=False)

    gate.open()
    gate.future.get(timeout=WAIT)
    stopped.get(timeout=WAIT)

    with pytest.raises(StoreClosedError):
        queued.get(timeout=WAIT)
    with pytest.raises(StoreClosedError):
        store.upsert("users", "later", 2).get(timeout=SHORT)


# -- Mailbox -----------------------------------------------------------------------


class Bell(pykka.ThreadingActor):
    """Stands for an owner: records every message it gets."""

    def __init__(self, rung: queue.Queue[Any]) -> None:
        super().__init__()
        self.rung = rung

    def on_receive(self, message: Any) -> Any:
        self.rung.put(message)
        return message


@pytest.fixture
def bell() -> Iterator[tuple[Mailbox, queue.Queue[Any]]]:
    rung: queue.Queue[Any] = queue.Queue()
    mailbox = Mailbox()
    mailbox.ref = Bell.start(rung)
    yield mailbox, rung
    mailbox.ref.stop()


def rings(mailbox: Mailbox, rung: queue.Queue[Any]) -> list[Any]:
    """Return the messages the bell got so far (a ping waits for them)."""
    assert mailbox.ref is not None
    mailbox.ref.ask("ping", timeout=WAIT)
    messages = []
    while not rung.empty():
        messages.append(rung.get_nowait())
    return messages[:-1]


def test_mailbox_rings_its_owner_only_when_idle(
    bell: tuple[Mailbox, queue.Queue[Any]],
) -> None:
    mailbox, rung = bell
    ops = [OpRecord("t") for _ in range(3)]

    for op in ops:
        mailbox.put(op)

    assert rings(mailbox, rung) == [DRAIN]
    assert len(mailbox) == 3
    assert mailbox.take(2) == ops[:2]
    assert mailbox.take(2) == ops[2:]
    assert mailbox.take(2) == []  # now idle: the next put rings again
    mailbox.put(ops[0])
    assert rings(mailbox, rung) == [DRAIN]


def test_mailbox_goes_idle_only_when_nothing_is_queued(
    bell: tuple[Mailbox, queue.Queue[Any]],
) -> None:
    mailbox, rung = bell
    ops = [OpRecord("t") for _ in range(2)]
    mailbox.put(ops[0])
    assert rings(mailbox, rung) == [DRAIN]

    assert mailbox.queued_else_idle()  # an op waits: the owner stays scheduled
    mailbox.put(ops[1])
    assert rings(mailbox, rung) == []  # no second ring while scheduled
    assert mailbox.take(5) == ops

    assert not mailbox.queued_else_idle()  # empty: idle now
    mailbox.put(ops[0])
    assert rings(mailbox, rung) == [DRAIN]  # so the next put rings


def test_mailbox_of_a_stopped_owner_refuses_ops(
    bell: tuple[Mailbox, queue.Queue[Any]],
) -> None:
    mailbox, _ = bell
    assert mailbox.ref is not None
    mailbox.ref.stop()

    with pytest.raises(StoreClosedError):
        mailbox.put(OpRecord("t"))
    assert len(mailbox) == 0


def test_no_op_is_stranded_when_submits_race_the_owner_going_idle(
    store: Store,
) -> None:
    # Each thread submits one op and waits for it, so the owner goes idle
    # between ops again and again while other threads submit: the window in
    # which a lock-free put() could miss the owner's wake-up.
    errors: list[BaseException] = []

    def client(name: str) -> None:
        try:
            for i in range(400):
                store.upsert("users", f"{name}-{i}", i).get(timeout=5)
        except BaseException as error:  # noqa: BLE001 - reported by the assert
            errors.append(error)

    threads = [threading.Thread(target=client, args=(f"t{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    assert store.count("users").get(timeout=5) == 1600


def test_no_op_is_stranded_when_submits_race_a_draining_owner(store: Store) -> None:
    # Batches of varied size, then one more op submitted 0 to 500 us after
    # them: while the owner still drains, as it goes idle, after it is idle.
    submitted = 0
    for round_ in range(150):
        size = 1 + round_ % 40
        batch = [store.upsert("users", f"b{round_}-{i}", i) for i in range(size)]
        for future in batch:
            future.get(timeout=WAIT)
        until = time.perf_counter() + (round_ % 50) * 10e-6
        while time.perf_counter() < until:  # busy, not asleep: the GIL is held
            pass
        store.upsert("users", f"late{round_}", 0).get(timeout=WAIT)
        submitted += size + 1
    assert store.count("users").get(timeout=WAIT) == submitted


def test_a_failure_in_the_owner_s_bookkeeping_keeps_the_ops_true_outcomes(
    make_store: Callable[..., Store],
    hold: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = make_store(threads=1)
    store.create_table("users")
    gate = hold(store, "users")
    queued = [store.upsert("users", f"k{i}", i) for i in range(3)]
    done = Mailbox.done

    def fail_once(mailbox: Mailbox, table: str, count: int) -> None:
        monkeypatch.setattr(Mailbox, "done", done)
        raise RuntimeError("bookkeeping failed")

    monkeypatch.setattr(Mailbox, "done", fail_once)
    with caplog.at_level("ERROR", logger="actorstore._transports.owners"):
        gate.open()
        # The groups committed: each op says so, whatever the owner's
        # bookkeeping did afterwards.
        assert gate.future.get(timeout=WAIT) is None
        assert [future.get(timeout=WAIT) for future in queued] == [None] * 3
    assert "as done failed" in caplog.text
    # The owner still runs, and reads still see every write before them.
    store.upsert("users", "after", 1).get(timeout=WAIT)
    assert store.search("users", "k2").get(timeout=WAIT) == 2
    assert store.count("users").get(timeout=WAIT) == 5
    store.flush(timeout=WAIT)
