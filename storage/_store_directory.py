"""StoreDirectory: a store on disk, one LMDB environment per table."""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
from collections.abc import Mapping
from typing import Any

import actorstore.storage._fork as fork_guard
from actorstore.storage._backup import (
    CATALOG_DIR,
    TABLES_DIR,
    BackupProgress,
    BackupResult,
    backup_store,
)
from actorstore.storage._catalog import Catalog, TableInfo
from actorstore.storage._integrity import CheckResult
from actorstore.storage._lmdb import make_directory, translate
from actorstore.storage._session import TableSession
from actorstore.storage._session_records import DEFAULT_WINDOW
from actorstore.storage._table import Table
from actorstore.storage.codecs import get_codec
from actorstore.storage.durability import Durability
from actorstore.storage.errors import (
    InvalidOptionError,
    LmdbError,
    StoreClosedError,
    StoreCorruptedError,
    TableExistsError,
    UnknownTableError,
    table_remedy,
)
from actorstore.storage.names import validate_table_name

__all__ = [
    "DEFAULT_INITIAL_MAP_SIZE",
    "DEFAULT_MAX_MAP_SIZE",
    "StoreDirectory",
    "check_outcome_window",
]

logger = logging.getLogger(__name__)

DEFAULT_INITIAL_MAP_SIZE = 16 << 20
DEFAULT_MAX_MAP_SIZE = 1 << 40


