"""Store threads: where blocking on the store would wait for itself.

Owners (they run ops, in-transaction callbacks and done callbacks), the
timer (retries, flow stages) and a `callback_executor`'s thread while it runs
one of the store's callbacks: a blocking `get()`, `flush()` or `close()`
there could deadlock, so it raises `BlockingCallError` at once instead.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from actorstore.errors import BlockingCallError
from actorstore.retry._scheduler import on_timer_thread

__all__ = [
    "mark_owner_thread",
    "on_owner_thread",
    "on_store_thread",
    "refuse_on_store_thread",
    "run_as_store_thread",
]

T = TypeVar("T")


class _StoreThread(threading.local):
    # Class defaults: a thread that never set them reads these, without the
    # AttributeError a getattr() default costs (asked on every op parked).
    owner = False
    callbacks = 0


_local = _StoreThread()


def mark_owner_thread() -> None:
    """Mark the calling thread as a table owner's (called in the owner's on_start)."""
    _local.owner = True


def on_owner_thread() -> bool:
    """Return whether the calling thread is a table owner's."""
    return _local.owner


def on_store_thread() -> bool:
    """Return whether the calling thread is an owner's, the timer's, or running
    a store callback on an executor."""
    return _local.owner or _local.callbacks > 0 or on_timer_thread()


def run_as_store_thread(fn: Callable[..., T], *args: Any) -> T:
    """Run `fn(*args)` with the calling thread counted as a store thread.

    The store wraps what it hands a `callback_executor` in this.
    """
    _local.callbacks += 1
    try:
        return fn(*args)
    finally:
        _local.callbacks -= 1


def refuse_on_store_thread(call: str) -> None:
    """Raise `BlockingCallError` if `call` would block a store thread.

    Raises:
        BlockingCallError: on an owner, the timer or a callback executor's
            thread running one of the store's callbacks.
    """
    if on_store_thread():
        raise BlockingCallError(
            f"{call} on a store thread (in a callback, a done-callback or a "
            "flow stage) would wait for itself; call it from your own thread"
        )
