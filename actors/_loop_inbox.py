"""LoopInbox: what completing threads hand one event loop, delivered in one wake-up.

An op's asyncio side (the done callbacks added on a loop's thread, and the
tasks awaiting it) lives on that loop, while the op ends on another thread
(an owner). The completing thread posts each of them to the loop's inbox
and wakes the loop (`loop.call_soon_threadsafe`: a self-pipe write and a
loop iteration) only if no wake-up is already on its way; the loop then
runs everything posted so far in one callback, in the order posted. So a
group of 512 ops costs its loop one wake-up, not 512, and a loop busy
elsewhere is woken once however many groups end meanwhile (the idea of
libuv's coalesced `uv_async_send`).

Within `WakeupBatch()` the wake-ups a thread owes wait until the block
ends: an owner ending a group wakes each loop once, after the whole group.

A loop that has closed cannot run anything any more: what is posted to it
then runs on the posting thread (done callbacks, in their contexts; a
waiting task's wake-up is dropped with its loop), so an owner never fails
because a loop closed, and no other op's completion is lost.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from itertools import chain
from typing import Any

__all__ = ["LoopInbox", "WakeupBatch", "call_soon", "inbox_for"]

logger = logging.getLogger(__name__)


class LoopInbox:
    """Completions waiting to reach one event loop; `wake()` delivers them.

    Thread-safe: any thread posts and wakes; only the loop drains. An inbox
    holds its loop weakly, so a forgotten loop is not kept alive.
    """

    __slots__ = ("__weakref__", "_closed_lock", "loop_ref", "posted", "scheduled")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop_ref = weakref.ref(loop)
        """The loop, weakly (None once it has been garbage-collected)."""
        self.posted: deque[Any] = deque()
        """What waits for the loop, oldest first, four items per call:
        future, fn, context and one the poster may use (call `fn(future)` in
        `context`; a None context marks `fn` as an awaiting task's waiter,
        an `asyncio.Future` to resolve). Flat, so that 20,000 posts are no
        20,000 more objects for the garbage collector to walk."""
        self._closed_lock = threading.Lock()
        self.scheduled = False
        """True from the moment a drain is asked of the loop until it starts:
        whoever turns it on asks the loop, every other poster only posts."""

    def post(self, calls: Iterable[tuple[Any, Any, Any, Any]]) -> None:
        """Queue each (future, fn, context, any) of `calls`, in order (see
        `posted`); then `wake()` the loop, or `owe()` the wake-up."""
        # One extend, all in C: no other thread's posts come in between.
        self.posted.extend(chain.from_iterable(calls))

    def owe(self) -> None:
        """Wake the loop now, or when the calling thread's `WakeupBatch` ends."""
        owed = _local.owed
        if owed is None:
            self.wake()
        else:
            owed[self] = None

    def wake(self) -> None:
        """Make what was posted reach the loop; from any thread, never raises.

        A wake-up already on its way carries it. A closed (or collected)
        loop's posts run here instead, see the module's docstring.
        """
        loop = self.loop_ref()
        if self.scheduled:
            if loop is None or loop.is_closed():
                self._run_here()  # the drain asked for will never run
            return
        self.scheduled = True
        try:
            if loop is None:
                raise RuntimeError("the event loop was garbage-collected")
            loop.call_soon_threadsafe(self.drain)
        except RuntimeError:  # Event loop is closed
            self.scheduled = False
            self._run_here()

    def drain(self) -> None:
        """On the loop: run what was posted before this call, in order.

        Like a callback asyncio runs: an exception goes to the loop's
        exception handler; SystemExit and KeyboardInterrupt go up (and the
        rest waits for the next drain).
        """
        self.scheduled = False  # posts from now on ask for another drain
        items = self.posted
        take = items.popleft
        loop = self.loop_ref()
        # Not what arrives meanwhile: that is the next drain's.
        for _ in range(len(items) // 4):
            future, fn, context, _ = take(), take(), take(), take()
            try:
                if context is None:
                    if not fn.done():  # its task may have been cancelled
                        fn.set_result(None)
                else:
                    context.run(fn, future)
            except (SystemExit, KeyboardInterrupt):
                if items and loop is not None and not self.scheduled:
                    self.scheduled = True
                    loop.call_soon(self.drain)
                raise
            except BaseException as exc:
                if loop is None:
                    raise
                loop.call_exception_handler(
                    {
                        "message": f"Exception in done callback {fn!r}",
                        "exception": exc,
                        "future": future,
                    }
                )

    def _run_here(self) -> None:
        """Run what was posted on the calling thread: the loop has closed."""
        items = self.posted
        while True:
            with self._closed_lock:  # two completing threads may both be here
                if not items:
                    return
                future, fn, context = items.popleft(), items.popleft(), items.popleft()
                items.popleft()
            if context is None:
                continue  # a waiter: its task went with its loop
            logger.debug("loop closed: a done callback runs on this thread")
            try:
                context.run(fn, future)
            except BaseException:
                # Not even SystemExit goes up: this thread is an owner ending
                # a group, and its loop, which would have taken it, is gone.
                logger.error("done callback %r failed", fn, exc_info=True)


class WakeupBatch:
    """Within `with WakeupBatch():`, the loops that completions on this thread
    reach are each woken once, when the (outermost) block ends."""

    __slots__ = ("_outer",)

    def __enter__(self) -> None:
        self._outer = _local.owed is not None
        if not self._outer:
            _local.owed = {}

    def __exit__(self, *_: object) -> None:
        if self._outer:
            return
        owed, _local.owed = _local.owed, None
        if owed:
            for inbox in owed:
                inbox.wake()


class _Local(threading.local):
    owed: dict[LoopInbox, None] | None = None
    """The inboxes this thread owes a wake-up (inside a `WakeupBatch`)."""
    inbox: LoopInbox | None = None
    """The inbox of the loop this thread ran last."""


_local = _Local()


def call_soon(
    loop: asyncio.AbstractEventLoop,
    future: Any,
    fn: Callable[[Any], object],
    context: contextvars.Context,
) -> None:
    """Call `fn(future)` in `context` soon, on `loop`; from `loop`'s own
    (running) thread. Calls made so between two loop iterations run in one
    loop callback (asyncio would schedule each apart)."""
    inbox = _local.inbox
    if inbox is None or inbox.loop_ref() is not loop:
        inbox = _local.inbox = LoopInbox(loop)
    inbox.posted.extend((future, fn, context, None))
    if not inbox.scheduled:
        inbox.scheduled = True
        loop.call_soon(inbox.drain)


def inbox_for(loop: asyncio.AbstractEventLoop) -> LoopInbox:
    """Return `loop`'s inbox; call it on the thread running `loop`.

    A loop runs on one thread at a time, so the inbox is kept per thread.
    """
    inbox = _local.inbox
    if inbox is None or inbox.loop_ref() is not loop:
        inbox = _local.inbox = LoopInbox(loop)
    return inbox
