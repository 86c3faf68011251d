"""Callback, FunctionCallback and RetryCallback through a real store."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from actorstore import Store
from actorstore.retry import RetriesExhaustedError, RetryCallback, RetryPolicy
from actorstore.storage import (
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


class Watched(Flaky):
    """A Flaky callback told of each failure through `on_failure` (the hook
    that does not replace the retry logic)."""

    def __init__(
        self, failures: int, policy: RetryPolicy, *, hook_raises: bool
    ) -> None:
        super().__init__(failures, policy)
        self.hook_raises = hook_raises
        self.failures_told: list[tuple[int, str]] = []

    def on_failure(self, error: BaseException) -> None:
        self.failures_told.append((self.attempt.attempts, type(error).__name__))
        if self.hook_raises:
            raise RuntimeError("a broken failure hook")


@pytest.mark.parametrize("hook_raises", [False, True], ids=["quiet", "raising"])
def test_on_failure_hears_each_failure_and_leaves_the_retries_be(
    store: Store, hook_raises: bool
) -> None:
    handler = Watched(
        2, RetryPolicy(max_attempts=5, initial_wait=0.001), hook_raises=hook_raises
    )
    assert store.upsert("docs", "k", 1, callback=handler).get(WAIT) is None
    assert handler.failures_told == [(1, "StoreBusyError"), (2, "StoreBusyError")]
    assert store.search("docs", "k").get(WAIT) == 1

    last = Watched(
        9, RetryPolicy(max_attempts=2, initial_wait=0.001), hook_raises=False
    )
    with pytest.raises(RetriesExhaustedError):
        store.upsert("docs", "k2", 1, callback=last).get(WAIT)
    assert [n for n, _ in last.failures_told] == [1, 2]  # the last one too
    assert len(store.dead_letters.list()) == 1


def test_overriding_exception_without_super_turns_retries_off(store: Store) -> None:
    """The documented footgun: `exception()` is the retry logic."""

    class Overrides(Flaky):
        def exception(self, error: BaseException) -> None:
            pass  # no super().exception(error)

    handler = Overrides(1, RetryPolicy(max_attempts=5, initial_wait=0.001))
    with pytest.raises(StoreBusyError):
        store.upsert("docs", "k", 1, callback=handler).get(WAIT)
    assert len(handler.calls) == 1  # not retried
    assert store.dead_letters.list() == []  # not parked
    assert "turns retries and dead letters off" in " ".join(
        (RetryCallback.__doc__ or "").split()
    )
