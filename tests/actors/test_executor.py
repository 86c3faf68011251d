"""Tests for actors/_executor.py: decisions carried out, on a mock transport.

No LMDB and no threads: the store runs on `MockTransport` (each op answered
at once on this thread) with a timer run by hand, so every retry, callback
and dead letter happens in the order the test drives it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

import actorstore
from actorstore import (
    AsyncCallback,
    Callback,
    KeyExistsError,
    OpVetoedError,
    RetriesExhaustedError,
    RetryCallback,
    RetryPolicy,
    Store,
    StoreBusyError,
)
from actorstore._record import OpRecord
from actorstore._transports.mock import MemoryTables, MockTransport
from tests.actors.helpers import InlineExecutor, ManualTimer

POLICY = RetryPolicy(max_attempts=3, initial_wait=0.01)


class Flaky:
    """A handler that fails the next `failures` writes with StoreBusyError."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.memory = MemoryTables()

    def __call__(self, record: OpRecord) -> Any:
        if record.table == "t" and self.failures:
            self.failures -= 1
            raise StoreBusyError("busy")
        return self.memory(record)


MakeStore = Callable[..., tuple[Store, MockTransport, ManualTimer]]


@pytest.fixture
def make_store() -> Iterator[MakeStore]:
    stores: list[Store] = []

    def make(
        handler: Any = None, *, callbacks_in_txn: bool = True, **options: Any
    ) -> tuple[Store, MockTransport, ManualTimer]:
        transport = MockTransport(handler, callbacks_in_txn=callbacks_in_txn)
        timer = ManualTimer()
        store = Store(transport, scheduler=timer, **options)
        store.create_table("t")
        stores.append(store)
        return store, transport, timer

    yield make
    for store in stores:
        store.close()


def test_an_op_on_the_mock_ends_before_submit_returns(make_store: MakeStore) -> None:
    store, transport, _ = make_store()

    written = store.upsert("t", "k", {"v": 1})
    found = store.search("t", "k")

    assert written.done() and found.done()
    assert found.get(0) == {"v": 1}
    assert [r.type.value for r in transport.put_records if r.type] == [
        "upsert",
        "search",
    ]


def test_a_transient_failure_is_retried_on_the_timer_until_it_commits(
    make_store: MakeStore,
) -> None:
    store, _, timer = make_store(Flaky(2), retry=POLICY)

    future = store.upsert("t", "k", 1)

    assert not future.done()
    assert timer.delays() == [pytest.approx(0.01)]
    timer.run_due()
    assert timer.delays() == [pytest.approx(0.02)]
    timer.run_due()
    assert future.get(0) is None
    assert store.stats()["retried"] == 2


def test_a_policy_that_gives_up_dead_letters_the_op(make_store: MakeStore) -> None:
    store, _, timer = make_store(Flaky(5), retry=POLICY)

    future = store.upsert("t", "k", 1)
    while timer.run_due():
        pass

    error = future.exception(0)
    assert isinstance(error, RetriesExhaustedError)
    (letter,) = store.dead_letters.list()
    assert (letter.op_type, letter.table, letter.key, letter.attempts) == (
        "upsert",
        "t",
        "k",
        3,
    )
    assert letter.id == error.dead_letter.id


def test_a_dead_letter_hook_takes_the_letter_instead_of_the_table(
    make_store: MakeStore,
) -> None:
    kept: list[actorstore.DeadLetter] = []
    store, _, _ = make_store(
        Flaky(5), retry=RetryPolicy(max_attempts=1), dead_letter_hook=kept.append
    )

    error = store.upsert("t", "k", 1).exception(0)

    assert isinstance(error, RetriesExhaustedError)
    assert [letter.key for letter in kept] == ["k"]
    assert store.dead_letters.list() == []


def test_a_callback_in_the_transaction_vetoes_and_its_writes_are_undone(
    make_store: MakeStore,
) -> None:
    store, transport, _ = make_store()
    told: list[Any] = []

    class Veto(Callback):
        def callback(self, result: Any) -> object:
            return False

        def exception(self, error: BaseException) -> None:
            told.append(type(error))

    error = store.upsert("t", "k", 1, callback=Veto()).exception(0)

    assert isinstance(error, OpVetoedError)
    assert told == [OpVetoedError]
    assert transport.memory is not None and transport.memory.data["t"] == {}


