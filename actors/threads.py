"""Store threads: the owners and the timer, where blocking on the store deadlocks."""

from __future__ import annotations

import threading

from retry import on_timer_thread

__all__ = ["mark_owner_thread", "on_owner_thread", "on_store_thread"]

_local = threading.local()


def mark_owner_thread() -> None:
    """Mark the calling thread as a table owner's (called in the owner's on_start)."""
    _local.owner = True


def on_owner_thread() -> bool:
    """Return whether the calling thread is a table owner's."""
    return getattr(_local, "owner", False)


def on_store_thread() -> bool:
    """Return whether the calling thread is an owner's or the store's timer."""
    return getattr(_local, "owner", False) or on_timer_thread()
