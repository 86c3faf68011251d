"""Which processes have a table open: a shared `flock`, and a record per holder.

While a process has a table open it holds a shared `flock` on the table's
`table.lock` file and keeps a record, `holders/<pid>`, naming itself.
Compaction (which replaces the data file) takes the lock exclusively without
waiting and refuses with `TableBusyError` when another process holds it,
naming a holder from the records. A clean close removes the record; a record
found when nobody else holds the lock was left by a process that died with
the table open (an unclean shutdown). For a NONE table the record is that
shutdown's durable marker: it is synced, with its directory entry, before
the table is used (see `register`).

`flock` converts a lock by dropping it and taking the new one, so two
processes upgrading at once could both lose their shared lock and one win
the exclusive lock while the other still has the file open. Upgrades are
therefore serialized by a second lock, `compact.lock`, taken first.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Iterator

from actorstore.storage._lmdb import FILE_MODE, fsync_directory, make_directory
from actorstore.storage.errors import TableBusyError

__all__ = ["TableLock"]

logger = logging.getLogger(__name__)

_LOCK_FILE = "table.lock"
_COMPACT_LOCK_FILE = "compact.lock"
_HOLDERS_DIR = "holders"


class TableLock:
    """This process's hold on one table directory (see the module docstring)."""

    def __init__(self, path: str, name: str) -> None:
        """Take the table's lock shared (waiting while a compaction runs).

        If no other process holds it, keeps it exclusive until `share()`, so
        that an unclean shutdown can be dealt with before anyone opens the
        table (`stale_holders` names the processes that died with it open).

        Raises:
            OSError: if the lock file cannot be created or locked.
        """
        self.path = path
        self.name = name
        self.pid = os.getpid()
        self._holders = os.path.join(path, _HOLDERS_DIR)
        self._record: str | None = None
        self._fd = os.open(
            os.path.join(path, _LOCK_FILE), os.O_RDWR | os.O_CREAT, FILE_MODE
        )
        try:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self.alone = True
            except BlockingIOError:
                fcntl.flock(self._fd, fcntl.LOCK_SH)
                self.alone = False
            self.stale_holders = self._recorded() if self.alone else []
        except BaseException:
            os.close(self._fd)
            raise

    def _recorded(self) -> list[int]:
        """Return the pids of the holder records, sorted."""
        try:
            names = os.listdir(self._holders)
        except FileNotFoundError:
            return []
        return sorted(int(name) for name in names if name.isdigit())

    def register(self, *, durable: bool = False) -> None:
        """Record this process as a holder.

        With `durable`, the record is the unclean-shutdown marker of a NONE
        table: it and its directory entry are synced before this returns, so
        before the first commit it guards (unsynced, a power loss could drop
        it with the commits, and a damaged table would then open without its
        walk). Without, best effort: a failure is logged.

        Raises:
            OSError: with `durable`, if the record cannot be made durable.
        """
        record = os.path.join(self._holders, str(self.pid))
        try:
            make_directory(self._holders)  # synced into the table's directory
            fd = os.open(record, os.O_WRONLY | os.O_CREAT, FILE_MODE)
            try:
                if durable:
                    os.fsync(fd)
            finally:
                os.close(fd)
            if durable:
                fsync_directory(self._holders)
        except OSError as exc:
            if durable:
                with contextlib.suppress(OSError):
                    os.remove(record)
                raise
            logger.warning(
                "table %s: cannot record this process as a holder: %r", self.name, exc
            )
            return
        self._record = record

    def forget_stale(self) -> None:
        """Remove the records of holders that died (after their tables checked)."""
        for pid in self.stale_holders:
            if pid != self.pid:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(os.path.join(self._holders, str(pid)))
        self.stale_holders = []

    def share(self) -> None:
        """Go from exclusive (alone at open) to shared, letting others open."""
        if self.alone:
            fcntl.flock(self._fd, fcntl.LOCK_SH)
            self.alone = False

    def other_holder(self) -> int | None:
        """Return the pid of another process recorded as a holder, if one lives."""
        for pid in self._recorded():
            if pid != self.pid and _alive(pid):
                return pid
        return None

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the table alone for the block, or refuse at once.

        Raises:
            TableBusyError: if another process has the table open (or is
                compacting it).
        """
        compact_fd = os.open(
            os.path.join(self.path, _COMPACT_LOCK_FILE),
            os.O_RDWR | os.O_CREAT,
            FILE_MODE,
        )
        try:
            try:
                fcntl.flock(compact_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise TableBusyError(table=self.name, pid=self.other_holder()) from None
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                # The failed conversion dropped the shared lock: take it back.
                # Nobody else can hold it exclusively (that needs compact.lock).
                fcntl.flock(self._fd, fcntl.LOCK_SH)
                raise TableBusyError(table=self.name, pid=self.other_holder()) from None
            try:
                yield
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_SH)
        finally:
            os.close(compact_fd)  # releases compact.lock

    def release(self) -> None:
        """Remove this process's record and let go of the lock (a clean close)."""
        if self._record is not None:
            with contextlib.suppress(OSError):
                os.remove(self._record)
            self._record = None
        if self._fd >= 0:
            # Closing (not LOCK_UN) releases the lock of this open file only;
            # a fork()ed child that inherited it keeps it until it exits.
            os.close(self._fd)
            self._fd = -1

    def forget_in_child(self) -> None:
        """In a fork()ed child: let go of the inherited lock, keep the parent's record.

        Closing the child's copy of the descriptor leaves the parent's lock
        (the same open file) as it is; without this the child would hold
        it until it exits, and the parent could never compact the table.
        """
        self._record = None
        self.release()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, as another user's process
    return True
