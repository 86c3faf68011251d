"""Table requests: validated, encoded ops that each run in one transaction.

A request is built on the caller's thread, where bad input is refused
before any transaction starts, and run later by a `TableSession` (or a
group of them in one top-level transaction). It knows its table only by its
`TableCodecs`, so it pickles (as its type, its table's name and formats and
its encoded fields) and can run in another process on that table.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from actorstore.storage._table_codecs import RESERVED_KEY, TableCodecs
from actorstore.storage.errors import InvalidInputError, KeyExistsError, NotFoundError

if TYPE_CHECKING:
    import lmdb

__all__ = [
    "Batch",
    "BeforeCommit",
    "Compact",
    "Count",
    "Exists",
    "HasCodecs",
    "Insert",
    "OpType",
    "Outcome",
    "Remove",
    "Scan",
    "Search",
    "TableRequest",
    "Update",
    "Upsert",
    "build_request",
    "count_records",
]

BeforeCommit = Callable[[Any], object]
"""A function run inside an op's transaction with the op's result; raising or
returning False rolls the op back."""


class OpType(enum.Enum):
    """What an op does, named as WiredTiger's async API names its op types.

    The one op vocabulary of the project: `actors.OpType` is this enum.
    """

    INSERT = "insert"
    UPDATE = "update"
    UPSERT = "upsert"
    REMOVE = "remove"
    SEARCH = "search"
    EXISTS = "exists"
    COUNT = "count"
    SCAN = "scan"
    BATCH = "batch"
    COMPACT = "compact"

    # Members are singletons compared by identity; Enum's own __hash__ runs
    # Python code (hash of the name), and the submit path looks types up once
    # per op.
    __hash__ = object.__hash__


@dataclass(slots=True)
class Outcome:
    """The end of one op: its result, or the error it failed with.

    `recorded` says the op was sent again and answered from its session's
    record (`storage._session_records`): it did not run again.
    """

    result: Any = None
    error: BaseException | None = None
    recorded: bool = field(default=False, compare=False)

    @property
    def ok(self) -> bool:
        """Whether the op succeeded."""
        return self.error is None


class HasCodecs(Protocol):
    """Anything that holds a table's codecs, such as a `Table`."""

    @property
    def codecs(self) -> TableCodecs:
        """The table's name, formats and codecs."""
        ...


_slot_names: dict[type[TableRequest], tuple[str, ...]] = {}


class TableRequest:
    """One request against one table, its key and value already encoded.

    `codecs` names the table. Pickled, a request keeps its type, its
    table's name and formats, `key` (the caller's key, for error messages)
    and its encoded fields; the caller's `value` stays behind (it is None
    after unpickling) and nothing is encoded again. Unpickled, it holds a
    `TableCodecs` rebuilt from the formats (`get_codec`).
    """

    type: ClassVar[OpType]
    writes: ClassVar[bool] = True
    single_write: ClassVar[bool] = False
    """Whether `run()` writes at most once, with its last LMDB call, and
    raises a `StoreError` of its own only when it wrote nothing: such an op
    can run straight in its group's transaction, without a child of its own."""
    __slots__ = ("codecs", "key")

    def __init__(self, codecs: TableCodecs, key: Any = None) -> None:
        self.codecs = codecs
        self.key = key

    def run(self, txn: lmdb.Transaction[bytes]) -> Any:
        """Apply the op in `txn` and return its result."""
        raise NotImplementedError

    def __getstate__(self) -> dict[str, Any]:
        names = _slot_names.get(type(self))
        if names is None:
            names = tuple(
                name
                for cls in type(self).__mro__
                for name in getattr(cls, "__slots__", ())
                if name != "value"
            )
            _slot_names[type(self)] = names
        return {name: getattr(self, name) for name in names if hasattr(self, name)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            setattr(self, name, value)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} table={self.codecs.name!r} key={self.key!r}>"


class _KeyValueOp(TableRequest):
    single_write = True
    __slots__ = ("key_bytes", "value", "value_bytes")

    def __init__(self, codecs: TableCodecs, key: Any, value: Any) -> None:
        self.codecs = codecs  # not super().__init__(): this runs once per op
        self.key = key
        self.value = value
        self.key_bytes = codecs.encode_key(key)
        self.value_bytes = codecs.encode_value(value)

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.value = None  # the caller's value does not cross; its bytes do
        super().__setstate__(state)


class Insert(_KeyValueOp):
    """Write a new record; fail if the key is present."""

    type = OpType.INSERT
    __slots__ = ()

    def run(self, txn: lmdb.Transaction[bytes]) -> None:
        if not txn.put(self.key_bytes, self.value_bytes, overwrite=False):
            raise KeyExistsError(table=self.codecs.name, key=self.key)


