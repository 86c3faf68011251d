"""StoreAttempt: a failed op as a retry handler sees it (`RetryCallback.attempt`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from actorstore.op import Op, handle_of
from actorstore.retry import DEFAULT_POLICY, AttemptState
from actorstore.storage import StoreClosedError

if TYPE_CHECKING:
    from actorstore._record import OpRecord
    from actorstore.retry import RetryPolicy

__all__ = ["AttemptHost", "StoreAttempt"]


class AttemptHost(Protocol):
    """What an attempt asks of the store's executor when its handler decides."""

    def policy_for(self, record: OpRecord) -> RetryPolicy | None:
        """Return the op's narrowest retry policy, if any."""
        ...

    def run_handler(
        self,
        record: OpRecord,
        call: Callable[[], object],
        error: BaseException,
        undecided: Callable[[BaseException], object],
    ) -> None:
        """Run a handler hook in a new attempt; `undecided` ends an op it left."""
        ...

    def schedule_retry(
        self, record: OpRecord, delay: float, fn: Callable[[], object]
    ) -> None:
        """Run `fn` after `delay` on the timer; at close, dead-letter the op."""
        ...

    def dispatch(self, record: OpRecord) -> None:
        """Queue the op again at its owner."""
        ...

    def dead_letter(
        self, record: OpRecord, error: BaseException, *, cut_short: bool = False
    ) -> None:
        """Park the op in the dead letters, then fail it with the final error."""
        ...

    def complete(
        self, record: OpRecord, result: Any, error: BaseException | None
    ) -> None:
        """End the op."""
        ...


class StoreAttempt:
    """A failed op as a `retry.Attempt`: what a RetryCallback may do with it.

    It records whether the handler decided (retry scheduled, dead-lettered
    or failed), so the store can end an op whose handler decided nothing.
    """

    __slots__ = ("_host", "_record", "cut_short", "decided")

    def __init__(
        self, host: AttemptHost, record: OpRecord, *, cut_short: bool = False
    ) -> None:
        self._host = host
        self._record = record
        self.cut_short = cut_short
        self.decided = False

    @property
    def op(self) -> Op:
        """The op handle itself."""
        return handle_of(self._record)

    @property
    def op_id(self) -> int:
        """The op's id."""
        return self._record.id

    @property
    def op_type(self) -> str:
        """The op's type, as a string."""
        return self._record.type.value if self._record.type else "unknown"

    @property
    def table(self) -> str:
        """The op's table."""
        return self._record.table

    @property
    def key(self) -> Any:
        """The op's key."""
        return self._record.key

    @property
    def state(self) -> AttemptState:
        """The op's attempt state."""
        record = self._record
        if record.state is None:
            record.state = AttemptState(record.submitted_at)
        return record.state

    @property
    def attempts(self) -> int:
        """Attempts made so far, the failed one included."""
        return self.state.attempts

    @property
    def elapsed(self) -> float:
        """Seconds since the op was first submitted."""
        return self.state.elapsed

    @property
    def policy(self) -> RetryPolicy:
        """The op's policy: its own, its table's, the store's or the default."""
        return self._host.policy_for(self._record) or DEFAULT_POLICY

    def schedule(self, delay: float, fn: Callable[[], object]) -> None:
        """Run `fn()` after `delay` s on the timer; at close, dead-letter."""
        self.decided = True
        host, record = self._host, self._record
        error = self.state.last_error or StoreClosedError("store")

        def run() -> None:
            # retry() runs later on the timer, with a fresh attempt current.
            host.run_handler(
                record, fn, error, lambda e: host.complete(record, None, e)
            )

        host.schedule_retry(record, delay, run)

    def resubmit(self) -> None:
        """Queue the same op again at its owner."""
        self.decided = True
        self._host.dispatch(self._record)

    def dead_letter(self, error: BaseException) -> None:
        """Park the op in the dead-letter table; its future then fails."""
        self.decided = True
        self._host.dead_letter(self._record, error, cut_short=self.cut_short)

    def fail(self, error: BaseException) -> None:
        """End the op with `error`, no dead letter."""
        self.decided = True
        self._host.complete(self._record, None, error)