def test_a_function_callback_hears_success_and_failure(make_store: MakeStore) -> None:
    store, _, _ = make_store()
    heard: list[tuple[Any, Any]] = []

    def fn(error: BaseException | None, result: Any) -> None:
        heard.append((type(error).__name__ if error else None, result))

    store.insert("t", "k", 1, callback=fn)
    store.insert("t", "k", 2, callback=fn)

    assert heard == [(None, None), ("KeyExistsError", None)]


def test_a_search_s_value_is_the_op_s_before_any_callback_runs(
    make_store: MakeStore,
) -> None:
    store, _, _ = make_store()
    store.upsert("t", "k", {"n": 1})
    seen: list[Any] = []

    class Reads(RetryCallback):
        def callback(self, result: Any) -> None:
            seen.append(self.attempt.op.value)

    class Notes(AsyncCallback):
        def notify(self, op: Any, error: BaseException | None, result: Any) -> None:
            seen.append(op.value)

    store.search("t", "k", callback=Reads())
    store.search("t", "k", callback=Notes())

    assert seen == [{"n": 1}, {"n": 1}]


def test_an_async_callback_is_told_of_each_failed_attempt_once(
    make_store: MakeStore,
) -> None:
    store, _, timer = make_store(Flaky(1), retry=POLICY)
    attempts: list[str | None] = []

    class Notes(AsyncCallback):
        def notify(self, op: Any, error: BaseException | None, result: Any) -> None:
            attempts.append(type(error).__name__ if error else None)

    future = store.upsert("t", "k", 1, callback=Notes())
    timer.run_due()

    assert future.get(0) is None
    assert attempts == ["StoreBusyError", None]


def test_a_retry_callback_decides_and_sees_its_attempt(make_store: MakeStore) -> None:
    store, _, timer = make_store(Flaky(1))
    seen: list[int] = []

    class Audit(RetryCallback):
        def exception(self, error: BaseException) -> None:
            seen.append(self.attempt.attempts)
            super().exception(error)

    future = store.upsert("t", "k", 1, callback=Audit(policy=POLICY))
    timer.run_due()

    assert future.get(0) is None
    assert seen == [1]


def test_callbacks_on_an_executor_run_after_commit_and_cannot_veto(
    make_store: MakeStore,
) -> None:
    executor = InlineExecutor()
    store, transport, _ = make_store(callback_executor=executor)

    future = store.upsert("t", "k", 1, callback=lambda error, result: False)

    assert future.get(0) is None  # False after commit vetoes nothing
    assert executor.ran == 1
    assert transport.memory is not None and transport.memory.data["t"] == {"k": 1}


def test_a_refused_executor_reports_a_committed_op_as_committed(
    make_store: MakeStore,
) -> None:
    executor = InlineExecutor()
    store, _, _ = make_store(callback_executor=executor)
    executor.shutdown()

    future = store.upsert("t", "k", 1, callback=lambda error, result: None)

    assert future.get(0) is None
    assert store.stats()["callback_failed"] == 1


def test_a_raising_policy_fails_its_op_with_the_policy_s_error(
    make_store: MakeStore,
) -> None:
    def boom(error: BaseException) -> bool:
        raise LookupError("predicate")

    store, _, _ = make_store(Flaky(1), retry=RetryPolicy(retry_on=boom))

    error = store.upsert("t", "k", 1).exception(0)

    assert isinstance(error, LookupError)
    assert isinstance(error.__context__, StoreBusyError)


def test_close_dead_letters_a_pending_retry_as_cut_short(make_store: MakeStore) -> None:
    store, _, _ = make_store(Flaky(5), retry=POLICY)

    future = store.upsert("t", "k", 1)
    store.close()

    error = future.exception(0)
    assert isinstance(error, RetriesExhaustedError)
    assert "close" in str(error)


def test_a_permanent_error_is_not_retried(make_store: MakeStore) -> None:
    store, _, timer = make_store(retry=POLICY)
    store.insert("t", "k", 1)

    error = store.insert("t", "k", 2).exception(0)

    assert isinstance(error, KeyExistsError)
    assert timer.calls == []
