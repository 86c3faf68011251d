"""OpMethods: the op methods (insert, search, ...) shared by every client of a store."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

if TYPE_CHECKING:
    import pykka

    from actors.futures import OpFuture
    from actors.op import Op
    from retry import CallbackLike, RetryPolicy
    from storage import Durability

from storage import OpType as _OpType

__all__ = ["OpMethods", "OpOptions"]


class OpOptions(TypedDict, total=False):
    """Options every op method accepts."""

    callback: CallbackLike | None
    reply_to: pykka.ActorRef[Any] | None
    durability: Durability | str | None
    retry: RetryPolicy | None
    wait: bool | None
    wait_timeout: float | None


class OpMethods:
    """The op methods shared by `Store` and its serialized view."""

    def new_op(
        self, table: str, callback: CallbackLike | None = None, **options: Any
    ) -> Op:
        """Return a new `Op` handle on `table` (set its key/value, then submit it)."""
        raise NotImplementedError

    def _submit(self, op: Op, op_type: _OpType) -> OpFuture[Any]:
        raise NotImplementedError

    def _op(
        self, table: str, options: OpOptions, key: Any = None, value: Any = None
    ) -> Op:
        if options:
            extra: dict[str, Any] = dict(options)
            callback = extra.pop("callback", None)
            op = self.new_op(table, callback, **extra)
        else:
            op = self.new_op(table)
        op.key = key
        op.value = value
        return op

    def insert(
        self, table: str, key: Any, value: Any, **options: Unpack[OpOptions]
    ) -> OpFuture[None]:
        """Insert a new record; the future fails with `KeyExistsError` if present."""
        return self._submit(self._op(table, options, key, value), _OpType.INSERT)

    def update(
        self, table: str, key: Any, value: Any, **options: Unpack[OpOptions]
    ) -> OpFuture[None]:
        """Replace a record's value; the future fails with `NotFoundError` if absent."""
        return self._submit(self._op(table, options, key, value), _OpType.UPDATE)

    def upsert(
        self, table: str, key: Any, value: Any, **options: Unpack[OpOptions]
    ) -> OpFuture[None]:
        """Write a record, replacing any present one."""
        return self._submit(self._op(table, options, key, value), _OpType.UPSERT)

    def remove(
        self, table: str, key: Any, **options: Unpack[OpOptions]
    ) -> OpFuture[None]:
        """Delete a record; the future fails with `NotFoundError` if absent."""
        return self._submit(self._op(table, options, key), _OpType.REMOVE)

    def search(
        self, table: str, key: Any, **options: Unpack[OpOptions]
    ) -> OpFuture[Any]:
        """Read a record's value; the future fails with `NotFoundError` if absent."""
        return self._submit(self._op(table, options, key), _OpType.SEARCH)

    def exists(
        self, table: str, key: Any, **options: Unpack[OpOptions]
    ) -> OpFuture[bool]:
        """Tell whether a key is present."""
        return self._submit(self._op(table, options, key), _OpType.EXISTS)

    def count(self, table: str, **options: Unpack[OpOptions]) -> OpFuture[int]:
        """Count a table's records."""
        return self._submit(self._op(table, options), _OpType.COUNT)

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
        op = self._op(table, options)
        op.key = prefix
        op.options = {
            "prefix": prefix,
            "start": start,
            "end": end,
            "limit": limit,
            "reverse": reverse,
        }
        return self._submit(op, _OpType.SCAN)

    def batch(
        self, table: str, writes: Iterable[Sequence[Any]], **options: Unpack[OpOptions]
    ) -> OpFuture[int]:
        """Apply `[("upsert", k, v), ("remove", k), ...]` in one transaction.

        All or nothing: if one write fails, none is applied.

        The future's result is the number of writes applied.
        """
        return self._submit(self._op(table, options, value=list(writes)), _OpType.BATCH)
