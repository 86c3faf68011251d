"""Backup: a consistent copy of a live store, taken while its writers go on.

Each environment (every table, the dead letters' included, and the catalog)
is copied by LMDB's own `mdb_env_copy2` (py-lmdb's `env.copy`) under one read
transaction begun after `backup()` was called, as `sqlite3.Connection.backup`
copies a database: the copy holds every commit made before it began, and
writers of the table commit meanwhile (a read transaction never blocks
them). The catalog is copied first and its table list read in the same
transaction, so every table created before the call is copied, and none of
the copy's tables lacks its catalog record.

The copy is made in a scratch directory beside `dest`, each file synced,
then each directory bottom up; the scratch directory is then renamed to
`dest` and `dest`'s parent synced. A crash leaves no `dest`, only scratch
to remove (`<dest>.partial-*`).
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import lmdb

from actorstore.storage._lmdb import (
    DATA_FILE,
    DIR_MODE,
    fsync_directory,
    fsync_file,
    make_directory,
    translate,
)
from actorstore.storage.errors import InvalidOptionError

__all__ = [
    "CATALOG_DIR",
    "TABLES_DIR",
    "BackupProgress",
    "BackupResult",
    "BackupSource",
    "StoreSource",
    "backup_store",
    "check_destination",
    "summed",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

TABLES_DIR = "tables"
"""Where a store keeps its tables, one directory each: `<store>/tables/<name>/`."""
CATALOG_DIR = "catalog"
"""Where a store keeps its catalog: `<store>/catalog/`."""

BackupProgress = Callable[[str, int, int], object]
"""Called after each table is copied: `(table name, tables copied, tables in all)`."""


@dataclass(frozen=True, slots=True)
class BackupResult:
    """What `backup()` copied.

    `path` is where the copy is (for a cluster store, the directory given;
    `nodes` then maps each node's label to its copy, a directory on that
    node's disk); `tables` the names of the tables copied, internal ones
    (the dead letters) included; `records` and `bytes` their records and
    data-file bytes in all; `seconds` how long it took.
    """

    path: str
    tables: tuple[str, ...]
    records: int
    bytes: int
    seconds: float
    nodes: Mapping[str, str] = field(default_factory=dict, hash=False)


class BackupSource(Protocol):
    """An environment to copy: a `Table`, or the `Catalog`."""

    @property
    def path(self) -> str:
        """The environment's directory."""
        ...

    @property
    def env(self) -> lmdb.Environment:
        """The open environment (used only inside `read`)."""
        ...

    def read(self, fn: Callable[[lmdb.Transaction[bytes]], T]) -> T:
        """Run `fn` in one read transaction, holding what keeps `env` open."""
        ...


class StoreSource(Protocol):
    """What `backup_store` needs of a store directory (`StoreDirectory` is one)."""

    @property
    def path(self) -> str:
        """The store's directory."""
        ...

    @property
    def catalog(self) -> BackupSource:
        """The store's catalog."""
        ...

    def table(self, name: str, *, internal: bool = ...) -> BackupSource:
        """Return table `name`, opening it if needed (`internal`: any table)."""
        ...


def check_destination(source: str, dest: str | os.PathLike[str]) -> str:
    """Return `dest` as an absolute path, or refuse it before anything is written.

    Raises:
        InvalidOptionError: if `dest` exists, is the store or inside it, or
            cannot be created (its nearest existing parent is not a
            writable directory).
    """
    if not isinstance(dest, str | os.PathLike) or "\x00" in os.fspath(dest):
        raise InvalidOptionError(
            f"backup destination must be a directory path without NUL bytes, "
            f"not {dest!r}"
        )
    path = os.path.abspath(os.fspath(dest))
    if os.path.lexists(path):
        raise InvalidOptionError(
            f"backup destination {path} already exists; give a new directory "
            "(backup never overwrites)"
        )
    store = os.path.realpath(source)
    resolved = os.path.realpath(path)
    if resolved == store or resolved.startswith(store + os.sep):
        raise InvalidOptionError(
            f"backup destination {path} is inside the store {source}; give a "
            "directory outside it"
        )
    parent = os.path.dirname(path)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK | os.X_OK):
        raise InvalidOptionError(
            f"backup destination {path} cannot be created: {parent} is not a "
            "writable directory; choose another place or fix its permissions"
        )
    return path


