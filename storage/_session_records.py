"""Session records: each client's recent outcomes, kept with the table's data.

Exactly once, after MongoDB's retryable writes. A client (a store handle)
has a random session id and numbers its ops; a group of ops comes with
their numbers (`storage._op_numbers.OpNumbers`). In the group's own top-level write
transaction, the table keeps one *group record* per session: the numbers
of that session's write ops in the group and their outcomes (the result,
or a permanent `StoreError`). A transient error, or an error of user code,
is not kept: the op wrote nothing and may simply run again. An op sent
again with an outcome its client never learned (`OpNumbers.resent`) is
looked up first: if its number is recorded, the recorded outcome answers
it and it does not run again.

Records stay few. Each group says below which number every op of its
session has been answered (`mark`), and the group records wholly below it
are deleted. Ops whose outcome the client never learned (their owner stayed
away past the client's retry policy; their dead letters carry their numbers)
come as `pins`: before pruning, the owner copies each pinned op's outcome
(or that it never ran) into a pin record of its own, which answers a replay
of the letter. A resent number that is found nowhere and lies below what
its session's records still cover is refused (`StaleOpError`): it may have
been applied. A session idle for `window` seconds is forgotten (its group
records deleted), and so is a pin older than `window`: past it, an op sent
again runs as a new one (clients refuse to replay dead letters that old).

Layout, in a named sub-database (`RESERVED_KEY`) of the table's own
environment, so that a group and its records commit (and fsync) together:

    session (16 bytes) + number (8, big-endian)          a group record
    session (16 bytes) + number (8, big-endian) + b"P"   a pin

A group record's key holds one of its numbers (each number is recorded
once); its value is a pickled `(written_at, low, numbers, results, errors)`:
when it was written (wall clock), the session's mark then, its numbers (a
list; 0 where a position holds nothing), and the non-None results and kept
errors by position (None when there are none). A pin's value is a pickled
`(written_at, ran, result, error)`. Records are read back by an unpickler
that builds plain data and the store's own errors only, so a damaged or
forged file cannot run code.

Cost, per session per group: one put, one delete of a record now answered,
and a pass over the outcomes for the odd ones (errors, results); ops sent
the first time are never looked up.
"""

from __future__ import annotations

import io
import logging
import pickle
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from actorstore.storage._op_numbers import SESSION_ID_SIZE
from actorstore.storage._requests import BeforeCommit, Outcome, TableRequest
from actorstore.storage._table_codecs import RESERVED_KEY
from actorstore.storage.errors import (
    InvalidInputError,
    StaleOpError,
    StoreCorruptedError,
    StoreError,
    TransientError,
)

if TYPE_CHECKING:
    import lmdb

    from actorstore.storage._op_numbers import OpNumbers

    Cursor = lmdb.Cursor[bytes]

__all__ = [
    "DEFAULT_WINDOW",
    "GroupRecords",
    "Recorded",
    "SessionRecords",
]

logger = logging.getLogger(__name__)

DEFAULT_WINDOW = 24 * 3600.0
"""Seconds a session's records are kept after its last group (and a pin after
it was written): far longer than any retry policy waits, and long enough for
a person to replay the day's dead letters exactly once."""

_SWEEP_KEYS = 512
"""Keys one sweep step looks at (it runs inside a group's transaction)."""

_ID = SESSION_ID_SIZE
_RECORD_KEY = _ID + 8
_PIN_KEY = _ID + 9
_PIN = b"P"
_ERRORS = StoreError.__module__

Requests = Sequence[tuple[TableRequest, BeforeCommit | None]]


class Recorded(TableRequest):
    """An op answered from its session's record: it writes nothing, and ends as
    the op ended the first time (or with why it cannot be answered)."""

    single_write = True
    __slots__ = ("outcome",)

    def __init__(self, op: TableRequest, outcome: Outcome) -> None:
        self.codecs = op.codecs
        self.key = op.key
        self.outcome = outcome

    def run(self, txn: lmdb.Transaction[bytes]) -> Any:
        """Return the recorded result, or raise the recorded error."""
        if self.outcome.error is not None:
            raise self.outcome.error
        return self.outcome.result


