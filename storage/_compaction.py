"""Compaction: rewrite a table's data file without its free pages."""

from __future__ import annotations

import os
import shutil
import stat
from contextlib import AbstractContextManager
from typing import Protocol

import lmdb

from actorstore.storage._lmdb import DIR_MODE, ResizeGate, fsync_file, translate
from actorstore.storage.errors import StoreClosedError

__all__ = ["COMPACT_DIR", "CompactionHost", "compact", "remove_scratch"]

COMPACT_DIR = "compact.tmp"
"""The scratch directory, inside the table's, where the compacted copy is made."""


class CompactionHost(Protocol):
    """What compaction needs of a table (`Table` is one)."""

    @property
    def name(self) -> str:
        """The table's name."""
        ...

    @property
    def path(self) -> str:
        """The table's directory."""
        ...

    @property
    def data_file(self) -> str:
        """The path of the table's data file."""
        ...

    @property
    def gate(self) -> ResizeGate:
        """Held shared by every transaction of this process."""
        ...

    @property
    def env(self) -> lmdb.Environment:
        """The open environment."""
        ...

    @property
    def is_closed(self) -> bool:
        """Whether the table is closed."""
        ...

    def hold_alone(self) -> AbstractContextManager[None]:
        """Hold the table alone among processes, or raise `TableBusyError`."""
        ...

    def used_bytes(self) -> int:
        """Return the bytes up to the last used page; the caller holds the gate."""
        ...

    def file_size(self) -> int:
        """Return the size of the data file, in bytes."""
        ...

    def replace_data_file(self, new_file: str) -> None:
        """Close the environment, put `new_file` in place durably, reopen."""
        ...


def compact(host: CompactionHost) -> int:
    """Rewrite the data file without its free pages; return bytes reclaimed.

    The bytes reclaimed are those of the free pages: the used size before
    less the file's size after. A SYNC table's headroom goes too, but is
    not counted: the next writes bring it back.

    The compacted copy replaces the file by an atomic rename, so a crash
    leaves either the old file or the new one. Transactions of this process
    wait while it runs. Another process that has the table open would go on
    writing into the replaced file, so compaction refuses then.

    Raises:
        TableBusyError: if another process has the table open.
        StoreClosedError: if the table is closed.
        LmdbError: if the copy fails (the old file is kept).
    """
    scratch = os.path.join(host.path, COMPACT_DIR)
    with host.gate.exclusive():
        if host.is_closed:
            raise StoreClosedError("table", table=host.name)
        with host.hold_alone():
            return _compact(host, scratch)


def _compact(host: CompactionHost, scratch: str) -> int:
    """Compact `host`, which is held alone (gate and table lock)."""
    before = host.used_bytes()
    shutil.rmtree(scratch, ignore_errors=True)
    try:
        os.mkdir(scratch, DIR_MODE)
        copy = os.path.join(scratch, os.path.basename(host.data_file))
        host.env.copy(scratch, compact=True)
        # The copy is created 0o666 less the umask: give it the old
        # file's mode before it takes the old file's place.
        os.chmod(copy, stat.S_IMODE(os.stat(host.data_file).st_mode))
        fsync_file(copy)
        host.replace_data_file(copy)
    except (lmdb.Error, OSError) as exc:
        raise translate(
            exc, what="compact failed", table=host.name, path=host.path
        ) from exc
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return max(0, before - host.file_size())


def remove_scratch(path: str) -> None:
    """Remove what a compaction of the table in `path` left behind (a crash)."""
    shutil.rmtree(os.path.join(path, COMPACT_DIR), ignore_errors=True)