def backup_store(
    store: StoreSource,
    dest: str | os.PathLike[str],
    *,
    compact: bool = True,
    progress: BackupProgress | None = None,
) -> BackupResult:
    """Copy `store` into the new directory `dest`, consistently, while it serves.

    `compact` leaves free pages out of the copy (and renumbers pages); without
    it the data file is copied as it is. See the module docstring for what the
    copy holds and how it is made durable.

    Raises:
        InvalidOptionError: for a `dest` that exists, is inside the store, or
            cannot be created, a `compact` that is not a bool or a `progress`
            that is not callable (nothing is written).
        DiskFullError: if the disk fills up (the partial copy is removed).
        LmdbError: if a copy fails for another reason (likewise).
    """
    if not isinstance(compact, bool):
        raise InvalidOptionError(f"compact must be True or False, not {compact!r}")
    if progress is not None and not callable(progress):
        raise InvalidOptionError(
            f"progress must be a function (table, copied, total) or None, "
            f"not {progress!r}"
        )
    path = check_destination(store.path, dest)
    started = time.monotonic()
    scratch = _make_scratch(path)
    try:
        os.mkdir(os.path.join(scratch, TABLES_DIR), DIR_MODE)
        names = _copy_catalog(store.catalog, scratch, compact=compact)
        records = size = 0
        for number, name in enumerate(names, 1):
            copied, written = _copy_table(
                store.table(name, internal=True), scratch, name, compact=compact
            )
            records += copied
            size += written
            if progress is not None:
                progress(name, number, len(names))
        fsync_directory(os.path.join(scratch, TABLES_DIR))
        fsync_directory(scratch)
        os.rename(scratch, path)
        fsync_directory(os.path.dirname(path))
    except BaseException as exc:
        shutil.rmtree(scratch, ignore_errors=True)
        if isinstance(exc, lmdb.Error | OSError):
            raise translate(exc, what="backup failed", path=path) from exc
        raise
    seconds = time.monotonic() - started
    logger.info(
        "backed up %d tables (%d records, %d bytes) to %s in %.3f s",
        len(names),
        records,
        size,
        path,
        seconds,
    )
    return BackupResult(
        path=path, tables=tuple(names), records=records, bytes=size, seconds=seconds
    )


def _make_scratch(path: str) -> str:
    """Create the scratch directory beside `path` (and missing parents); return it.

    Raises:
        InvalidOptionError: if it cannot be created (a read-only file
            system, permissions that `os.access` did not tell, as for root).
    """
    scratch = f"{path}.partial-{uuid.uuid4().hex[:8]}"
    try:
        make_directory(os.path.dirname(path))
        os.mkdir(scratch, DIR_MODE)
    except OSError as exc:
        raise InvalidOptionError(
            f"backup destination {path} cannot be created: "
            f"{exc.strerror or exc}; choose another place or fix its permissions"
        ) from exc
    return scratch


def _copy_catalog(catalog: BackupSource, scratch: str, *, compact: bool) -> list[str]:
    """Copy the catalog into `scratch`/catalog; return the table names it lists."""
    target = os.path.join(scratch, CATALOG_DIR)
    os.mkdir(target, DIR_MODE)

    def copy(txn: lmdb.Transaction[bytes]) -> list[str]:
        _copy_env(catalog.env, txn, target, compact=compact)
        return sorted(bytes(key).decode() for key, _ in txn.cursor())

    names = catalog.read(copy)
    _sync_copy(catalog, target)
    return names


def _copy_table(
    table: BackupSource, scratch: str, name: str, *, compact: bool
) -> tuple[int, int]:
    """Copy `table` into `scratch`/tables/`name`; return its records and bytes."""
    target = os.path.join(scratch, TABLES_DIR, name)
    os.mkdir(target, DIR_MODE)
    table.read(lambda txn: _copy_env(table.env, txn, target, compact=compact))
    size = _sync_copy(table, target)
    return _count_records(target), size


def _copy_env(
    env: lmdb.Environment, txn: lmdb.Transaction[bytes], target: str, *, compact: bool
) -> None:
    """Copy `env` into directory `target` as `txn` sees it."""
    if compact:
        env.copy(target, compact=True, txn=txn)
    else:
        # LMDB takes its own read transaction for a plain copy (py-lmdb
        # accepts `txn` only with compaction). It begins while `txn` is open,
        # after backup() was called, so it holds every earlier commit too.
        env.copy(target)


def _sync_copy(source: BackupSource, target: str) -> int:
    """Give the copied data file its source's mode (LMDB creates it 0o666 less
    the umask), sync it and its directory; return its size."""
    data_file = os.path.join(target, DATA_FILE)
    mode = os.stat(os.path.join(source.path, DATA_FILE)).st_mode
    os.chmod(data_file, stat.S_IMODE(mode))
    fsync_file(data_file)
    fsync_directory(target)
    return os.path.getsize(data_file)


def _count_records(target: str) -> int:
    """Return the records of the copied environment in `target` (read from
    its meta page, which also shows that the copy opens)."""
    env = lmdb.open(target, readonly=True, lock=False, subdir=True, max_dbs=0)
    try:
        return int(env.stat()["entries"])
    finally:
        env.close()


def summed(
    results: Sequence[BackupResult], path: str, nodes: Mapping[str, str]
) -> BackupResult:
    """Return one result for several copies (a cluster's nodes): tables,
    records and bytes added up, the longest time, `nodes` as given."""
    return BackupResult(
        path=path,
        tables=tuple(sorted({name for r in results for name in r.tables})),
        records=sum(r.records for r in results),
        bytes=sum(r.bytes for r in results),
        seconds=max((r.seconds for r in results), default=0.0),
        nodes=dict(nodes),
    )
