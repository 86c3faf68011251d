"""Callbacks: how an op tells the application its outcome."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeAlias

from actorstore.retry._attempts import RetryAttempt, current_attempt
from actorstore.retry.policy import RetryPolicy
from actorstore.storage import InvalidOptionError

__all__ = [
    "AsyncCallback",
    "Callback",
    "CallbackLike",
    "FunctionCallback",
    "RetryCallback",
    "as_callback",
]

logger = logging.getLogger(__name__)


class Callback:
    """Receive an op's outcome: `callback(result)` or `exception(error)`.

    By default `callback()` runs on the op's worker inside the op's
    transaction: raising, or returning False, rolls the op back and routes
    the error to `exception()`. Because it runs before the commit, it can in
    rare cases be followed by `exception()` for the same op: when the group's
    top-level commit itself fails (a full disk, say). With the store's
    `callback_executor=`, `callback()` runs after the commit instead.
    Override either; the defaults do nothing (the op's future still carries
    the outcome, so nothing is lost).
    """

    def callback(self, result: Any) -> object:
        """Handle a successful op's result; raise or return False to veto."""
        return None

    def exception(self, error: BaseException) -> None:
        """Handle the error an op failed with."""


class FunctionCallback(Callback):
    """Adapt a function `fn(error, result)` to a `Callback`."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[BaseException | None, Any], object]) -> None:
        self.fn = fn

    def callback(self, result: Any) -> object:
        """Call `fn(None, result)`; its False vetoes the op."""
        return self.fn(None, result)

    def exception(self, error: BaseException) -> None:
        """Call `fn(error, None)`."""
        self.fn(error, None)

    def __repr__(self) -> str:
        return f"FunctionCallback({self.fn!r})"


class AsyncCallback:
    """WiredTiger's callback: `notify(op, error, result)`, once per attempt.

    The store passes the op handle itself, so one object can serve every op:
    it reads `op.id`, `op.type`, `op.key` and `op.value` (after a search,
    `op.value` holds the record found, as WiredTiger's `get_value()`).
    `error` is None when the attempt succeeded. By default `notify` runs on
    the op's worker inside the op's transaction: returning False or raising
    rolls the op back, and that attempt fails with `OpVetoedError` (or what
    it raised) without a second call. With the store's `callback_executor=`
    it runs after commit and can no longer veto.
    """

    def notify(self, op: Any, error: BaseException | None, result: Any) -> object:
        """Handle the end of one attempt of `op`; return False to veto a success."""
        return None


CallbackLike: TypeAlias = (
    Callback | AsyncCallback | Callable[[BaseException | None, Any], object]
)
"""A `Callback` or `AsyncCallback` object, or a plain function `fn(error, result)`."""


def as_callback(value: CallbackLike | None) -> Callback | AsyncCallback | None:
    """Return `value` as a callback object (None stays None; functions are wrapped).

    Raises:
        InvalidOptionError: if it is neither a callback object nor callable.
    """
    if value is None or isinstance(value, Callback | AsyncCallback):
        return value
    if callable(value):
        return FunctionCallback(value)
    raise InvalidOptionError(
        "callback must be an actorstore.Callback or a function fn(error, result), not "
        f"{type(value).__name__} (an actorstore.AsyncCallback is accepted too)"
    )


class RetryCallback(Callback):
    """A callback that retries its failed op with capped exponential backoff.

    `exception(error)` asks the policy: while attempts remain and the error
    is retryable it schedules `retry(error)` after the policy's delay (1 ms
    doubling to 60 s by default) on the store's scheduler, so no worker
    sleeps; otherwise it calls `dead(error)`. Override `retry()` or `dead()`
    to change what happens; `self.attempt` tells which op and attempt it is.
    Raising in `callback()` rolls the op back and counts as a failed attempt.

    To be told of each failure, override `on_failure(error)`: it runs first
    in every `exception()`, and what it does or raises changes nothing of
    the retries. Do not override `exception()` for that: it *is* the retry
    logic, and an override that does not call `super().exception(error)`
    turns retries and dead letters off for its ops (each then fails with its
    first error, nothing parked), as in the MongoDB driver guide's base
    class.
    """

    def __init__(self, policy: RetryPolicy | None = None) -> None:
        if policy is not None and not isinstance(policy, RetryPolicy):
            raise InvalidOptionError(
                f"policy must be an actorstore.RetryPolicy, not {type(policy).__name__}"
            )
        self.policy = policy

    @property
    def attempt(self) -> RetryAttempt:
        """The op attempt being handled, inside any of this object's methods
        the store calls (`callback`, `exception`, `retry`, `dead`)."""
        return current_attempt()

    def on_failure(self, error: BaseException) -> None:
        """Hear of a failed attempt (`self.attempt` says which), before the
        retry decision; by default nothing.

        Called by `exception()` for every failure, the last one included.
        What it raises is logged, and the decision goes on.
        """

    def exception(self, error: BaseException) -> None:
        """Tell `on_failure(error)`, then schedule `retry(error)` if the policy
        allows, else call `dead(error)`.

        Overriding this replaces the retries and dead letters (see the class
        docstring); override `on_failure()` to be told of failures.
        """
        try:
            self.on_failure(error)
        except Exception:
            logger.error(
                "%s.on_failure() raised; the retry decision goes on",
                type(self).__name__,
                exc_info=True,
            )
        attempt = self.attempt
        policy = self.policy or attempt.policy
        delay = policy.next_delay(error, attempt.attempts, elapsed=attempt.elapsed)
        if delay is None:
            self.dead(error)
        else:
            attempt.schedule(delay, functools.partial(self.retry, error))

    def retry(self, error: BaseException) -> None:
        """Run the op again; by default resubmit the same op."""
        self.attempt.resubmit()

    def dead(self, error: BaseException) -> None:
        """Give up on the op; by default write it to the dead-letter table."""
        self.attempt.dead_letter(error)
