"""LMDB plumbing: opening environments and translating LMDB's errors.

This is the one place where `lmdb.Error` (and an `OSError` of the store's
files) becomes a `StoreError`, so no raw LMDB exception reaches a caller.

LMDB maps its lock file and reads its data file through a map. A write
into a page of the lock file that the file system cannot back (a sparse
file on a full disk) and a read past the end of a truncated data file are
not errors but SIGBUS, which kills the process. So `open_environment()`
gives the lock file real blocks before LMDB maps it, and checks that the
last page LMDB will read lies inside the data file. The data file itself
needs nothing: without `writemap`, LMDB writes it with `pwrite()`, whose
failures come back as errors.
"""

from __future__ import annotations

import errno
import os
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

import lmdb

from actorstore.storage.errors import (
    DiskFullError,
    LmdbError,
    StoreBusyError,
    StoreClosedError,
    StoreCorruptedError,
    StoreError,
)

__all__ = [
    "DIR_MODE",
    "FILE_MODE",
    "ResizeGate",
    "check_last_page",
    "directory_size",
    "fsync_directory",
    "fsync_file",
    "make_directory",
    "open_environment",
    "translate",
]

# The process umask applies to these modes too; without group/other write
# bits no store file or directory is ever world-writable.
FILE_MODE = 0o644
DIR_MODE = 0o755
MAX_READERS = 1024

DATA_FILE = "data.mdb"
LOCK_FILE = "lock.mdb"

# The size LMDB gives a new lock file: (max_readers - 1) reader slots of 64
# bytes after a 192-byte header that holds the first slot (mdb.c,
# mdb_env_setup_locks). A larger file only means more reader slots.
_LOCK_FILE_SIZE = (MAX_READERS - 1) * 64 + 192

# Errors that mean "no space": a full disk, or a user over quota.
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
# LMDB turns a short write (the file system filled up mid-write) into EIO
# (mdb.c, mdb_page_flush: "short write, filesystem full?"). Below this much
# free space, EIO is taken to mean a full disk.
_NEARLY_FULL = 1 << 20


def open_environment(
    path: str,
    *,
    sync: bool,
    map_size: int,
    readonly: bool = False,
    table: str | None = None,
) -> lmdb.Environment:
    """Open (creating if needed) the LMDB environment in directory `path`.

    A table's records are LMDB's main database; one named sub-database
    (`max_dbs=1`) keeps its clients' session records
    (`storage._session_records`), opened only inside a write transaction
    (`open_db(txn=...)`: without it, LMDB begins one of its own, which can
    wait for another thread's writer). `writemap` stays off: nested write
    transactions require that. The lock file gets real blocks first and the
    data file is checked after (see the module docstring). `table` names the
    table in errors (None: the catalog).

    Raises:
        DiskFullError: if there is no space for the lock file.
        StoreCorruptedError: if the data file is damaged (truncated, not an
            LMDB file).
        LmdbError: if the environment cannot be opened (already open in
            this process, permissions, not an LMDB directory).
    """
    data_file = os.path.join(path, DATA_FILE)
    created = not os.path.exists(data_file)
    if not readonly:
        try:
            _allocate_lock_file(path)
        except OSError as exc:
            raise translate(exc, what="cannot open", table=table, path=path) from exc
    env = _open(path, sync=sync, map_size=map_size, readonly=readonly, table=table)
    try:
        check_last_page(env, path, table=table)
        if created and not readonly:
            # LMDB syncs a commit's pages, not the new file's directory
            # entry: without this, a power loss could lose the whole file
            # along with ops acknowledged in it.
            fsync_file(data_file)
            fsync_directory(path)
    except OSError as exc:
        env.close()
        raise translate(exc, what="cannot open", table=table, path=path) from exc
    except BaseException:
        env.close()
        raise
    return env