def _kept(error: BaseException) -> bool:
    """Whether an op that failed with `error` has it recorded as its outcome.

    A permanent `StoreError` is the op's answer. A transient one (and any
    error of user code) is not: the op wrote nothing, and may simply run
    again.
    """
    return isinstance(error, StoreError) and not isinstance(error, TransientError)


@dataclass(slots=True)
class _Found:
    """What one session's records say about some numbers."""

    outcomes: dict[int, Outcome] = field(default_factory=dict)
    pins: dict[int, Outcome | None] = field(default_factory=dict)
    """By number: the pinned outcome, or None for an op that never ran."""
    low: int = 0
    """The session's highest mark recorded: below it, every op was answered."""


class SessionRecords:
    """The session records of one table (one per `Table`, used by its writer).

    Only the thread running the table's groups uses it (LMDB has one writer
    at a time), inside their write transactions.
    """

    def __init__(self, table: str, window: float = DEFAULT_WINDOW) -> None:
        self.table = table
        self.window = window
        self._live: dict[bytes, list[tuple[bytes, int]]] = {}
        """By session: the keys of its group records and their highest number."""
        self._next_sweep = 0.0
        self._sweep_from = b""

    def group(self, requests: Requests, numbers: OpNumbers) -> GroupRecords:
        """Return the records of one group of `requests`, numbered `numbers`.

        Raises:
            InvalidInputError: if `numbers` does not number every request.
        """
        return GroupRecords(self, requests, numbers)

    def database(self, env: lmdb.Environment, txn: lmdb.Transaction[bytes]) -> Any:
        """Return the records' sub-database, creating it in write `txn` if needed.

        Opened in each transaction (0.3 us): the handle a transaction made
        is closed if that transaction aborts.
        """
        return env.open_db(RESERVED_KEY, txn=txn, create=True)

    def live(self, session: bytes, cursor: Cursor) -> list[tuple[bytes, int]]:
        """Return the group records of `session` this table knows of.

        Read from disk the first time, so that an owner that restarted
        prunes what its predecessor recorded.
        """
        known = self._live.get(session)
        if known is None:
            known = self._live[session] = [
                (key, max(_record_numbers(value, self.table), default=0))
                for key, value in _keys_of(cursor, session)
                if len(key) == _RECORD_KEY
            ]
        return known

    def forget(self, session: bytes) -> None:
        """Drop what is known of `session`'s records (they were deleted)."""
        self._live.pop(session, None)

    def sweep(self, txn: lmdb.Transaction[bytes], db: Any) -> None:
        """Forget sessions idle for `window` seconds, and pins older than it.

        A step looks at a few hundred keys, inside a group's transaction; a
        round over every key starts at most every `window / 4` seconds (a
        minute at most).
        """
        now = time.monotonic()
        if now < self._next_sweep:
            return
        expired_before = time.time() - self.window
        cursor = txn.cursor(db=db)
        walked: list[tuple[bytes, float]] = []
        positioned = cursor.set_range(self._sweep_from)
        while positioned:
            key = bytes(cursor.key())
            if len(walked) >= _SWEEP_KEYS and key[:_ID] != walked[-1][0][:_ID]:
                break  # a step ends between sessions
            walked.append((key, _loads(cursor.value(), self.table)[0]))
            positioned = cursor.next()
        if positioned:
            self._sweep_from = bytes(cursor.key())
        else:  # a round is over: rest until the next
            self._sweep_from = b""
            self._next_sweep = now + min(60.0, self.window / 4)
        newest: dict[bytes, float] = {}
        for key, written_at in walked:
            if len(key) == _RECORD_KEY:
                newest[key[:_ID]] = max(newest.get(key[:_ID], 0.0), written_at)
        for key, written_at in walked:
            if len(key) == _RECORD_KEY:
                expired = newest[key[:_ID]] < expired_before
            else:
                expired = written_at < expired_before  # a pin
            if expired:
                txn.delete(key, db=db)
        for session, written_at in newest.items():
            if written_at < expired_before:
                self.forget(session)
                logger.debug(
                    "session %s idle past the window: forgotten", session.hex()
                )


