"""MockTransport: tables in memory, each op answered at once on the caller's thread.

After httpx's `MockTransport`: a store built on it runs its whole path
(submission, `ops_max`, the executor's decisions, callbacks, retries on a
timer you run by hand, the serialized client, scan iterators) with no LMDB
and no threads, so each step can be unit-tested. `put()` answers the op
with `handler(record)` (by default, `MemoryTables`: plain dicts with the
semantics of each op type) and reports the outcome before it returns, as an
owner reports a group of one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from actorstore._transports.base import Capabilities, Reader, TableSpec
from actorstore.retry import DEAD_LETTER_TABLE
from actorstore.storage import (
    Durability,
    KeyExistsError,
    NotFoundError,
    OpType,
    OpVetoedError,
    StoreClosedError,
    TableExistsError,
    TableInfo,
    UnknownTableError,
)
from actorstore.storage._requests import Outcome
from actorstore.storage._table_codecs import TableCodecs

if TYPE_CHECKING:
    from actorstore._record import OpRecord
    from actorstore._timer import Timer
    from actorstore._transports.base import OwnerReports
    from actorstore.storage import CheckResult, StoreDirectory

__all__ = ["MemoryTables", "MockTransport"]

Handler = Callable[["OpRecord"], Any]
"""Answers an op: returns its result or raises its error."""


class MemoryTables:
    """Tables as dicts: the default handler of a `MockTransport`."""

    def __init__(self) -> None:
        self.data: dict[str, dict[Any, Any]] = {}

    def __call__(self, record: OpRecord) -> Any:
        """Apply `record` to its table; return its result or raise its error."""
        table = self.data.setdefault(record.table, {})
        key, value, kind = record.key, record.value, record.type
        if kind is OpType.BATCH:
            staged = dict(table)
            for write in value:
                self._write(record.table, staged, write[0], write[1], write[2:])
            table.clear()
            table.update(staged)
            return len(value)
        if kind in (OpType.INSERT, OpType.UPDATE, OpType.UPSERT, OpType.REMOVE):
            assert kind is not None
            self._write(record.table, table, kind.value, key, (value,))
            return None
        if kind is OpType.SEARCH:
            if key not in table:
                raise NotFoundError(table=record.table, key=key, op="search")
            return table[key]
        if kind is OpType.EXISTS:
            return key in table
        if kind is OpType.COUNT:
            return len(table)
        if kind is OpType.SCAN:
            return self._scan(table, record.options)
        return 0  # a compaction reclaims nothing in memory

    def _write(
        self,
        name: str,
        table: dict[Any, Any],
        kind: str,
        key: Any,
        rest: tuple[Any, ...],
    ) -> None:
        present = key in table
        if kind == "insert" and present:
            raise KeyExistsError(table=name, key=key)
        if kind in ("update", "remove") and not present:
            raise NotFoundError(table=name, key=key, op=kind)
        if kind == "remove":
            del table[key]
        else:
            table[key] = rest[0]

    def _scan(
        self, table: dict[Any, Any], options: Mapping[str, Any]
    ) -> list[tuple[Any, Any]]:
        prefix, start, end = (
            options.get("prefix"),
            options.get("start"),
            options.get("end"),
        )
        pairs = sorted(
            (k, v)
            for k, v in table.items()
            if (prefix is None or str(k).startswith(str(prefix)))
            and (start is None or k >= start)
            and (end is None or k < end)
        )
        if options.get("reverse"):
            pairs.reverse()
        limit = options.get("limit")
        return pairs if limit is None else pairs[:limit]


class MockTransport:
    """A transport whose owners are a function, called at once on `put()`.

    Args:
        handler: answers each op (default: a fresh `MemoryTables`).
        callbacks_in_txn: run each op's callback as an owner does, inside its
            "transaction": a callback that raises or returns False vetoes the
            op, whose writes are then undone.
    """

    durability = Durability.SYNC
    owners = 1
    directory: StoreDirectory | None = None
    """No store directory: the tables are in memory."""

    def __init__(
        self, handler: Handler | None = None, *, callbacks_in_txn: bool = False
    ) -> None:
        self.memory = MemoryTables() if handler is None else None
        self._handler: Handler = handler or self.memory  # type: ignore[assignment]
        self.capabilities = Capabilities(callbacks_in_txn=callbacks_in_txn)
        self.path = "memory:"
        self.put_records: list[OpRecord] = []
        """Every op put, in order (what reached the owners)."""
        self._tables: dict[str, TableInfo] = {}
        self._reports: OwnerReports | None = None
        self._callbacks_in_txn = False
        self._stopped = False
        self.create_table(TableSpec(DEAD_LETTER_TABLE, "int", "json"))

    def table(self, name: str, *, internal: bool = False) -> _Handle:
        """Return table `name`'s codecs.

        Raises:
            UnknownTableError: if it was not created.
        """
        info = self._tables.get(name)
        if info is None:
            raise UnknownTableError(table=name)
        return _Handle(TableCodecs(name, info.key_format, info.value_format))

    def reader(self, name: str) -> Reader | None:
        """Return None: every op goes through `put()`."""
        return None

    def start(
        self,
        reports: OwnerReports,
        scheduler: Timer,
        *,
        callbacks_in_txn: bool,
        sync_interval: float,
    ) -> None:
        """Report outcomes to `reports` from now on."""
        self._reports = reports
        self._callbacks_in_txn = callbacks_in_txn

    def put(self, record: OpRecord) -> None:
        """Answer `record` now and report its outcome before returning.

        Raises:
            StoreClosedError: after `stop()`.
        """
        if self._stopped:
            raise StoreClosedError("store")
        assert self._reports is not None, "MockTransport.start() was not called"
        self.put_records.append(record)
        self._reports.finish_group([record], [self._answer(record)])

    def _answer(self, record: OpRecord) -> Outcome:
        memory = self.memory
        saved = dict(memory.data.get(record.table, {})) if memory is not None else None
        try:
            result = self._handler(record)
            if self._callbacks_in_txn and record.callback is not None:
                assert self._reports is not None
                callback = self._reports.before_commit(record)
                if callback is not None and callback(result) is False:
                    raise OpVetoedError(table=record.table, key=record.key)
        except BaseException as exc:  # noqa: BLE001 - the op's outcome
            if memory is not None and saved is not None:
                memory.data[record.table] = saved  # the "transaction" rolls back
            return Outcome(error=exc)
        return Outcome(result=result)

    def pending(self, table: str) -> bool:
        """Return False: nothing is ever left queued."""
        return False

    def create_table(self, spec: TableSpec) -> TableInfo:
        """Create a table in memory.

        Raises:
            TableExistsError: if it exists and `spec.exist_ok` is false.
        """
        info = self._tables.get(spec.name)
        if info is not None:
            if not spec.exist_ok:
                raise TableExistsError(
                    f"table {spec.name!r} already exists", table=spec.name
                )
            return info
        durability = Durability.coerce(spec.durability or self.durability)
        info = TableInfo(
            spec.name, spec.key_format, spec.value_format, durability, time.time()
        )
        self._tables[spec.name] = info
        return info

    def set_table_options(self, name: str, options: Mapping[str, Any]) -> TableInfo:
        """Keep `options` with table `name`."""
        info = self._tables[name]
        info = TableInfo(
            info.name,
            info.key_format,
            info.value_format,
            info.durability,
            info.created_at,
            dict(options),
        )
        self._tables[name] = info
        return info

    def table_names(self) -> list[str]:
        """Return the names of the user's tables, sorted."""
        return sorted(name for name in self._tables if not name.startswith("_"))

    def table_info(self, name: str) -> TableInfo:
        """Return table `name`'s record.

        Raises:
            UnknownTableError: if it was not created.
        """
        try:
            return self._tables[name]
        except KeyError:
            raise UnknownTableError(table=name) from None

    def table_stats(self) -> dict[str, dict[str, Any]]:
        """Return each table's record count."""
        data = self.memory.data if self.memory is not None else {}
        return {
            name: {"records": len(data.get(name, {}))} for name in self.table_names()
        }

    def check(self, table: str | None) -> dict[str, CheckResult]:
        """Return no results: memory holds no pages to verify."""
        return {}

    def sync(self, *, raise_errors: bool) -> None:
        """Do nothing: memory is never synced."""

    def stop(self, timeout: float | None) -> bool:
        """Refuse further ops."""
        self._stopped = True
        return True

    def close(self) -> None:
        """Do nothing more."""


class _Handle:
    """A table as submission sees it: its codecs."""

    def __init__(self, codecs: TableCodecs) -> None:
        self.codecs = codecs