class StoreDirectory:
    """A store's directory: its catalog and its tables, each its own environment.

    Tables live in `<path>/tables/<name>/` so they never share a writer lock
    and grow and compact independently. Thread-safe; open each directory once
    per process (LMDB forbids opening an environment twice in one process).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        durability: Durability | str = Durability.SYNC,
        initial_map_size: int = DEFAULT_INITIAL_MAP_SIZE,
        max_map_size: int = DEFAULT_MAX_MAP_SIZE,
        outcome_window: float = DEFAULT_WINDOW,
    ) -> None:
        """Open the store at `path`, creating it if needed.

        Each table keeps the outcomes of its clients' recent ops (exactly
        once: see `storage._session_records`) for `outcome_window` seconds
        after a client's last group.

        Raises:
            InvalidOptionError: for a path that is a file, bad sizes or a bad
                `outcome_window`.
            LmdbError: if the directory cannot be created or opened
                (permissions, already open in this process).
        """
        if not isinstance(path, str | os.PathLike) or "\x00" in os.fspath(path):
            raise InvalidOptionError(
                f"store path must be a directory path without NUL bytes, not {path!r}"
            )
        self.path = os.path.abspath(os.fspath(path))
        self.durability = Durability.coerce(durability)
        _check_size("initial_map_size", initial_map_size)
        _check_size("max_map_size", max_map_size)
        if initial_map_size > max_map_size:
            raise InvalidOptionError(
                f"initial_map_size ({initial_map_size}) is larger than max_map_size "
                f"({max_map_size}); lower the first or raise the second"
            )
        self.initial_map_size = initial_map_size
        self.max_map_size = max_map_size
        self.outcome_window = check_outcome_window(outcome_window)
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            raise InvalidOptionError(
                f"store path {self.path} is a file, not a directory; "
                "give a directory (it is created if missing)"
            )
        try:
            make_directory(self.path)
            make_directory(os.path.join(self.path, TABLES_DIR))
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise translate(
                    exc, what="cannot create the store directory", path=self.path
                ) from exc
            raise LmdbError(
                f"cannot create store directory {self.path}: {exc.strerror}; "
                "check its permissions or choose another path"
            ) from exc
        self._catalog = Catalog(os.path.join(self.path, CATALOG_DIR))
        self._tables: dict[str, Table] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._forking: list[Table] = []
        fork_guard.register(self)

    @property
    def is_closed(self) -> bool:
        """Whether `close()` was called."""
        return self._closed

    @property
    def catalog(self) -> Catalog:
        """The store's catalog (what `backup` copies first)."""
        return self._catalog

    def create_table(
        self,
        name: str,
        *,
        key_format: str = "str",
        value_format: str = "json",
        durability: Durability | str | None = None,
        exist_ok: bool = False,
        internal: bool = False,
    ) -> TableInfo:
        """Create table `name` and record it in the catalog; return its record.

        Raises:
            InvalidTableNameError: for a name that is not allowed.
            UnknownFormatError: for a format with no registered codec.
            TableExistsError: if the table exists and `exist_ok` is false, or
                it exists with other formats.
        """
        validate_table_name(name, internal=internal)
        get_codec(key_format)
        get_codec(value_format)
        wanted = Durability.coerce(durability) if durability is not None else None
        self._check_open()
        existing = self._catalog.get(name)
        if existing is None:
            self._catalog.refresh()
            existing = self._catalog.get(name)
        if existing is not None:
            if not exist_ok:
                raise TableExistsError(
                    f"table {name!r} already exists; pass exist_ok=True to use it",
                    table=name,
                )
            if (existing.key_format, existing.value_format) != (
                key_format,
                value_format,
            ):
                raise TableExistsError(
                    f"table {name!r} exists with key_format={existing.key_format!r}, "
                    f"value_format={existing.value_format!r}, not {key_format!r}, "
                    f"{value_format!r}; use another name",
                    table=name,
                )
            return existing
        return self._catalog.add(
            name,
            key_format=key_format,
            value_format=value_format,
            durability=wanted or self.durability,
        )

    def table(self, name: str, *, internal: bool = False) -> Table:
        """Return the open `Table` named `name`, opening it on first use.

        Raises:
            InvalidTableNameError: for a name that is not allowed.
            UnknownTableError: if no such table was created.
            StoreClosedError: if the store is closed.
        """
        # The fast path must neither hash a non-str name (a list raises
        # TypeError) nor hand out a table that close() has closed.
        table = self._tables.get(name) if isinstance(name, str) else None
        if (
            table is not None
            and not self._closed
            and (internal or not name.startswith("_"))
        ):
            return table
        validate_table_name(name, internal=internal)
        with self._lock:
            self._check_open()
            table = self._tables.get(name)
            if table is None:
                info = self._catalog.get(name)
                if info is None:
                    self._catalog.refresh()
                    info = self._catalog.get(name)
                if info is None:
                    raise UnknownTableError(table=name)
                table = Table(
                    os.path.join(self.path, TABLES_DIR, name),
                    info,
                    initial_map_size=self.initial_map_size,
                    max_map_size=self.max_map_size,
                    outcome_window=self.outcome_window,
                )
                self._tables[name] = table
        return table

    def session(self, name: str, *, internal: bool = False) -> TableSession:
        """Return a new session on table `name` for the calling thread."""
        return TableSession(self.table(name, internal=internal))

    def table_names(self, *, internal: bool = False) -> list[str]:
        """Return the names of the tables, sorted (internal ones only if asked)."""
        self._catalog.refresh()
        return [
            name
            for name in self._catalog.names()
            if internal or not name.startswith("_")
        ]

    def table_info(self, name: str) -> TableInfo:
        """Return the catalog record of table `name`.

        Raises:
            InvalidTableNameError: for a name that is not allowed.
            UnknownTableError: if no such table was created.
        """
        validate_table_name(name, internal=True)
        info = self._catalog.get(name)
        if info is None:
            self._catalog.refresh()
            info = self._catalog.get(name)
        if info is None:
            raise UnknownTableError(table=name)
        return info

    def set_table_options(self, name: str, options: Mapping[str, Any]) -> TableInfo:
        """Record JSON-able `options` with table `name` in the catalog, durably.

        The storage layer keeps them and does not read them: they are what
        the layers above keep with a table (its retry policy, say).

        Raises:
            InvalidTableNameError, UnknownTableError, StoreClosedError.
            EncodeError: if `options` is not JSON-able.
        """
        validate_table_name(name, internal=True)
        self._check_open()
        return self._catalog.set_options(name, options)

    def open_tables(self) -> list[Table]:
        """Return the tables opened so far."""
        with self._lock:
            return list(self._tables.values())

    def sync(self) -> None:
        """Flush every open table to disk."""
        for table in self.open_tables():
            table.sync()

    def stats(self) -> dict[str, dict[str, Any]]:
        """Return each table's record count and sizes, by table name."""
        return {
            name: self.table(name, internal=True).stats()
            for name in self.table_names(internal=True)
        }

    def check(self, table: str | None = None) -> dict[str, CheckResult]:
        """Verify table `table` (every table, internal ones too, if None).

        Returns a `CheckResult` per table name. Each table's whole file is
        walked while its writers wait (see `Table.check`); a table that
        cannot even be opened because it is damaged is reported, not raised.

        Raises:
            InvalidTableNameError: for a name that is not allowed.
            UnknownTableError: if `table` does not exist.
            StoreClosedError: if the store is closed.
        """
        self._check_open()
        if table is not None:
            self.table_info(table)
            names = [table]
        else:
            names = self.table_names(internal=True)
        results: dict[str, CheckResult] = {}
        for name in names:
            try:
                results[name] = self.table(name, internal=True).check()
            except StoreCorruptedError as exc:
                results[name] = CheckResult(
                    ok=False,
                    records=0,
                    problem=exc.problem,
                    remedy=table_remedy(exc.path),
                )
        return results

    def backup(
        self,
        dest: str | os.PathLike[str],
        *,
        compact: bool = True,
        progress: BackupProgress | None = None,
    ) -> BackupResult:
        """Copy the store into the new directory `dest` while it keeps serving.

        The copy is a store (open it with `StoreDirectory(dest)`): each table,
        the internal ones included, and the catalog are copied under one read
        transaction each, begun after this call, so every commit made before
        it is in the copy; writers go on meanwhile. See `storage.backup`.
        `compact` leaves free pages out. `progress(table, copied, total)` is
        called after each table.

        Raises:
            InvalidOptionError: for a `dest` that exists, is inside the store,
                or cannot be created (before anything is written).
            StoreClosedError: if the store is closed.
            DiskFullError, LmdbError: if the copy fails (it is removed).
        """
        self._check_open()
        return backup_store(self, dest, compact=compact, progress=progress)

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError("store")

    # -- fork (see storage._fork) ------------------------------------------------

    def before_fork(self, timeout: float) -> None:
        """Close every environment (waiting at most `timeout` s), so that a
        fork()ed child inherits none and may open this store itself."""
        deadline = time.monotonic() + timeout
        if not self._lock.acquire(timeout=timeout):
            return  # a table is being opened right now: the child cannot open
        try:
            self._forking = [] if self._closed else list(self._tables.values())
        finally:
            self._lock.release()
        if not self._forking:
            return
        self._catalog.before_fork(max(0.0, deadline - time.monotonic()))
        for table in self._forking:
            table.before_fork(max(0.0, deadline - time.monotonic()))

    def after_fork_in_parent(self) -> None:
        """Reopen what `before_fork` closed."""
        tables, self._forking = self._forking, []
        if tables:
            self._catalog.after_fork_in_parent()
        for table in tables:
            table.after_fork_in_parent()

    def after_fork_in_child(self) -> None:
        """In the child: this store is the parent's; refuse it, let go of its locks."""
        self._lock = threading.Lock()  # another thread may have held it at fork()
        self._closed = True
        self._catalog.after_fork_in_child()
        for table in list(self._tables.values()):
            table.after_fork_in_child()
        self._forking = []

    def close(self) -> None:
        """Sync and close every table and the catalog; safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            tables = list(self._tables.values())
        errors: list[BaseException] = []
        for table in tables:
            try:
                table.close()
            except Exception as exc:  # noqa: BLE001 - closed anyway; raised below
                errors.append(exc)
        self._catalog.close()
        if errors:
            raise errors[0]

    def __enter__(self) -> StoreDirectory:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<StoreDirectory {self.path!r}>"


def _check_size(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 << 16:
        raise InvalidOptionError(
            f"{name} must be an int of at least 65536 bytes, not {value!r}"
        )


def check_outcome_window(window: object) -> float:
    """Return `window` (seconds session records are kept) as a float.

    Raises:
        InvalidOptionError: unless it is a number of seconds > 0 (finite).
    """
    if (
        isinstance(window, bool)
        or not isinstance(window, int | float)
        or not 0 < window < float("inf")
    ):
        raise InvalidOptionError(
            f"outcome_window must be a number of seconds > 0, not {window!r}; "
            "keep it longer than any retry policy waits (the default is a day)"
        )
    return float(window)
