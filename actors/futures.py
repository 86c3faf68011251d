"""OpFuture: the result of one op, by blocking get, callback or asyncio await."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import math
import os
import threading

# In asyncio's __all__ and what asyncio itself asks on every call: the running
# loop or None, without the exception get_running_loop() raises on a worker.
from asyncio import _get_running_loop
from collections.abc import Callable, Generator, Sequence
from typing import Any, Generic, NoReturn, TypeVar

from actorstore._threads import on_store_thread
from actorstore.errors import BlockingCallError, OpTimeoutError
from actorstore.storage import InvalidOptionError

__all__ = ["OpFuture"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

# One lock for every future: completing or waiting holds it only to swap a few
# fields, and it spares each future the cost of its own Condition.
_lock = threading.Lock()
_PENDING, _DONE = 0, 1


class OpFuture(Generic[T]):
    """The outcome of one op: a single result slot, set once.

    `get()` blocks; `await future` hands off to the event loop and never
    blocks it; `add_done_callback(fn)` calls `fn(future)` when it is done.

    asyncio takes it wherever it takes an awaitable or a future: `await`,
    `gather`, `wait` (which calls `add_done_callback`, `done`, `cancelled`,
    `exception` and `remove_done_callback` on it directly), `wait_for`,
    `as_completed`, `ensure_future` (which wraps it in a `Task`:
    `asyncio.isfuture()` is False for it) and tasks of a `TaskGroup`. A done
    callback added on a thread that runs an event loop runs on that loop, so
    no loop code ever runs on the thread that completes the op.

    It is not a `concurrent.futures.Future`: `concurrent.futures.wait()` and
    `as_completed()` (which use that class's private fields) and
    `asyncio.wrap_future()` do not take it. Use `get(timeout)` on each
    future, `await` it in asyncio, or a done callback added from a plain
    thread that puts the future on a `queue.SimpleQueue` to take futures in
    the order they finish.
    """

    __slots__ = ("_callbacks", "_error", "_event", "_result", "_state", "op_id")

    def __init__(self, op_id: int = 0) -> None:
        self.op_id = op_id
        self._state = _PENDING
        self._result: Any = None
        self._error: BaseException | None = None
        self._event: threading.Event | None = None
        self._callbacks: list[Callable[[OpFuture[T]], object]] | None = None

    @classmethod
    def resolved(cls, op_id: int, result: T) -> OpFuture[T]:
        """Return a future already done with `result` (an op that ran at once)."""
        future: OpFuture[T] = cls(op_id)
        future._result = result
        future._state = _DONE
        return future

    def done(self) -> bool:
        """Return whether the op has finished (succeeded or failed)."""
        return self._state == _DONE

    def cancelled(self) -> bool:
        """Return False: an op cannot be cancelled (asyncio's `wait` asks)."""
        return False

    def cancel(self, msg: object = None) -> bool:
        """Return False and leave the op running: a submitted op cannot be cancelled.

        Cancelling a task that awaits the op (`asyncio.wait_for` on timeout,
        say) cancels only that wait.
        """
        return False

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
            timeout = _checked_timeout(timeout)
        if self._state != _DONE and not self._wait(timeout):
            raise OpTimeoutError(f"op {self.op_id} not done after {timeout} seconds")
        if self._error is not None:
            raise self._error
        result: T = self._result
        return result

    def result(self, timeout: float | None = None) -> T:
        """Return the result or raise the op's error, as `get()` does.

        It never blocks an event loop: on a thread that runs one, a pending
        op raises `asyncio.InvalidStateError`, as `asyncio.Future.result()`
        does; elsewhere it waits like `get(timeout)`.

        Raises:
            The op's own error, not wrapped.
            asyncio.InvalidStateError: if pending, on an event loop's thread.
            OpTimeoutError: if `timeout` passes first.
        """
        if self._state != _DONE:
            self._refuse_on_loop("result")
        return self.get(timeout)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """Return the op's error, or None if it succeeded.

        It never blocks an event loop: on a thread that runs one, a pending
        op raises `asyncio.InvalidStateError`, as `asyncio.Future.exception()`
        does; elsewhere it waits until the op is done, `timeout` at most.

        Raises:
            asyncio.InvalidStateError: if pending, on an event loop's thread.
            OpTimeoutError: if `timeout` passes first.
            InvalidOptionError: for a bad `timeout` (as `get()`).
        """
        if timeout is not None:
            timeout = _checked_timeout(timeout)
        if self._state != _DONE:
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
        with _lock:
            if self._state == _DONE:
                return True
            if self._event is None:
                self._event = threading.Event()
            event = self._event
        return event.wait(timeout)

    def add_done_callback(
        self,
        fn: Callable[[OpFuture[T]], object],
        *,
        context: contextvars.Context | None = None,
    ) -> None:
        """Call `fn(self)` once the op is done.

        Which thread runs `fn` depends on the thread that adds it:

        - one that runs an event loop (a coroutine, or asyncio itself): `fn`
          runs on that loop (scheduled with `call_soon_threadsafe`), as
          asyncio's own futures do, even if the op is already done; in
          `context` (default: the current context). An exception it raises
          goes to the loop's exception handler. If the loop has closed by
          the time the op finishes, `fn` runs on the completing thread
          instead, so it still runs once; if the loop stops or closes with
          `fn` scheduled, `fn` waits for it to run again, or never runs.
        - any other thread: `fn` runs on the thread that completes the op (a
          worker), or at once if it is already done. It must be quick; an
          exception it raises is logged, as it has nowhere else to go. A
          `BaseException` that is not an `Exception` (SystemExit, say) goes
          up to whoever completed the op, once the other callbacks have run.

        Raises:
            InvalidOptionError: if `fn` is not callable, or `context` is not
                a `contextvars.Context`.
        """
        _check_callable(fn)
        if context is not None and not isinstance(context, contextvars.Context):
            raise InvalidOptionError(
                "context must be a contextvars.Context or None, not "
                f"{type(context).__name__}"
            )
        loop = _get_running_loop()
        if loop is not None:
            self._add_on_loop(fn, loop, context)
            return
        if context is not None:
            fn = _InContext(fn, context)
        self.add_completion_callback(fn)

    def _add_on_loop(
        self,
        fn: Callable[[OpFuture[T]], object],
        loop: asyncio.AbstractEventLoop,
        context: contextvars.Context | None,
    ) -> None:
        if context is None:
            context = contextvars.copy_context()
        if not self._kept(_OnLoop(fn, loop, context)):
            loop.call_soon(fn, self, context=context)

    def add_completion_callback(self, fn: Callable[[OpFuture[T]], object]) -> None:
        """Call `fn(self)` on the thread that completes the op, whoever adds it.

        `add_done_callback()` as from a plain thread, on an event loop's
        thread too: for the store's own bookkeeping, which must neither wait
        for a loop to run nor outlive it. `fn` must be quick, and touch a
        loop only through its thread-safe calls.

        Raises:
            InvalidOptionError: if `fn` is not callable.
        """
        _check_callable(fn)
        if not self._kept(fn):
            _run_done_callback(fn, self)

    def _kept(self, callback: Callable[[OpFuture[T]], object]) -> bool:
        """Keep `callback` to be called when the op completes; return False,
        keeping nothing, if it already has."""
        with _lock:
            if self._state == _DONE:
                return False
            if self._callbacks is None:
                self._callbacks = []
            self._callbacks.append(callback)
            return True

    def remove_done_callback(self, fn: Callable[[OpFuture[T]], object]) -> int:
        """Remove every pending call of `fn`; return how many were removed.

        Once the op is done its callbacks have run or been scheduled, and 0
        is returned (asyncio's `wait` removes its callbacks this way).

        Raises:
            InvalidOptionError: if `fn` is not callable.
        """
        _check_callable(fn)
        with _lock:
            callbacks = self._callbacks
            if not callbacks:
                return 0
            kept = [each for each in callbacks if not _calls(each, fn)]
            removed = len(callbacks) - len(kept)
            self._callbacks = kept or None
        return removed

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
        with _lock:
            if self._state == _DONE:
                raise RuntimeError(f"op {self.op_id}: future completed twice")
            self._result = result
            self._error = error
            self._state = _DONE
            event, self._event = self._event, None
            callbacks, self._callbacks = self._callbacks, None
        if event is not None:
            event.set()
        if callbacks:
            _run_done_callbacks([(self, callbacks)])

    @staticmethod
    def set_results(futures: Sequence[OpFuture[Any]], results: Sequence[Any]) -> None:
        """Complete each pending future of `futures` with its result in `results`.

        Like `set_result()` on each, with one lock for the lot, except that a
        future already done is left as it is (no `RuntimeError`). Every
        waiter is woken and every done callback runs, as `set_result()` does
        (see `add_done_callback` for what a raising callback does).

        Raises:
            ValueError: if the two sequences differ in length (nothing is
                completed).
        """
        if len(futures) != len(results):
            raise ValueError(f"{len(futures)} futures but {len(results)} results")
        woken: list[tuple[OpFuture[Any], list[Any]]] = []
        events: list[threading.Event] = []
        with _lock:
            for future, result in zip(futures, results, strict=True):
                if future._state != _DONE:
                    future._result = result
                    future._state = _DONE
                    if future._event is not None:
                        events.append(future._event)
                        future._event = None
                    if future._callbacks:
                        woken.append((future, future._callbacks))
                        future._callbacks = None
        for event in events:
            event.set()
        _run_done_callbacks(woken)

    def __await__(self) -> Generator[Any, None, T]:
        if self._state != _DONE:
            loop = asyncio.get_running_loop()
            waiter: asyncio.Future[None] = loop.create_future()

            def wake(_: OpFuture[T]) -> None:
                # Runs on the completing thread; the loop may have closed.
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(_resolve, waiter)

            self.add_completion_callback(wake)
            try:
                yield from waiter.__await__()
            except BaseException:
                # The awaiting task was cancelled: only the wait ends.
                self.remove_done_callback(wake)
                raise
        return self.get()

    def __repr__(self) -> str:
        if self._state != _DONE:
            state = "pending"
        elif self._error is not None:
            state = f"failed {type(self._error).__name__}"
        else:
            state = "done"
        return f"<OpFuture op={self.op_id} {state}>"


def _new_lock_in_child() -> None:
    # Another thread may have held the lock at fork(); the child's copy would
    # then stay locked for ever.
    global _lock
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_new_lock_in_child)


def _checked_timeout(timeout: object) -> float:
    """Return `timeout` (not None) as seconds, or refuse it."""
    if (
        isinstance(timeout, int | float)
        and not isinstance(timeout, bool)
        and timeout >= 0  # not NaN
    ):
        return timeout
    _refuse_timeout(timeout)


def _refuse_timeout(timeout: object) -> NoReturn:
    raise InvalidOptionError(
        f"timeout must be >= 0 or None, not {timeout!r}; give a number of seconds"
    )


def _check_callable(fn: object) -> None:
    if not callable(fn):
        raise InvalidOptionError(
            f"a done callback must be callable (fn(future)), not {type(fn).__name__}"
        )


class _OnLoop:
    """A done callback added on an event loop's thread: it runs on that loop."""

    __slots__ = ("context", "fn", "loop")

    def __init__(
        self,
        fn: Callable[[Any], object],
        loop: asyncio.AbstractEventLoop,
        context: contextvars.Context,
    ) -> None:
        self.fn = fn
        self.loop = loop
        self.context = context

    def __call__(self, future: OpFuture[Any]) -> None:
        try:
            self.loop.call_soon_threadsafe(self.fn, future, context=self.context)
        except RuntimeError:
            # The loop has closed: nothing races with this thread for it any
            # more, and running here is the only way `fn` still runs once.
            logger.debug("op %d: loop closed, done callback runs here", future.op_id)
            self.context.run(self.fn, future)

    def __repr__(self) -> str:
        return repr(self.fn)


class _InContext:
    """A done callback added with a `context` on a plain thread."""

    __slots__ = ("context", "fn")

    def __init__(
        self, fn: Callable[[Any], object], context: contextvars.Context
    ) -> None:
        self.fn = fn
        self.context = context

    def __call__(self, future: OpFuture[Any]) -> None:
        self.context.run(self.fn, future)

    def __repr__(self) -> str:
        return repr(self.fn)


def _calls(callback: Callable[[Any], object], fn: Callable[[Any], object]) -> bool:
    """Return whether the kept `callback` is `fn` or a wrapper of it."""
    if isinstance(callback, _OnLoop | _InContext):
        return callback.fn == fn
    return callback == fn


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _run_done_callback(
    fn: Callable[[OpFuture[Any]], object], future: OpFuture[Any]
) -> None:
    try:
        fn(future)
    except Exception:
        logger.error(
            "done callback %r of op %d failed", fn, future.op_id, exc_info=True
        )


def _run_done_callbacks(
    woken: list[tuple[OpFuture[Any], list[Callable[[OpFuture[Any]], object]]]],
) -> None:
    """Run each future's done callbacks, every one even if one raises.

    An `Exception` is logged; the first other `BaseException` (SystemExit,
    say) is raised once every callback has run, and any later one logged.
    """
    raised: BaseException | None = None
    for future, callbacks in woken:
        for fn in callbacks:
            try:
                _run_done_callback(fn, future)
            except BaseException as exc:  # noqa: BLE001 - raised below
                if raised is None:
                    raised = exc
                else:
                    logger.error(
                        "done callback %r of op %d raised %r", fn, future.op_id, exc
                    )
    if raised is not None:
        raise raised
