"""OpMethods: the op methods (insert, search, ...) shared by every client of a store."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

if TYPE_CHECKING:
    import pykka

    from actorstore.futures import OpFuture
    from actorstore.op import Submitter
    from actorstore.retry import CallbackLike, RetryPolicy
    from actorstore.storage import Durability


from actorstore.op import Op

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
    """The op methods shared by `Store` and its serialized view.

    Each builds an `Op` with `new_op()` and submits it through that op, so
    the method style and the op-handle style take one path.
    """

    def new_op(
        self, table: str, callback: CallbackLike | None = None, **options: Any
    ) -> Op:
        """Return a new `Op` handle on `table` (set its key/value, then submit it)."""
        raise NotImplementedError

    submitter: Submitter
    """Where this client's ops go (the store's submission, or the client)."""

    def _op(
        self, table: str, options: OpOptions, key: Any = None, value: Any = None
    ) -> Op:
        if options:
            extra: dict[str, Any] = dict(options)
            callback = extra.pop("callback", None)
            op = self.new_op(table, callback, **extra)
        else:
            op = Op(self.submitter, table)  # what new_op(table) makes, directly
        op.key = key
        op.value = value
        return op

    def insert(
        self, table: str, key: Any, value: Any, **options: Unpack[OpOptions]
    ) -> OpFuture[None]:
        """Insert a new record; the future fails with `KeyExistsError` if present."""
        return self._op(table, options, key, value).insert()

    def update(
        self, table: str, key: Any, value: Any, **options: Unpack[OpOptions]
    ) -> OpFuture[None]:
        """Replace a record's value; the future fails with `NotFoundError` if absent."""
        return self._op(table, options, key, value).update()

    def upsert(
        self, table: str, key: Any, value: Any, **options: Unpack[OpOptions]
    ) -> OpFuture[None]:
        """Write a record, replacing any present one."""
        return self._op(table, options, key, value).upsert()

    def remove(
        self, table: str, key: Any, **options: Unpack[OpOptions]
    ) -> OpFuture[None]:
        """Delete a record; the future fails with `NotFoundError` if absent."""
        return self._op(table, options, key).remove()

    def search(
        self, table: str, key: Any, **options: Unpack[OpOptions]
    ) -> OpFuture[Any]:
        """Read a record's value; the future fails with `NotFoundError` if absent."""
        return self._op(table, options, key).search()

    def exists(
        self, table: str, key: Any, **options: Unpack[OpOptions]
    ) -> OpFuture[bool]:
        """Tell whether a key is present."""
        return self._op(table, options, key).exists()

    def count(self, table: str, **options: Unpack[OpOptions]) -> OpFuture[int]:
        """Count a table's records."""
        return self._op(table, options).count()

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
        return op.scan()

    def batch(
        self, table: str, writes: Iterable[Sequence[Any]], **options: Unpack[OpOptions]
    ) -> OpFuture[int]:
        """Apply `[("upsert", k, v), ("remove", k), ...]` in one transaction.

        All or nothing: if one write fails, none is applied.

        The future's result is the number of writes applied.
        """
        return self._op(table, options, value=list(writes)).batch()
