"""OpFuture: the result of one op, by blocking get, callback or asyncio await."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import Callable, Generator, Sequence
from typing import Any, Generic, NoReturn, TypeVar

from actors.errors import BlockingCallError, OpTimeoutError
from actors.threads import on_owner_thread
from storage import InvalidOptionError

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
    """

    __slots__ = ("_callbacks", "_error", "_event", "_result", "_state", "op_id")

    def __init__(self, op_id: int = 0) -> None:
        self.op_id = op_id
        self._state = _PENDING
        self._result: Any = None
        self._error: BaseException | None = None
        self._event: threading.Event | None = None
        self._callbacks: list[Callable[[OpFuture[T]], object]] | None = None

    def done(self) -> bool:
        """Return whether the op has finished (succeeded or failed)."""
        return self._state == _DONE

    def get(self, timeout: float | None = None) -> T:
        """Block until the op finishes and return its result.

        Args:
            timeout: seconds to wait at most; None waits for ever.

        Raises:
            The op's own error (e.g. `NotFoundError`), not wrapped.
            OpTimeoutError: if `timeout` passes first (the op still runs).
        """
        if timeout is not None and timeout < 0:
            _refuse_timeout(timeout)
        if self._state != _DONE and not self._wait(timeout):
            raise OpTimeoutError(f"op {self.op_id} not done after {timeout} seconds")
        if self._error is not None:
            raise self._error
        result: T = self._result
        return result

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """Block until the op finishes and return its error, or None if it succeeded.

        Raises:
            OpTimeoutError: if `timeout` passes first.
        """
        if timeout is not None and timeout < 0:
            _refuse_timeout(timeout)
        if self._state != _DONE and not self._wait(timeout):
            raise OpTimeoutError(f"op {self.op_id} not done after {timeout} seconds")
        return self._error

    def _wait(self, timeout: float | None) -> bool:
        if on_owner_thread():
            raise BlockingCallError(
                f"get() on pending op {self.op_id} from a table owner's thread: it "
                "would wait for itself; use add_done_callback(), callback= or a "
                "callback_executor instead"
            )
        with _lock:
            if self._state == _DONE:
                return True
            if self._event is None:
                self._event = threading.Event()
            event = self._event
        return event.wait(timeout)

    def add_done_callback(self, fn: Callable[[OpFuture[T]], object]) -> None:
        """Call `fn(self)` once the op is done (at once if it already is).

        `fn` runs on the thread that completes the op (a worker) and must be
        quick; an exception it raises is logged, as it has nowhere else to go.
        A `BaseException` that is not an `Exception` (SystemExit, say) goes
        up to whoever completed the op, once the other callbacks have run.
        """
        with _lock:
            if self._state != _DONE:
                if self._callbacks is None:
                    self._callbacks = []
                self._callbacks.append(fn)
                return
        _run_done_callback(fn, self)

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
                # The loop may have closed while the op ran.
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(_resolve, waiter)

            self.add_done_callback(wake)
            yield from waiter.__await__()
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


def _refuse_timeout(timeout: float) -> NoReturn:
    raise InvalidOptionError(f"timeout must be >= 0 or None, not {timeout}")


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
