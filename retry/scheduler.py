"""Scheduler: run functions after a delay on one timer thread, not on a worker."""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["ScheduledCall", "Scheduler", "on_timer_thread"]

logger = logging.getLogger(__name__)


_timer = threading.local()


def on_timer_thread() -> bool:
    """Return whether the calling thread is a Scheduler's timer thread."""
    return getattr(_timer, "active", False)


class ScheduledCall:
    """A pending call; `cancel()` stops it from running."""

    __slots__ = ("args", "cancelled", "due", "fn")

    def __init__(
        self, due: float, fn: Callable[..., object], args: tuple[Any, ...]
    ) -> None:
        self.due = due
        self.fn = fn
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        """Keep the call from running, if it has not run yet."""
        self.cancelled = True


class Scheduler:
    """Run functions after a delay, in due order, on one daemon timer thread.

    The functions run on the timer thread, so they must be quick: hand real
    work to a worker (as retries do: they resubmit the op). A function that
    raises is logged with its traceback; the scheduler keeps going.
    """

    _counter = itertools.count(1)

    def __init__(self, name: str | None = None) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._heap: list[tuple[float, int, ScheduledCall]] = []
        self._seq = itertools.count()
        self._closed = False
        self._thread = threading.Thread(
            target=self._run,
            name=name or f"Scheduler-{next(self._counter)}",
            daemon=True,
        )
        self._thread.start()

    def call_later(
        self, delay: float, fn: Callable[..., object], *args: Any
    ) -> ScheduledCall:
        """Run `fn(*args)` after `delay` seconds; return a cancellable handle.

        Raises:
            RuntimeError: if the scheduler is closed.
        """
        call = ScheduledCall(time.monotonic() + max(0.0, delay), fn, args)
        with self._cond:
            if self._closed:
                raise RuntimeError("call_later() on a closed scheduler")
            heapq.heappush(self._heap, (call.due, next(self._seq), call))
            if self._heap[0][2] is call:
                self._cond.notify()
        return call

    def pending(self) -> list[ScheduledCall]:
        """Return the calls not yet run nor cancelled, in due order."""
        with self._cond:
            return [c for _, _, c in sorted(self._heap) if not c.cancelled]

    def _run(self) -> None:
        _timer.active = True
        while True:
            with self._cond:
                while True:
                    if self._closed:
                        return
                    if self._heap:
                        wait = self._heap[0][0] - time.monotonic()
                        if wait <= 0:
                            _, _, call = heapq.heappop(self._heap)
                            break
                        self._cond.wait(wait)
                    else:
                        self._cond.wait()
            if call.cancelled:
                continue
            try:
                call.fn(*call.args)
            except Exception:
                logger.error("scheduled call %r failed", call.fn, exc_info=True)

    def close(self) -> list[ScheduledCall]:
        """Stop the timer thread; return the calls that never ran (not cancelled)."""
        with self._cond:
            self._closed = True
            left = [c for _, _, c in sorted(self._heap) if not c.cancelled]
            self._heap.clear()
            self._cond.notify_all()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)
        return left
