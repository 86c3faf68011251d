"""Tests for retry/_triage.py: letter filters, replay reports, summaries."""

from __future__ import annotations

import datetime

import pytest

from actorstore.retry import DeadLetterSummary, ReplayReport
from actorstore.retry._triage import ALREADY_APPLIED, LetterFilter, ReplayAnswer
from actorstore.storage import InvalidOptionError, OpType, StoreBusyError

from .fakes import sample_letter


def test_a_filter_of_nothing_takes_every_letter() -> None:
    chosen = LetterFilter.of()
    assert chosen.is_empty
    assert chosen.matches(sample_letter())


def test_criteria_become_names() -> None:
    chosen = LetterFilter.of(table="a", op=OpType.UPSERT, error=StoreBusyError)
    assert (chosen.table, chosen.op, chosen.error) == ("a", "upsert", "StoreBusyError")
    assert LetterFilter.of(op="Insert").op == "insert"
    assert not chosen.is_empty


def test_since_and_until_are_inclusive() -> None:
    letter = sample_letter(last_failed_at=100.0)
    assert LetterFilter.of(since=100, until=100).matches(letter)
    assert not LetterFilter.of(since=100.001).matches(letter)
    assert not LetterFilter.of(until=99.999).matches(letter)


def test_datetimes_are_points_in_time_naive_ones_local() -> None:
    aware = datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    assert LetterFilter.of(since=aware).since == aware.timestamp()
    naive = datetime.datetime(2024, 1, 2, 3, 4, 5)
    assert LetterFilter.of(until=naive).until == naive.timestamp()


@pytest.mark.parametrize(
    "criteria",
    [
        {"table": ""},
        {"table": ("a", "b")},
        {"op": 5},
        {"op": ["upsert"]},
        {"error": 3.5},
        {"error": int},
        {"since": True},
        {"until": float("inf")},
    ],
)
def test_criteria_of_the_wrong_kind_are_refused(criteria: dict[str, object]) -> None:
    with pytest.raises(InvalidOptionError):
        LetterFilter.of(**criteria)  # type: ignore[arg-type]


def test_a_replay_report_is_a_mapping_with_counts() -> None:
    error = StoreBusyError("busy")
    report = ReplayReport({1: None, 2: error, 3: None}, already_applied=[3])
    assert report == {1: None, 2: error, 3: None}
    assert (report.replayed, report.failed_again, report.already_applied) == (1, 1, 1)
    assert report.errors == {2: error}
    assert report.was_already_applied(3) and not report.was_already_applied(1)
    assert not ReplayReport({})
    assert ALREADY_APPLIED is ReplayAnswer.ALREADY_APPLIED


def test_a_summary_of_no_letters_is_empty() -> None:
    assert DeadLetterSummary.of([]) == DeadLetterSummary()
    assert DeadLetterSummary().to_json() == {
        "total": 0,
        "by_table": {},
        "by_op": {},
        "by_error": {},
        "oldest": None,
        "newest": None,
    }
