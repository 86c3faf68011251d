"""OpAttempt: the store's side of a retry handler's decision about a failed op."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from retry import DEFAULT_POLICY, DeadLetter, RetryPolicy, handling
from storage import Batch

if TYPE_CHECKING:
    from actors.op import Op
    from actors.store import Store

__all__ = ["OpAttempt", "dead_letter_for"]


class OpAttempt:
    """A failed op as a `retry.Attempt`: what a RetryCallback may do with it.

    It records whether the handler decided (retry scheduled, dead-lettered
    or failed), so the store can end an op whose handler decided nothing.
    """

    __slots__ = ("_op", "_store", "decided")

    def __init__(self, store: Store, op: Op) -> None:
        self._store = store
        self._op = op
        self.decided = False

    @property
    def op_id(self) -> int:
        """The op's id."""
        return self._op.id

    @property
    def op_type(self) -> str:
        """The op's type, as a string."""
        return self._op.type.value if self._op.type else "unknown"

    @property
    def table(self) -> str:
        """The op's table."""
        return self._op.table

    @property
    def key(self) -> Any:
        """The op's key."""
        return self._op.key

    @property
    def attempts(self) -> int:
        """Attempts made so far, the failed one included."""
        return self._op.attempts

    @property
    def elapsed(self) -> float:
        """Seconds since the op was first submitted."""
        return self._op.elapsed()

    @property
    def policy(self) -> RetryPolicy:
        """The op's policy: its own, its table's, the store's or the default."""
        return self._store._policy_for(self._op) or DEFAULT_POLICY

    def schedule(self, delay: float, fn: Callable[[], object]) -> None:
        """Run `fn()` after `delay` s on the scheduler; at close, dead-letter."""
        self.decided = True

        def run() -> None:
            # retry() runs later on the scheduler: make a fresh attempt current
            # there, and end the op if the handler neither retried nor gave up.
            attempt = OpAttempt(self._store, self._op)
            try:
                with handling(attempt):
                    fn()
            except Exception as exc:
                if attempt.decided:
                    raise
                exc.__context__ = self._op.last_error
                attempt.fail(exc)
                return
            if not attempt.decided:
                attempt.fail(self._op.last_error or RuntimeError("retry() did nothing"))

        self._store._schedule_retry(self._op, delay, run)

    def resubmit(self) -> None:
        """Queue the same op again at its owner."""
        self.decided = True
        self._store._resubmit(self._op)

    def dead_letter(self, error: BaseException) -> None:
        """Park the op in the dead-letter table; its future then fails."""
        self.decided = True
        self._store._dead_letter(self._op, error)

    def fail(self, error: BaseException) -> None:
        """End the op with `error`, no dead letter."""
        self.decided = True
        self._store._complete(self._op, None, error)


def dead_letter_for(op: Op, error: BaseException) -> DeadLetter:
    """Return the dead-letter record of `op`, which failed last with `error`."""
    operation = op.operation
    return DeadLetter.new(
        op_type=op.type.value if op.type else "unknown",
        table=op.table,
        key=op.key,
        value=op.value,
        error=error,
        attempts=op.attempts,
        first_failed_at=op.first_failed_at,
        last_failed_at=op.last_failed_at,
        key_bytes=getattr(operation, "key_bytes", None),
        value_bytes=getattr(operation, "value_bytes", None),
        batch=operation.encoded() if isinstance(operation, Batch) else None,
    )
