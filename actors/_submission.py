"""Submission: check an op, take its `ops_max` slot, hand it to the transport.

Everything here runs on the submitting thread, before anything is written:
the op's storage request is built (so bad input raises at once), it takes
a slot (waiting, parking or refusing past `ops_max`), and the transport
queues it at its table's owner. A read of a table with nothing pending runs
at once on the caller's thread instead, in a read transaction: every op
submitted before it has committed, so it sees them all, without a thread
hop. Ops that end without reaching an owner end through the executor.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Protocol

import actorstore._metrics as _metrics
from actorstore._durability_note import NoneOnSyncNote
from actorstore._record import OpRecord, build
from actorstore._transports.base import OwnerReports
from actorstore.errors import OpSubmittedError
from actorstore.futures import OpFuture
from actorstore.storage import Durability, InvalidOptionError, OpType
from actorstore.storage._requests import Outcome

if TYPE_CHECKING:
    from actorstore._inflight import InFlight
    from actorstore._lifecycle import Lifecycle
    from actorstore._transports.base import Reader, TableHandle, Transport
    from actorstore.retry import DeadLetter

__all__ = ["Ends", "Submission"]

_READS = frozenset({OpType.SEARCH, OpType.EXISTS, OpType.COUNT, OpType.SCAN})


class Ends(OwnerReports, Protocol):
    """Where ops end: the store's executor."""

    def complete(
        self, record: OpRecord, result: Any, error: BaseException | None
    ) -> None:
        """End an op with `result` or `error` (one that never reached an owner)."""
        ...

    def dispatch(self, record: OpRecord) -> None:
        """Queue an admitted op at its owner; failing that, end it."""
        ...


