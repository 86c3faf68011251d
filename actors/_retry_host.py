"""StoreRetryHost: the store as the retry framework sees it (`retry.RetryHost`).

Flows and the dead-letter table use nothing else of a store: scheduling
on its timer, parking a letter, running ops on the dead-letter table,
replaying a letter, and tracking a flow's run for `flush()`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from actorstore._executor import OutcomeExecutor
    from actorstore._lifecycle import Lifecycle
    from actorstore._submission import Submission
    from actorstore.futures import OpFuture
    from actorstore.retry import DeadLetter, RetryPolicy

__all__ = ["StoreRetryHost"]


class StoreRetryHost:
    """A store's `retry.RetryHost`; every method is non-blocking and thread-safe."""

    def __init__(
        self,
        executor: OutcomeExecutor,
        submission: Submission,
        lifecycle: Lifecycle,
    ) -> None:
        self._executor = executor
        self._submission = submission
        self._lifecycle = lifecycle

    @property
    def policy(self) -> RetryPolicy | None:
        """The store's own retry policy."""
        return self._executor.policies.store

    def schedule(
        self, delay: float, fn: Callable[[], object], on_close: Callable[[], object]
    ) -> None:
        """Run `fn()` after `delay` on the store's timer, or `on_close()` at close."""
        self._executor.scheduler.call_later(delay, fn, on_close=on_close)

    def park(self, letter: DeadLetter) -> OpFuture[Any]:
        """Hand `letter` to the store's hook, else write it to the dead-letter table."""
        return self._executor.parking.park(letter)

    def submit(
        self,
        op_type: str,
        key: Any = None,
        value: Any = None,
        options: Mapping[str, Any] | None = None,
    ) -> OpFuture[Any]:
        """Run an op on the dead-letter table, never refused by `ops_max`."""
        return self._executor.parking.submit_internal(op_type, key, value, options)

    def replay(self, letter: DeadLetter) -> OpFuture[Any]:
        """Submit dead letter `letter`'s op again as a plain op."""
        return self._submission.replay(letter)

    def track(self) -> OpFuture[Any]:
        """Return a pending future (a flow's run) that `flush()` waits for.

        Raises:
            StoreClosedError: if the store is closing or closed.
        """
        self._lifecycle.check_open()
        return self._executor.track()
