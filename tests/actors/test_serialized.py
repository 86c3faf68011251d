"""Tests for actors/serialized.py: ops run in submission order, across tables too."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from actorstore import OpFuture, SerializedClient, Store
from actorstore.retry import Callback, RetryCallback, RetryPolicy
from actorstore.storage import (
    InvalidKeyError,
    NotFoundError,
    StoreBusyError,
    StoreClosedError,
    UnknownTableError,
)

WAIT = 5.0


def recorder(
    order: list[str], label: str
) -> Callable[[BaseException | None, Any], None]:
    """A callback that appends `label` to `order` when its op succeeds."""

    def callback(error: BaseException | None, result: Any) -> None:
        if error is None:
            order.append(label)

    return callback


@pytest.fixture
def two_tables(make_store: Callable[..., Store]) -> Store:
    """A store with two workers and tables `a` and `b`, owned by different ones."""
    store = make_store(threads=2)
    store.create_table("a")
    store.create_table("b")
    return store


def test_serialized_returns_a_client_with_the_op_methods(store: Store) -> None:
    client = store.serialized()

    assert isinstance(client, SerializedClient)
    assert client.store is store
    assert client.upsert("users", "k", 1).get(timeout=WAIT) is None
    assert client.search("users", "k").get(timeout=WAIT) == 1
    assert client.count("users").get(timeout=WAIT) == 1
    assert client.scan("users").get(timeout=WAIT) == [("k", 1)]
    assert client.batch("users", [("remove", "k")]).get(timeout=WAIT) == 1


def test_ops_across_two_tables_run_in_submission_order(two_tables: Store) -> None:
    store = two_tables
    client = store.serialized()
    order: list[str] = []
    owners: dict[str, str] = {}
    release = threading.Event()

    def first(error: BaseException | None, result: Any) -> None:
        owners["a"] = threading.current_thread().name
        # Unserialized, the ops on `b` would run on their own owner meanwhile.
        assert release.wait(WAIT)
        order.append("a0")

    def on_b(error: BaseException | None, result: Any) -> None:
        owners["b"] = threading.current_thread().name

    futures = [client.upsert("a", "k0", 0, callback=first)]
    expected = ["a0"]
    for i in range(1, 12):
        table = "ab"[i % 2]
        label = f"{table}{i}"
        futures.append(
            client.upsert(table, f"k{i}", i, callback=recorder(order, label))
        )
        expected.append(label)
    futures.append(client.upsert("b", "owner", 0, callback=on_b))
    release.set()

    for future in futures:
        future.get(timeout=WAIT)
    assert order == expected
    assert owners["a"] != owners["b"]


def test_ops_on_one_table_are_pipelined_to_its_owner(
    store: Store, hold: Callable[..., Any]
) -> None:
    client = store.serialized()
    table = store._transport.directory.table("users")
    sizes: list[int] = []
    run_group = table.run_group

    def recording(requests: Any, numbers: Any = None) -> Any:
        sizes.append(len(requests))
        return run_group(requests, numbers)

    table.run_group = recording  # type: ignore[method-assign]
    gate = hold(store, "users")
    futures = [client.upsert("users", f"k{i}", i) for i in range(8)]

    gate.open()
    for future in futures:
        future.get(timeout=WAIT)

    # All eight were queued at once, so they ran as one group after the hold.
    assert sizes == [1, 8]


def test_a_failed_op_does_not_stall_the_ops_after_it(two_tables: Store) -> None:
    client = two_tables.serialized()
    order: list[str] = []

    failing = client.update("a", "gone", 1)
    after = client.upsert("b", "k", 1, callback=recorder(order, "b"))
    later = client.remove("a", "gone")
    last = client.upsert("a", "k", 2, callback=recorder(order, "a"))

    with pytest.raises(NotFoundError):
        failing.get(timeout=WAIT)
    assert after.get(timeout=WAIT) is None
    with pytest.raises(NotFoundError, match="not found by remove"):
        later.get(timeout=WAIT)
    assert last.get(timeout=WAIT) is None
    assert order == ["b", "a"]


def test_bad_input_is_refused_at_submit_and_the_chain_goes_on(
    two_tables: Store,
) -> None:
    client = two_tables.serialized()
    order: list[str] = []
    first = client.upsert("a", "k", 1, callback=recorder(order, "a"))

    with pytest.raises(UnknownTableError, match="'nope' does not exist"):
        client.upsert("nope", "k", 1)
    with pytest.raises(InvalidKeyError):
        client.upsert("b", 5, 1)
    second = client.upsert("b", "k", 2, callback=recorder(order, "b"))

    assert first.get(timeout=WAIT) is None
    assert second.get(timeout=WAIT) is None
    assert order == ["a", "b"]
    assert two_tables.count("b").get(timeout=WAIT) == 1


def test_new_op_of_a_serialized_client_keeps_its_order(two_tables: Store) -> None:
    client = two_tables.serialized()
    order: list[str] = []
    release = threading.Event()

    def slow(error: BaseException | None, result: Any) -> None:
        assert release.wait(WAIT)
        order.append("a")

    first = client.upsert("a", "k", 1, callback=slow)
    op = client.new_op("b", callback=recorder(order, "b"))
    op.key, op.value = "k", 2
    second = op.insert()
    release.set()

    assert first.get(timeout=WAIT) is None
    assert second.get(timeout=WAIT) is None
    assert order == ["a", "b"]


def test_ops_from_several_threads_keep_each_threads_order(two_tables: Store) -> None:
    client = two_tables.serialized()
    seen: list[tuple[int, int]] = []
    futures: list[OpFuture[Any]] = []
    lock = threading.Lock()
    start = threading.Barrier(4)

    def submit(who: int) -> None:
        start.wait(WAIT)
        for n in range(30):
            future = client.upsert(
                "ab"[n % 2],
                f"{who}-{n}",
                n,
                callback=lambda e, r, n=n: seen.append((who, n)),
            )
            with lock:
                futures.append(future)

    threads = [threading.Thread(target=submit, args=(who,)) for who in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)

    for future in futures:
        future.get(timeout=WAIT)
    assert len(seen) == 120
    for who in range(4):
        assert [n for w, n in seen if w == who] == list(range(30))


def test_serialized_ops_after_close_are_refused(store: Store) -> None:
    client = store.serialized()
    store.close(timeout=WAIT)

    with pytest.raises(StoreClosedError):
        client.upsert("users", "k", 1)


class FailsOnce(Callback):
    """Fails its op's first attempt with a transient error, then records success."""

    def __init__(self, order: list[str], label: str) -> None:
        self.order = order
        self.label = label
        self.attempts = 0

    def callback(self, result: Any) -> object:
        self.attempts += 1
        if self.attempts == 1:
            raise StoreBusyError("busy, try again", table="a")
        self.order.append(self.label)
        return None


