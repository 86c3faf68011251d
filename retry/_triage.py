"""Triage of dead letters: which letters a filter selects, what a replay did,
and how many letters there are of each kind.

`LetterFilter` is what `DeadLetterTable.list/iter/replay/purge/summary` take as
keyword arguments (`table=`, `op=`, `error=`, `since=`, `until=`), checked
before anything is read; `ReplayReport` is what `replay()` returns;
`DeadLetterSummary` what `summary()` returns.
"""

from __future__ import annotations

import datetime
import enum
import math
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from actorstore.retry._letters import DeadLetter
from actorstore.storage import InvalidOptionError, OpType

__all__ = [
    "ALREADY_APPLIED",
    "FLOW_OP",
    "DeadLetterSummary",
    "LetterFilter",
    "ReplayAnswer",
    "ReplayReport",
    "TimeLike",
]

FLOW_OP = "flow"
"""The op type of a flow's dead letter (it has a flow and stage, no table)."""

TimeLike = float | int | datetime.datetime
"""A point in time: seconds since the epoch, or a datetime (naive: local time)."""


class ReplayAnswer(enum.Enum):
    """What a host's replay may answer in place of the op's own result."""

    ALREADY_APPLIED = "already applied"
    """The op's owner had already applied it (an op whose outcome was unknown
    when it was given up, or a letter replayed before, recognized by its
    recorded outcome): it was not run again. A host that cannot tell never
    answers this."""


ALREADY_APPLIED = ReplayAnswer.ALREADY_APPLIED


@dataclass(frozen=True, slots=True)
class LetterFilter:
    """Which dead letters to take: each criterion given must hold (None: any).

    `table`, `op` and `error` are a table name, an op type (`"upsert"`, ...,
    `"flow"`) and an error class name (the last error's, as
    `letter.error["type"]`); `since` and `until` bound the letter's last
    failure, both inclusive, in seconds since the epoch.
    """

    table: str | None = None
    op: str | None = None
    error: str | None = None
    since: float | None = None
    until: float | None = None

    @classmethod
    def of(
        cls,
        *,
        table: str | None = None,
        op: str | OpType | None = None,
        error: str | type[BaseException] | None = None,
        since: TimeLike | None = None,
        until: TimeLike | None = None,
    ) -> LetterFilter:
        """Return the filter of these criteria.

        Raises:
            InvalidOptionError: for a criterion of the wrong kind, an op type
                that does not exist, a time that is not a finite number or a
                datetime, or `since` later than `until`.
        """
        start = _seconds("since", since)
        end = _seconds("until", until)
        if start is not None and end is not None and start > end:
            raise InvalidOptionError(
                f"since ({_show(start)}) is later than until ({_show(end)}); swap them"
            )
        return cls(
            table=None if table is None else _table_name(table),
            op=None if op is None else _op_name(op),
            error=None if error is None else _error_name(error),
            since=start,
            until=end,
        )

    @property
    def is_empty(self) -> bool:
        """Whether it takes every letter."""
        return self == LetterFilter()

    def matches(self, letter: DeadLetter) -> bool:
        """Return whether `letter` meets every criterion."""
        if self.table is not None and letter.table != self.table:
            return False
        if self.op is not None and letter.op_type != self.op:
            return False
        if self.error is not None and letter.error.get("type") != self.error:
            return False
        failed = letter.last_failed_at
        if self.since is not None and failed < self.since:
            return False
        return self.until is None or failed <= self.until


