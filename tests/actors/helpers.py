"""Helpers the actors tests share (plain functions and classes, no fixtures)."""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Callable
from typing import Any

from actorstore.retry import AsyncCallback

WAIT = 5.0
"""Seconds a test waits for something that signals; far above what it takes."""


def wait_for(condition: Callable[[], bool], timeout: float = WAIT) -> bool:
    """Return once `condition()` holds (True) or `timeout` passes (False).

    Polls, for states nothing signals (a thread now blocked in a wait, a
    retry now on the timer).
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        threading.Event().wait(0.0005)
    return True


def when(condition: Callable[[], bool], then: Callable[[], object]) -> None:
    """Call `then()` on another thread as soon as `condition()` holds (or after
    WAIT seconds anyway, so a test never hangs on it)."""

    def run() -> None:
        wait_for(condition)
        then()

    threading.Thread(target=run, daemon=True).start()


class Notes(AsyncCallback):
    """An `AsyncCallback` that keeps `(op type, error, result)` of each call."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, Any, Any]] = []

    def notify(self, op: Any, error: BaseException | None, result: Any) -> object:
        self.calls.append((op.type, error, result))
        return None


class ManualTimer:
    """A store's timer run by hand: retries wait here until `run_due()`.

    With a `MockTransport`, a store then runs its whole path, retries
    included, on the test's own thread.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[float, Callable[..., object], tuple[Any, ...], Any]] = []
        self.closing = False

    def call_later(
        self,
        delay: float,
        fn: Callable[..., object],
        *args: Any,
        on_close: Callable[[], object] | None = None,
    ) -> None:
        if self.closing and on_close is not None:
            on_close()
            return
        self.calls.append((delay, fn, args, on_close))

    def delays(self) -> list[float]:
        """Return the delays of the calls waiting, in the order they came."""
        return [delay for delay, *_ in self.calls]

    def run_due(self) -> int:
        """Run every call waiting now (not those they schedule); return how many."""
        due, self.calls = self.calls, []
        for _, fn, args, _ in due:
            fn(*args)
        return len(due)

    def close_pending(self) -> None:
        self.closing = True
        waiting, self.calls = self.calls, []
        for _, _, _, on_close in waiting:
            if on_close is not None:
                on_close()

    def close(self) -> None:
        self.close_pending()


class InlineExecutor(concurrent.futures.Executor):
    """A callback executor that runs each call at once on the caller's thread."""

    def __init__(self) -> None:
        self.ran = 0
        self.shut = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        if self.shut:
            raise RuntimeError("cannot schedule new futures after shutdown")
        self.ran += 1
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        future.set_result(fn(*args, **kwargs))
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.shut = True