class Update(_KeyValueOp):
    """Replace an existing record; fail if the key is absent."""

    type = OpType.UPDATE
    __slots__ = ()

    def run(self, txn: lmdb.Transaction[bytes]) -> None:
        if txn.get(self.key_bytes) is None:
            raise NotFoundError(table=self.codecs.name, key=self.key, op="update")
        txn.put(self.key_bytes, self.value_bytes)


class Upsert(_KeyValueOp):
    """Write a record, replacing any present one."""

    type = OpType.UPSERT
    __slots__ = ()

    @classmethod
    def encoded(
        cls, codecs: TableCodecs, key_bytes: bytes, value_bytes: bytes
    ) -> Upsert:
        """Return an upsert of bytes already encoded (and checked) by `codecs`."""
        op = cls.__new__(cls)
        op.codecs = codecs
        op.key = codecs.decode_key(key_bytes)
        op.value = None
        op.key_bytes = key_bytes
        op.value_bytes = value_bytes
        return op

    def run(self, txn: lmdb.Transaction[bytes]) -> None:
        txn.put(self.key_bytes, self.value_bytes)


class _KeyOp(TableRequest):
    single_write = True
    __slots__ = ("key_bytes",)

    def __init__(self, codecs: TableCodecs, key: Any, value: Any = None) -> None:
        # `value` is ignored: every type takes the builder's (codecs, key, value).
        self.codecs = codecs  # not super().__init__(): this runs once per op
        self.key = key
        self.key_bytes = codecs.encode_key(key)


class Remove(_KeyOp):
    """Delete a record; fail if the key is absent."""

    type = OpType.REMOVE
    __slots__ = ()

    def run(self, txn: lmdb.Transaction[bytes]) -> None:
        if not txn.delete(self.key_bytes):
            raise NotFoundError(table=self.codecs.name, key=self.key, op="remove")


class Search(_KeyOp):
    """Return a record's value; fail if the key is absent."""

    type = OpType.SEARCH
    writes = False
    __slots__ = ()

    def run(self, txn: lmdb.Transaction[bytes]) -> Any:
        data = txn.get(self.key_bytes)
        if data is None:
            raise NotFoundError(table=self.codecs.name, key=self.key, op="search")
        try:
            return self.codecs.value_codec.decode(data)
        except (TypeError, ValueError):
            return self.codecs.decode_value(data)  # the precise DecodeError


class Exists(_KeyOp):
    """Return whether a key is present."""

    type = OpType.EXISTS
    writes = False
    __slots__ = ()

    def run(self, txn: lmdb.Transaction[bytes]) -> bool:
        with txn.cursor() as cursor:
            return cursor.set_key(self.key_bytes)


class Count(TableRequest):
    """Return the number of records."""

    type = OpType.COUNT
    writes = False
    single_write = True
    __slots__ = ()

    def run(self, txn: lmdb.Transaction[bytes]) -> int:
        return count_records(txn)


def count_records(txn: lmdb.Transaction[bytes]) -> int:
    """Return the number of records in `txn`'s table, without its session records.

    The session records live in a sub-database whose name LMDB keeps as a
    key of the main database (`RESERVED_KEY`): not a record.
    """
    entries = int(txn.stat()["entries"])
    if entries and txn.get(RESERVED_KEY) is not None:
        entries -= 1
    return entries


class Scan(TableRequest):
    """Return `(key, value)` pairs in key order, by prefix and/or key range.

    `start` is inclusive and `end` exclusive; `reverse` walks from the end.
    """

    type = OpType.SCAN
    writes = False
    single_write = True
    __slots__ = ("_end", "_limit", "_prefix", "_reverse", "_start")

    def __init__(
        self,
        codecs: TableCodecs,
        *,
        prefix: Any = None,
        start: Any = None,
        end: Any = None,
        limit: int | None = None,
        reverse: bool = False,
    ) -> None:
        super().__init__(codecs, prefix)
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 0
        ):
            raise InvalidInputError(
                f"scan limit must be an int >= 0 or None, not {limit!r}",
                table=codecs.name,
            )
        if not isinstance(reverse, bool):  # "no" would be true: scan reversed
            raise InvalidInputError(
                f"scan reverse must be True or False, not {reverse!r}",
                table=codecs.name,
            )
        self._prefix = codecs.encode_prefix(prefix) if prefix is not None else b""
        self._start = codecs.encode_key(start) if start is not None else None
        self._end = codecs.encode_key(end) if end is not None else None
        self._limit = limit
        self._reverse = reverse

    def run(self, txn: lmdb.Transaction[bytes]) -> list[tuple[Any, Any]]:
        pairs = self._walk(txn)
        decode_key, decode_value = self.codecs.decode_key, self.codecs.decode_value
        return [(decode_key(k), decode_value(v)) for k, v in pairs]

    def _walk(self, txn: lmdb.Transaction[bytes]) -> list[tuple[bytes, bytes]]:
        limit = self._limit
        if limit == 0:
            return []
        prefix = self._prefix
        lower = max(self._start or b"", prefix)
        # The last key of any table is at most RESERVED_KEY, the name of its
        # session records (not a record): every walk stops before it.
        upper = self._end if self._end is not None else RESERVED_KEY
        prefix_end = _successor(prefix) if prefix else None
        if prefix_end is not None and prefix_end < upper:
            upper = prefix_end
        found: list[tuple[bytes, bytes]] = []
        with txn.cursor() as cursor:
            if self._reverse:
                positioned = cursor.prev() if cursor.set_range(upper) else cursor.last()
                while positioned:
                    key = cursor.key()
                    if key < lower:
                        break
                    found.append((bytes(key), bytes(cursor.value())))
                    if limit is not None and len(found) >= limit:
                        break
                    positioned = cursor.prev()
            else:
                positioned = cursor.set_range(lower) if lower else cursor.first()
                while positioned:
                    key = cursor.key()
                    if key >= upper:
                        break
                    found.append((bytes(key), bytes(cursor.value())))
                    if limit is not None and len(found) >= limit:
                        break
                    positioned = cursor.next()
        return found


