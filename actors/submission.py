"""Submission: check an op, take its `ops_max` slot, hand it to its owner's Dispatcher.

Everything here runs on the submitting thread, before anything is written:
the op's storage operation is built (so bad input raises at once), it takes
a slot (waiting, parking or refusing past `ops_max`), and its table's
`Dispatcher` queues it. A read of a table with nothing pending runs at once
on the caller's thread instead, in a read transaction: every op submitted
before it has committed, so it sees them all, without a thread hop.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

from actorstore.dispatch import OwnerReports
from actorstore.errors import OpSubmittedError, StoreForkedError
from actorstore.futures import OpFuture
from actorstore.op import Op
from actorstore.retry import DEAD_LETTER_TABLE
from actorstore.storage import InvalidOptionError, OpType, StoreClosedError
from actorstore.storage._requests import Outcome, build_request

if TYPE_CHECKING:
    from actorstore.backend import OpTable
    from actorstore.dispatch import Dispatcher, Router
    from actorstore.inflight import InFlight
    from actorstore.retry import DeadLetter

__all__ = ["OpSink", "Submission"]

_READS = frozenset({OpType.SEARCH, OpType.EXISTS, OpType.COUNT, OpType.SCAN})


class OpSink(OwnerReports, Protocol):
    """Where ops end: the store's Outcomes."""

    def complete(self, op: Op, result: Any, error: BaseException | None) -> None:
        """End `op` with `result` or `error` (an op that never reached an owner)."""
        ...


