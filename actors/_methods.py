"""OpMethods: the op methods (insert, search, ...) shared by every client of a store."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

from actorstore._record import OpRecord
from actorstore.op import Op, new_record
from actorstore.storage import OpType

if TYPE_CHECKING:
    import pykka

    from actorstore.futures import OpFuture
    from actorstore.op import Submitter
    from actorstore.retry import CallbackLike, RetryPolicy
    from actorstore.storage import Durability

__all__ = ["OpMethods", "OpOptions"]


class OpOptions(TypedDict, total=False):
    """Options every op method accepts.

    `durability` asks more of the op's table, never less: SYNC on a NONE
    table syncs before the op is acknowledged; NONE on a SYNC table is
    synced anyway (the table syncs every commit), and the store logs a
    warning once. `wait_timeout` is seconds >= 0 or None, `wait` a bool;
    a wrong type is refused with `InvalidOptionError`.
    """

    callback: CallbackLike | None
    reply_to: pykka.ActorRef[Any] | None
    durability: Durability | str | None
    retry: RetryPolicy | None
    wait: bool | None
    wait_timeout: float | None


class OpMethods:
    """The op methods shared by `Store` and its serialized view.

    Each builds the op's record and submits it to `_submitter`, the path an
    `Op` handle from `new_op()` takes too.
    """

    _submitter: Submitter
    """Where this client's ops go (the store's submission, or the client)."""

    def new_op(
        self, table: str, callback: CallbackLike | None = None, **options: Any
    ) -> Op:
        """Return a new `Op` handle on `table`; set its key and value, then submit it.

        Options are those of every op method (`reply_to`, `durability`,
        `retry`, `wait`, `wait_timeout`).

        Raises:
            InvalidOptionError: for an unknown option or a bad callback.
        """
        return Op(self._submitter, new_record(table, callback, options))

    def _submit(
        self,
        table: str,
        options: OpOptions,
        op_type: OpType,
        key: Any = None,
        value: Any = None,
    ) -> OpFuture[Any]:
        if options:
            extra: dict[str, Any] = dict(options)
            callback = extra.pop("callback", None)
            record = new_record(table, callback, extra)
        else:
            record = OpRecord(table)
        record.key = key
        record.value = value
        return self._submitter.submit(record, op_type)

    def insert(
        self, table: str, key: Any, value: Any, **options: Unpack[OpOptions]
    ) -> OpFuture[None]:
        """Insert a new record; the future fails with `KeyExistsError` if present."""
        return self._submit(table, options, OpType.INSERT, key, value)

    def update(
        self, table: str, key: Any, value: Any, **options: Unpack[OpOptions]
    ) -> OpFuture[None]:
        """Replace a record's value; the future fails with `NotFoundError` if absent."""
        return self._submit(table, options, OpType.UPDATE, key, value)

    def upsert(
        self, table: str, key: Any, value: Any, **options: Unpack[OpOptions]
    ) -> OpFuture[None]:
        """Write a record, replacing any present one."""
        return self._submit(table, options, OpType.UPSERT, key, value)

    def remove(
        self, table: str, key: Any, **options: Unpack[OpOptions]
    ) -> OpFuture[None]:
        """Delete a record; the future fails with `NotFoundError` if absent."""
        return self._submit(table, options, OpType.REMOVE, key)

    def search(
        self, table: str, key: Any, **options: Unpack[OpOptions]
    ) -> OpFuture[Any]:
        """Read a record's value; the future fails with `NotFoundError` if absent."""
        return self._submit(table, options, OpType.SEARCH, key)

    def exists(
        self, table: str, key: Any, **options: Unpack[OpOptions]
    ) -> OpFuture[bool]:
        """Tell whether a key is present."""
        return self._submit(table, options, OpType.EXISTS, key)

    def count(self, table: str, **options: Unpack[OpOptions]) -> OpFuture[int]:
        """Count a table's records."""
        return self._submit(table, options, OpType.COUNT)

    def scan(
        self,
        table: str,
        prefix: Any = None,
        start: Any = None,
        end: Any = None,
        limit: int | None = None,
        reverse: bool = False,
        **options: Unpack[OpOptions],
    ) -> OpFuture[list[tuple[Any, Any]]]:
        """List `(key, value)` pairs in key order (`start` in, `end` out)."""
        if options:
            extra: dict[str, Any] = dict(options)
            record = new_record(table, extra.pop("callback", None), extra)
        else:
            record = OpRecord(table)
        record.key = prefix
        record.options = {
            "prefix": prefix,
            "start": start,
            "end": end,
            "limit": limit,
            "reverse": reverse,
        }
        return self._submitter.submit(record, OpType.SCAN)

    def batch(
        self, table: str, writes: Iterable[Sequence[Any]], **options: Unpack[OpOptions]
    ) -> OpFuture[int]:
        """Apply `[("upsert", k, v), ("remove", k), ...]` in one transaction.

        All or nothing: if one write fails, none is applied.
        The future's result is the number of writes applied.
        """
        if isinstance(writes, Iterable) and not isinstance(writes, str | bytes):
            writes = list(writes)  # else the batch refuses it, saying why
        return self._submit(table, options, OpType.BATCH, value=writes)
