"""Timer: what the store needs of the scheduler that retries wait on.

`retry.Scheduler` (one timer thread) is the store's; a test may give a
store a timer it runs by hand, so that retries happen without threads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["Timer"]


class Timer(Protocol):
    """Runs calls later, off the owners; at close, each call's `on_close` instead."""

    def call_later(
        self,
        delay: float,
        fn: Callable[..., object],
        *args: Any,
        on_close: Callable[[], object] | None = None,
    ) -> object:
        """Run `fn(*args)` after `delay` seconds (or `on_close()` once closing)."""
        ...

    def close_pending(self) -> None:
        """Run `on_close()` in place of every pending call that has one."""
        ...

    def close(self) -> object:
        """Close the timer: pending calls with an `on_close` run it first."""
        ...
