"""Tests for retry/attempts.py: the current attempt, alone and as a store shows it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from actors import Store
from retry import (
    Attempt,
    RetriesExhaustedError,
    RetryCallback,
    RetryPolicy,
    current_attempt,
    handling,
)
from storage import StoreBusyError

WAIT = 5.0


class FakeAttempt:
    """A stand-in `Attempt` that records what a handler asked of it."""

    def __init__(self, attempts: int = 1, policy: RetryPolicy | None = None) -> None:
        self.op_id = 1
        self.op_type = "upsert"
        self.table = "docs"
        self.key = "k"
        self.attempts = attempts
        self.elapsed = 0.0
        self.policy = policy or RetryPolicy()
        self.calls: list[tuple[str, Any]] = []

    def schedule(self, delay: float, fn: Callable[[], object]) -> None:
        self.calls.append(("schedule", delay))

    def resubmit(self) -> None:
        self.calls.append(("resubmit", None))

    def dead_letter(self, error: BaseException) -> None:
        self.calls.append(("dead_letter", error))

    def fail(self, error: BaseException) -> None:
        self.calls.append(("fail", error))


def test_current_attempt_outside_a_handler_raises_runtime_error() -> None:
    with pytest.raises(RuntimeError, match=r"RetryCallback\.attempt"):
        current_attempt()


def test_retry_callback_attempt_outside_a_handler_raises_runtime_error() -> None:
    with pytest.raises(RuntimeError, match="only available while the store calls"):
        _ = RetryCallback().attempt


def test_handling_makes_the_attempt_current_for_the_block_only() -> None:
    attempt = FakeAttempt()
    with handling(attempt) as current:
        assert current is attempt
        assert current_attempt() is attempt
    with pytest.raises(RuntimeError):
        current_attempt()


def test_handling_nests_and_restores_the_outer_attempt() -> None:
    outer, inner = FakeAttempt(attempts=1), FakeAttempt(attempts=2)
    with handling(outer):
        with handling(inner):
            assert current_attempt() is inner
        assert current_attempt() is outer


def test_handling_restores_even_when_the_block_raises() -> None:
    with pytest.raises(ValueError, match="inside"), handling(FakeAttempt()):
        raise ValueError("inside")
    with pytest.raises(RuntimeError):
        current_attempt()


def test_the_current_attempt_belongs_to_its_thread() -> None:
    seen: list[BaseException | Attempt] = []
    with handling(FakeAttempt()):

        def look() -> None:
            try:
                seen.append(current_attempt())
            except RuntimeError as exc:
                seen.append(exc)

        thread = threading.Thread(target=look)
        thread.start()
        thread.join(WAIT)
    assert len(seen) == 1
    assert isinstance(seen[0], RuntimeError)


def test_a_fake_attempt_satisfies_the_protocol_for_the_handler() -> None:
    attempt = FakeAttempt(attempts=1, policy=RetryPolicy(initial_wait=0.25))
    handler = RetryCallback()
    with handling(attempt):
        handler.exception(StoreBusyError("busy"))
    assert attempt.calls == [("schedule", 0.25)]


# -- the store's attempts -------------------------------------------------------


class Recorder(RetryCallback):
    """Fail the first `failures` times; record the attempt seen in each hook."""

    def __init__(self, failures: int, policy: RetryPolicy | None = None) -> None:
        super().__init__(policy)
        self.failures = failures
        self.seen: list[tuple[str, int, int, str, str, Any, RetryPolicy, str]] = []
        self.ended = threading.Event()

    def callback(self, result: Any) -> object:
        if self.failures > 0:
            self.failures -= 1
            raise StoreBusyError("busy")
        return None

    def _see(self, hook: str) -> None:
        a = self.attempt
        self.seen.append(
            (
                hook,
                a.op_id,
                a.attempts,
                a.op_type,
                a.table,
                a.key,
                a.policy,
                threading.current_thread().name,
            )
        )

    def exception(self, error: BaseException) -> None:
        self._see("exception")
        super().exception(error)

    def retry(self, error: BaseException) -> None:
        self._see("retry")
        super().retry(error)

    def dead(self, error: BaseException) -> None:
        self._see("dead")
        super().dead(error)


def test_the_store_shows_the_op_and_its_attempt_count_in_every_hook(
    store: Store,
) -> None:
    policy = RetryPolicy(max_attempts=5, initial_wait=0.001)
    handler = Recorder(failures=2)
    future = store.upsert("docs", "k", {"n": 1}, callback=handler, retry=policy)
    assert future.get(WAIT) is None
    assert [entry[:3] for entry in handler.seen] == [
        ("exception", future.op_id, 1),
        ("retry", future.op_id, 1),
        ("exception", future.op_id, 2),
        ("retry", future.op_id, 2),
    ]
    assert {entry[3:6] for entry in handler.seen} == {("upsert", "docs", "k")}
    # The handler has no policy of its own: the attempt shows the op's.
    assert {entry[6] for entry in handler.seen} == {policy}
    # retry() runs on the scheduler's thread, not on a worker.
    assert {entry[7] for entry in handler.seen if entry[0] == "retry"} == {
        "StoreScheduler"
    }


def test_dead_sees_the_last_attempt(store: Store) -> None:
    handler = Recorder(failures=10, policy=RetryPolicy(max_attempts=3))
    future = store.upsert("docs", "k", 1, callback=handler)
    with pytest.raises(RetriesExhaustedError):
        future.get(WAIT)
    assert [entry[:3] for entry in handler.seen][-1] == ("dead", future.op_id, 3)
    # The attempt's policy is the op's effective one (the store has none here),
    # not the handler's own.
    assert handler.seen[-1][6] == RetryPolicy()