class ReplayReport(Mapping[int, BaseException | None]):
    """What `DeadLetterTable.replay()` did, letter by letter.

    As a mapping, each replayed letter's id gives None (it committed, or its
    owner answered it was already applied; either way the letter was
    removed) or the error its replay failed with (the letter stays), in the
    order the letters were taken. `replayed`, `failed_again` and
    `already_applied` count each kind.
    """

    __slots__ = ("_applied", "_outcomes")

    def __init__(
        self,
        outcomes: Mapping[int, BaseException | None],
        already_applied: Iterable[int] = (),
    ) -> None:
        self._outcomes = dict(outcomes)
        self._applied = frozenset(already_applied)

    def __getitem__(self, letter_id: int) -> BaseException | None:
        return self._outcomes[letter_id]

    def __iter__(self) -> Iterator[int]:
        return iter(self._outcomes)

    def __len__(self) -> int:
        return len(self._outcomes)

    @property
    def replayed(self) -> int:
        """How many letters ran again and committed (and were removed)."""
        return sum(
            1
            for letter_id, error in self._outcomes.items()
            if error is None and letter_id not in self._applied
        )

    @property
    def failed_again(self) -> int:
        """How many letters failed again (they stay)."""
        return len(self.errors)

    @property
    def already_applied(self) -> int:
        """How many letters' owners answered that the op was already applied
        (not run again; the letters were removed)."""
        return len(self._applied)

    @property
    def errors(self) -> dict[int, BaseException]:
        """The error of each letter that failed again, by id."""
        return {i: e for i, e in self._outcomes.items() if e is not None}

    def was_already_applied(self, letter_id: int) -> bool:
        """Return whether letter `letter_id`'s owner answered it was already applied."""
        return letter_id in self._applied

    def __repr__(self) -> str:
        return (
            f"<ReplayReport {self.replayed} replayed, {self.failed_again} failed "
            f"again, {self.already_applied} already applied>"
        )


@dataclass(frozen=True, slots=True)
class DeadLetterSummary:
    """How many dead letters there are, in all and by kind.

    `by_table` counts by table (a flow's letters as `flow:<name>`), `by_op`
    by op type, `by_error` by the last error's class name; each is sorted,
    most first. `oldest` and `newest` are the earliest and latest last
    failures (seconds since the epoch), None when there are no letters.
    """

    total: int = 0
    by_table: Mapping[str, int] = field(default_factory=dict)
    by_op: Mapping[str, int] = field(default_factory=dict)
    by_error: Mapping[str, int] = field(default_factory=dict)
    oldest: float | None = None
    newest: float | None = None

    @classmethod
    def of(cls, letters: Iterable[DeadLetter]) -> DeadLetterSummary:
        """Return the summary of `letters` (read once, in a single pass)."""
        tables: Counter[str] = Counter()
        ops: Counter[str] = Counter()
        errors: Counter[str] = Counter()
        oldest = newest = None
        total = 0
        for letter in letters:
            total += 1
            tables[letter.table or f"flow:{letter.flow}"] += 1
            ops[letter.op_type] += 1
            errors[letter.error.get("type") or "unknown"] += 1
            failed = letter.last_failed_at
            oldest = failed if oldest is None else min(oldest, failed)
            newest = failed if newest is None else max(newest, failed)
        return cls(
            total=total,
            by_table=_most_first(tables),
            by_op=_most_first(ops),
            by_error=_most_first(errors),
            oldest=oldest,
            newest=newest,
        )

    def to_json(self) -> dict[str, Any]:
        """Return the summary as a JSON-able dict."""
        return {
            "total": self.total,
            "by_table": dict(self.by_table),
            "by_op": dict(self.by_op),
            "by_error": dict(self.by_error),
            "oldest": self.oldest,
            "newest": self.newest,
        }


def _most_first(counts: Counter[str]) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def _table_name(table: object) -> str:
    if not isinstance(table, str) or not table:
        raise InvalidOptionError(f"table= takes a table name, not {table!r}")
    return table


def _op_name(op: object) -> str:
    if isinstance(op, OpType):
        return op.value
    known = [t.value for t in OpType] + [FLOW_OP]
    if not isinstance(op, str) or op.lower() not in known:
        raise InvalidOptionError(
            f"op= takes an op type ({', '.join(known)}), not {op!r}"
        )
    return op.lower()


def _error_name(error: object) -> str:
    if isinstance(error, type) and issubclass(error, BaseException):
        return error.__name__
    if not isinstance(error, str) or not error.isidentifier():
        raise InvalidOptionError(
            f"error= takes an error class name (such as 'StoreBusyError') or "
            f"class, not {error!r}"
        )
    return error


def _seconds(what: str, when: object) -> float | None:
    """Return `when` as seconds since the epoch (None stays None)."""
    if when is None:
        return None
    if isinstance(when, datetime.datetime):
        return when.timestamp()
    if isinstance(when, bool) or not isinstance(when, int | float):
        raise InvalidOptionError(
            f"{what}= takes seconds since the epoch or a datetime, not {when!r}"
        )
    if not math.isfinite(when):
        raise InvalidOptionError(f"{what}= must be finite, not {when!r}")
    return float(when)


def _show(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds).isoformat(sep=" ")
