"""SerializedClient: a view of a store whose ops run in submission order."""

from __future__ import annotations

import functools
import threading
from typing import TYPE_CHECKING, Any

from actorstore._methods import OpMethods
from actorstore.errors import OpSubmittedError

if TYPE_CHECKING:
    from actorstore._policies import PolicyChooser
    from actorstore._record import OpRecord as Op
    from actorstore._submission import Ends, Submission
    from actorstore.futures import OpFuture
    from actorstore.storage import OpType

__all__ = ["SerializedClient"]


class SerializedClient(OpMethods):
    """Submit ops that run, and report, one after another in submission order.

    An op is queued at its owner only once the op before it has finished,
    so its callbacks, reply and future come after the previous op's, across
    tables too. Plain ops on the same table as the previous plain op (no
    callback, no reply_to, no retries) are pipelined instead: queued at
    once, since the table's owner runs them in order anyway. Errors of bad
    input are raised at submission, as on the store.
    """

    def __init__(
        self,
        submission: Submission,
        ends: Ends,
        policies: PolicyChooser,
        store: OpMethods | None = None,
    ) -> None:
        self.store = store
        """The store this client submits to."""
        self._submitter = self
        self._submission = submission
        self._ends = ends
        self._policies = policies
        self._lock = threading.Lock()
        self._tail: Op | None = None
        self._queued: set[int] = set()
        # The op (at most one: the next in order) waiting for op `id` to be queued.
        self._after_queued: dict[int, Op] = {}
        # Per op not yet queued: how many of (its slot, its turn) it still awaits.
        self._gates: dict[int, int] = {}

    def submit(self, op: Op, op_type: OpType) -> OpFuture[Any]:
        """Check `op` and queue it once every op submitted before it has finished.

        Raises:
            as `Store` op methods: bad input, a closed store, `ops_max`.
        """
        if op.future is not None:  # before touching its gate: it has one
            raise OpSubmittedError(
                f"op {op.id} was already submitted; use new_op() for another op"
            )
        op.on_admitted = self._open_gate
        with self._lock:
            self._gates[op.id] = 2
        try:
            admitted = self._submission.prepare(op, op_type)
        except BaseException:
            with self._lock:
                del self._gates[op.id]
            raise
        future = op.future
        assert future is not None
        if admitted:
            self._open_gate(op)
        with self._lock:
            previous, self._tail = self._tail, op
            if (
                previous is None
                or previous.future is None
                or previous.future.finished()
            ):
                ready = True
            elif (
                previous.table == op.table
                and _is_plain(previous)
                and _is_plain(op)
                and not self._policies.may_retry(previous)
            ):
                ready = previous.id in self._queued
                if not ready:
                    self._after_queued[previous.id] = op
                    return future
            else:
                ready = False
        if ready:
            self._open_gate(op)
        else:
            assert previous is not None and previous.future is not None
            previous.future.add_completion_callback(lambda _: self._open_gate(op))
        return future

    def _open_gate(self, op: Op) -> None:
        """Count one of `op`'s two conditions met; queue it when both are."""
        with self._lock:
            left = self._gates[op.id] - 1
            if left:
                self._gates[op.id] = left
                return
            del self._gates[op.id]
        self._queue(op)

    def _queue(self, op: Op) -> None:
        """Queue `op` at its owner, then let the op that waited for that go on."""
        self._ends.dispatch(op)
        with self._lock:
            self._queued.add(op.id)
            follower = self._after_queued.pop(op.id, None)
        if op.future is not None:
            op.future.add_completion_callback(functools.partial(self._forget, op.id))
        if follower is not None:
            self._open_gate(follower)

    def _forget(self, op_id: int, _: object = None) -> None:
        with self._lock:
            self._queued.discard(op_id)


def _is_plain(op: Op) -> bool:
    return op.callback is None and op.reply_to is None
