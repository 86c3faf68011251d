"""Dead letters: park given-up ops; list, replay, purge and count them."""

from __future__ import annotations

import builtins
import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from actorstore.retry._letters import (
    DeadLetter,
    error_record,
    jsonable,
    new_dead_letter_id,
)
from actorstore.retry._triage import (
    ALREADY_APPLIED,
    DeadLetterSummary,
    LetterFilter,
    ReplayReport,
    TimeLike,
)
from actorstore.retry.errors import RetriesExhaustedError, UnknownDeadLetterError
from actorstore.storage import InvalidOptionError, OpType

if TYPE_CHECKING:
    from actorstore.retry.host import FutureLike, RetryHost
    from actorstore.retry.policy import RetryPolicy
    from actorstore.retry.state import AttemptState

__all__ = [
    "DeadLetterTable",
    "error_record",
    "give_up_error",
    "jsonable",
    "new_dead_letter_id",
    "park_then",
]

logger = logging.getLogger(__name__)

_OUR_NOTES = ("dead-lettered as letter ", "the dead letter could not be written ")
"""How the notes that tie an error to its dead letter begin."""
_TYING = threading.Lock()
"""Held while an error is tied to a letter (two ops may share one error)."""


def park_then(
    park: Callable[[DeadLetter], FutureLike[Any]],
    letter: DeadLetter,
    then: Callable[[BaseException | None, str | None], object],
) -> None:
    """Park `letter`, then call `then(problem, where)` once its write has ended.

    `problem` is None once the letter is kept, else why it could not be
    (the write failed, or `park` raised): the caller must then tell whoever
    gets the op's error that the op is lost to the store. `where` is what
    the park said kept it (None: the dead-letter table).
    """

    def ended(done: FutureLike[Any] | None, problem: BaseException | None) -> None:
        where = None
        if problem is None and done is not None:
            problem = done.exception(0)
            if problem is None:
                where = done.get(0)
        if problem is not None:
            logger.error("dead letter %d not written: %r", letter.id, problem)
        then(problem, where if isinstance(where, str) else None)

    try:
        parked = park(letter)
    except BaseException as exc:  # noqa: BLE001 - a hook's failure reaches the caller
        ended(None, exc)
        return
    parked.add_completion_callback(lambda done: ended(done, None))


def give_up_error(
    state: AttemptState,
    letter: DeadLetter,
    problem: BaseException | None,
    policy: RetryPolicy,
    *,
    where: str | None = None,
    cut_short: bool = False,
    table: str | None = None,
    key: object = None,
) -> BaseException:
    """Return the error the caller of a given-up op (or flow) gets.

    A retryable last error, or a pending retry cut short by close, becomes a
    `RetriesExhaustedError` that carries `letter`; a permanent error (say
    `KeyExistsError`) stays itself, with a note and a `dead_letter`
    attribute. Either way the error says whether the letter was written
    (`problem` is None) or the op is lost to the store, and carries the op.
    """
    error = state.last_error
    assert error is not None  # an op is given up on only after it failed
    try:
        retryable = cut_short or policy.is_retryable(error)
    except BaseException:  # noqa: BLE001 - a raising predicate: treat as permanent
        retryable = False
    if retryable:
        return RetriesExhaustedError(
            attempts=state.attempts,
            last_error=error,
            table=table,
            key=key,
            dead_letter=letter,
            problem=problem,
            kept_in=where,
            allowed=policy.max_attempts if policy.stop is None else None,
            cut_short=cut_short,
        )
    if problem is None:
        note = (
            f"dead-lettered as letter {letter.id} "
            f"({'see store.dead_letters' if where is None else 'kept by ' + where})"
        )
    else:
        note = (
            f"the dead letter could not be written ({problem!r}), so the op is lost "
            f"to the store: keep it from this error's .dead_letter "
            f"({letter.describe()})"
        )
    return _tie_to_letter(error, note, letter)


def _tie_to_letter(
    error: BaseException, note: str, letter: DeadLetter
) -> BaseException:
    """Add `note` and a `dead_letter` attribute to `error`; return it.

    The same error object may be every op's of a group that failed as one:
    the first op to give up gets the error itself, each later one a copy
    that tells of its own letter only.
    """
    with _TYING:
        if any(str(n).startswith(_OUR_NOTES) for n in getattr(error, "__notes__", ())):
            error = _untied_copy(error)
        error.add_note(note)
        with contextlib.suppress(AttributeError):  # a class that refuses it
            error.dead_letter = letter  # type: ignore[attr-defined]
    return error


