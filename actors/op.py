"""Op: one asynchronous operation, WiredTiger style (`op.key = ...; op.insert()`)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

import pykka

from actorstore.options import check_policy, check_timeout, check_wait
from actorstore.retry._callbacks import as_callback
from actorstore.storage import Durability, InvalidOptionError, OpType

if TYPE_CHECKING:
    from actorstore.futures import OpFuture
    from actorstore.retry import AsyncCallback, AttemptState, Callback, CallbackLike, RetryPolicy
    from actorstore.storage._requests import TableRequest

__all__ = ["OP_OPTIONS", "Op", "Submitter", "make_op"]

# Unique per process, 64-bit, increasing: ids also order ops by creation.
_ids = itertools.count(1)

OP_OPTIONS = frozenset({"reply_to", "durability", "retry", "wait", "wait_timeout"})
"""The options every op method accepts besides `callback`."""


class Submitter(Protocol):
    """What an `Op` hands itself to when one of its op methods is called."""

    def submit(self, op: Op, op_type: OpType) -> OpFuture[Any]:
        """Check `op`, queue it at its owner and return its future."""
        ...


class Op:
    """One op: set `key`/`value` (and `options` for scan), then call one op method.

    Each method (`insert()`, `search()`, ...) submits the op at once and
    returns its `OpFuture`; a handle is submitted once (create another with
    `store.new_op()`). `id` is unique in the process; `type` is set when the
    op is submitted; after a search, `value` holds the record found.
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
    operation: TableRequest | None = None
    state: AttemptState | None = None
    """The op's attempts so far; made when its first attempt fails."""
    seq = 0
    holds_slot = False
    submitted_at = 0.0
    notified = False
    """Whether an `AsyncCallback` was told of the attempt under way."""
    on_admitted: Callable[[Op], object] | None = None
    """Who queues the op once a parked submission gets its slot (default: its
    table's dispatcher)."""

    def __init__(
        self,
        submitter: Submitter,
        table: str,
        callback: Callback | AsyncCallback | None = None,
    ) -> None:
        # Options (reply_to, durability, ...) are set by `make_op` only when
        # given: the class-level defaults above stand for the rest.
        self._submitter = submitter
        self.id = next(_ids)
        self.table = table
        self.callback = callback

    def insert(self) -> OpFuture[None]:
        """Insert `key` → `value`; fails with `KeyExistsError` if present."""
        return self._submitter.submit(self, OpType.INSERT)

    def update(self) -> OpFuture[None]:
        """Replace the value of `key`; fails with `NotFoundError` if absent."""
        return self._submitter.submit(self, OpType.UPDATE)

    def upsert(self) -> OpFuture[None]:
        """Write `key` → `value`, replacing any present value."""
        return self._submitter.submit(self, OpType.UPSERT)

    def remove(self) -> OpFuture[None]:
        """Delete `key`; fails with `NotFoundError` if absent."""
        return self._submitter.submit(self, OpType.REMOVE)

    def search(self) -> OpFuture[Any]:
        """Read the value of `key` (then also in `value`); fails with
        `NotFoundError` if absent."""
        return self._submitter.submit(self, OpType.SEARCH)

    def exists(self) -> OpFuture[bool]:
        """Tell whether `key` is present."""
        return self._submitter.submit(self, OpType.EXISTS)

    def count(self) -> OpFuture[int]:
        """Count the table's records."""
        return self._submitter.submit(self, OpType.COUNT)

    def scan(self) -> OpFuture[list[tuple[Any, Any]]]:
        """List `(key, value)` pairs; `options` holds prefix/start/end/limit/reverse."""
        return self._submitter.submit(self, OpType.SCAN)

    def batch(self) -> OpFuture[int]:
        """Apply the writes in `value` (a list of tuples) in one transaction."""
        return self._submitter.submit(self, OpType.BATCH)

    def compact(self) -> OpFuture[int]:
        """Compact the table's file; the result is the bytes reclaimed."""
        return self._submitter.submit(self, OpType.COMPACT)

    def __repr__(self) -> str:
        kind = self.type.value if self.type else "new"
        return f"<Op {self.id} {kind} table={self.table!r} key={self.key!r}>"


def make_op(
    submitter: Submitter,
    table: str,
    callback: CallbackLike | None,
    options: Mapping[str, Any],
) -> Op:
    """Return a new op on `table` that submits itself to `submitter`.

    Raises:
        InvalidOptionError: for an unknown option, a bad option value or a
            bad callback.
    """
    if not options:
        return Op(submitter, table, None if callback is None else as_callback(callback))
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
    op = Op(submitter, table, as_callback(callback))
    if reply_to is not None:
        op.reply_to = reply_to
    durability = options.get("durability")
    if durability is not None:
        op.durability = Durability.coerce(durability)
    for name in ("retry", "wait", "wait_timeout"):
        if options.get(name) is not None:
            setattr(op, name, options[name])
    return op
