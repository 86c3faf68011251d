"""fork(): a child inherits no open environment, so it may open the store itself.

LMDB forbids using an environment after fork(), and py-lmdb refuses to open
an environment its process has open, a set that fork() copies into the
child. So around each fork() of a process with stores open: before it,
every open table and catalog waits for its transactions under way (briefly,
`QUIESCE_TIMEOUT` in all) and closes its environment; in the parent they
reopen at once; in the child they stay closed and let go of the parent's
locks. Closing in the parent, not in the child, matters: closing a copy in
the child would abort the parent's transactions in the shared lock file.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from typing import Protocol

__all__ = ["QUIESCE_TIMEOUT", "register"]

logger = logging.getLogger(__name__)

QUIESCE_TIMEOUT = 2.0
"""Seconds a fork() waits, in all, for the stores' transactions under way."""


class ForkAware(Protocol):
    """What takes part: a store directory (its catalog and tables)."""

    def before_fork(self, timeout: float) -> None: ...

    def after_fork_in_parent(self) -> None: ...

    def after_fork_in_child(self) -> None: ...


_open: weakref.WeakSet[ForkAware] = weakref.WeakSet()
_lock = threading.Lock()
_forking: list[ForkAware] = []


def register(obj: ForkAware) -> None:
    """Have `obj` take part in every later fork() of this process."""
    with _lock:
        _open.add(obj)


def _before() -> None:
    with _lock:
        _forking[:] = list(_open)
    deadline = time.monotonic() + QUIESCE_TIMEOUT
    for obj in _forking:
        try:
            obj.before_fork(max(0.0, deadline - time.monotonic()))
        except BaseException:
            logger.error("preparing %r for fork() failed", obj, exc_info=True)


def _after_in_parent() -> None:
    for obj in _forking:
        try:
            obj.after_fork_in_parent()
        except BaseException:
            logger.error("resuming %r after fork() failed", obj, exc_info=True)
    _forking.clear()


def _after_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # another thread may have held it at fork()
    for obj in _forking:
        try:
            obj.after_fork_in_child()
        except BaseException:
            logger.error("leaving %r in a fork()ed child failed", obj, exc_info=True)
    _forking.clear()
    _open.clear()


os.register_at_fork(
    before=_before, after_in_parent=_after_in_parent, after_in_child=_after_in_child
)
