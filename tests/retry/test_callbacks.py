"""Tests for retry/callbacks.py: Callback, FunctionCallback and RetryCallback."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from actors import Store
from retry import (
    Callback,
    FunctionCallback,
    RetriesExhaustedError,
    RetryCallback,
    RetryPolicy,
    as_callback,
    handling,
)
from storage import (
    InvalidOptionError,
    KeyExistsError,
    NotFoundError,
    OpVetoedError,
    StoreBusyError,
)

WAIT = 5.0
BUG_WAIT = 1.0
"""For a wait that only a bug makes long (an op that never ends): passes in ms."""


def busy() -> StoreBusyError:
    return StoreBusyError("the store is busy")


class FakeAttempt:
    """A stand-in `retry.Attempt` that records what a handler asked of it."""

    def __init__(self, attempts: int = 1, policy: RetryPolicy | None = None) -> None:
        self.op_id = 1
        self.op_type = "upsert"
        self.table = "docs"
        self.key = "k"
        self.attempts = attempts
        self.elapsed = 0.0
        self.policy = policy or RetryPolicy()
        self.calls: list[tuple[str, Any]] = []
        self.scheduled: list[Callable[[], object]] = []

    def schedule(self, delay: float, fn: Callable[[], object]) -> None:
        self.calls.append(("schedule", delay))
        self.scheduled.append(fn)

    def resubmit(self) -> None:
        self.calls.append(("resubmit", None))

    def dead_letter(self, error: BaseException) -> None:
        self.calls.append(("dead_letter", error))

    def fail(self, error: BaseException) -> None:
        self.calls.append(("fail", error))


# -- Callback, FunctionCallback, as_callback ------------------------------------


def test_callback_defaults_do_nothing() -> None:
    callback = Callback()
    assert callback.callback(42) is None
    callback.exception(busy())


def test_function_callback_passes_error_or_result() -> None:
    calls: list[tuple[BaseException | None, Any]] = []
    callback = FunctionCallback(lambda error, result: calls.append((error, result)))
    error = busy()
    callback.callback("r")
    callback.exception(error)
    assert calls == [(None, "r"), (error, None)]


def test_function_callback_returns_the_functions_veto() -> None:
    assert FunctionCallback(lambda error, result: False).callback(1) is False
    assert FunctionCallback(lambda error, result: None).callback(1) is None


def test_function_callback_repr_names_the_function() -> None:
    def on_done(error: BaseException | None, result: Any) -> None:
        return None

    assert "on_done" in repr(FunctionCallback(on_done))


def test_as_callback_keeps_callbacks_and_wraps_functions() -> None:
    callback = Callback()
    assert as_callback(None) is None
    assert as_callback(callback) is callback

    def fn(error: BaseException | None, result: Any) -> None:
        return None

    wrapped = as_callback(fn)
    assert isinstance(wrapped, FunctionCallback)
    assert wrapped.fn is fn


@pytest.mark.parametrize("value", [42, "callback", object()])
def test_as_callback_refuses_what_is_not_callable(value: Any) -> None:
    with pytest.raises(InvalidOptionError, match=r"retry\.Callback or a function"):
        as_callback(value)


# -- RetryCallback, over a fake attempt -----------------------------------------


@pytest.mark.parametrize("policy", [{"max_attempts": 3}, "fast", 3])
def test_retry_callback_refuses_a_policy_that_is_not_a_retry_policy(
    policy: Any,
) -> None:
    with pytest.raises(InvalidOptionError, match=r"retry\.RetryPolicy"):
        RetryCallback(policy)


def test_retry_callback_is_a_callback() -> None:
    assert isinstance(RetryCallback(), Callback)
    assert RetryCallback().policy is None


@pytest.mark.parametrize("attempts", [1, 2, 3, 4])
def test_exception_schedules_a_retry_after_the_policys_delay(attempts: int) -> None:
    policy = RetryPolicy(max_attempts=5, initial_wait=0.01)
    attempt = FakeAttempt(attempts=attempts, policy=policy)
    with handling(attempt):
        RetryCallback().exception(busy())
    assert attempt.calls == [("schedule", policy.delay(attempts))]


def test_the_handlers_own_policy_wins_over_the_attempts() -> None:
    mine = RetryPolicy(max_attempts=2, initial_wait=0.5, max_wait=1.0)
    attempt = FakeAttempt(attempts=1, policy=RetryPolicy(max_attempts=1))
    with handling(attempt):
        RetryCallback(mine).exception(busy())
    assert attempt.calls == [("schedule", 0.5)]
    attempt = FakeAttempt(attempts=2, policy=RetryPolicy(max_attempts=10))
    error = busy()
    with handling(attempt):
        RetryCallback(mine).exception(error)
    assert attempt.calls == [("dead_letter", error)]


def test_exception_calls_dead_when_attempts_run_out() -> None:
    error = busy()
    attempt = FakeAttempt(attempts=3, policy=RetryPolicy(max_attempts=3))
    with handling(attempt):
        RetryCallback().exception(error)
    assert attempt.calls == [("dead_letter", error)]


@pytest.mark.parametrize(
    "error",
    [
        KeyExistsError(table="docs", key="k"),
        NotFoundError(table="docs", key="k", op="update"),
        ValueError("not ours"),
    ],
)
def test_exception_sends_permanent_errors_straight_to_dead(error: Exception) -> None:
    attempt = FakeAttempt(attempts=1)
    with handling(attempt):
        RetryCallback().exception(error)
    assert attempt.calls == [("dead_letter", error)]


def test_the_scheduled_retry_resubmits_by_default() -> None:
    attempt = FakeAttempt(attempts=1)
    with handling(attempt):
        RetryCallback().exception(busy())
        assert len(attempt.scheduled) == 1
        attempt.scheduled[0]()
    assert attempt.calls == [("schedule", 0.001), ("resubmit", None)]


def test_overridden_retry_and_dead_are_called_with_the_error() -> None:
    class Custom(RetryCallback):
        def __init__(self) -> None:
            super().__init__(RetryPolicy(max_attempts=2))
            self.events: list[tuple[str, BaseException]] = []

        def retry(self, error: BaseException) -> None:
            self.events.append(("retry", error))

        def dead(self, error: BaseException) -> None:
            self.events.append(("dead", error))

    handler = Custom()
    first, last = busy(), busy()
    attempt = FakeAttempt(attempts=1)
    with handling(attempt):
        handler.exception(first)
        attempt.scheduled[0]()
    with handling(FakeAttempt(attempts=2)):
        handler.exception(last)
    assert handler.events == [("retry", first), ("dead", last)]


# -- callbacks through a real store ---------------------------------------------


class Flaky(RetryCallback):
    """Raise `StoreBusyError` in `callback()` the first `failures` times."""

    def __init__(self, failures: int, policy: RetryPolicy | None = None) -> None:
        super().__init__(policy)
        self.failures = failures
        self.calls: list[float] = []
        self.results: list[Any] = []

    def callback(self, result: Any) -> object:
        self.calls.append(time.monotonic())
        if len(self.calls) <= self.failures:
            raise busy()
        self.results.append(result)
        return None


def test_a_retry_callback_sees_the_result_of_the_attempt_that_succeeds(
    store: Store,
) -> None:
    store.upsert("docs", "k", {"n": 1}).get(WAIT)
    handler = Flaky(failures=2, policy=RetryPolicy(initial_wait=0.001))
    assert store.search("docs", "k", callback=handler).get(WAIT) == {"n": 1}
    assert len(handler.calls) == 3
    assert handler.results == [{"n": 1}]


def test_raising_in_callback_rolls_the_attempt_back(store: Store) -> None:
    handler = Flaky(failures=1, policy=RetryPolicy(max_attempts=1))
    future = store.insert("docs", "k", {"n": 1}, callback=handler)
    with pytest.raises(RetriesExhaustedError):
        future.get(WAIT)
    assert not store.exists("docs", "k").get(WAIT)


def test_a_retry_callback_whose_exception_does_nothing_still_ends_the_op(
    store: Store,
) -> None:
    class Silent(Flaky):
        def exception(self, error: BaseException) -> None:
            return None

    handler = Silent(failures=100)
    future = store.upsert("docs", "k", 1, callback=handler)
    with pytest.raises(StoreBusyError):
        future.get(WAIT)
    assert len(handler.calls) == 1
    store.flush(WAIT)
    assert len(store.dead_letters) == 0


def test_a_retry_callback_whose_exception_raises_fails_the_op_with_that_error(
    store: Store,
) -> None:
    class Broken(Flaky):
        def exception(self, error: BaseException) -> None:
            raise LookupError("handler bug")

    future = store.upsert("docs", "k", 1, callback=Broken(failures=100))
    with pytest.raises(LookupError, match="handler bug") as caught:
        future.get(WAIT)
    assert isinstance(caught.value.__context__, StoreBusyError)
    store.flush(WAIT)


def test_a_handler_may_end_the_op_without_a_dead_letter_with_fail(
    store: Store,
) -> None:
    class GiveBack(Flaky):
        def dead(self, error: BaseException) -> None:
            self.attempt.fail(error)

    handler = GiveBack(failures=100, policy=RetryPolicy(max_attempts=2))
    future = store.upsert("docs", "k", 1, callback=handler)
    with pytest.raises(StoreBusyError):
        future.get(WAIT)
    assert len(handler.calls) == 2
    assert store.dead_letters.list(WAIT) == []


def test_returning_false_vetoes_the_op_and_is_not_retried(store: Store) -> None:
    class Veto(RetryCallback):
        def __init__(self) -> None:
            super().__init__()
            self.retries = 0

        def callback(self, result: Any) -> object:
            return False

        def retry(self, error: BaseException) -> None:
            self.retries += 1
            super().retry(error)

    handler = Veto()
    future = store.insert("docs", "k", 1, callback=handler)
    with pytest.raises(OpVetoedError):
        future.get(WAIT)
    assert handler.retries == 0
    assert not store.exists("docs", "k").get(WAIT)
    letters = store.dead_letters.list(WAIT)
    assert [letter.error["type"] for letter in letters] == ["OpVetoedError"]


def test_a_function_callback_is_told_the_final_error_once(store: Store) -> None:
    calls: list[tuple[BaseException | None, Any]] = []
    done = threading.Event()

    def fn(error: BaseException | None, result: Any) -> None:
        calls.append((error, result))
        if error is not None:
            done.set()

    future = store.update("docs", "missing", 1, callback=fn)
    with pytest.raises(NotFoundError):
        future.get(WAIT)
    assert done.wait(WAIT)
    assert len(calls) == 1
    assert isinstance(calls[0][0], NotFoundError)


def test_a_retry_callback_whose_dead_does_nothing_ends_the_op_with_the_error(
    store: Store,
) -> None:
    class Forgetful(Flaky):
        def dead(self, error: BaseException) -> None:
            return None

    handler = Forgetful(failures=100, policy=RetryPolicy(max_attempts=2))
    future = store.upsert("docs", "k", 1, callback=handler)
    with pytest.raises(StoreBusyError):
        future.get(WAIT)
    assert len(handler.calls) == 2
    store.flush(WAIT)
    assert store.dead_letters.list(WAIT) == []


def test_a_retry_callback_whose_retry_raises_still_ends_the_op(
    store: Store,
) -> None:
    class BrokenRetry(Flaky):
        def retry(self, error: BaseException) -> None:
            raise LookupError("retry bug")

    handler = BrokenRetry(failures=100, policy=RetryPolicy(initial_wait=0.001))
    future = store.upsert("docs", "k", 1, callback=handler)
    # retry() runs on the scheduler; its failure must still reach the op.
    error = future.exception(BUG_WAIT)
    assert isinstance(error, LookupError)
    assert len(handler.calls) == 1
    store.flush(WAIT)


def test_a_retry_callback_whose_retry_does_nothing_still_ends_the_op(
    store: Store,
) -> None:
    class Idle(Flaky):
        def retry(self, error: BaseException) -> None:
            return None

    handler = Idle(failures=100, policy=RetryPolicy(initial_wait=0.001))
    future = store.upsert("docs", "k", 1, callback=handler)
    # As with an exception() that decides nothing, the op must not dangle:
    # otherwise flush() and close() wait for it for ever.
    error = future.exception(BUG_WAIT)
    assert isinstance(error, StoreBusyError)
    store.flush(WAIT)


def test_a_retry_callback_runs_its_handlers_on_the_callback_executor(
    make_store: Callable[..., Store],
) -> None:
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(
        max_workers=1, thread_name_prefix="handlers"
    ) as executor:
        store = make_store(callback_executor=executor)
        store.create_table("docs")
        store.upsert("docs", "k", 1).get(WAIT)

        class Where(RetryCallback):
            def __init__(self) -> None:
                super().__init__(RetryPolicy(max_attempts=3))
                self.threads: list[str] = []

            def dead(self, error: BaseException) -> None:
                self.threads.append(threading.current_thread().name)
                super().dead(error)

        handler = Where()
        future = store.insert("docs", "k", 2, callback=handler)
        with pytest.raises(KeyExistsError):
            future.get(WAIT)
        assert len(handler.threads) == 1
        assert handler.threads[0].startswith("handlers")
        (letter,) = store.dead_letters.list(WAIT)
        assert letter.error["type"] == "KeyExistsError"
        store.close()
