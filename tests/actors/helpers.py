"""Helpers the actors tests share (plain functions and classes, no fixtures)."""

from __future__ import annotations

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