def _untied_copy(error: BaseException) -> BaseException:
    """Return a copy of `error` without its dead-letter notes and attribute, or
    `error` itself if it cannot be copied.

    The copy is made without calling the class's `__init__` (which may build
    its message from its arguments, or do anything else): same class, args,
    attributes, other notes, cause, context and traceback.
    """
    cls = type(error)
    try:
        copied = cls.__new__(cls, *error.args)
        copied.__dict__.update(error.__dict__)
    except BaseException:  # noqa: BLE001 - a user class that cannot be copied so
        logger.warning("cannot copy %r: ops that share it share its notes", error)
        return error
    notes = getattr(error, "__notes__", [])
    copied.__notes__ = [n for n in notes if not str(n).startswith(_OUR_NOTES)]
    copied.__dict__.pop("dead_letter", None)
    copied.__cause__ = error.__cause__
    copied.__context__ = error.__context__
    copied.__suppress_context__ = error.__suppress_context__
    copied.__traceback__ = error.__traceback__
    return copied


class DeadLetterTable:
    """List, replay, purge and count a store's dead letters (`store.dead_letters`).

    `list`, `iter`, `replay`, `purge` and `summary` take the same filters,
    keyword arguments: `table=` (a table name), `op=` (an op type),
    `error=` (the last error's class name, or the class), and
    `since=`/`until=` (the last failure, inclusive; seconds since the epoch
    or a datetime); a letter must meet each one given. Bad filters raise
    `InvalidOptionError` before anything is read.
    """

    page_size = 1000
    """Letters read per read transaction by `iter()`."""

    def __init__(self, host: RetryHost) -> None:
        self._host = host

    @property
    def host(self) -> RetryHost:
        """The store these letters are parked in, as the retry layer sees it."""
        return self._host

    def list(
        self,
        timeout: float | None = None,
        *,
        ids: Iterable[int] | None = None,
        table: str | None = None,
        op: str | OpType | None = None,
        error: str | type[BaseException] | None = None,
        since: TimeLike | None = None,
        until: TimeLike | None = None,
    ) -> builtins.list[DeadLetter]:
        """Return the dead letters (those of `ids`, if given) that match, oldest
        first.

        Raises:
            UnknownDeadLetterError: if an id of `ids` is unknown.
            InvalidOptionError: for a bad filter, ids that are not ints, a
                bad `timeout`.
        """
        return self._select(
            ids,
            timeout,
            LetterFilter.of(table=table, op=op, error=error, since=since, until=until),
        )

    def iter(
        self,
        timeout: float | None = None,
        *,
        table: str | None = None,
        op: str | OpType | None = None,
        error: str | type[BaseException] | None = None,
        since: TimeLike | None = None,
        until: TimeLike | None = None,
    ) -> Iterator[DeadLetter]:
        """Yield the dead letters that match, oldest first, one page at a time.

        Each page is one read; memory stays flat however many letters there
        are. `timeout` bounds each page's read. A record that is not a dead
        letter (written by something else) is logged and skipped, so it
        never hides the others.

        Raises:
            InvalidOptionError: (at once, before reading) for a bad filter or
                `timeout`.
        """
        _check_timeout(timeout)
        return self._matching(
            LetterFilter.of(table=table, op=op, error=error, since=since, until=until),
            timeout,
        )

    def _matching(
        self, chosen: LetterFilter, timeout: float | None
    ) -> Iterator[DeadLetter]:
        every = chosen.is_empty
        for letter in self._all(timeout):
            if every or chosen.matches(letter):
                yield letter

    def _all(self, timeout: float | None) -> Iterator[DeadLetter]:
        start: int | None = None
        while True:
            pairs = self._host.submit(
                "scan", options={"start": start, "limit": self.page_size}
            ).get(timeout)
            for key, value in pairs:
                try:
                    letter = DeadLetter.from_json(value)
                except (TypeError, ValueError, KeyError, AttributeError):
                    logger.error(
                        "dead-letter record %s is not a dead letter; skipped", key
                    )
                    continue
                yield letter
            if len(pairs) < self.page_size:
                return
            start = pairs[-1][0] + 1

    def get(self, letter_id: int, timeout: float | None = None) -> DeadLetter:
        """Return dead letter `letter_id`.

        Raises:
            UnknownDeadLetterError: if there is none with that id.
            InvalidOptionError: for an id that is not an int, a bad `timeout`.
        """
        _check_ids([letter_id], "letter_id")
        return self._select([letter_id], timeout, LetterFilter())[0]

    def _select(
        self, ids: Iterable[int] | None, timeout: float | None, chosen: LetterFilter
    ) -> builtins.list[DeadLetter]:
        """Return the letters of `ids` (every letter if None) that `chosen` takes.

        Raises:
            UnknownDeadLetterError: if an id of `ids` is unknown (whether or
                not its letter would match).
            InvalidOptionError: for ids that are not ints, a bad `timeout`.
        """
        wanted = None if ids is None else _check_ids(ids, "ids")
        _check_timeout(timeout)
        if wanted is None:
            return builtins.list(self._matching(chosen, timeout))
        by_id = {letter.id: letter for letter in self._all(timeout)}
        missing = [i for i in wanted if i not in by_id]
        if missing:
            raise UnknownDeadLetterError(missing)
        return [by_id[i] for i in wanted if chosen.matches(by_id[i])]

    def add(self, letter: DeadLetter) -> FutureLike[Any]:
        """Write `letter` to the dead-letter table; the future is done once it is
        on disk.

        Raises:
            InvalidOptionError: if `letter` is not a `DeadLetter`.
        """
        _check_letter(letter)
        return self._host.submit("insert", letter.id, letter.to_json())

    def park(self, letter: DeadLetter) -> FutureLike[Any]:
        """Park `letter` as the store parks a given-up op: the store's
        `dead_letter_hook` if it has one, else the dead-letter table.

        The future's result says what kept the letter, in a few words (None:
        the dead-letter table); it fails if the letter could not be kept.

        Raises:
            InvalidOptionError: if `letter` is not a `DeadLetter`.
        """
        _check_letter(letter)
        return self._host.park(letter)

    def replay(
        self,
        ids: Iterable[int] | None = None,
        timeout: float | None = None,
        *,
        per_second: float | None = None,
        table: str | None = None,
        op: str | OpType | None = None,
        error: str | type[BaseException] | None = None,
        since: TimeLike | None = None,
        until: TimeLike | None = None,
    ) -> ReplayReport:
        """Run the matching dead letters again as plain ops; remove each one
        whose replay committed (or was answered as already applied).

        `per_second` paces the replays: at most that many start each second
        (the store's timer says when; nothing sleeps on a worker), so a
        backlog does not flood a store that is serving. `timeout` bounds each
        wait for a replay and for a letter's removal.

        Returns a `ReplayReport`: by letter id, None or the error its replay
        failed with (the letter stays), and how many replayed, failed again
        or were already applied.

        Raises:
            UnknownDeadLetterError: if an id is unknown, before anything runs.
            InvalidOptionError: for a bad filter, `per_second`, ids that are
                not ints or a bad `timeout`, likewise.
        """
        _check_rate(per_second)
        chosen = self._select(
            ids,
            timeout,
            LetterFilter.of(table=table, op=op, error=error, since=since, until=until),
        )
        letters = chosen if per_second is None else self._paced(chosen, per_second)
        started: dict[int, FutureLike[Any]] = {}
        outcomes: dict[int, BaseException | None] = {}
        for letter in letters:
            try:
                started[letter.id] = self._host.replay(letter)
            except Exception as exc:  # noqa: BLE001 - reported per letter
                outcomes[letter.id] = exc
        applied: builtins.list[int] = []
        removals: dict[int, FutureLike[Any]] = {}
        for letter_id, future in started.items():
            try:
                answer = future.get(timeout)
            except Exception as exc:  # noqa: BLE001 - reported per letter
                outcomes[letter_id] = exc
                continue
            if answer is ALREADY_APPLIED:
                applied.append(letter_id)
            outcomes[letter_id] = None
            removals[letter_id] = self._host.submit("remove", letter_id)
        for letter_id, removal in removals.items():
            try:
                removal.get(timeout)
            except Exception as exc:  # noqa: BLE001 - reported per letter
                outcomes[letter_id] = exc
        report = ReplayReport(outcomes, [i for i in applied if outcomes[i] is None])
        if report:
            logger.info("dead letters replayed: %r", report)
        return report

    def _paced(
        self, letters: Sequence[DeadLetter], per_second: float
    ) -> Iterator[DeadLetter]:
        """Yield `letters`, the n-th once n / `per_second` seconds have passed.

        The host's timer tells when; this (the caller's thread) waits for
        it. If the host closes first, the rest are yielded at once (their
        replays then fail with the host's error).
        """
        began = time.monotonic()
        for number, letter in enumerate(letters):
            delay = began + number / per_second - time.monotonic()
            if number and delay > 0:
                due = threading.Event()
                self._host.schedule(delay, due.set, due.set)
                due.wait()
            yield letter

    def purge(
        self,
        ids: Iterable[int] | None = None,
        timeout: float | None = None,
        *,
        table: str | None = None,
        op: str | OpType | None = None,
        error: str | type[BaseException] | None = None,
        since: TimeLike | None = None,
        until: TimeLike | None = None,
    ) -> int:
        """Remove the matching dead letters (all of them, with no ids nor
        filters); return how many.

        The letters are removed a page (`page_size`) per transaction.

        Raises:
            UnknownDeadLetterError: if an id is unknown, before anything is removed.
            InvalidOptionError: for a bad filter, ids that are not ints, a bad
                `timeout`, likewise.
        """
        letters = self._select(
            ids,
            timeout,
            LetterFilter.of(table=table, op=op, error=error, since=since, until=until),
        )
        removed = 0
        for first in range(0, len(letters), self.page_size):
            page = letters[first : first + self.page_size]
            writes = [("remove", letter.id) for letter in page]
            removed += int(self._host.submit("batch", value=writes).get(timeout))
        return removed

    def summary(
        self,
        timeout: float | None = None,
        *,
        table: str | None = None,
        op: str | OpType | None = None,
        error: str | type[BaseException] | None = None,
        since: TimeLike | None = None,
        until: TimeLike | None = None,
    ) -> DeadLetterSummary:
        """Count the matching dead letters by table, op type and error class.

        Reads them page by page, as `iter()` does.

        Raises:
            InvalidOptionError: for a bad filter or `timeout`.
        """
        _check_timeout(timeout)
        chosen = LetterFilter.of(
            table=table, op=op, error=error, since=since, until=until
        )
        return DeadLetterSummary.of(self._matching(chosen, timeout))

    def __len__(self) -> int:
        return int(self._host.submit("count").get())


