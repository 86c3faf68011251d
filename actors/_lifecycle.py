"""Lifecycle: whether a store takes ops, and in which process it was opened."""

from __future__ import annotations

import atexit
import logging
import os
from collections.abc import Callable
from typing import NoReturn

from actorstore.errors import StoreForkedError
from actorstore.storage import StoreClosedError

__all__ = ["Lifecycle", "forget", "remember"]

logger = logging.getLogger(__name__)


class Lifecycle:
    """Open, then closing (new ops refused; dead letters still written), then
    closed (every op refused). Also refuses use from a forked child."""

    def __init__(self) -> None:
        self.closing = False
        self.closed = False
        self.opened_by = os.getpid()

    def check_open(self) -> None:
        """Raise unless the store accepts new ops.

        Raises:
            StoreForkedError: in a child process that inherited the store.
            StoreClosedError: if the store is closing or closed.
        """
        if self.closing:
            self.refuse()
        self.check_process()

    def check_internal(self) -> None:
        """Raise unless the store still accepts internal ops (dead letters).

        Raises:
            StoreClosedError: once the store has closed.
        """
        if self.closed:
            self.refuse()

    @property
    def forked(self) -> bool:
        """Whether this is a forked child of the process that opened the store."""
        return self.opened_by != os.getpid()

    def check_process(self) -> None:
        """Raise `StoreForkedError` in a child process that inherited the store."""
        if self.opened_by != os.getpid():
            raise StoreForkedError(opened_by=self.opened_by)

    def start_closing(self) -> None:
        """Refuse new ops from now on; internal ops (dead letters) still run."""
        self.closing = True

    def finish_closing(self) -> None:
        """Refuse every op from now on."""
        self.closing = self.closed = True

    def refuse(self) -> NoReturn:
        """Raise the error of a store that takes no ops here.

        Raises:
            StoreForkedError: in a child process that inherited the store.
            StoreClosedError: otherwise.
        """
        self.check_process()
        raise StoreClosedError("store")


# Stores still open at exit are closed (flushed and synced) so that a program
# that forgets close() loses nothing and still exits: the owners are daemons.
# Held strongly: a store nobody refers to any more still has ops to finish.
_open: dict[Lifecycle, Callable[..., object]] = {}


def remember(lifecycle: Lifecycle, close: Callable[..., object]) -> None:
    """Close the store of `lifecycle` with `close(timeout=30)` at exit if still open."""
    _open[lifecycle] = close


def forget(lifecycle: Lifecycle) -> None:
    """Stop remembering a store that has closed."""
    _open.pop(lifecycle, None)


def _forget_stores_in_forked_child() -> None:
    # fork() copies no owner thread and LMDB environments must not be used
    # after fork(): the child's copies refuse every op (StoreForkedError), and
    # the child starts with no open stores, so it may open the same store
    # itself (the documented remedy) and does not try to close the parent's
    # at exit.
    for lifecycle in list(_open):
        lifecycle.finish_closing()
    _open.clear()


os.register_at_fork(after_in_child=_forget_stores_in_forked_child)


@atexit.register
def _close_open_stores() -> None:
    for close in list(_open.values()):
        try:
            close(timeout=30)
        except Exception:
            logger.error("closing a store at exit failed", exc_info=True)
