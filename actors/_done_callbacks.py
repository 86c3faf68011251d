"""Done callbacks of op futures: how they are kept, matched and run.

A callback added on a plain thread runs on the thread that completes the
op; one added on a loop's thread is posted to that loop's inbox
(`_loop_inbox.py`), a whole group's at once, so each loop wakes once.
"""

from __future__ import annotations

import contextvars
import logging
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, Protocol, TypeVar

from actorstore._loop_inbox import LoopInbox
from actorstore.storage import InvalidOptionError

__all__ = [
    "CANCELLED",
    "DONE",
    "LOCK",
    "PENDING",
    "Future",
    "InContext",
    "OnLoop",
    "calls",
    "check_callable",
    "checked_timeout",
    "post",
    "refuse_timeout",
    "run_done_callback",
    "run_done_callbacks",
]

logger = logging.getLogger(__name__)

LOCK = threading.Lock()
"""One lock for every op future: completing or waiting holds it only to swap
a few fields, and it spares each future the cost of its own Condition."""

# A future's `_state` is two bits: the op's outcome is set (DONE), and its
# asyncio face was cancelled (CANCELLED); they are independent.
PENDING, DONE, CANCELLED = 0, 1, 2


def _new_lock_in_child() -> None:
    # Another thread may have held the lock at fork(); the child's copy would
    # then stay locked for ever.
    global LOCK
    LOCK = threading.Lock()


os.register_at_fork(after_in_child=_new_lock_in_child)


class Future(Protocol):
    """What these helpers read of an op's future: the op's id, for logs."""

    op_id: int


F = TypeVar("F", bound=Future)

OnLoop = tuple[Future, Any, contextvars.Context | None, LoopInbox]
"""A done callback added on a loop's thread (future, fn, context, that
loop's inbox), or a task's waiter (future, waiter, None, inbox): kept among
the future's callbacks, and posted to the inbox when it is due."""


def checked_timeout(timeout: object) -> float:
    """Return `timeout` (not None) as seconds, or refuse it."""
    if (
        isinstance(timeout, int | float)
        and not isinstance(timeout, bool)
        and timeout >= 0  # not NaN
    ):
        return timeout
    refuse_timeout(timeout)


def refuse_timeout(timeout: object) -> NoReturn:
    raise InvalidOptionError(
        f"timeout must be >= 0 or None, not {timeout!r}; give a number of seconds"
    )


def check_callable(fn: object) -> None:
    if not callable(fn):
        raise InvalidOptionError(
            f"a done callback must be callable (fn(future)), not {type(fn).__name__}"
        )


class InContext:
    """A done callback added with a `context` on a plain thread."""

    __slots__ = ("context", "fn")

    def __init__(
        self, fn: Callable[[Any], object], context: contextvars.Context
    ) -> None:
        self.fn = fn
        self.context = context

    def __call__(self, future: Future) -> None:
        self.context.run(self.fn, future)

    def __repr__(self) -> str:
        return repr(self.fn)


def calls(callback: Any, fn: Callable[[Any], object]) -> bool:
    """Return whether the kept `callback` is `fn` or a wrapper of it."""
    if type(callback) is tuple:
        return bool(callback[1] == fn)
    if isinstance(callback, InContext):
        return callback.fn == fn
    return bool(callback == fn)


def post(due: list[OnLoop]) -> None:
    """Post callbacks due on loops to their loops' inboxes, in order, and owe
    each loop one wake-up."""
    by_inbox: dict[LoopInbox, list[OnLoop]] = {}
    inbox: LoopInbox | None = None
    same: list[OnLoop] = []
    for entry in due:  # most often all of one loop
        if entry[3] is not inbox:
            inbox = entry[3]
            same = by_inbox.setdefault(inbox, [])
        same.append(entry)
    for inbox, calls in by_inbox.items():
        inbox.post(calls)
        inbox.owe()


def run_done_callback(fn: Callable[[F], object], future: F) -> None:
    """Call `fn(future)`; an `Exception` it raises is logged."""
    try:
        fn(future)
    except Exception:
        logger.error(
            "done callback %r of op %d failed", fn, future.op_id, exc_info=True
        )


def run_done_callbacks(woken: Sequence[tuple[Future, list[Any]]]) -> None:
    """Hand each future's callbacks due on a loop to that loop, then run the
    others here, every one even if one raises.

    An `Exception` is logged; the first other `BaseException` (SystemExit,
    say) is raised once every callback has run, and any later one logged.
    """
    on_loops: list[OnLoop] = []
    raised: BaseException | None = None
    for future, callbacks in woken:
        for fn in callbacks:
            if type(fn) is tuple:
                on_loops.append(fn)
                continue
            try:
                run_done_callback(fn, future)
            except BaseException as exc:  # noqa: BLE001 - raised below
                if raised is None:
                    raised = exc
                else:
                    logger.error(
                        "done callback %r of op %d raised %r", fn, future.op_id, exc
                    )
    if on_loops:
        post(on_loops)
    if raised is not None:
        raise raised