def _check_rate(per_second: object) -> None:
    if per_second is None:
        return
    if (
        isinstance(per_second, bool)
        or not isinstance(per_second, int | float)
        or not math.isfinite(per_second)
        or per_second <= 0
    ):
        raise InvalidOptionError(
            f"per_second must be a number of replays a second above 0, or None "
            f"(no pacing), not {per_second!r}"
        )


def _check_timeout(timeout: object) -> None:
    if timeout is not None and (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not timeout >= 0  # NaN too
    ):
        raise InvalidOptionError(
            f"timeout must be >= 0 or None, not {timeout!r}; give a number of seconds"
        )


def _check_ids(ids: object, name: str) -> builtins.list[int]:
    """Return the dead-letter ids `ids` once each, in order, or refuse them."""
    if isinstance(ids, str | bytes) or not isinstance(ids, Iterable):
        raise InvalidOptionError(
            f"{name} must be a list of dead-letter ids (ints) or None, not {ids!r}"
        )
    given = builtins.list(ids)
    wrong = [i for i in given if isinstance(i, bool) or not isinstance(i, int)]
    if wrong:
        shown = wrong[0] if name == "letter_id" else wrong
        raise InvalidOptionError(
            f"{name}: dead-letter ids are ints (as list() shows them), not {shown!r}"
        )
    return builtins.list(dict.fromkeys(given))  # an id given twice is one letter


def _check_letter(letter: object) -> None:
    if not isinstance(letter, DeadLetter):
        raise InvalidOptionError(
            f"letter must be an actorstore.DeadLetter (DeadLetter.new(...)), not "
            f"{type(letter).__name__}"
        )