class Submission:
    """The submitting half of an op's path; thread-safe, and never blocks a loop.

    Args:
        tables: returns the open table `name` (`internal=True` allows the
            internal tables); its codecs check and encode each op.
        router: which dispatcher serves each table.
        inflight: the `ops_max` slots and what `flush()` waits for.
        sink: where ops end (the store's Outcomes).
        wait, wait_timeout: the store's defaults for an op past `ops_max`.
        reads_at_once: whether reads of an idle table may run on the
            caller's thread (only where the tables are on this host).
    """

    def __init__(
        self,
        tables: Callable[..., OpTable],
        router: Router,
        inflight: InFlight,
        sink: OpSink,
        *,
        wait: bool,
        wait_timeout: float | None,
        reads_at_once: bool,
    ) -> None:
        self._tables = tables
        self._router = router
        self._inflight = inflight
        self._sink = sink
        self.wait = wait
        self.wait_timeout = wait_timeout
        self._reads_at_once = reads_at_once
        self._routes: dict[str, tuple[OpTable, Dispatcher]] = {}
        self._closing = False
        self._closed = False
        self._opened_by = os.getpid()
        inflight.admit = self.admit

    # -- submitting ---------------------------------------------------------------

    def submit(self, op: Op, op_type: OpType) -> OpFuture[Any]:
        """Check `op`, take a slot and queue it at its owner; return its future.

        Raises:
            StoreClosedError, OpSubmittedError, OpsMaxExceededError, and any
            bad-input error of the op, all before anything is written.
        """
        if self._closing:
            self._refuse()
        try:  # each table's route is looked up once
            table, dispatcher = self._routes[op.table]
        except (KeyError, TypeError):  # a new table, or a name that is not a str
            table, dispatcher = self._route(op.table)
        self._build(op, op_type, table)
        if (
            self._reads_at_once
            and op.callback is None
            and op_type in _READS
            and not dispatcher.pending(op.table)
            and not self._inflight.parked
            and not self._inflight.admitting
        ):
            return self._read_at_once(op, table)
        if self._admit(op, internal=False):
            try:
                dispatcher.put(op)
            except BaseException as exc:  # noqa: BLE001 - the op ends with it
                self._sink.complete(op, None, exc)
        assert op.future is not None
        return op.future

    def prepare(self, op: Op, op_type: OpType, *, internal: bool = False) -> bool:
        """Check `op` and take a slot for it, without queueing it.

        Return whether it holds a slot now; if not, it is parked and `admit`
        queues it once it has one (or calls its `on_admitted`).

        Raises:
            as `submit()`.
        """
        self._check(op, op_type, internal=internal)
        return self._admit(op, internal=internal)

    def _check(self, op: Op, op_type: OpType, *, internal: bool) -> OpTable:
        if self._closing and (not internal or self._closed):
            self._refuse()
        table = self._tables(op.table, internal=internal)
        self._build(op, op_type, table)
        return table

    def _route(self, name: str) -> tuple[OpTable, Dispatcher]:
        """Look up (and keep) table `name` and its owner's dispatcher.

        Raises:
            InvalidTableNameError, UnknownTableError.
        """
        route = (self._tables(name), self._router.dispatcher_for(name))
        self._routes[name] = route
        return route

    def _build(self, op: Op, op_type: OpType, table: OpTable) -> None:
        """Give `op` its type and its storage operation, checked and encoded."""
        if op.future is not None:
            raise OpSubmittedError(
                f"op {op.id} was already submitted; use new_op() for another op"
            )
        op.type = op_type
        options = op.options
        op.operation = (
            build_request(table.codecs, op_type, op.key, op.value, **options)
            if options  # unpacking even an empty mapping costs every op
            else build_request(table.codecs, op_type, op.key, op.value)
        )

    def _admit(self, op: Op, *, internal: bool) -> bool:
        # The future exists before the op can be admitted from a parked state
        # (which may happen on another thread at once).
        op.future = OpFuture(op.id)
        wait = self.wait if op.wait is None else op.wait
        timeout = self.wait_timeout if op.wait_timeout is None else op.wait_timeout
        try:
            return self._inflight.add(op, wait=wait, timeout=timeout, internal=internal)
        except BaseException:
            op.future = None  # not submitted: the handle may be submitted again
            raise

    def _read_at_once(self, op: Op, table: OpTable) -> OpFuture[Any]:
        """Run read `op` (it has no callback) now on this thread, in its own
        read transaction; return a future born done.

        Only reads without a callback come here: a callback is user code, and
        it runs on a store thread (where blocking on the store fails at once),
        never inside the caller's read transaction.
        """
        op.submitted_at = started = time.monotonic()
        operation = op.operation
        assert operation is not None
        try:
            result = table.read(operation.run)
        except BaseException as exc:  # noqa: BLE001 - the op's own outcome
            return self._end_as_any_op(op, Outcome(error=exc))
        if op.reply_to is not None:
            return self._end_as_any_op(op, Outcome(result=result))
        if op.type is OpType.SEARCH:
            op.value = result
        op.future = OpFuture.resolved(op.id, result)
        self._inflight.read_at_once(started)
        return op.future

    def _end_as_any_op(self, op: Op, outcome: Outcome) -> OpFuture[Any]:
        """End a read that ran at once as any other op ends, and return its
        future: it may be retried (a policy) or reply to an actor, so it is
        tracked (flush() waits for it) and handed to the sink."""
        op.future = OpFuture(op.id)
        self._inflight.track(op)
        self._inflight.count("read_at_once")
        self._sink.finish_group([op], [outcome])
        return op.future

    def admit(self, op: Op) -> None:
        """Queue a parked op that now holds a slot (or hand it to its `on_admitted`)."""
        hook = op.on_admitted
        if hook is not None:
            hook(op)
        else:
            self.dispatch(op)

    def dispatch(self, op: Op) -> None:
        """Queue an admitted op (again) at its owner; failing that, end it.

        Never raises: whatever keeps the op from its owner (the store
        closing, a remote owner that cannot be found) becomes its error.
        """
        try:
            self._router.dispatcher_for(op.table).put(op)
        except BaseException as exc:  # noqa: BLE001 - the op ends with it
            self._sink.complete(op, None, exc)

    def submit_internal(
        self,
        op_type: str,
        key: Any = None,
        value: Any = None,
        options: Mapping[str, Any] | None = None,
    ) -> OpFuture[Any]:
        """Run an op on the dead-letter table; never refused by `ops_max`, and
        still accepted while the store closes (pending retries park there)."""
        op = Op(self, DEAD_LETTER_TABLE)
        op.key, op.value = key, value
        if options:
            op.options = dict(options)
        self.prepare(op, OpType(op_type), internal=True)
        self.dispatch(op)
        assert op.future is not None
        return op.future

    def replay(self, letter: DeadLetter) -> OpFuture[Any]:
        """Submit dead letter `letter` again as a plain op (waiting for a slot).

        Raises:
            InvalidOptionError: if the letter cannot be replayed (a flow's).
        """
        if not letter.replayable:
            what = (
                f"the flow {letter.flow!r}; start the flow again"
                if letter.flow
                else f"a {letter.op_type} op, with nothing to write again"
            )
            raise InvalidOptionError(
                f"dead letter {letter.id} cannot be replayed: it is {what}; "
                "or purge the letter"
            )
        codecs = self._tables(letter.table).codecs
        op = Op(self, letter.table)
        op.wait = True
        if letter.key_bytes is not None:
            op.key = codecs.decode_key(letter.key_bytes)
        if letter.value_bytes is not None:
            op.value = codecs.decode_value(letter.value_bytes)
        if letter.batch is not None:
            op.value = [
                (kind, codecs.decode_key(kb))
                if vb is None
                else (kind, codecs.decode_key(kb), codecs.decode_value(vb))
                for kind, kb, vb in letter.batch
            ]
        return self.submit(op, OpType(letter.op_type))

    # -- open, closing, closed ---------------------------------------------------------

    @property
    def is_closing(self) -> bool:
        """Whether new ops are refused (the store is closing or closed)."""
        return self._closing

    def check_open(self) -> None:
        """Raise unless the store accepts new ops.

        Raises:
            StoreForkedError: in a child process that inherited the store.
            StoreClosedError: if the store is closing or closed.
        """
        if self._closing:
            self._refuse()
        self.check_process()

    def check_process(self) -> None:
        """Raise `StoreForkedError` in a child process that inherited the store."""
        if self._opened_by != os.getpid():
            raise StoreForkedError(opened_by=self._opened_by)

    def start_closing(self) -> None:
        """Refuse new ops from now on; internal ops (dead letters) still run."""
        self._closing = True

    def finish_closing(self) -> None:
        """Refuse every op from now on."""
        self._closing = self._closed = True

    def _refuse(self) -> NoReturn:
        self.check_process()
        raise StoreClosedError("store")
