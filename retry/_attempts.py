"""RetryAttempt: the failed op a retry handler decides about, as the store shows it."""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from actorstore.retry.policy import RetryPolicy
from actorstore.retry.state import AttemptState

__all__ = ["RetryAttempt", "current_attempt", "handling"]


class RetryAttempt(Protocol):
    """A failed op, and what a retry handler may do with it.

    The store builds one when an op fails and makes it current while it calls
    the op's `RetryCallback`; `attempts` counts every attempt made so far.
    """

    @property
    def op_id(self) -> int:
        """The op's id."""
        ...

    @property
    def op_type(self) -> str:
        """The op's type, as a string (`"upsert"`, ...)."""
        ...

    @property
    def table(self) -> str:
        """The op's table."""
        ...

    @property
    def key(self) -> Any:
        """The op's key."""
        ...

    @property
    def attempts(self) -> int:
        """Attempts made so far, the failed one included."""
        ...

    @property
    def elapsed(self) -> float:
        """Seconds since the op was first submitted (for time-based stops)."""
        ...

    @property
    def state(self) -> AttemptState:
        """The op's attempt state (attempts, failure times, last error)."""
        ...

    @property
    def policy(self) -> RetryPolicy:
        """The op's effective retry policy."""
        ...

    def schedule(self, delay: float, fn: Callable[[], object]) -> None:
        """Run `fn()` after `delay` seconds on the store's scheduler, not a worker."""
        ...

    def resubmit(self) -> None:
        """Run the same op again (same id, one more attempt)."""
        ...

    def dead_letter(self, error: BaseException) -> None:
        """Park the op durably in the dead-letter table and fail its future."""
        ...

    def fail(self, error: BaseException) -> None:
        """End the op with `error` without a dead letter (the caller gets it)."""
        ...


_current: contextvars.ContextVar[RetryAttempt] = contextvars.ContextVar("attempt")


def current_attempt() -> RetryAttempt:
    """Return the attempt being handled on this thread.

    Raises:
        RuntimeError: outside a store's call of a retry handler.
    """
    try:
        return _current.get()
    except LookupError:
        raise RuntimeError(
            "no op attempt is being handled here; RetryCallback.attempt is only "
            "available while the store calls callback(), exception(), retry() "
            "or dead()"
        ) from None


@contextmanager
def handling(attempt: RetryAttempt) -> Iterator[RetryAttempt]:
    """Make `attempt` current for the block (the store wraps handler calls in it)."""
    token = _current.set(attempt)
    try:
        yield attempt
    finally:
        _current.reset(token)
