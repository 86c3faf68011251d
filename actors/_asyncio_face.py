"""AsyncioFace: what an op's future shows to a thread running an event loop.

On such a thread an `OpFuture` is an asyncio future of that loop
(`asyncio.isfuture()` is True there), so `gather`, `wait_for` and the rest
take it without a Task per op; `cancel()` cancels only this face, never the
op; awaiting it waits on a waiter of its own, so cancelling one awaiting task
touches no other. The thread face (`get()`, completion) is `futures.py`'s.
"""

from __future__ import annotations

import asyncio

# In asyncio's __all__ and what asyncio itself asks on every call: the running
# loop or None, without the exception get_running_loop() raises on a worker.
from asyncio import _get_running_loop
from collections.abc import Generator
from threading import get_ident
from typing import Any

from actorstore._done_callbacks import (
    CANCELLED,
    DONE,
    LOCK,
    PENDING,
    OnLoop,
    post,
)
from actorstore._loop_inbox import inbox_for

__all__ = ["AsyncioFace"]


class AsyncioFace:
    """The asyncio side of an `OpFuture` (a mixin: the future holds the state)."""

    # The fields it reads and sets live here; the future's own are in its class.
    __slots__ = (
        "_asked_loop",
        "_asked_thread",
        "_callbacks",
        "_cancel_message",
        "_state",
    )

    op_id: int
    _state: int
    _callbacks: list[Any] | None
    _cancel_message: object
    _asked_loop: asyncio.AbstractEventLoop | None
    _asked_thread: int

    def _keep(self, callback: Any) -> None:
        raise NotImplementedError

    def _forget(self, kept: OnLoop) -> None:
        raise NotImplementedError

    def _outcome(self) -> Any:
        raise NotImplementedError

    @property
    def _asyncio_future_blocking(self) -> bool | None:
        # What asyncio.isfuture() reads: not None makes gather, wait_for and
        # ensure_future take this object as a future of the running loop
        # instead of wrapping it in a Task. Off any loop it is None, so
        # `loop.run_until_complete(future)` still wraps it, as before.
        loop = _get_running_loop()
        if loop is None:
            return None
        # asyncio asks get_loop() and add_done_callback() next: they need not
        # ask for the running loop again (on 3.11 each ask is a getpid()).
        self._asked_loop = loop
        self._asked_thread = get_ident()
        return False

    @_asyncio_future_blocking.setter
    def _asyncio_future_blocking(self, _: bool) -> None:
        # A Task sets it on a future its coroutine yields; an OpFuture never
        # yields itself (`__await__` yields a waiter of its own).
        pass

    def get_loop(self) -> asyncio.AbstractEventLoop:
        """Return the running event loop: a future of whichever loop asks.

        Raises:
            RuntimeError: on a thread that runs no event loop.
        """
        loop = self._running_loop()
        if loop is None:
            raise RuntimeError("no running event loop")
        return loop

    def _running_loop(self) -> asyncio.AbstractEventLoop | None:
        """Return the calling thread's running loop, or None."""
        loop = self._asked_loop
        # Running when isfuture() asked on this thread, and still running.
        if loop is not None and self._asked_thread == get_ident() and loop.is_running():
            return loop
        return _get_running_loop()

    def cancelled(self) -> bool:
        """Return whether the asyncio face was cancelled (and this thread runs a
        loop); the op itself is never cancelled."""
        return self._state >= CANCELLED and _get_running_loop() is not None

    def cancel(self, msg: object = None) -> bool:
        """Cancel the future's asyncio face, never the op; return whether it did.

        On a thread running an event loop, while the op is pending, the
        future then looks cancelled to asyncio there (`done()` and
        `cancelled()` are True, `result()` raises `CancelledError`) and its
        done callbacks added on a loop run at once: `gather`, `wait_for`
        and `shield` end as they do for any future cancelled. The op goes
        on: it commits or fails as it would have, frees its slot, runs its
        callbacks, retries and dead letter; `get()`, `finished()`, done
        callbacks added on plain threads and `await future` (which waits
        for the op, and raises `CancelledError` only into a task that is
        itself cancelled) all see its real outcome.

        On any other thread, or once the op is done, it returns False and
        does nothing.
        """
        loop = _get_running_loop()
        if loop is None:
            return False
        with LOCK:
            if self._state != PENDING:
                return False
            self._state = CANCELLED
            self._cancel_message = msg
            callbacks = self._callbacks
            due: list[OnLoop] = []
            if callbacks:
                kept: list[Any] = []
                for callback in callbacks:
                    # Awaiting tasks wait for the op itself, not for its face.
                    if type(callback) is tuple and callback[2] is not None:
                        due.append(callback)
                    else:
                        kept.append(callback)
                self._callbacks = kept or None
        post(due)
        return True

    def _make_cancelled_error(self) -> asyncio.CancelledError:
        # What asyncio.gather asks of a cancelled child (and Future has).
        message = self._cancel_message
        if message is None:
            return asyncio.CancelledError()
        return asyncio.CancelledError(message)

    def _cancelled_here(self) -> bool:
        return self._state >= CANCELLED and _get_running_loop() is not None

    def __await__(self) -> Generator[Any, None, Any]:
        if not self._state & DONE:
            loop = _get_running_loop()
            if loop is None:
                raise RuntimeError(
                    f"await on op {self.op_id} with no running event loop: "
                    "await it in a coroutine that asyncio runs, or call get()"
                )
            waiter: asyncio.Future[None] = loop.create_future()
            kept: OnLoop = (self, waiter, None, inbox_for(loop))
            with LOCK:
                waiting = not self._state & DONE
                if waiting:
                    self._keep(kept)
            if waiting:
                try:
                    yield from waiter.__await__()
                except BaseException:
                    # The awaiting task was cancelled: only the wait ends.
                    self._forget(kept)
                    raise
        return self._outcome()
