"""Op: one asynchronous operation, WiredTiger style (`op.key = ...; op.insert()`)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

from storage import OpType

if TYPE_CHECKING:
    import pykka

    from actors.futures import OpFuture
    from retry import Callback, RetryPolicy
    from storage import Durability, Operation

__all__ = ["Op"]

# Unique per process, 64-bit, increasing: ids also order ops by creation.
_ids = itertools.count(1)


class _Submitter(Protocol):
    def _submit(self, op: Op, op_type: OpType) -> OpFuture[Any]: ...


class Op:
    """One op: set `key`/`value` (and `options` for scan), then call one op method.

    Each method (`insert()`, `search()`, ...) submits the op at once and
    returns its `OpFuture`; a handle is submitted once (create another with
    `store.new_op()`). `id` is unique in the process; `type` is set when the
    op is submitted.
    """

    # Class-level defaults: a new op sets only what it has, which keeps the
    # submit path cheap (most ops never retry, wait or reply).
    type: OpType | None = None
    key: Any = None
    value: Any = None
    options: Mapping[str, Any] = MappingProxyType({})
    reply_to: pykka.ActorRef[Any] | None = None
    durability: Durability | None = None
    retry: RetryPolicy | None = None
    wait: bool | None = None
    wait_timeout: float | None = None
    future: OpFuture[Any] | None = None
    operation: Operation | None = None
    attempts = 0
    seq = 0
    holds_slot = False
    submitted_at = 0.0
    first_failed_at: float | None = None
    last_failed_at: float | None = None
    last_error: BaseException | None = None

    def __init__(
        self, submitter: _Submitter, table: str, callback: Callback | None = None
    ) -> None:
        # Options (reply_to, durability, ...) are set by `Store.new_op` only
        # when given: the class-level defaults above stand for the rest.
        self._submitter = submitter
        self.id = next(_ids)
        self.table = table
        self.callback = callback

    def elapsed(self) -> float:
        """Return the seconds since the op was first submitted (0 before)."""
        return time.perf_counter() - self.submitted_at if self.submitted_at else 0.0

    def insert(self) -> OpFuture[None]:
        """Insert `key` → `value`; fails with `KeyExistsError` if present."""
        return self._submitter._submit(self, OpType.INSERT)

    def update(self) -> OpFuture[None]:
        """Replace the value of `key`; fails with `NotFoundError` if absent."""
        return self._submitter._submit(self, OpType.UPDATE)

    def upsert(self) -> OpFuture[None]:
        """Write `key` → `value`, replacing any present value."""
        return self._submitter._submit(self, OpType.UPSERT)

    def remove(self) -> OpFuture[None]:
        """Delete `key`; fails with `NotFoundError` if absent."""
        return self._submitter._submit(self, OpType.REMOVE)

    def search(self) -> OpFuture[Any]:
        """Read the value of `key`; fails with `NotFoundError` if absent."""
        return self._submitter._submit(self, OpType.SEARCH)

    def exists(self) -> OpFuture[bool]:
        """Tell whether `key` is present."""
        return self._submitter._submit(self, OpType.EXISTS)

    def count(self) -> OpFuture[int]:
        """Count the table's records."""
        return self._submitter._submit(self, OpType.COUNT)

    def scan(self) -> OpFuture[list[tuple[Any, Any]]]:
        """List `(key, value)` pairs; `options` holds prefix/start/end/limit/reverse."""
        return self._submitter._submit(self, OpType.SCAN)

    def batch(self) -> OpFuture[int]:
        """Apply the writes in `value` (a list of tuples) in one transaction."""
        return self._submitter._submit(self, OpType.BATCH)

    def compact(self) -> OpFuture[int]:
        """Compact the table's file; the result is the bytes reclaimed."""
        return self._submitter._submit(self, OpType.COMPACT)

    def __repr__(self) -> str:
        kind = self.type.value if self.type else "new"
        return f"<Op {self.id} {kind} table={self.table!r} key={self.key!r}>"