class GroupRecords:
    """The session records of one group: answer its resent ops, record the rest.

    `answer` and `record` run inside each top-level transaction that runs a
    part of the group (a pass), before its ops run and before it commits.
    """

    def __init__(
        self,
        records: SessionRecords,
        requests: Requests,
        numbers: OpNumbers,
    ) -> None:
        if len(numbers.numbers) != len(requests):
            table = requests[0][0].codecs.name if requests else None
            raise InvalidInputError(
                f"a group of {len(requests)} ops came with "
                f"{len(numbers.numbers)} numbers",
                table=table,
            )
        self._records = records
        self._requests = requests
        self._numbers = numbers
        self._answered: set[int] = set()
        """Indices of ops answered from a record (or refused): not recorded."""
        self._from_records: set[int] = set()
        """Indices of ops answered from a record: their outcomes say so."""
        self._pinned: set[int] = set()
        """Indices of resent ops whose pin says they never ran: they run now,
        and their pin gets their outcome."""

    def _session_of(self, index: int) -> bytes:
        numbers = self._numbers
        if numbers.others:
            return numbers.others.get(index, numbers.session)
        return numbers.session

    def answer(
        self,
        env: lmdb.Environment,
        txn: lmdb.Transaction[bytes],
        todo: Requests,
        start: int,
    ) -> Requests:
        """Return `todo` (the group's ops from `start`) with each resent op whose
        outcome is recorded replaced by a `Recorded` op that ends as it did.

        A resent op recorded nowhere, whose number is below what its
        session's records cover, ends with `StaleOpError` instead.
        """
        if not self._numbers.resent:
            return todo  # the common case: every op is sent the first time
        stop = start + len(todo)
        # A pass may be redone (the map grew): forget what it decided before.
        self._answered.difference_update(range(start, stop))
        self._from_records.difference_update(range(start, stop))
        self._pinned.difference_update(range(start, stop))
        resent = sorted(i for i in self._numbers.resent if start <= i < stop)
        if not resent:
            return todo
        cursor = txn.cursor(db=self._records.database(env, txn))
        numbers = self._numbers.numbers
        wanted: dict[bytes, set[int]] = {}
        for index in resent:
            wanted.setdefault(self._session_of(index), set()).add(numbers[index])
        table = self._records.table
        found = {s: _find(cursor, s, n, table) for s, n in wanted.items()}
        answered = list(todo)
        for index in resent:
            number = numbers[index]
            session = self._session_of(index)
            seen = found[session]
            op = todo[index - start][0]
            if number in seen.outcomes:
                outcome = seen.outcomes[number]
                self._from_records.add(index)
            elif number in seen.pins:
                pinned = seen.pins[number]
                if pinned is None:  # it never ran: it runs now
                    self._pinned.add(index)
                    continue
                outcome = pinned
                self._from_records.add(index)
            elif number < seen.low:
                outcome = Outcome(
                    error=StaleOpError(
                        table=op.codecs.name,
                        session=session.hex(),
                        number=number,
                        low=seen.low,
                        key=op.key,
                    )
                )
            else:
                continue  # never recorded: it runs now
            answered[index - start] = (Recorded(op, outcome), None)
            self._answered.add(index)
        logger.debug(
            "%d resent ops, %d answered from their records",
            len(resent),
            len(self._answered),
        )
        return answered

    def record(
        self,
        env: lmdb.Environment,
        txn: lmdb.Transaction[bytes],
        start: int,
        stop: int,
        outcomes: Sequence[Outcome | None],
    ) -> None:
        """Record the outcomes of ops `start` to `stop` (run in write `txn` of `env`).

        Writes a group record per session, keeps the pins the group
        brought, prunes the group records answered since, and now and then
        sweeps expired records.

        Raises:
            lmdb.MapFullError: if the map is full (the pass is then redone
                in a larger map, as for the ops' own writes).
        """
        numbers = self._numbers
        db = self._records.database(env, txn)
        for index in self._from_records:
            outcome = outcomes[index] if start <= index < stop else None
            if outcome is not None:
                outcome.recorded = True
        positions, results, errors = self._kept(start, stop, outcomes)
        others = numbers.others
        if others:
            for index, session in others.items():
                if start <= index < stop and positions[index - start]:
                    position = index - start
                    self._put(
                        txn,
                        db,
                        session,
                        0,
                        [positions[position]],
                        {0: results[position]} if position in results else {},
                        {0: errors[position]} if position in errors else {},
                    )
                    positions[position] = 0
        own = numbers.session
        cursor = txn.cursor(db=db)
        if numbers.pins:
            self._keep_pins(txn, db, cursor, own)
        self._fill_pins(txn, db, start, stop, outcomes)
        written = self._put(txn, db, own, numbers.mark, positions, results, errors)
        if written is not None:
            # Pruned only along a new record: the newest one keeps the mark.
            live = self._records.live(own, cursor)
            live.append(written)
            mark = numbers.mark
            if live[0][1] < mark:
                kept = []
                for key, highest in live:
                    if highest < mark:
                        txn.delete(key, db=db)
                    else:
                        kept.append((key, highest))
                live[:] = kept
        self._records.sweep(txn, db)

    def _kept(
        self, start: int, stop: int, outcomes: Sequence[Outcome | None]
    ) -> tuple[list[int], dict[int, Any], dict[int, BaseException]]:
        """Return the numbers to record of ops `start` to `stop` (0 where there
        is nothing to keep) and their non-None results and kept errors, by
        position."""
        whole = start == 0 and stop == len(outcomes)
        ran = outcomes if whole else outcomes[start:stop]
        numbers = list(self._numbers.numbers[start:stop])
        # The common case first: no result, no error (most writes), nothing
        # answered from a record; a pass over the outcomes tells.
        if not self._answered and not [
            o for o in ran if o is None or o.result is not None or o.error is not None
        ]:
            return numbers, {}, {}
        results: dict[int, Any] = {}
        errors: dict[int, BaseException] = {}
        requests = self._requests
        for position, outcome in enumerate(ran):
            if outcome is not None and outcome.result is None and outcome.error is None:
                continue
            if outcome is None or not requests[start + position][0].writes:
                numbers[position] = 0  # nothing to keep (a read)
            elif outcome.error is None:
                results[position] = outcome.result
            elif _kept(outcome.error):
                errors[position] = outcome.error
            else:
                numbers[position] = 0
        for index in self._answered:
            if start <= index < stop:
                numbers[index - start] = 0  # recorded already
        return numbers, results, errors

    def _put(
        self,
        txn: lmdb.Transaction[bytes],
        db: Any,
        session: bytes,
        mark: int,
        positions: list[int],
        results: dict[int, Any],
        errors: dict[int, BaseException],
    ) -> tuple[bytes, int] | None:
        """Write one group record of `session`; return its key and highest number
        (None if it holds nothing)."""
        first = positions[0] if positions else 0
        if not first:
            first = next((number for number in positions if number), 0)
            if not first:
                return None
        key = session + first.to_bytes(8, "big")
        value = _dumps((time.time(), mark, positions, results or None, errors or None))
        txn.put(key, value, db=db)
        return key, max(positions)

    def _keep_pins(
        self, txn: lmdb.Transaction[bytes], db: Any, cursor: Cursor, session: bytes
    ) -> None:
        """Write a pin for each pinned number of `session` that has none yet,
        with its recorded outcome (or that it never ran)."""
        new = {
            number
            for number in self._numbers.pins
            if txn.get(_pin_key(session, number), db=db) is None
        }
        if not new:
            return
        found = _find(cursor, session, new, self._records.table)
        now = time.time()
        for number in new:
            outcome = found.outcomes.get(number)
            pin = (
                (now, False, None, None)
                if outcome is None
                else (now, True, outcome.result, outcome.error)
            )
            txn.put(_pin_key(session, number), _dumps(pin), db=db)

    def _fill_pins(
        self,
        txn: lmdb.Transaction[bytes],
        db: Any,
        start: int,
        stop: int,
        outcomes: Sequence[Outcome | None],
    ) -> None:
        """Give the pin of each op that ran now (its pin said it never had) the
        op's outcome, if it is one to keep."""
        for index in self._pinned:
            if not start <= index < stop:
                continue
            outcome = outcomes[index]
            if outcome is None or (
                outcome.error is not None and not _kept(outcome.error)
            ):
                continue
            pin = (time.time(), True, outcome.result, outcome.error)
            key = _pin_key(self._session_of(index), self._numbers.numbers[index])
            txn.put(key, _dumps(pin), db=db)


