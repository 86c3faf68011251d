"""SerializedClient: a view of a store whose ops run in submission order."""

from __future__ import annotations

import functools
import threading
from typing import TYPE_CHECKING, Any

from actors.methods import OpMethods

if TYPE_CHECKING:
    from actors.futures import OpFuture
    from actors.op import Op
    from actors.store import Store
    from retry import CallbackLike
    from storage import OpType

__all__ = ["SerializedClient"]


class SerializedClient(OpMethods):
    """Submit ops that run one after another in the order they were submitted.

    Ops on the same table as the previous op are pipelined (queued at once:
    the table's owner runs them in order); an op on another table is queued
    only once the previous op has finished. Errors of bad input are raised at
    submission, as on the store.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._tail: Op | None = None
        self._queued: set[int] = set()
        # The op (at most one: the next in order) waiting for op `id` to be queued.
        self._after_queued: dict[int, Op] = {}

    def new_op(
        self, table: str, callback: CallbackLike | None = None, **options: Any
    ) -> Op:
        """Return a new `Op` whose submission goes through this client."""
        op = self.store.new_op(table, callback, **options)
        op._submitter = self
        return op

    def _submit(self, op: Op, op_type: OpType) -> OpFuture[Any]:
        self.store._prepare(op, op_type)
        future = op.future
        assert future is not None
        with self._lock:
            previous, self._tail = self._tail, op
            if previous is None or previous.future is None or previous.future.done():
                ready = True
            elif previous.table == op.table and not self.store._may_retry(previous):
                ready = previous.id in self._queued
                if not ready:
                    self._after_queued[previous.id] = op
                    return future
            else:
                ready = False
        if ready:
            self._queue(op)
        else:
            previous.future.add_done_callback(lambda _: self._queue(op))  # type: ignore[union-attr]
        return future

    def _queue(self, op: Op) -> None:
        """Queue `op` at its owner, then the op that waited for it to be queued."""
        follower: Op | None = op
        while follower is not None:
            op = follower
            self.store._dispatch(op)
            with self._lock:
                self._queued.add(op.id)
                follower = self._after_queued.pop(op.id, None)
            if op.future is not None:
                op.future.add_done_callback(functools.partial(self._forget, op.id))

    def _forget(self, op_id: int, _: object = None) -> None:
        with self._lock:
            self._queued.discard(op_id)