def _successor(prefix: bytes) -> bytes | None:
    """Return the smallest byte string greater than every string with `prefix`."""
    data = bytearray(prefix)
    while data and data[-1] == 0xFF:
        data.pop()
    if not data:
        return None
    data[-1] += 1
    return bytes(data)


_BATCH_KINDS: dict[str, type[_KeyValueOp] | type[_KeyOp]] = {
    "insert": Insert,
    "update": Update,
    "upsert": Upsert,
    "remove": Remove,
}


class Batch(TableRequest):
    """Apply many writes in one transaction, all or nothing.

    Every key and value is encoded when the batch is built. Each run of
    consecutive upserts is then written with one `putmulti()` call (LMDB's
    bulk put, in C); other writes run one by one, in their place.
    """

    type = OpType.BATCH
    __slots__ = ("_count", "_runs")

    def __init__(self, codecs: TableCodecs, writes: Iterable[Sequence[Any]]) -> None:
        super().__init__(codecs, None)
        if isinstance(writes, str | bytes) or not isinstance(writes, Iterable):
            raise InvalidInputError(
                "batch takes a list of (kind, key[, value]) tuples, "
                f"not {type(writes).__name__}",
                table=codecs.name,
            )
        items = writes if isinstance(writes, list | tuple) else list(writes)
        for item in items:
            if not (type(item) is tuple and len(item) == 3 and item[0] == "upsert"):
                break
        else:  # only upserts (the common case): encoded in bulk, one run
            pairs = codecs.encode_pairs([(item[1], item[2]) for item in items])
            self._runs: list[list[tuple[bytes, bytes]] | TableRequest] = (
                [pairs] if pairs else []
            )
            self._count = len(pairs)
            return
        runs: list[list[tuple[bytes, bytes]] | TableRequest] = []
        pairs_run: list[tuple[bytes, bytes]] | None = None  # the open run of upserts
        encode_key, encode_value = codecs.encode_key, codecs.encode_value
        count = 0
        for index, item in enumerate(items):
            count += 1
            if type(item) is tuple and len(item) == 3 and item[0] == "upsert":
                pair = (encode_key(item[1]), encode_value(item[2]))
            else:
                op = _batch_item(codecs, index, item)
                if type(op) is not Upsert:
                    runs.append(op)
                    pairs_run = None
                    continue
                pair = (op.key_bytes, op.value_bytes)
            if pairs_run is None:
                pairs_run = []
                runs.append(pairs_run)
            pairs_run.append(pair)
        self._runs = runs
        self._count = count

    def __len__(self) -> int:
        return self._count

    def only_removes(self) -> bool:
        """Whether every write of the batch is a remove (and there is one)."""
        return bool(self._runs) and all(type(run) is Remove for run in self._runs)

    def encoded(self) -> list[tuple[str, bytes, bytes | None]]:
        """Return the writes as `(kind, key bytes, value bytes or None)`."""
        writes: list[tuple[str, bytes, bytes | None]] = []
        for run in self._runs:
            if type(run) is list:
                writes += [("upsert", k, v) for k, v in run]
            else:
                op: Any = run
                writes.append(
                    (op.type.value, op.key_bytes, getattr(op, "value_bytes", None))
                )
        return writes

    def run(self, txn: lmdb.Transaction[bytes]) -> int:
        cursor = None
        try:
            for run in self._runs:
                if type(run) is list:
                    if cursor is None:
                        cursor = txn.cursor()
                    cursor.putmulti(run)
                else:
                    run.run(txn)  # type: ignore[union-attr]
        finally:
            if cursor is not None:
                cursor.close()
        return self._count


