"""AttemptState: how an op or a flow run has fared so far."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

__all__ = ["AttemptState"]


@dataclass(slots=True)
class AttemptState:
    """The attempts of one op (or one flow run): how many, when they failed, why.

    One object carries what every strategy and record reads, in the spirit of
    tenacity's `RetryCallState`: `RetryPolicy.next_delay_for(state)` decides
    from it, and `DeadLetter.new(..., state=state)` records it. `started_at`
    is a `time.monotonic()` reading (for time-based stops); the failure times
    are wall-clock `time.time()` readings (for people and dead letters).
    """

    started_at: float = field(default_factory=time.monotonic)
    attempts: int = 0
    first_failed_at: float | None = None
    last_failed_at: float | None = None
    last_error: BaseException | None = None

    @property
    def elapsed(self) -> float:
        """Seconds since the first attempt started."""
        return max(0.0, time.monotonic() - self.started_at)

    def failed(self, error: BaseException) -> None:
        """Record that the attempt under way failed with `error`."""
        now = time.time()
        self.attempts += 1
        if self.first_failed_at is None:
            self.first_failed_at = now
        self.last_failed_at = now
        self.last_error = error

    def succeeded(self) -> None:
        """Record that the attempt under way succeeded."""
        self.attempts += 1
