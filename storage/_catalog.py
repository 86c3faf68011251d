"""The catalog: a small LMDB environment recording each table's settings."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, TypeVar

import lmdb

from actorstore.storage._lmdb import make_directory, open_environment, translate
from actorstore.storage.codecs import CANONICAL_KEYS, LEGACY_KEYS
from actorstore.storage.durability import Durability
from actorstore.storage.errors import (
    EncodeError,
    LmdbError,
    StoreClosedError,
    UnknownTableError,
)

__all__ = ["Catalog", "TableInfo"]

_CATALOG_MAP_SIZE = 1 << 20

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class TableInfo:
    """What the catalog knows of one table."""

    name: str
    key_format: str
    value_format: str
    durability: Durability
    created_at: float
    options: Mapping[str, Any] = field(default_factory=dict, hash=False)
    """What the layers above keep with the table, as JSON (its retry policy)."""
    key_encoding: int = LEGACY_KEYS
    """How keys are spelled (`storage.codecs`): `CANONICAL_KEYS` for every
    table created now; a record written before names none, and its table
    keeps `LEGACY_KEYS`, reading and writing keys as it always did."""

    def to_json(self) -> bytes:
        """Return this record as JSON bytes."""
        record = asdict(self)
        record["durability"] = self.durability.value
        record["options"] = dict(self.options)
        return json.dumps(record, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> TableInfo:
        """Return the record stored as `data` (older records have no options
        and no key encoding)."""
        record = json.loads(bytes(data))
        record["durability"] = Durability(record["durability"])
        return cls(**record)


class Catalog:
    """The durable list of a store's tables and their formats; thread-safe."""

    def __init__(self, path: str) -> None:
        """Open the catalog in directory `path`, creating it if needed.

        Raises:
            DiskFullError: if there is no space to create it.
            StoreCorruptedError: if its file is damaged.
            LmdbError: if it cannot be opened for another reason.
        """
        try:
            make_directory(path)
        except OSError as exc:
            raise translate(exc, what="cannot create the catalog", path=path) from exc
        self.path = path
        self._env = open_environment(path, sync=True, map_size=_CATALOG_MAP_SIZE)
        self._lock = threading.Lock()
        self._closed = False
        self._fork_closed = False
        self._tables = self._load()

    def _load(self) -> dict[str, TableInfo]:
        try:
            with self._env.begin() as txn:
                return {
                    bytes(k).decode(): TableInfo.from_json(v) for k, v in txn.cursor()
                }
        except lmdb.Error as exc:
            raise translate(
                exc, what="cannot read the catalog", path=self.path
            ) from exc
        except (ValueError, TypeError, KeyError) as exc:
            raise LmdbError(f"the store's catalog is damaged: {exc}") from exc

    def get(self, name: str) -> TableInfo | None:
        """Return the record of table `name`, or None if there is none."""
        return self._tables.get(name)

    def names(self) -> list[str]:
        """Return every table name, sorted."""
        return sorted(self._tables)

    def add(
        self,
        name: str,
        *,
        key_format: str,
        value_format: str,
        durability: Durability,
    ) -> TableInfo:
        """Record a new table durably and return its record.

        If the table is already recorded (by another thread or process), the
        existing record is returned unchanged.
        """
        new = TableInfo(
            name,
            key_format,
            value_format,
            durability,
            time.time(),
            key_encoding=CANONICAL_KEYS,
        )
        return self._update(
            name, lambda existing: new if existing is None else existing
        )

    def set_options(self, name: str, options: Mapping[str, Any]) -> TableInfo:
        """Record `options` (JSON-able) as table `name`'s, durably; return its record.

        Raises:
            UnknownTableError: if no such table is recorded.
            EncodeError: if `options` is not JSON-able.
        """
        try:
            json.dumps(dict(options))
        except (TypeError, ValueError) as exc:
            raise EncodeError(
                f"table {name!r}: options must be JSON-able: {exc}", table=name
            ) from exc

        def with_options(existing: TableInfo | None) -> TableInfo:
            if existing is None:
                raise UnknownTableError(table=name)
            return replace(existing, options=dict(options))

        return self._update(name, with_options)

    def _update(
        self, name: str, change: Callable[[TableInfo | None], TableInfo]
    ) -> TableInfo:
        """Record `change(table name's record, or None)` durably, in one write
        transaction (unless it returns the record unchanged); return it."""
        with self._lock:
            if self._closed:
                raise StoreClosedError("catalog")
            try:
                with self._env.begin(write=True) as txn:
                    data = txn.get(name.encode())
                    existing = None if data is None else TableInfo.from_json(data)
                    info = change(existing)
                    if info is not existing:
                        txn.put(name.encode(), info.to_json())
            except lmdb.Error as exc:
                raise translate(
                    exc, what=f"cannot record table {name!r}", path=self.path
                ) from exc
            self._tables[name] = info
        return info

    @property
    def env(self) -> lmdb.Environment:
        """The catalog's environment: use it only inside `read()`."""
        return self._env

    def read(self, fn: Callable[[lmdb.Transaction[bytes]], T]) -> T:
        """Run `fn` in one read transaction of the catalog; return its result.

        Holds the catalog's lock meanwhile, so the environment stays open
        (a fork() closes and reopens it) and no table is recorded meanwhile.

        Raises:
            StoreClosedError: if the catalog is closed.
            StorageError: (translated) if LMDB fails.
        """
        with self._lock:
            if self._closed:
                raise StoreClosedError("catalog")
            try:
                with self._env.begin() as txn:
                    return fn(txn)
            except lmdb.Error as exc:
                raise translate(
                    exc, what="cannot read the catalog", path=self.path
                ) from exc

    def refresh(self) -> None:
        """Reread the catalog, to see tables other processes created."""
        with self._lock:
            if not self._closed:
                self._tables = self._load()

    def before_fork(self, timeout: float) -> None:
        """Close the environment so that a fork()ed child inherits none of it."""
        if not self._lock.acquire(timeout=max(timeout, 0.0)):
            return
        if self._closed:
            self._lock.release()
            return
        self._fork_closed = True
        self._env.close()

    def after_fork_in_parent(self) -> None:
        """Reopen what `before_fork` closed."""
        if not self._fork_closed:
            return
        self._fork_closed = False
        try:
            self._env = open_environment(
                self.path, sync=True, map_size=_CATALOG_MAP_SIZE
            )
        except BaseException:
            logger.error(
                "the catalog could not be reopened after fork()", exc_info=True
            )
            self._closed = True
        finally:
            self._lock.release()

    def after_fork_in_child(self) -> None:
        """In the child: the catalog is the parent's; its lock starts afresh
        (the parent held it across fork())."""
        self._lock = threading.Lock()
        self._closed = True
        self._fork_closed = False

    def close(self) -> None:
        """Close the catalog's environment; safe to call twice."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._env.close()