def _keys_of(cursor: Cursor, session: bytes) -> list[tuple[bytes, bytes]]:
    """Return the keys and values of `session`'s records."""
    found: list[tuple[bytes, bytes]] = []
    if cursor.set_range(session):
        for key, value in cursor:
            if not key.startswith(session):
                break
            found.append((bytes(key), bytes(value)))
    return found


def _find(cursor: Cursor, session: bytes, wanted: set[int], table: str) -> _Found:
    """Return what `session`'s records say about the numbers `wanted`.

    Raises:
        StoreCorruptedError: if a record cannot be read.
    """
    found = _Found()
    for key, value in _keys_of(cursor, session):
        if len(key) == _PIN_KEY:
            number = int.from_bytes(key[_ID:_RECORD_KEY], "big")
            if number in wanted:
                _, ran, result, error = _loads(value, table)
                found.pins[number] = Outcome(result, error) if ran else None
            continue
        _, low, numbers, results, errors = _loads(value, table)
        found.low = max(found.low, low)
        for position, number in enumerate(numbers):
            if number and number in wanted:
                found.outcomes[number] = Outcome(
                    (results or {}).get(position), (errors or {}).get(position)
                )
    return found


def _record_numbers(value: bytes, table: str) -> list[int]:
    """Return the numbers the group record `value` holds (0: none there)."""
    numbers: list[int] = _loads(value, table)[2]
    return numbers


def _pin_key(session: bytes, number: int) -> bytes:
    return session + number.to_bytes(8, "big") + _PIN


def _dumps(record: tuple[Any, ...]) -> bytes:
    return pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)


def _loads(data: bytes, table: str) -> Any:
    """Return the record pickled as `data`, refusing anything but plain data and
    the store's own errors.

    Raises:
        StoreCorruptedError: if it is not such a record.
    """
    try:
        return _RecordUnpickler(io.BytesIO(data)).load()
    except Exception as exc:
        raise StoreCorruptedError(
            path=None,
            problem=f"a session record cannot be read ({exc})",
            table=table,
        ) from exc


class _RecordUnpickler(pickle.Unpickler):
    """Build plain data and `StoreError`s only: never import or call anything else."""

    def find_class(self, module: str, name: str) -> Any:
        if module.startswith("actorstore.") and module.endswith(".errors"):
            found = getattr(sys.modules.get(module), name, None)
            # `StoreError.__reduce__` rebuilds an error with this function.
            rebuilds = module == _ERRORS and name == "_rebuild_error"
            if rebuilds or (isinstance(found, type) and issubclass(found, StoreError)):
                return found
        raise pickle.UnpicklingError(
            f"a session record refers to {module}.{name}: not a record"
        )
