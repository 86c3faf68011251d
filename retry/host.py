"""RetryHost: what the retry framework needs of whatever hosts it.

A store implements it (`actors` does, in its outcomes); flows and dead
letters use nothing else of the store, so they can be tested with a small
fake host and no actors at all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from actorstore.retry._letters import DeadLetter
    from actorstore.retry.policy import RetryPolicy

__all__ = ["FutureLike", "PendingFuture", "RetryHost"]

T_co = TypeVar("T_co", covariant=True)


class FutureLike(Protocol[T_co]):
    """What the retry framework reads of a future (an `actors.OpFuture`, say)."""

    def done(self) -> bool:
        """Return whether it is done."""
        ...

    def get(self, timeout: float | None = None) -> T_co:
        """Block for the result, or raise the error."""
        ...

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """Block for the error, or None if it succeeded."""
        ...

    def add_completion_callback(self, fn: Callable[[Any], object]) -> None:
        """Call `fn(future)` on the thread that completes it (at once if done).

        Unlike an asyncio-aware `add_done_callback`, it never waits for an
        event loop: the retry framework's bookkeeping must not.
        """
        ...


class PendingFuture(FutureLike[Any], Protocol):
    """A future the retry framework completes itself (a flow's run)."""

    def set_result(self, result: Any) -> None:
        """Complete it with `result`."""
        ...

    def set_exception(self, error: BaseException) -> None:
        """Complete it with `error`."""
        ...


class RetryHost(Protocol):
    """What flows and dead letters need of their store.

    Every method is non-blocking and safe to call from any thread.
    """

    @property
    def policy(self) -> RetryPolicy | None:
        """The host's own default policy (a store's `retry=`), if any."""
        ...

    def schedule(
        self, delay: float, fn: Callable[[], object], on_close: Callable[[], object]
    ) -> None:
        """Run `fn()` after `delay` seconds off any worker, or `on_close()` instead
        if the host closes first (so nothing scheduled is ever lost)."""
        ...

    def park(self, letter: DeadLetter) -> FutureLike[Any]:
        """Hand `letter` to the dead-letter hook, else write it durably.

        The future's result says what kept the letter, in a few words (None:
        the dead-letter table); it fails if the letter could not be kept.
        """
        ...

    def submit(
        self,
        op_type: str,
        key: Any = None,
        value: Any = None,
        options: Mapping[str, Any] | None = None,
    ) -> FutureLike[Any]:
        """Run an op on the dead-letter table (never refused for being over
        `ops_max`) and return its future; `options` are a scan's."""
        ...

    def replay(self, letter: DeadLetter) -> FutureLike[Any]:
        """Submit `letter`'s op again as a plain op and return its future.

        A host that can tell the op was applied already (its owner recorded
        the outcome) does not run it again: the future's result is then
        `ALREADY_APPLIED` (`retry._triage`), which `replay()` counts.
        """
        ...

    def track(self) -> PendingFuture:
        """Return a new pending future that the host's `flush()` waits for.

        Raises:
            StoreClosedError: if the host is closing or closed.
        """
        ...