def _batch_item(codecs: TableCodecs, index: int, item: Any) -> TableRequest:
    if not isinstance(item, tuple | list) or not item:
        raise InvalidInputError(
            f"batch item {index} must be a (kind, key[, value]) tuple, not {item!r}",
            table=codecs.name,
        )
    kind, *args = item
    op_class = _BATCH_KINDS.get(kind) if isinstance(kind, str) else None
    if op_class is None:
        raise InvalidInputError(
            f"batch item {index}: unknown kind {kind!r}; use one of "
            f"{sorted(_BATCH_KINDS)}",
            table=codecs.name,
        )
    expected = 1 if op_class is Remove else 2
    if len(args) != expected:
        shape = "('remove', key)" if expected == 1 else f"({kind!r}, key, value)"
        raise InvalidInputError(
            f"batch item {index}: expected {shape}, got {item!r}", table=codecs.name
        )
    return op_class(codecs, *args)


class Compact(TableRequest):
    """Rewrite the table's file without its free pages; the result is bytes reclaimed.

    Not run in a transaction: `TableSession.run_group` runs the ops queued
    before it, then the compaction, then the ops after it.
    """

    type = OpType.COMPACT
    __slots__ = ()

    def __init__(self, codecs: TableCodecs) -> None:
        super().__init__(codecs, None)

    def run(self, txn: lmdb.Transaction[bytes]) -> Any:
        """Refuse: a compaction runs outside any transaction."""
        raise InvalidInputError(
            "compact is not run inside a transaction; give it to "
            "TableSession.run_group()",
            table=self.codecs.name,
        )


def build_request(
    table: TableCodecs | HasCodecs,
    op_type: OpType | str,
    key: Any = None,
    value: Any = None,
    **options: Any,
) -> TableRequest:
    """Return the validated, encoded request for op `op_type` on `table`.

    Each type takes what it needs: `key` and `value` (insert, update,
    upsert), `key` (remove, search, exists), the writes as `value` (batch),
    scan's keyword `options` (`prefix`, `start`, `end`, `limit`,
    `reverse`), or nothing (count, compact). This is the one place an op
    type becomes a request; it runs on the caller's thread, so bad input
    is refused before any transaction starts. `table` is the table's
    `TableCodecs`, or anything holding them (a `Table`).

    Raises:
        InvalidInputError: (or a subclass) for an unknown type, bad keys,
            values or options.
    """
    codecs = table if isinstance(table, TableCodecs) else table.codecs
    try:  # the common case first: an OpType other than SCAN, no options
        builder = _BUILDERS.get(op_type)  # type: ignore[arg-type]
    except TypeError:  # unhashable: not an op type
        builder = None
    if builder is not None and not options:
        return builder(codecs, key, value)
    op_type = _op_type(op_type, codecs.name)
    if op_type is OpType.SCAN:
        unknown = options.keys() - _SCAN_OPTIONS
        if unknown:
            raise InvalidInputError(
                f"scan() takes no options {sorted(unknown)}; use "
                f"{sorted(_SCAN_OPTIONS)}",
                table=codecs.name,
            )
        return Scan(codecs, **options)
    if options:
        raise InvalidInputError(
            f"{op_type.value}() takes no options {sorted(options)}", table=codecs.name
        )
    return _BUILDERS[op_type](codecs, key, value)


_SCAN_OPTIONS = frozenset({"prefix", "start", "end", "limit", "reverse"})


def _op_type(op_type: OpType | str, table: str) -> OpType:
    """Return `op_type` as an OpType.

    Raises:
        InvalidInputError: if it names none.
    """
    try:
        return OpType(op_type)
    except (ValueError, TypeError):
        raise InvalidInputError(
            f"unknown op type {op_type!r}; use one of {[t.value for t in OpType]}",
            table=table,
        ) from None


_BUILDERS: dict[OpType, Callable[[TableCodecs, Any, Any], TableRequest]] = {
    OpType.INSERT: Insert,
    OpType.UPDATE: Update,
    OpType.UPSERT: Upsert,
    OpType.REMOVE: Remove,
    OpType.SEARCH: Search,
    OpType.EXISTS: Exists,
    OpType.COUNT: lambda codecs, _, __: Count(codecs),
    OpType.BATCH: lambda codecs, _, writes: Batch(codecs, writes),
    OpType.COMPACT: lambda codecs, _, __: Compact(codecs),
}
"""How each op type but SCAN (which takes options) is built from key and value."""