def _allocate_lock_file(path: str) -> None:
    """Give LMDB's lock file in `path` real blocks for all of its bytes."""
    if not os.path.isdir(path):
        return  # LMDB reports it
    fd = os.open(os.path.join(path, LOCK_FILE), os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        size = max(os.fstat(fd).st_size, _LOCK_FILE_SIZE)
        try:
            os.posix_fallocate(fd, 0, size)
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                raise
    finally:
        os.close(fd)


def check_last_page(env: lmdb.Environment, path: str, *, table: str | None) -> None:
    """Check that the last page LMDB may read lies inside the data file.

    Raises:
        StoreCorruptedError: if it lies past the file's end (the file was
            truncated): reading it would kill the process with SIGBUS.
    """
    # info() and stat() read only the two meta pages, which LMDB has read
    # (with read(), not the map) when it opened the file.
    end = (int(env.info()["last_pgno"]) + 1) * int(env.stat()["psize"])
    size = os.path.getsize(os.path.join(path, DATA_FILE))
    if end > size:
        raise StoreCorruptedError(
            path=path,
            problem=f"its data file has {size} bytes but its last page ends at "
            f"byte {end} (the file was truncated)",
            table=table,
        )


def _open(
    path: str, *, sync: bool, map_size: int, readonly: bool, table: str | None
) -> lmdb.Environment:
    try:
        return lmdb.open(
            path,
            map_size=map_size,
            subdir=True,
            readonly=readonly,
            create=not readonly,
            sync=sync,
            metasync=sync,
            writemap=False,
            max_readers=MAX_READERS,
            max_dbs=1,
            mode=FILE_MODE,
            lock=True,
        )
    except lmdb.Error as exc:
        if "already open" in str(exc):
            raise LmdbError(
                f"{path} is already open in this process; share the open store "
                "instead of opening it twice"
            ) from exc
        raise translate(
            exc, what=f"cannot open {path}", table=table, path=path
        ) from exc
    except OSError as exc:
        if exc.errno in _NO_SPACE:
            raise translate(exc, what="cannot open", table=table, path=path) from exc
        raise LmdbError(f"cannot open {path}: {exc.strerror or exc}") from exc


def translate(
    exc: BaseException,
    *,
    what: str,
    table: str | None = None,
    path: str | None = None,
) -> StoreError:
    """Return the `StoreError` that stands for LMDB (or file) error `exc`.

    `path` (a table's directory) lets an "Input/output error" be recognized
    as a full disk, and names the place in the error.
    """
    if isinstance(exc, StoreError):
        return exc
    if _is_no_space(exc, path):
        where = path or getattr(exc, "filename", None) or "the store"
        return DiskFullError(what, path=str(where), table=table)
    if isinstance(
        exc, lmdb.CorruptedError | lmdb.PageNotFoundError | lmdb.InvalidError
    ):
        return StoreCorruptedError(path=path, problem=f"{what}: {exc}", table=table)
    if isinstance(exc, lmdb.ReadersFullError):
        return StoreBusyError(
            f"{what}: LMDB's readers table is full (too many open read "
            "transactions); retry, or use fewer concurrent readers",
            table=table,
        )
    if isinstance(exc, lmdb.MapResizedError):
        return StoreBusyError(
            f"{what}: another process grew the map; retry", table=table
        )
    if isinstance(exc, lmdb.ReadonlyError):
        return LmdbError(
            f"{what}: the store is read-only; check the directory's permissions",
            table=table,
        )
    if isinstance(exc, OSError):
        return LmdbError(f"{what}: {exc.strerror or exc}", table=table)
    if isinstance(exc, lmdb.Error) and "closed" in str(exc).lower():
        return StoreClosedError("table", table=table)
    return LmdbError(f"{what}: {type(exc).__name__}: {exc}", table=table)


def _is_no_space(exc: BaseException, path: str | None) -> bool:
    """Whether `exc` means the disk (or the user's quota) is full."""
    if isinstance(exc, OSError):
        return exc.errno in _NO_SPACE
    if isinstance(exc, lmdb.DiskError):  # py-lmdb's class for ENOSPC
        return True
    if not isinstance(exc, lmdb.Error):
        return False
    # py-lmdb gives other system errors as a plain Error: "what: strerror".
    message = str(exc)
    if any(message.endswith(os.strerror(code)) for code in _NO_SPACE):
        return True
    return (
        path is not None
        and message.endswith(os.strerror(errno.EIO))
        and _free_bytes(path) < _NEARLY_FULL
    )


def _free_bytes(path: str) -> int:
    """Return the bytes this process may still write on `path`'s file system."""
    try:
        vfs = os.statvfs(path)
    except OSError:
        return _NEARLY_FULL  # unknown: do not claim a full disk
    # root may use the blocks reserved for it; others may not.
    blocks = vfs.f_bfree if os.geteuid() == 0 else vfs.f_bavail
    return blocks * vfs.f_frsize


class ResizeGate:
    """Let many transactions run at once, or one map resize alone.

    LMDB allows `mdb_env_set_mapsize` only while no transaction of this process
    is active, so every transaction passes the gate shared and a resize takes
    it exclusively. A thread must leave the gate before it resizes.
    """

    def __init__(self) -> None:
        # Every transaction passes here, so the shared side takes no lock: a
        # holder appends a token to a deque and then reads the flag, and a
        # resizer sets the flag (under the lock) and then counts the tokens.
        # Deque appends and pops are atomic, and the GIL orders them with the
        # flag (as the Mailbox relies on too), so either the resizer sees the
        # token and waits for it, or the holder sees the flag and backs off.
        # Waits go through a Condition over the lock.
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._tokens: deque[None] = deque()
        self._resizing = False

    @property
    def active(self) -> int:
        """How many holders are inside shared now (a moment long, this also
        counts one arriving during a resize, before it backs off)."""
        return len(self._tokens)

    def enter(self) -> None:
        """Enter shared; waits while a resize waits or runs."""
        self._tokens.append(None)
        if self._resizing:
            self._enter_after_resize()

    def _enter_after_resize(self) -> None:
        self.leave()  # back off: the resizer may be waiting for this token
        with self._lock:
            while self._resizing:
                self._cond.wait()
            self._tokens.append(None)  # under the lock: no resizer between

    def leave(self) -> None:
        """Leave shared."""
        self._tokens.pop()
        if self._resizing:  # a resizer may wait for the last token
            with self._lock:
                self._cond.notify_all()

    @contextmanager
    def shared(self) -> Iterator[None]:
        """Hold the gate shared for the block."""
        self.enter()
        try:
            yield
        finally:
            self.leave()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the gate alone for the block (no transaction is active)."""
        self.acquire_exclusive(None)
        try:
            yield
        finally:
            self.release_exclusive()

    def acquire_exclusive(self, timeout: float | None) -> bool:
        """Take the gate alone once no transaction is active; False after `timeout`.

        New transactions wait meanwhile. Pair a True with `release_exclusive()`.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while self._resizing:
                if not self._wait_until(deadline):
                    return False
            self._resizing = True
            while self._tokens:
                if not self._wait_until(deadline):
                    self._resizing = False
                    self._cond.notify_all()
                    return False
        return True

    def release_exclusive(self) -> None:
        """Let transactions in again."""
        with self._lock:
            self._resizing = False
            self._cond.notify_all()

    def _wait_until(self, deadline: float | None) -> bool:
        # The caller holds the lock; False once `deadline` has passed.
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            return False
        self._cond.wait(left)
        return True


def make_directory(path: str) -> None:
    """Create directory `path` (and missing parents) with `DIR_MODE`, durably.

    Each directory created is synced into its parent, so that what is put
    in it later (a table's file) survives a power loss with its path.
    """
    path = os.path.abspath(path)
    if os.path.isdir(path):
        return
    parent = os.path.dirname(path)
    if parent != path:
        make_directory(parent)
    try:
        os.mkdir(path, DIR_MODE)
    except FileExistsError:
        if not os.path.isdir(path):
            raise
        return  # another thread or process made it
    fsync_directory(parent)


def directory_size(path: str) -> int:
    """Return the bytes used by the files directly in `path`."""
    total = 0
    with os.scandir(path) as entries:
        for entry in entries:
            if entry.is_file():
                total += entry.stat().st_size
    return total


def fsync_file(path: str) -> None:
    """Flush file `path` to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_directory(path: str) -> None:
    """Flush directory `path` (its entries: created, renamed files) to disk."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