class RetryingFailsOnce(FailsOnce, RetryCallback):
    """The same, as a RetryCallback that resubmits its op at once."""

    def __init__(self, order: list[str], label: str) -> None:
        FailsOnce.__init__(self, order, label)
        RetryCallback.__init__(self, RetryPolicy(max_attempts=3, jitter=0.0))

    def exception(self, error: BaseException) -> None:
        self.attempt.resubmit()


def test_a_retried_op_still_runs_before_the_next_op_on_its_table(
    make_store: Callable[..., Store],
) -> None:
    store = make_store(retry=RetryPolicy(max_attempts=3, jitter=0.0))
    store.create_table("a")
    client = store.serialized()
    order: list[str] = []

    first = client.upsert("a", "k", 1, callback=FailsOnce(order, "first"))
    second = client.upsert("a", "k", 2, callback=recorder(order, "second"))

    assert first.get(timeout=WAIT) is None
    assert second.get(timeout=WAIT) is None
    assert order == ["first", "second"]
    assert store.search("a", "k").get(timeout=WAIT) == 2


def test_an_op_retried_by_its_retry_callback_still_runs_before_the_next_op(
    make_store: Callable[..., Store],
) -> None:
    store = make_store()  # no store policy: only the callback retries
    store.create_table("a")
    client = store.serialized()
    order: list[str] = []

    first = client.upsert("a", "k", 1, callback=RetryingFailsOnce(order, "first"))
    second = client.upsert("a", "k", 2, callback=recorder(order, "second"))

    assert first.get(timeout=WAIT) is None
    assert second.get(timeout=WAIT) is None
    assert order == ["first", "second"]
    assert store.search("a", "k").get(timeout=WAIT) == 2


def test_on_a_mock_transport_an_op_waits_for_the_one_before_it_to_end() -> None:
    """No LMDB, no threads: a retry on a timer run by hand holds the first op."""
    from actorstore._record import OpRecord
    from actorstore._transports.mock import MemoryTables, MockTransport
    from tests.actors.helpers import ManualTimer

    memory = MemoryTables()
    failures = [StoreBusyError("busy")]

    def handler(record: OpRecord) -> Any:
        if record.table == "a" and failures:
            raise failures.pop()
        return memory(record)

    transport, timer = MockTransport(handler), ManualTimer()
    store = Store(transport, scheduler=timer, retry=RetryPolicy(initial_wait=0.01))
    try:
        store.create_table("a")
        store.create_table("b")
        client = store.serialized()

        first = client.upsert("a", "k", 1)
        second = client.upsert("b", "k", 2)

        assert not first.done() and not second.done()
        assert [r.table for r in transport.put_records] == ["a"]
        timer.run_due()
        assert first.get(0) is None and second.get(0) is None
        assert [r.table for r in transport.put_records] == ["a", "a", "b"]
    finally:
        store.close()
