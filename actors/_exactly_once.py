"""Exactly once, the client's half: a store's session id and its ops' numbers.

After MongoDB's retryable writes. A store (local or cluster) is a session
with a random id. An op's number is its `seq`, the place it took in the
store's `InFlight` when it was first submitted; every group of ops reaches
its owner with their numbers (`ClientSession.numbers`), and the owner
records their outcomes by session in the group's own transaction
(`storage._session_records`).

- An attempt whose outcome the client never learned (its remote owner died
  mid-call, or did not answer in time: `OutcomeUnknownError`) is retried
  with the same number, marked resent: if it committed, its owner answers it
  from the record instead of running it again.
- Once an owner answered an attempt with an outcome it records (a success,
  a permanent error), a further attempt (a policy that retries
  `KeyExistsError`, a `RetryCallback.retry()`) is a new op: it gets a new
  number.
- A dead letter of an op whose outcome is unknown carries the session id
  and number, and the number is *pinned*: sent along with the next groups
  of its table until one commits, so that the owner keeps its outcome (or
  that it never ran) past the session's mark. Replaying the letter (from
  any client) sends the op with those ids, resent: it is answered from its
  record if it committed, and runs (once) if it never did.
- Every group also says below which number all of the session's ops have
  been answered (the mark: the oldest op still in flight), so the owner
  keeps only the records of ops still in flight.
- A dead letter of an op whose outcome was known carries no number: its
  replay is a new op, numbered after the letter itself (`letter_ids`), so
  that replaying the same letter again (its first replay's answer lost, or
  the letter not removed) is answered from the record too.
- Where answers cannot be lost (a local store: its owners answer in its
  own process), owners record only the groups that hold replays
  (`record_all=False`): recording costs a SYNC commit of one op a fifth
  more (two more pages to sync), for nothing there.

Past `window` (the owners keep a session's records for that long after its
last group, and a pin for that long), a letter is refused on replay
(`StaleOpError`): its outcome is no longer known.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from actorstore._op_ids import OpOnce
from actorstore.errors import OutcomeUnknownError
from actorstore.retry._triage import ALREADY_APPLIED
from actorstore.storage import StaleOpError, StoreError, TransientError
from actorstore.storage._op_numbers import SESSION_ID_SIZE, OpNumbers, new_session_id
from actorstore.storage._requests import Outcome
from actorstore.storage._session_records import DEFAULT_WINDOW

if TYPE_CHECKING:
    from actorstore._inflight import InFlight
    from actorstore._record import OpRecord
    from actorstore.retry import DeadLetter

__all__ = ["REPLAY_MARGIN", "ClientSession", "answered_from_record", "letter_ids"]

logger = logging.getLogger(__name__)

REPLAY_MARGIN = 600.0
"""Seconds before the end of the window at which a letter is no longer
replayed: an op's record may be older than the letter's first failure by
the calls it took (at most a call's deadline each)."""


class ClientSession:
    """This store's session: its id, its ops' numbers, and the pins it still owes.

    Thread-safe: owners (local) or call senders (cluster) number groups,
    the store's outcomes renumber retries and pin dead letters.
    """

    def __init__(
        self,
        inflight: InFlight,
        *,
        window: float = DEFAULT_WINDOW,
        record_all: bool = True,
    ) -> None:
        self.id = new_session_id()
        self.window = window
        self.record_all = record_all
        """Whether owners record every group (answers can be lost on the way)."""
        self._inflight = inflight
        self._lock = threading.Lock()
        self._pins: dict[str, dict[int, float]] = {}
        """By table: the numbers pinned (their letters carry them) not yet
        known to be kept by the table's owner, and when they were pinned."""

    def numbers(self, table: str, ops: Sequence[OpRecord]) -> OpNumbers | None:
        """Return the numbers of a group of `ops` of `table`, for its owner
        (None: nothing to record, see `record_all`).

        Called where the group leaves for its owner (a local owner's
        thread, a remote call's sender).
        """
        numbers = [record.seq if record.once is None else 0 for record in ops]
        special = 0 in numbers  # ops with numbers of their own (resent, replays)
        if not special and not self.record_all:
            return None
        # The mark is read before the pins: an op that finishes in between
        # (its letter pinned, then its slot freed) is then in the pins, so
        # the owner keeps its outcome before pruning below the mark.
        mark = self._inflight.oldest()
        pins: tuple[int, ...] = ()
        if self._pins:
            pins = self._pins_of(table, ops)
        if not special:
            return OpNumbers(self.id, numbers, mark=mark, pins=pins)
        resent: set[int] = set()
        others: dict[int, bytes] = {}
        for index, record in enumerate(ops):
            once = record.once
            if once is None:
                continue
            numbers[index] = once.number
            if once.session is not None:
                others[index] = once.session
            if once.resent and record.operation is not None and record.operation.writes:
                resent.add(index)
        return OpNumbers(self.id, numbers, frozenset(resent), others, mark, pins)

    def _pins_of(self, table: str, ops: Sequence[OpRecord]) -> tuple[int, ...]:
        """Return the pins of `table` to send with `ops` (none with a group of
        reads: only a group that writes keeps them)."""
        with self._lock:
            pinned = self._pins.get(table)
            if not pinned:
                return ()
            expired = time.time() - self.window
            for number, at in list(pinned.items()):
                if at < expired:
                    del pinned[number]
            numbers = tuple(pinned)
        if not any(
            record.operation is not None and record.operation.writes for record in ops
        ):
            return ()
        return numbers

    def answered(
        self, table: str, numbers: OpNumbers | None, outcomes: Sequence[Outcome]
    ) -> None:
        """Take note that a group numbered `numbers` ended with `outcomes`: if a
        write of it committed, its owner keeps the pins it carried."""
        if numbers is None or not numbers.pins:
            return
        if not any(o.error is None for o in outcomes):
            return  # nothing is known to have committed: the pins go again
        with self._lock:
            pinned = self._pins.get(table, {})
            for number in numbers.pins:
                pinned.pop(number, None)

    def before_retry(self, record: OpRecord) -> None:
        """Give `record` the number its next attempt goes with (on the timer's or a
        handler's thread, before it is queued again)."""
        state = record.state
        error = None if state is None else state.last_error
        if error is None:
            return
        once = record.once
        if isinstance(error, OutcomeUnknownError | StaleOpError):
            # Its outcome is unknown: the same number, looked up by its owner.
            if once is None:
                record.once = OpOnce(None, record.seq, True)
            else:
                once.resent = True
        elif isinstance(error, StoreError) and not isinstance(error, TransientError):
            # Its owner answered, and recorded that answer: a new record.
            record.once = OpOnce(None, self._inflight.next_seq(), False)

    def with_ids(self, letter: DeadLetter, record: OpRecord) -> DeadLetter:
        """Return `letter` carrying `record`'s session and number if its outcome is
        unknown, and pin that number; else `letter` as it is."""
        once = record.once
        error = record.state.last_error if record.state is not None else None
        unknown = isinstance(error, OutcomeUnknownError | StaleOpError) or (
            once is not None and once.resent
        )
        if not unknown or record.operation is None or not record.operation.writes:
            return letter
        session = self.id if once is None or once.session is None else once.session
        number = record.seq if once is None else once.number
        if session == self.id:
            with self._lock:
                self._pins.setdefault(record.table, {})[number] = time.time()
        return dataclasses.replace(letter, session=session.hex(), number=number)

    def replaying(self, record: OpRecord, letter: DeadLetter) -> None:
        """Give `record` (a replay of `letter`) the ids of the letter's op, resent:
        its own if its outcome is unknown, else ids named after the letter
        (`letter_ids`), so that a second replay is answered from the first's
        record.

        Raises:
            StaleOpError: if the letter carries its op's ids and is older than
                the window its owner keeps outcomes for (less a margin): its
                outcome is no longer known.
        """
        if letter.session is None or letter.number is None:
            session, number = letter_ids(letter)
            record.once = OpOnce(session, number, True, replay=True)
            return
        age = time.time() - letter.first_failed_at
        if age > self.window - min(REPLAY_MARGIN, self.window / 10):
            raise StaleOpError(
                table=letter.table,
                session=letter.session,
                number=letter.number,
                key=letter.key,
                reason=f"its dead letter is {age:.0f} s old, and owners keep "
                f"outcomes for {self.window:.0f} s (outcome_window)",
            )
        session = bytes.fromhex(letter.session)
        record.once = OpOnce(
            None if session == self.id else session, letter.number, True, replay=True
        )


def letter_ids(letter: DeadLetter) -> tuple[bytes, int]:
    """Return the session id and number a replay of `letter` goes with when its
    op has none of its own: a session named after the letter (its id, table
    and op), number 1."""
    name = f"actorstore dead letter {letter.id} {letter.table} {letter.op_type}"
    digest = hashlib.sha256(name.encode())
    for part in (letter.key_bytes, letter.value_bytes):
        digest.update(part or b"")
    return digest.digest()[:SESSION_ID_SIZE], 1


def answered_from_record(record: OpRecord, outcome: Outcome) -> Outcome:
    """Return the outcome of an op its owner answered from its record: as
    recorded, or, for the replay of a dead letter that did apply,
    `ALREADY_APPLIED` (which the letter's replay counts)."""
    once = record.once
    if once is not None and once.replay and outcome.error is None:
        return Outcome(ALREADY_APPLIED, recorded=True)
    return outcome