class Submission:
    """The submitting half of an op's path; thread-safe, and never blocks a loop.

    Args:
        transport: where the tables are; its codecs check each op.
        inflight: the `ops_max` slots and what `flush()` waits for.
        ends: where ops end (the store's executor).
        lifecycle: whether the store takes ops.
        wait, wait_timeout: the store's defaults for an op past `ops_max`.
    """

    def __init__(
        self,
        transport: Transport,
        inflight: InFlight,
        ends: Ends,
        lifecycle: Lifecycle,
        *,
        wait: bool,
        wait_timeout: float | None,
    ) -> None:
        self._transport = transport
        self._inflight = inflight
        self._ends = ends
        self._lifecycle = lifecycle
        self.wait = wait
        self.wait_timeout = wait_timeout
        self._routes: dict[str, tuple[TableHandle, Reader | None]] = {}
        self._none_on_sync = NoneOnSyncNote()

    def submit(self, record: OpRecord, op_type: OpType) -> OpFuture[Any]:
        """Check the op, take a slot and queue it at its owner; return its future.

        Raises:
            StoreClosedError, OpSubmittedError, OpsMaxExceededError, and any
            bad-input error of the op, all before anything is written.
        """
        if self._lifecycle.closing:
            self._lifecycle.refuse()
        try:  # each table's route is looked up once
            table, reader = self._routes[record.table]
        except (KeyError, TypeError):  # a new table, or a name that is not a str
            table, reader = self._route(record.table)
        self._build(record, op_type, table)
        if (
            reader is not None
            and record.callback is None
            and op_type in _READS
            and not self._inflight.parked
            and not self._inflight.admitting
            and not self._transport.pending(record.table)
        ):
            return self._read_at_once(record, reader)
        if self._admit(record):
            self._ends.dispatch(record)
        assert record.future is not None
        return record.future

    def prepare(self, record: OpRecord, op_type: OpType) -> bool:
        """Check the op and take a slot for it, without queueing it.

        Return whether it holds a slot now; if not, it is parked and is
        queued once it has one (or handed to its `on_admitted`).

        Raises:
            as `submit()`.
        """
        self._lifecycle.check_open()
        self._build(record, op_type, self._transport.table(record.table))
        return self._admit(record)

    def _route(self, name: str) -> tuple[TableHandle, Reader | None]:
        """Look up (and keep) table `name` and what reads it on this thread.

        Raises:
            InvalidTableNameError, UnknownTableError.
        """
        route = (self._transport.table(name), self._transport.reader(name))
        self._routes[name] = route
        return route

    def _build(self, record: OpRecord, op_type: OpType, table: TableHandle) -> None:
        if record.future is not None:
            raise OpSubmittedError(
                f"op {record.id} was already submitted; use new_op() for another op"
            )
        build(record, op_type, table.codecs)
        if record.durability is Durability.NONE:
            request = record.operation
            if request is not None and request.writes:
                self._none_on_sync.check(record.id, table)

    def _admit(self, record: OpRecord) -> bool:
        # The future exists before the op can be admitted from a parked state
        # (which may happen on another thread at once).
        record.future = OpFuture(record.id)
        wait = self.wait if record.wait is None else record.wait
        timeout = (
            self.wait_timeout if record.wait_timeout is None else record.wait_timeout
        )
        try:
            return self._inflight.add(record, wait=wait, timeout=timeout)
        except BaseException:
            record.future = None  # not submitted: the handle may be submitted again
            raise

    def _read_at_once(self, record: OpRecord, reader: Reader) -> OpFuture[Any]:
        """Run a read (it has no callback) now on this thread, in its own read
        transaction; return a future born done.

        Only reads without a callback come here: a callback is user code, and
        it runs on a store thread (where blocking on the store fails at once),
        never inside the caller's read transaction.
        """
        record.submitted_at = started = time.monotonic()
        operation = record.operation
        assert operation is not None
        try:
            result = reader(operation.run)
        except BaseException as exc:  # noqa: BLE001 - the op's own outcome
            return self._end_as_any_op(record, Outcome(error=exc))
        if record.reply_to is not None:
            return self._end_as_any_op(record, Outcome(result=result))
        if record.type is OpType.SEARCH:
            record.found(result)
        record.future = OpFuture.resolved(record.id, result)
        sampled = self._inflight.read_at_once(started)
        if sampled is not None and _metrics.recording:
            _metrics.read_sampled(record.table, record.type, sampled)
        return record.future

    def _end_as_any_op(self, record: OpRecord, outcome: Outcome) -> OpFuture[Any]:
        """End a read that ran at once as any other op ends, and return its
        future: it may be retried (a policy) or reply to an actor, so it is
        tracked (flush() waits for it) and handed to the executor."""
        record.future = OpFuture(record.id)
        self._inflight.track(record)
        self._inflight.count("read_at_once")
        self._ends.finish_group([record], [outcome])
        return record.future

    def replay(self, letter: DeadLetter) -> OpFuture[Any]:
        """Submit dead letter `letter` again as a plain op (waiting for a slot).

        The op goes with ids of its own (the letter's op's, if its outcome is
        unknown; else named after the letter), so its owner answers it from
        its record if it did apply (the future's result is then
        `ALREADY_APPLIED`), and replaying the same letter twice applies it
        once (see `actors._exactly_once`).

        Raises:
            InvalidOptionError: if the letter cannot be replayed (a flow's).
            StaleOpError: if it carries a number its owner no longer keeps
                the outcome of (older than the outcome window).
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
        codecs = self._transport.table(letter.table).codecs
        record = OpRecord(letter.table)
        record.wait = True
        # Its ids: a replay answered from its record is not run again.
        self._ends.session.replaying(record, letter)
        if letter.key_bytes is not None:
            record.key = codecs.decode_key(letter.key_bytes)
        if letter.value_bytes is not None:
            record.value = codecs.decode_value(letter.value_bytes)
        if letter.batch is not None:
            record.value = [
                (kind, codecs.decode_key(kb))
                if vb is None
                else (kind, codecs.decode_key(kb), codecs.decode_value(vb))
                for kind, kb, vb in letter.batch
            ]
        return self.submit(record, OpType(letter.op_type))
