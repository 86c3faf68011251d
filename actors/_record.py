"""OpRecord: one op as the store tracks it, from submission to its end.

A user holds an `Op` handle (or only the future an op method returned); the
store's path carries this record instead: the op's request and options,
and the bookkeeping of its life (its future, its storage request, its slot,
its attempts). Every step of the path reads and writes it; nothing here is
shown to users.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

from actorstore._decide import CallbackStyle
from actorstore.retry import AsyncCallback, Callback, RetryCallback
from actorstore.retry._callbacks import FunctionCallback
from actorstore.storage import InvalidOptionError, OpType
from actorstore.storage._requests import build_request

if TYPE_CHECKING:
    import pykka

    from actorstore._op_ids import OpOnce
    from actorstore.futures import OpFuture
    from actorstore.retry import AttemptState, RetryPolicy
    from actorstore.storage import Durability
    from actorstore.storage._requests import TableRequest
    from actorstore.storage._table_codecs import TableCodecs

__all__ = ["Handle", "OpRecord", "build", "style_of"]

# Unique per process, 64-bit, increasing: ids also order ops by creation.
_ids = itertools.count(1)


def style_of(callback: Callback | AsyncCallback | None) -> CallbackStyle:
    """Return the style of `callback` (an object `as_callback` made)."""
    if callback is None:
        return CallbackStyle.NONE
    if isinstance(callback, RetryCallback):
        return CallbackStyle.RETRY
    if isinstance(callback, AsyncCallback):
        return CallbackStyle.NOTIFY
    if isinstance(callback, FunctionCallback):
        return CallbackStyle.FUNCTION
    return CallbackStyle.CALLBACK


class Handle(Protocol):
    """What a record knows of its user's handle (an `Op`): it shows the value."""

    value: Any


class OpRecord:
    """What the store keeps of one op: its request, options and bookkeeping.

    Class-level defaults: a new record sets only what it has, which keeps
    the submit path cheap (most ops never retry, wait or reply).
    """

    # The request.
    type: OpType | None = None
    """Set when the op is submitted."""
    key: Any = None
    value: Any = None
    """The value written; after a search, the record found."""
    options: Mapping[str, Any] = MappingProxyType({})
    """A scan's prefix, start, end, limit and reverse."""
    callback: Callback | AsyncCallback | None = None
    style = CallbackStyle.NONE
    # The options every op method takes.
    reply_to: pykka.ActorRef[Any] | None = None
    durability: Durability | None = None
    retry: RetryPolicy | None = None
    wait: bool | None = None
    wait_timeout: float | None = None
    # The bookkeeping.
    handle: Handle | None = None
    """The user's `Op` handle, if the op was made with `new_op()`."""
    future: OpFuture[Any] | None = None
    operation: TableRequest | None = None
    """The storage request, checked and encoded at submission."""
    state: AttemptState | None = None
    """The op's attempts so far; made when its first attempt fails."""
    seq = 0
    """The op's place in submission order (0: a read that ran at once), and
    its number (exactly once: `actors._exactly_once`)."""
    once: OpOnce | None = None
    """Its number where it is not `seq`, or resent (`actors._exactly_once`)."""
    holds_slot = False
    submitted_at = 0.0
    notified = False
    """Whether an `AsyncCallback` was told of the attempt under way."""
    on_admitted: Callable[[OpRecord], object] | None = None
    """Who queues the op once a parked submission gets its slot (default: the
    transport)."""

    def __init__(
        self,
        table: str,
        callback: Callback | AsyncCallback | None = None,
    ) -> None:
        self.id = next(_ids)
        self.table = table
        if callback is not None:
            self.callback = callback
            self.style = style_of(callback)

    def found(self, value: Any) -> None:
        """Keep a search's result as the op's value (and its handle's)."""
        self.value = value
        if self.handle is not None:
            self.handle.value = value

    def __repr__(self) -> str:
        kind = self.type.value if self.type else "new"
        return f"<OpRecord {self.id} {kind} table={self.table!r} key={self.key!r}>"


def build(record: OpRecord, op_type: OpType, codecs: TableCodecs) -> None:
    """Give `record` its type and its storage request, checked and encoded.

    Raises:
        every bad-input error of the op (a bad key, a value the codec cannot
        encode, a bad scan option), before anything is written.
    """
    record.type = op_type
    options = record.options
    if options and not isinstance(options, Mapping):  # set on a handle
        raise InvalidOptionError(
            f"op.options must be a dict of scan options, not {options!r}"
        )
    record.operation = (
        build_request(codecs, op_type, record.key, record.value, **options)
        if options  # unpacking even an empty mapping costs every op
        else build_request(codecs, op_type, record.key, record.value)
    )
