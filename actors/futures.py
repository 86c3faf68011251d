"""OpFuture: the result of one op, by blocking get, callback or asyncio await."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import math
import threading

# In asyncio's __all__ and what asyncio itself asks on every call: the running
# loop or None, without the exception get_running_loop() raises on a worker.
from asyncio import _get_running_loop
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import actorstore._done_callbacks as _callbacks
from actorstore._asyncio_face import AsyncioFace
from actorstore._done_callbacks import (
    CANCELLED,
    DONE,
    PENDING,
    InContext,
    OnLoop,
    calls,
    check_callable,
    checked_timeout,
    run_done_callback,
    run_done_callbacks,
)
from actorstore._loop_inbox import call_soon, inbox_for
from actorstore._threads import on_store_thread
from actorstore.errors import BlockingCallError, OpTimeoutError
from actorstore.storage import InvalidOptionError

__all__ = ["OpFuture"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


# `_state`'s two bits (see `_done_callbacks`): the outcome is set, the
# asyncio face was cancelled.
_PENDING, _DONE, _CANCELLED = PENDING, DONE, CANCELLED


class OpFuture(AsyncioFace, Generic[T]):
    """The outcome of one op: a single result slot, set once.

    `get()` blocks; `await future` hands off to the event loop and never
    blocks it; `add_done_callback(fn)` calls `fn(future)` when it is done.

    On a thread running an event loop it is an asyncio future of that loop
    (`asyncio.isfuture()` is True there), so `gather`, `wait`, `wait_for`,
    `as_completed`, `shield` and `ensure_future` take it as it is, without a
    `Task` per op. Its done callbacks added there run on that loop, and ops
    that end together reach the loop in one wake-up; no loop code ever runs
    on the thread that completes the op.

    Cancelling never touches the op. A task awaiting it that is cancelled
    (`task.cancel()`, `asyncio.timeout()`, a failing `TaskGroup`) sees
    `CancelledError` alone; `cancel()` itself, which `gather` and
    `wait_for` call on what they were given, cancels only the future's
    asyncio face (see `cancel()`). The op commits or fails as it would have,
    and `get()`, or awaiting it again, returns its outcome.

    It is not a `concurrent.futures.Future`: `concurrent.futures.wait()` and
    `as_completed()` (which use that class's private fields) do not take
    it. Use `get(timeout)` on each future, `await` it in asyncio, or a done
    callback added from a plain thread that puts the future on a
    `queue.SimpleQueue` to take futures in the order they finish.
    """

    __slots__ = ("_error", "_event", "_result", "op_id")

    def __init__(self, op_id: int = 0) -> None:
        self.op_id = op_id
        self._state = _PENDING
        self._result: Any = None
        self._error: BaseException | None = None
        self._event: threading.Event | None = None
        self._callbacks: list[Any] | None = None
        # The loop the last asyncio.isfuture() found running, and on which
        # thread (plain fields: a tuple per op would be one more object for
        # the garbage collector to walk while 20,000 ops are gathered).
        self._asked_loop: asyncio.AbstractEventLoop | None = None
        self._asked_thread = 0

    @classmethod
    def resolved(cls, op_id: int, result: T) -> OpFuture[T]:
        """Return a future already done with `result` (an op that ran at once)."""
        future: OpFuture[T] = cls(op_id)
        future._result = result
        future._state = _DONE
        return future

    def done(self) -> bool:
        """Return whether the op has finished (succeeded or failed).

        On a thread running an event loop, also True once the asyncio face
        was cancelled (see `cancel()`), as asyncio expects of a cancelled
        future; `finished()` tells the op's own state on any thread.
        """
        state = self._state
        if state & _DONE:
            return True
        return state == _CANCELLED and _get_running_loop() is not None

    def finished(self) -> bool:
        """Return whether the op has finished, whatever its asyncio face says."""
        return bool(self._state & _DONE)

    # -- the op's outcome -----------------------------------------------------------

    def get(self, timeout: float | None = None) -> T:
        """Block until the op finishes and return its result.

        This is the blocking API, on any thread but the store's own: in a
        coroutine, `await` the future instead.

        Args:
            timeout: seconds to wait at most; None waits for ever.

        Raises:
            The op's own error (e.g. `NotFoundError`), not wrapped.
            OpTimeoutError: if `timeout` passes first (the op still runs).
            BlockingCallError: on a store thread (owner, timer, a callback on
                the callback executor) while the op is pending.
            InvalidOptionError: for a `timeout` that is not None or a
                number of seconds >= 0 (NaN included).
        """
        if timeout is not None and (
            (type(timeout) is not float and type(timeout) is not int)
            or not timeout >= 0  # NaN too
        ):
            timeout = checked_timeout(timeout)
        if not self._state & _DONE and not self._wait(timeout):
            raise OpTimeoutError(f"op {self.op_id} not done after {timeout} seconds")
        if self._error is not None:
            raise self._error
        result: T = self._result
        return result

    def result(self, timeout: float | None = None) -> T:
        """Return the result or raise the op's error, as `get()` does.

        It never blocks an event loop: on a thread that runs one, a pending
        op raises `asyncio.InvalidStateError`, and a cancelled asyncio face
        `CancelledError`, as `asyncio.Future.result()` does; elsewhere it
        waits like `get(timeout)`.

        Raises:
            The op's own error, not wrapped.
            asyncio.InvalidStateError: if pending, on an event loop's thread.
            asyncio.CancelledError: if cancelled, on an event loop's thread.
            OpTimeoutError: if `timeout` passes first.
            InvalidOptionError: for a bad `timeout` (as `get()`).
        """
        if timeout is not None:
            timeout = checked_timeout(timeout)
        state = self._state
        if state == _DONE:  # what asyncio asks of each op it gathers: no call
            if self._error is not None:
                raise self._error
            result: T = self._result
            return result
        if state & _CANCELLED and self._cancelled_here():
            raise self._make_cancelled_error()
        if not state & _DONE:
            self._refuse_on_loop("result")
        return self.get(timeout)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """Return the op's error, or None if it succeeded.

        It never blocks an event loop: on a thread that runs one, a pending
        op raises `asyncio.InvalidStateError`, and a cancelled asyncio face
        `CancelledError`, as `asyncio.Future.exception()` does; elsewhere it
        waits until the op is done, `timeout` at most.

        Raises:
            asyncio.InvalidStateError: if pending, on an event loop's thread.
            asyncio.CancelledError: if cancelled, on an event loop's thread.
            OpTimeoutError: if `timeout` passes first.
            InvalidOptionError: for a bad `timeout` (as `get()`).
        """
        if timeout is not None:
            timeout = checked_timeout(timeout)
        state = self._state
        if state == _DONE:
            return self._error
        if state & _CANCELLED and self._cancelled_here():
            raise self._make_cancelled_error()
        if not state & _DONE:
            self._refuse_on_loop("exception")
            if not self._wait(timeout):
                raise OpTimeoutError(
                    f"op {self.op_id} not done after {timeout} seconds"
                )
        return self._error

    def _refuse_on_loop(self, name: str) -> None:
        if _get_running_loop() is not None:
            raise asyncio.InvalidStateError(
                f"{name}() on pending op {self.op_id} in an event loop would block "
                "it; await the future instead"
            )

    def _wait(self, timeout: float | None) -> bool:
        if on_store_thread():
            raise BlockingCallError(
                f"get() on pending op {self.op_id} from a store thread (an owner, "
                "the timer, or a callback on the callback executor): it could wait "
                "for itself; chain with add_done_callback(), callback= or a flow "
                "stage instead"
            )
        if timeout is not None and math.isinf(timeout):
            timeout = None  # Event.wait() refuses an infinite timeout
        with _callbacks.LOCK:
            if self._state & _DONE:
                return True
            if self._event is None:
                self._event = threading.Event()
            event = self._event
        return event.wait(timeout)

    # -- done callbacks -------------------------------------------------------------

    def add_done_callback(
        self,
        fn: Callable[[OpFuture[T]], object],
        *,
        context: contextvars.Context | None = None,
    ) -> None:
        """Call `fn(self)` once the op is done.

        Which thread runs `fn` depends on the thread that adds it:

        - one that runs an event loop (a coroutine, or asyncio itself): `fn`
          runs on that loop, as asyncio's own futures do, never inside this
          call, even if the op is already done; in `context` (default: the
          current context). Every callback of the ops that end together
          reaches the loop in one wake-up. An exception it raises goes to
          the loop's exception handler. If the asyncio face is cancelled
          first (see `cancel()`), `fn` runs then. If the loop has closed
          by the time the op finishes, `fn` runs on the completing thread
          instead, so it still runs once; if the loop stops or closes with
          `fn` on its way, `fn` waits for it to run again, or never runs.
        - any other thread: `fn` runs on the thread that completes the op (a
          worker), or at once if it is already done. It must be quick; an
          exception it raises is logged, as it has nowhere else to go. A
          `BaseException` that is not an `Exception` (SystemExit, say) goes
          up to whoever completed the op, once the other callbacks have run.

        Raises:
            InvalidOptionError: if `fn` is not callable, or `context` is not
                a `contextvars.Context`.
        """
        check_callable(fn)
        if context is not None and not isinstance(context, contextvars.Context):
            raise InvalidOptionError(
                "context must be a contextvars.Context or None, not "
                f"{type(context).__name__}"
            )
        loop = self._running_loop()
        if loop is not None:
            if context is None:
                context = contextvars.copy_context()
            # Done (or cancelled) is for good: no lock needed to see it.
            if self._state == _PENDING:
                inbox = inbox_for(loop)
                with _callbacks.LOCK:
                    if self._state == _PENDING:
                        self._keep((self, fn, context, inbox))
                        return
            call_soon(loop, self, fn, context)
            return
        if context is not None:
            fn = InContext(fn, context)
        self.add_completion_callback(fn)

    def add_completion_callback(self, fn: Callable[[OpFuture[T]], object]) -> None:
        """Call `fn(self)` on the thread that completes the op, whoever adds it.

        `add_done_callback()` as from a plain thread, on an event loop's
        thread too: for the store's own bookkeeping, which must neither wait
        for a loop to run nor outlive it. `fn` must be quick, and touch a
        loop only through its thread-safe calls.

        Raises:
            InvalidOptionError: if `fn` is not callable.
        """
        check_callable(fn)
        with _callbacks.LOCK:
            if not self._state & _DONE:
                self._keep(fn)
                return
        run_done_callback(fn, self)

    def _keep(self, callback: Any) -> None:
        # The caller holds the lock.
        if self._callbacks is None:
            self._callbacks = [callback]
        else:
            self._callbacks.append(callback)

    def remove_done_callback(self, fn: Callable[[OpFuture[T]], object]) -> int:
        """Remove every pending call of `fn`; return how many were removed.

        Once the op is done its callbacks have run or been scheduled, and 0
        is returned (asyncio's `wait` removes its callbacks this way).

        Raises:
            InvalidOptionError: if `fn` is not callable.
        """
        check_callable(fn)
        with _callbacks.LOCK:
            callbacks = self._callbacks
            if not callbacks:
                return 0
            kept = [each for each in callbacks if not calls(each, fn)]
            removed = len(callbacks) - len(kept)
            self._callbacks = kept or None
        return removed

    def _forget(self, kept: OnLoop) -> None:
        """Drop the kept `kept` (this very tuple), if it is still kept."""
        with _callbacks.LOCK:
            callbacks = self._callbacks
            if callbacks:
                for index, each in enumerate(callbacks):
                    if each is kept:
                        del callbacks[index]
                        break
                if not callbacks:
                    self._callbacks = None

    # -- completing -----------------------------------------------------------------

    def set_result(self, result: T) -> None:
        """Complete the future with `result`.

        Raises:
            RuntimeError: if it is already done.
        """
        self._complete(result, None)

    def set_exception(self, error: BaseException) -> None:
        """Complete the future with `error`.

        Raises:
            RuntimeError: if it is already done.
        """
        self._complete(None, error)

    def _complete(self, result: Any, error: BaseException | None) -> None:
        with _callbacks.LOCK:
            state = self._state
            if state & _DONE:
                raise RuntimeError(f"op {self.op_id}: future completed twice")
            self._result = result
            self._error = error
            self._state = state | _DONE
            event, self._event = self._event, None
            callbacks, self._callbacks = self._callbacks, None
        if event is not None:
            event.set()
        if callbacks:
            run_done_callbacks([(self, callbacks)])

    @staticmethod
    def set_results(futures: Sequence[OpFuture[Any]], results: Sequence[Any]) -> None:
        """Complete each pending future of `futures` with its result in `results`.

        Like `set_result()` on each, with one lock for the lot, except that a
        future already done is left as it is (no `RuntimeError`). Every
        waiter is woken and every done callback runs, as `set_result()` does
        (see `add_done_callback` for what a raising callback does); those
        due on an event loop reach it in one wake-up, in the order of
        `futures`.

        Raises:
            ValueError: if the two sequences differ in length (nothing is
                completed).
        """
        if len(futures) != len(results):
            raise ValueError(f"{len(futures)} futures but {len(results)} results")
        woken: list[tuple[OpFuture[Any], list[Any]]] = []
        events: list[threading.Event] = []
        with _callbacks.LOCK:
            for future, result in zip(futures, results, strict=True):
                state = future._state
                if not state & _DONE:
                    future._result = result
                    future._state = state | _DONE
                    if future._event is not None:
                        events.append(future._event)
                        future._event = None
                    if future._callbacks:
                        woken.append((future, future._callbacks))
                        future._callbacks = None
        for event in events:
            event.set()
        if woken:
            run_done_callbacks(woken)

    def _outcome(self) -> T:
        if self._error is not None:
            raise self._error
        result: T = self._result
        return result

    def __repr__(self) -> str:
        state = self._state
        if not state & _DONE:
            text = "pending"
        elif self._error is not None:
            text = f"failed {type(self._error).__name__}"
        else:
            text = "done"
        if state & _CANCELLED:
            text += ", asyncio face cancelled"
        return f"<OpFuture op={self.op_id} {text}>"
