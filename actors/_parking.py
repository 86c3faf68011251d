"""LetterParking: where a given-up op's dead letter is kept.

The store's `dead_letter_hook` takes it if there is one (and if it raises,
the table does after all); else it is written to the durable dead-letter
table by an internal op, never refused by `ops_max`; a letter the table
cannot take (its remote owner is unreachable) goes to the transport's
spool, which says where it is kept until it is forwarded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import actorstore._metrics as _metrics
from actorstore._record import OpRecord, build
from actorstore.futures import OpFuture
from actorstore.retry import DEAD_LETTER_TABLE, AttemptState, DeadLetter
from actorstore.retry._dead_letters import give_up_error, park_then
from actorstore.storage import OpType
from actorstore.storage._requests import Batch

if TYPE_CHECKING:
    from actorstore._exactly_once import ClientSession
    from actorstore._inflight import InFlight
    from actorstore._lifecycle import Lifecycle
    from actorstore._transports.base import Transport
    from actorstore.retry import DeadLetterHook, RetryPolicy

__all__ = ["LetterParking", "dead_letter_for"]

logger = logging.getLogger(__name__)


class LetterParking:
    """Keep dead letters: the hook, else the dead-letter table, else the spool.

    Args:
        dispatch: queues an internal op at the dead-letter table's owner.
        spool: keeps a letter the table cannot take and says where; None:
            the op's error then says it is lost to the store.
        session: numbers the letters of ops whose outcome is unknown.
    """

    def __init__(
        self,
        transport: Transport,
        inflight: InFlight,
        lifecycle: Lifecycle,
        *,
        dispatch: Callable[[OpRecord], None],
        dead_letter_hook: DeadLetterHook | None,
        spool: Callable[[DeadLetter], object] | None,
        session: ClientSession,
    ) -> None:
        self._transport = transport
        self._inflight = inflight
        self._lifecycle = lifecycle
        self._dispatch = dispatch
        self._hook = dead_letter_hook
        self._spool = spool
        self._session = session

    def give_up(
        self,
        record: OpRecord,
        error: BaseException,
        policy: RetryPolicy,
        end: Callable[[OpRecord, BaseException], object],
        *,
        cut_short: bool = False,
    ) -> None:
        """Park `record`'s op as a dead letter, then `end(record, final_error)`.

        The final error says whether the letter was written and, if not,
        carries the op so the caller can keep it.
        """
        state = record.state
        if state is None:
            state = record.state = AttemptState(record.submitted_at)
        if state.last_error is not error:
            state.last_error = error
        letter = self._session.with_ids(dead_letter_for(record, state), record)
        logger.warning(
            "op %d %s on table %s dead-lettered after %d attempt%s: %s",
            record.id,
            letter.op_type,
            record.table,
            state.attempts,
            "" if state.attempts == 1 else "s",
            type(error).__name__,
        )

        def parked(problem: BaseException | None, where: str | None) -> None:
            if problem is None:
                self._inflight.count("dead_lettered")
                if _metrics.recording:
                    _metrics.dead_lettered(record.table, record.type)
            final = give_up_error(
                state,
                letter,
                problem,
                policy,
                where=where,
                cut_short=cut_short,
                table=record.table,
                key=record.key,
            )
            end(record, final)

        park_then(self.park, letter, parked)

    def park(self, letter: DeadLetter) -> OpFuture[Any]:
        """Hand `letter` to the store's hook, else write it to the dead-letter table.

        A hook raising anything (even `KeyboardInterrupt`) falls back to the
        table, so the letter is still written.
        """
        hook = self._hook
        if hook is not None:
            try:
                hook(letter)
            except BaseException:
                logger.error(
                    "dead-letter hook failed; writing to the table", exc_info=True
                )
            else:
                return OpFuture.resolved(0, "the dead-letter hook")
        written = self.submit_internal("insert", letter.id, letter.to_json())
        if self._spool is None:
            return written
        spool = self._spool
        kept: OpFuture[Any] = OpFuture()

        def spool_if_refused(done: OpFuture[Any]) -> None:
            error = done.exception(0)
            if error is None:
                kept.set_result(None)
                return
            try:
                where = spool(letter)
            except BaseException as exc:  # noqa: BLE001 - the op's error says it
                exc.__context__ = error
                kept.set_exception(exc)
                return
            logger.warning(
                "dead letter %d spooled at %s (%r); it is forwarded later",
                letter.id,
                where,
                error,
            )
            kept.set_result(f"the local spool {where}, until it is forwarded")

        written.add_completion_callback(spool_if_refused)
        return kept

    def submit_internal(
        self,
        op_type: str,
        key: Any = None,
        value: Any = None,
        options: Mapping[str, Any] | None = None,
    ) -> OpFuture[Any]:
        """Run an op on the dead-letter table; never refused by `ops_max`, and
        still accepted while the store closes (pending retries park there).

        Raises:
            StoreClosedError: once the store has closed.
        """
        self._lifecycle.check_internal()
        record = OpRecord(DEAD_LETTER_TABLE)
        record.key, record.value = key, value
        if options:
            record.options = dict(options)
        table = self._transport.table(DEAD_LETTER_TABLE, internal=True)
        build(record, OpType(op_type), table.codecs)
        record.future = OpFuture(record.id)
        self._inflight.add(record, wait=True, timeout=None, internal=True)
        self._dispatch(record)
        return record.future


def dead_letter_for(record: OpRecord, state: AttemptState) -> DeadLetter:
    """Return the dead-letter record of an op given up on in `state`."""
    operation = record.operation
    return DeadLetter.new(
        op_type=record.type.value if record.type else "unknown",
        table=record.table,
        key=record.key,
        value=record.value,
        state=state,
        key_bytes=getattr(operation, "key_bytes", None),
        value_bytes=getattr(operation, "value_bytes", None),
        batch=operation.encoded() if isinstance(operation, Batch) else None,
    )
