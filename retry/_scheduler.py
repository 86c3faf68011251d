"""Scheduler: run functions after a delay on one timer thread, not on a worker."""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["ScheduledCall", "Scheduler", "on_timer_thread"]

logger = logging.getLogger(__name__)


class _TimerThread(threading.local):
    active = False  # a class default: reading it never raises


_timer = _TimerThread()

# Condition.wait() refuses timeouts past this (OverflowError); a call due
# later than that is simply looked at again when the wait ends.
_LONGEST_WAIT = min(threading.TIMEOUT_MAX, 86_400.0)


def on_timer_thread() -> bool:
    """Return whether the calling thread is a Scheduler's timer thread."""
    return _timer.active


class ScheduledCall:
    """A pending call; `cancel()` stops it from running."""

    __slots__ = ("args", "cancelled", "due", "fn", "on_close")

    def __init__(
        self,
        due: float,
        fn: Callable[..., object],
        args: tuple[Any, ...],
        on_close: Callable[[], object] | None = None,
    ) -> None:
        self.due = due
        self.fn = fn
        self.args = args
        self.on_close = on_close
        self.cancelled = False

    def cancel(self) -> None:
        """Keep the call from running, if it has not run yet."""
        self.cancelled = True


class Scheduler:
    """Run functions after a delay, in due order, on one daemon timer thread.

    The functions run on the timer thread, so they must be quick: hand real
    work to a worker (as retries do: they resubmit the op). Whatever a
    function raises, `SystemExit` and `KeyboardInterrupt` included, is logged
    with its traceback and the timer goes on: user code never stops it.

    A call may carry an `on_close` function: nothing scheduled with one is
    ever lost, because `close_pending()` (or `close()`) runs it in place of
    every such call that has not run yet, and a call scheduled after that
    runs its `on_close` at once.
    """

    _counter = itertools.count(1)

    def __init__(self, name: str | None = None) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._heap: list[tuple[float, int, ScheduledCall]] = []
        self._seq = itertools.count()
        self._closed = False
        self._closing = False
        self._thread = threading.Thread(
            target=self._run,
            name=name or f"Scheduler-{next(self._counter)}",
            daemon=True,
        )
        self._thread.start()

    def call_later(
        self,
        delay: float,
        fn: Callable[..., object],
        *args: Any,
        on_close: Callable[[], object] | None = None,
    ) -> ScheduledCall:
        """Run `fn(*args)` after `delay` seconds; return a cancellable handle.

        If `on_close` is given and pending calls are being closed (see
        `close_pending()`), `on_close()` runs at once on this thread instead.

        Raises:
            RuntimeError: if the scheduler is closed and no `on_close` is given.
        """
        due = time.monotonic() + max(0.0, delay) if not math.isnan(delay) else 0.0
        call = ScheduledCall(due, fn, args, on_close)
        with self._cond:
            refused = self._closed or (self._closing and on_close is not None)
            if not refused:
                heapq.heappush(self._heap, (call.due, next(self._seq), call))
                if self._heap[0][2] is call:
                    self._cond.notify()
        if refused:
            if on_close is None:
                raise RuntimeError("call_later() on a closed scheduler")
            call.cancel()
            _run_guarded(on_close, "on_close")
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
                        self._cond.wait(min(wait, _LONGEST_WAIT))
                    else:
                        self._cond.wait()
            if not call.cancelled:
                _run_guarded(call.fn, "scheduled call", *call.args)

    def close_pending(self) -> None:
        """Run `on_close()` in place of every pending call that has one.

        Calls without `on_close` (housekeeping) keep their schedule; from now
        on, a call scheduled with `on_close` runs that at once instead.
        """
        with self._cond:
            self._closing = True
            closing = [c for _, _, c in self._heap if c.on_close is not None]
            self._heap = [e for e in self._heap if e[2].on_close is None]
            heapq.heapify(self._heap)
        for call in sorted(closing, key=lambda c: c.due):
            if not call.cancelled:
                call.cancel()
                assert call.on_close is not None
                _run_guarded(call.on_close, "on_close")

    def close(self) -> list[ScheduledCall]:
        """Stop the timer thread; return the calls that never ran (not cancelled).

        Pending calls with an `on_close` run it first, as `close_pending()`.
        """
        self.close_pending()
        with self._cond:
            self._closed = True
            left = [c for _, _, c in sorted(self._heap) if not c.cancelled]
            self._heap.clear()
            self._cond.notify_all()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)
        return left


def _run_guarded(fn: Callable[..., object], what: str, *args: Any) -> None:
    """Run user code `fn(*args)`; log anything it raises, never let it out."""
    try:
        fn(*args)
    except BaseException:
        logger.error("%s %r failed", what, fn, exc_info=True)
