"""LMDB plumbing: opening environments and translating LMDB's errors.

This is the one place where `lmdb.Error` becomes a `StoreError`, so no raw
LMDB exception reaches a caller.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import lmdb

from storage.errors import (
    StorageError,
    StoreBusyError,
    StoreClosedError,
    StoreError,
)

__all__ = [
    "DIR_MODE",
    "FILE_MODE",
    "ResizeGate",
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


def open_environment(
    path: str, *, sync: bool, map_size: int, readonly: bool = False
) -> lmdb.Environment:
    """Open (creating if needed) the LMDB environment in directory `path`.

    Only LMDB's main database is used (`max_dbs=0`), so `open_db()` is never
    needed. `writemap` stays off: nested write transactions require that.

    Raises:
        StorageError: if the environment cannot be opened (already open in
            this process, permissions, not an LMDB directory).
    """
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
            max_dbs=0,
            mode=FILE_MODE,
            lock=True,
        )
    except lmdb.Error as exc:
        if "already open" in str(exc):
            raise StorageError(
                f"{path} is already open in this process; share the open store "
                "instead of opening it twice"
            ) from exc
        raise translate(exc, what=f"cannot open {path}") from exc
    except OSError as exc:
        raise StorageError(f"cannot open {path}: {exc.strerror or exc}") from exc


def translate(exc: BaseException, *, what: str, table: str | None = None) -> StoreError:
    """Return the `StoreError` that stands for LMDB error `exc`."""
    if isinstance(exc, StoreError):
        return exc
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
        return StorageError(
            f"{what}: the store is read-only; check the directory's permissions",
            table=table,
        )
    if isinstance(exc, lmdb.DiskError | OSError):
        return StorageError(f"{what}: disk error: {exc}", table=table)
    if isinstance(exc, lmdb.Error) and "closed" in str(exc).lower():
        return StoreClosedError("table", table=table)
    return StorageError(f"{what}: {type(exc).__name__}: {exc}", table=table)


class ResizeGate:
    """Let many transactions run at once, or one map resize alone.

    LMDB allows `mdb_env_set_mapsize` only while no transaction of this process
    is active, so every transaction passes the gate shared and a resize takes
    it exclusively. A thread must leave the gate before it resizes.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._active = 0
        self._resizing = False

    def enter(self) -> None:
        """Enter shared; waits while a resize runs."""
        with self._cond:
            while self._resizing:
                self._cond.wait()
            self._active += 1

    def leave(self) -> None:
        """Leave shared."""
        with self._cond:
            self._active -= 1
            if self._resizing and self._active == 0:
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
        with self._cond:
            while self._resizing:
                self._cond.wait()
            self._resizing = True
            while self._active:
                self._cond.wait()
        try:
            yield
        finally:
            with self._cond:
                self._resizing = False
                self._cond.notify_all()


def make_directory(path: str) -> None:
    """Create directory `path` (and missing parents) with `DIR_MODE`."""
    os.makedirs(path, mode=DIR_MODE, exist_ok=True)


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
