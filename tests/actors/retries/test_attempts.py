"""The attempt a RetryCallback sees (retry.RetryAttempt), as a real store shows it."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from actorstore import Store
from actorstore.retry import RetriesExhaustedError, RetryCallback, RetryPolicy
from actorstore.storage import StoreBusyError

WAIT = 5.0


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
