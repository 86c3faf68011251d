"""Op: one asynchronous operation, WiredTiger style (`op.key = ...; op.insert()`)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

import pykka

from actorstore._options import check_policy, check_timeout, check_wait
from actorstore._record import OpRecord
from actorstore.errors import OpSubmittedError
from actorstore.retry._callbacks import as_callback
from actorstore.storage import (
    Durability,
    InvalidOptionError,
    OpType,
    validate_table_name,
)

if TYPE_CHECKING:
    from actorstore.futures import OpFuture
    from actorstore.retry import CallbackLike

__all__ = ["OP_OPTIONS", "Op", "Submitter", "handle_of", "new_record"]

OP_OPTIONS = frozenset({"reply_to", "durability", "retry", "wait", "wait_timeout"})
"""The options every op method accepts besides `callback`."""


class Submitter(Protocol):
    """Where an op goes when one of its op methods is called."""

    def submit(self, record: OpRecord, op_type: OpType) -> OpFuture[Any]:
        """Check the op, queue it at its owner and return its future."""
        ...


class Op:
    """One op: set `key` and `value` (`options` for a scan), then call one op method.

    Each method (`insert()`, `search()`, ...) submits the op at once and
    returns its `OpFuture`; a handle is submitted once (make another with
    `store.new_op()`). `id` is unique in the process; `type` is set when the
    op is submitted; after a search, `value` holds the record found.
    """

    key: Any = None
    value: Any = None
    options: Mapping[str, Any] = MappingProxyType({})
    """A scan's `prefix`, `start`, `end`, `limit` and `reverse`."""

    def __init__(self, submitter: Submitter, record: OpRecord) -> None:
        """Make the handle of `record` (use `store.new_op()`)."""
        self._submitter = submitter
        self._record = record
        record.handle = self
        self.id = record.id
        self.table = record.table

    @property
    def type(self) -> OpType | None:
        """The op's type, once it is submitted (None before)."""
        return self._record.type

    def _submit(self, op_type: OpType) -> OpFuture[Any]:
        record = self._record
        if record.future is not None:  # before its request changes under it
            raise OpSubmittedError(
                f"op {record.id} was already submitted; use new_op() for another op"
            )
        record.key, record.value, record.options = self.key, self.value, self.options
        return self._submitter.submit(record, op_type)

    def insert(self) -> OpFuture[None]:
        """Insert `key` → `value`; fails with `KeyExistsError` if present."""
        return self._submit(OpType.INSERT)

    def update(self) -> OpFuture[None]:
        """Replace the value of `key`; fails with `NotFoundError` if absent."""
        return self._submit(OpType.UPDATE)

    def upsert(self) -> OpFuture[None]:
        """Write `key` → `value`, replacing any present value."""
        return self._submit(OpType.UPSERT)

    def remove(self) -> OpFuture[None]:
        """Delete `key`; fails with `NotFoundError` if absent."""
        return self._submit(OpType.REMOVE)

    def search(self) -> OpFuture[Any]:
        """Read the value of `key` (then also in `value`); fails with
        `NotFoundError` if absent."""
        return self._submit(OpType.SEARCH)

    def exists(self) -> OpFuture[bool]:
        """Tell whether `key` is present."""
        return self._submit(OpType.EXISTS)

    def count(self) -> OpFuture[int]:
        """Count the table's records."""
        return self._submit(OpType.COUNT)

    def scan(self) -> OpFuture[list[tuple[Any, Any]]]:
        """List `(key, value)` pairs; `options` holds prefix/start/end/limit/reverse."""
        return self._submit(OpType.SCAN)

    def batch(self) -> OpFuture[int]:
        """Apply the writes in `value` (a list of tuples) in one transaction."""
        return self._submit(OpType.BATCH)

    def compact(self) -> OpFuture[int]:
        """Compact the table's file; the result is the bytes reclaimed."""
        return self._submit(OpType.COMPACT)

    def __repr__(self) -> str:
        kind = self.type.value if self.type else "new"
        return f"<Op {self.id} {kind} table={self.table!r} key={self.key!r}>"


def handle_of(record: OpRecord) -> Op:
    """Return `record`'s handle, making one that shows it if it has none.

    An op made by an op method (`store.upsert(...)`) has no handle until a
    callback asks for one (an `AsyncCallback`'s `notify(op, ...)`).
    """
    handle = record.handle
    if isinstance(handle, Op):
        return handle
    made = Op(_Submitted(), record)
    made.key, made.value, made.options = record.key, record.value, record.options
    return made


class _Submitted:
    """The submitter of a handle made for an op already submitted."""

    def submit(self, record: OpRecord, op_type: OpType) -> OpFuture[Any]:
        raise OpSubmittedError(
            f"op {record.id} was already submitted; use new_op() for another op"
        )


def new_record(
    table: str, callback: CallbackLike | None, options: Mapping[str, Any]
) -> OpRecord:
    """Return the record of a new op on `table` with `callback` and `options`.

    Raises:
        InvalidOptionError: for an unknown option, a bad option value or a
            bad callback.
        InvalidTableNameError: for a `table` that is not a str.
    """
    if not isinstance(table, str):  # a bad name is refused when submitted
        validate_table_name(table)
    if not options:
        return OpRecord(table, None if callback is None else as_callback(callback))
    unknown = options.keys() - OP_OPTIONS
    if unknown:
        raise InvalidOptionError(
            f"unknown op option(s) {sorted(unknown)}; use callback or "
            f"{sorted(OP_OPTIONS)}"
        )
    check_policy(options.get("retry"))
    check_wait(options.get("wait"))
    check_timeout("wait_timeout", options.get("wait_timeout"))
    reply_to = options.get("reply_to")
    if reply_to is not None and not isinstance(reply_to, pykka.ActorRef):
        raise InvalidOptionError(
            f"reply_to must be a pykka.ActorRef, not {type(reply_to).__name__}"
        )
    record = OpRecord(table, as_callback(callback))
    if reply_to is not None:
        record.reply_to = reply_to
    durability = options.get("durability")
    if durability is not None:
        record.durability = Durability.coerce(durability)
    for name in ("retry", "wait", "wait_timeout"):
        value = options.get(name)
        if value is not None:
            setattr(record, name, value)
    return record
