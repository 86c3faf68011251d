"""Tests for retry/_dead_letters.py: park, the final error, list, replay, purge."""

from __future__ import annotations

import datetime
import logging
import time
from typing import Any

import pytest
import tenacity

from actorstore.retry import (
    DeadLetter,
    DeadLetterSummary,
    DeadLetterTable,
    ReplayReport,
    RetriesExhaustedError,
    RetryPolicy,
    UnknownDeadLetterError,
)
from actorstore.retry._dead_letters import give_up_error, park_then
from actorstore.retry._triage import ALREADY_APPLIED
from actorstore.storage import (
    InvalidOptionError,
    KeyExistsError,
    NotFoundError,
    OpType,
    StoreBusyError,
    StoreClosedError,
    StoreFullError,
)

from .fakes import (
    WAIT,
    FakeFuture,
    FakeHost,
    busy,
    failed_state,
    sample_letter,
)


@pytest.fixture
def dead_letters(host: FakeHost) -> DeadLetterTable:
    """Return the dead letters of the fake host."""
    return DeadLetterTable(host)


# -- park_then --------------------------------------------------------------------


def test_park_then_reports_none_once_the_letter_is_written(host: FakeHost) -> None:
    letter = sample_letter()
    ended: list[tuple[BaseException | None, str | None]] = []
    park_then(host.park, letter, lambda *args: ended.append(args))
    assert ended == [(None, None)]
    assert host.letters == {letter.id: letter.to_json()}


def test_park_then_passes_on_what_kept_the_letter() -> None:
    ended: list[tuple[BaseException | None, str | None]] = []
    park_then(
        lambda letter: FakeFuture.of("the dead-letter hook"),
        sample_letter(),
        lambda *args: ended.append(args),
    )
    assert ended == [(None, "the dead-letter hook")]


def test_park_then_waits_for_the_write_to_end() -> None:
    pending = FakeFuture()
    ended: list[tuple[BaseException | None, str | None]] = []
    park_then(lambda letter: pending, sample_letter(), lambda *a: ended.append(a))
    assert ended == []
    pending.set_result(None)
    assert ended == [(None, None)]


@pytest.mark.parametrize(
    "raises", [False, True], ids=["the-write-fails", "park-raises"]
)
@pytest.mark.parametrize(
    "problem", [OSError("disk full"), KeyboardInterrupt()], ids=repr
)
def test_park_then_reports_why_the_letter_was_not_written(
    caplog: pytest.LogCaptureFixture, raises: bool, problem: BaseException
) -> None:
    letter = sample_letter()

    def park(letter: DeadLetter) -> FakeFuture:
        if raises:
            raise problem
        return FakeFuture.failed(problem)

    ended: list[tuple[BaseException | None, str | None]] = []
    with caplog.at_level(logging.ERROR, logger="actorstore.retry._dead_letters"):
        park_then(park, letter, lambda *args: ended.append(args))
    assert ended == [(problem, None)]
    assert f"dead letter {letter.id} not written" in caplog.text


# -- give_up_error: the error the caller gets ---------------------------------------


def test_a_retryable_error_becomes_retries_exhausted_carrying_the_letter() -> None:
    last = busy()
    state = failed_state(busy(), busy(), last)
    letter = sample_letter()
    error = give_up_error(state, letter, None, RetryPolicy(), table="docs", key="k")
    assert isinstance(error, RetriesExhaustedError)
    assert (error.attempts, error.last_error, error.__cause__) == (3, last, last)
    assert (error.table, error.key) == ("docs", "k")
    assert error.dead_letter is letter
    assert error.written
    assert str(error) == (
        "gave up after 3 attempts: StoreBusyError: the store is busy; the op was "
        f"dead-lettered as letter {letter.id} (see store.dead_letters)"
    )


def test_one_attempt_is_singular() -> None:
    error = give_up_error(failed_state(busy()), sample_letter(), None, RetryPolicy())
    assert str(error).startswith("gave up after 1 attempt: StoreBusyError")


def test_a_letter_not_written_says_the_op_is_lost_and_carries_it() -> None:
    letter = sample_letter(key="norma")
    problem = OSError("disk full")
    error = give_up_error(failed_state(busy()), letter, problem, RetryPolicy())
    assert isinstance(error, RetriesExhaustedError)
    assert error.dead_letter is letter
    assert not error.written
    assert str(error) == (
        "gave up after 1 attempt: StoreBusyError: the store is busy; the dead "
        "letter could not be written (OSError('disk full')), so the op is lost "
        "to the store: keep it from this error's .dead_letter "
        "(upsert on table 'docs' key 'norma')"
    )


def test_cut_short_names_the_attempts_the_policy_allowed() -> None:
    error = give_up_error(
        failed_state(busy()),
        sample_letter(),
        None,
        RetryPolicy(max_attempts=7),
        cut_short=True,
    )
    assert isinstance(error, RetriesExhaustedError)
    assert str(error).startswith(
        "its pending retry was cut short by close() after 1 attempt of the 7 its "
        "policy allowed: StoreBusyError: the store is busy; the op was dead-lettered"
    )


def test_cut_short_under_a_raw_stop_names_no_allowance() -> None:
    policy = RetryPolicy(stop=tenacity.stop_after_delay(60))
    error = give_up_error(
        failed_state(busy(), busy()), sample_letter(), None, policy, cut_short=True
    )
    assert str(error).startswith(
        "its pending retry was cut short by close() after 2 attempts: StoreBusyError"
    )


def test_cut_short_makes_even_a_permanent_error_retries_exhausted() -> None:
    last = KeyExistsError(table="docs", key="k")
    error = give_up_error(
        failed_state(last), sample_letter(), None, RetryPolicy(), cut_short=True
    )
    assert isinstance(error, RetriesExhaustedError)
    assert error.last_error is last


def test_a_permanent_error_stays_itself_with_a_note_and_the_letter() -> None:
    last = KeyExistsError(table="docs", key="k")
    letter = sample_letter()
    error = give_up_error(failed_state(last), letter, None, RetryPolicy())
    assert error is last
    assert error.dead_letter is letter  # type: ignore[attr-defined]
    assert error.__notes__ == [
        f"dead-lettered as letter {letter.id} (see store.dead_letters)"
    ]


def test_a_shared_user_error_is_copied_without_running_its_init() -> None:
    class Bad(Exception):
        made = 0

        def __init__(self, n: int) -> None:
            Bad.made += 1
            super().__init__(f"bad {n}")

    try:
        try:
            raise OSError("under it")
        except OSError as cause:
            raise Bad(3) from cause
    except Bad as raised:
        shared = raised
    shared.add_note("the user's own note")
    shared.extra = "kept"  # type: ignore[attr-defined]
    first, second = sample_letter(key="a"), sample_letter(key="b")
    give_up_error(failed_state(shared), first, None, RetryPolicy())
    other = give_up_error(failed_state(shared), second, None, RetryPolicy())

    assert Bad.made == 1
    assert type(other) is Bad and str(other) == "bad 3"
    assert other.extra == "kept"  # type: ignore[attr-defined]
    assert other.__cause__ is shared.__cause__ and other.__suppress_context__
    assert other.__traceback__ is shared.__traceback__
    assert other.__notes__ == [
        "the user's own note",
        f"dead-lettered as letter {second.id} (see store.dead_letters)",
    ]
    assert shared.__notes__ == [
        "the user's own note",
        f"dead-lettered as letter {first.id} (see store.dead_letters)",
    ]


def test_a_copy_keeps_a_context_that_was_not_suppressed() -> None:
    shared = ValueError("stage failed")
    shared.__context__ = LookupError("the policy's own bug")
    policy = RetryPolicy(retry_on=lambda error: False)
    give_up_error(failed_state(shared), sample_letter(), None, policy)
    other = give_up_error(failed_state(shared), sample_letter(), None, policy)
    assert other is not shared
    assert other.__context__ is shared.__context__
    assert not other.__suppress_context__


def test_a_letter_kept_elsewhere_says_where() -> None:
    letter = sample_letter()
    exhausted = give_up_error(
        failed_state(busy()), letter, None, RetryPolicy(), where="the dead-letter hook"
    )
    assert str(exhausted).endswith(
        f"dead-lettered as letter {letter.id} (kept by the dead-letter hook)"
    )
    last = KeyExistsError(table="docs", key="k")
    permanent = give_up_error(
        failed_state(last), letter, None, RetryPolicy(), where="the dead-letter hook"
    )
    assert permanent.__notes__ == [
        f"dead-lettered as letter {letter.id} (kept by the dead-letter hook)"
    ]


def test_a_permanent_error_whose_letter_was_not_written_says_so() -> None:
    last = NotFoundError(table="docs", key="k", op="update")
    letter = sample_letter(op_type="update")
    error = give_up_error(failed_state(last), letter, OSError("gone"), RetryPolicy())
    assert error is last
    assert error.__notes__ == [
        "the dead letter could not be written (OSError('gone')), so the op is lost "
        "to the store: keep it from this error's .dead_letter "
        "(update on table 'docs' key 'k')"
    ]


def test_a_raising_retry_on_counts_the_error_as_permanent() -> None:
    def broken(error: BaseException) -> bool:
        raise LookupError("predicate bug")

    last = busy()
    error = give_up_error(
        failed_state(last), sample_letter(), None, RetryPolicy(retry_on=broken)
    )
    assert error is last


def test_an_error_that_refuses_attributes_still_gets_its_note() -> None:
    class Sealed(Exception):
        def __setattr__(self, name: str, value: Any) -> None:
            if name == "dead_letter":
                raise AttributeError(name)
            super().__setattr__(name, value)

    last = Sealed("sealed")
    error = give_up_error(failed_state(last), sample_letter(), None, RetryPolicy())
    assert error is last
    assert not hasattr(error, "dead_letter")
    assert "dead-lettered as letter" in error.__notes__[0]


# -- DeadLetterTable over the host ---------------------------------------------------


def test_no_letters_list_empty(dead_letters: DeadLetterTable) -> None:
    assert dead_letters.list(WAIT) == []
    assert len(dead_letters) == 0


def test_list_returns_the_letters_oldest_first(
    dead_letters: DeadLetterTable, host: FakeHost
) -> None:
    ids = host.add_letters(3)
    letters = dead_letters.list(WAIT)
    assert [letter.id for letter in letters] == ids
    assert [letter.key for letter in letters] == ["k0", "k1", "k2"]
    assert all(isinstance(letter, DeadLetter) for letter in letters)
    assert len(dead_letters) == 3


@pytest.mark.parametrize("count", [7, 6, 3, 2])
def test_iter_reads_one_page_at_a_time(
    dead_letters: DeadLetterTable, host: FakeHost, count: int
) -> None:
    dead_letters.page_size = 3
    ids = host.add_letters(count)
    assert [letter.id for letter in dead_letters.iter(WAIT)] == ids
    scans = [options for op, _, _, options in host.submitted if op == "scan"]
    # A full page asks for the next one, from just past its last id.
    pages = [ids[n : n + 3] for n in range(0, count, 3)]
    if count % 3 == 0:
        pages.append([])
    assert scans == [
        {"start": None if n == 0 else pages[n - 1][-1] + 1, "limit": 3}
        for n in range(len(pages))
    ]


def test_iter_reads_the_next_page_only_when_it_is_reached(
    dead_letters: DeadLetterTable, host: FakeHost
) -> None:
    dead_letters.page_size = 2
    ids = host.add_letters(5)
    letters = dead_letters.iter(WAIT)
    assert next(letters).id == ids[0]
    assert next(letters).id == ids[1]
    assert [op for op, *_ in host.submitted] == ["scan"]
    assert next(letters).id == ids[2]
    assert [op for op, *_ in host.submitted] == ["scan", "scan"]


def test_get_returns_one_letter_or_raises_for_an_unknown_id(
    dead_letters: DeadLetterTable, host: FakeHost
) -> None:
    _, second = host.add_letters(2)
    assert dead_letters.get(second, WAIT).key == "k1"
    with pytest.raises(UnknownDeadLetterError, match="12345") as caught:
        dead_letters.get(12345, WAIT)
    assert caught.value.ids == [12345]


def test_add_writes_the_letters_json_to_the_table(
    dead_letters: DeadLetterTable, host: FakeHost
) -> None:
    letter = sample_letter(batch=[("upsert", b"a", b"1"), ("remove", b"b", None)])
    assert dead_letters.add(letter).get(WAIT) is None
    assert dead_letters.list(WAIT) == [letter]
    assert host.parked == []


def test_park_hands_the_letter_to_the_hosts_park(
    dead_letters: DeadLetterTable, host: FakeHost
) -> None:
    letter = sample_letter()
    assert dead_letters.park(letter).get(WAIT) is None
    assert host.parked == [letter]
    assert dead_letters.list(WAIT) == [letter]
    host.park_error = OSError("disk full")
    failed = dead_letters.park(sample_letter())
    assert isinstance(failed.exception(WAIT), OSError)


def test_purge_removes_the_given_letters_or_all(
    dead_letters: DeadLetterTable, host: FakeHost
) -> None:
    a, b, c = host.add_letters(3)
    assert dead_letters.purge([b], WAIT) == 1
    assert [letter.id for letter in dead_letters.list(WAIT)] == [a, c]
    assert dead_letters.purge(timeout=WAIT) == 2
    assert dead_letters.list(WAIT) == []
    batches = [value for op, _, value, _ in host.submitted if op == "batch"]
    assert batches == [[("remove", b)], [("remove", a), ("remove", c)]]


def test_purge_of_nothing_writes_nothing(
    dead_letters: DeadLetterTable, host: FakeHost
) -> None:
    assert dead_letters.purge(timeout=WAIT) == 0
    assert dead_letters.purge([], WAIT) == 0
    assert [op for op, *_ in host.submitted] == ["scan", "scan"]


def test_purge_with_an_unknown_id_changes_nothing(
    dead_letters: DeadLetterTable, host: FakeHost
) -> None:
    a, b = host.add_letters(2)
    with pytest.raises(UnknownDeadLetterError) as caught:
        dead_letters.purge([a, 999, 998, b], WAIT)
    assert caught.value.ids == [999, 998]
    assert list(host.letters) == [a, b]
    assert "batch" not in [op for op, *_ in host.submitted]


def test_purge_of_a_repeated_id_removes_it_once(
    dead_letters: DeadLetterTable, host: FakeHost
) -> None:
    a, b = host.add_letters(2)
    assert dead_letters.purge([a, a], WAIT) == 1
    assert list(host.letters) == [b]


def test_replay_runs_each_letter_and_removes_it(
    dead_letters: DeadLetterTable, host: FakeHost
) -> None:
    a, b, c = host.add_letters(3)
    assert dead_letters.replay([c, a], WAIT) == {c: None, a: None}
    assert [letter.id for letter in host.replayed] == [c, a]
    assert list(host.letters) == [b]
    assert dead_letters.replay(timeout=WAIT) == {b: None}
    assert host.letters == {}


def test_replay_with_an_unknown_id_runs_nothing(
    dead_letters: DeadLetterTable, host: FakeHost
) -> None:
    (a,) = host.add_letters(1)
    with pytest.raises(UnknownDeadLetterError) as caught:
        dead_letters.replay([a, 999], WAIT)
    assert caught.value.ids == [999]
    assert host.replayed == []
    assert list(host.letters) == [a]


def test_replay_reports_each_failure_and_keeps_those_letters(
    dead_letters: DeadLetterTable, host: FakeHost
) -> None:
    replayed, failing, flow_letter, unremoved = host.add_letters(4)
    # A flow's letter cannot be replayed: the host refuses it at once.
    host.letters[flow_letter] = sample_letter(
        id=flow_letter, flow="bump", stage="bump2Compose"
    ).to_json()
    exists = KeyExistsError(table="docs", key="k1")
    host.replay_errors[failing] = exists
    # Its op ran again, but its letter could not be removed (a full disk).
    full = StoreFullError(table="__dead_letters__", max_map_size=1)
    host.remove_errors[unremoved] = full
    outcomes = dead_letters.replay(timeout=WAIT)
    assert list(outcomes) == [flow_letter, replayed, failing, unremoved]
    assert outcomes[replayed] is None
    assert outcomes[failing] is exists
    assert isinstance(outcomes[flow_letter], InvalidOptionError)
    assert "cannot be replayed" in str(outcomes[flow_letter])
    assert outcomes[unremoved] is full
    assert [letter.id for letter in host.replayed] == [replayed, failing, unremoved]
    assert sorted(host.letters) == sorted([failing, flow_letter, unremoved])


def test_replay_of_a_repeated_id_runs_it_once(
    dead_letters: DeadLetterTable, host: FakeHost
) -> None:
    (a,) = host.add_letters(1)
    assert dead_letters.replay([a, a], WAIT) == {a: None}
    assert [letter.id for letter in host.replayed] == [a]


def test_a_failed_read_reaches_the_caller(
    dead_letters: DeadLetterTable, host: FakeHost
) -> None:
    dead_letters.page_size = 2
    host.add_letters(3)
    host.fail_next["scan"] = [StoreBusyError("busy"), StoreBusyError("busy")]
    with pytest.raises(StoreBusyError):
        dead_letters.list(WAIT)
    with pytest.raises(StoreBusyError):
        dead_letters.replay(timeout=WAIT)
    assert host.replayed == []
    assert len(host.letters) == 3


def test_parking_a_letter_twice_fails_the_second_write(
    dead_letters: DeadLetterTable, host: FakeHost
) -> None:
    letter = sample_letter()
    assert dead_letters.park(letter).exception(WAIT) is None
    assert isinstance(dead_letters.park(letter).exception(WAIT), KeyExistsError)
    assert dead_letters.list(WAIT) == [letter]


def test_a_record_that_is_not_a_letter_is_skipped_not_fatal(
    host: FakeHost, caplog: pytest.LogCaptureFixture
) -> None:
    letters = DeadLetterTable(host)
    good = sample_letter()
    letters.add(good).get(WAIT)
    host.submit("insert", good.id - 1, {"not": "a letter"}).get(WAIT)

    assert [letter.id for letter in letters.list(WAIT)] == [good.id]
    assert "is not a dead letter; skipped" in caplog.text


# -- triage: filters, summary, replay's report and rate ---------------------------


def _triage_letters(host: FakeHost) -> dict[str, int]:
    """Write five letters of different tables, ops, errors and times; return
    their ids by name."""
    letters = {
        "docs_busy": sample_letter(table="docs", last_failed_at=100.0),
        "docs_exists": sample_letter(
            table="docs",
            op_type="insert",
            error={"type": "KeyExistsError", "message": "exists"},
            last_failed_at=200.0,
        ),
        "users_busy": sample_letter(table="users", last_failed_at=300.0),
        "users_remove": sample_letter(
            table="users",
            op_type="remove",
            error={"type": "NotFoundError", "message": "gone"},
            last_failed_at=400.0,
        ),
        "flow": sample_letter(
            table="",
            op_type="flow",
            flow="bump",
            stage="bump2Compose",
            error={"type": "ValueError", "message": "bad"},
            last_failed_at=500.0,
        ),
    }
    for letter in letters.values():
        host.letters[letter.id] = letter.to_json()
    return {name: letter.id for name, letter in letters.items()}


@pytest.mark.parametrize(
    ("filters", "names"),
    [
        ({"table": "docs"}, ["docs_busy", "docs_exists"]),
        ({"table": "users", "op": "upsert"}, ["users_busy"]),
        ({"op": OpType.REMOVE}, ["users_remove"]),
        ({"op": "flow"}, ["flow"]),
        ({"error": "StoreBusyError"}, ["docs_busy", "users_busy"]),
        ({"error": KeyExistsError}, ["docs_exists"]),
        ({"since": 200.0}, ["docs_exists", "users_busy", "users_remove", "flow"]),
        ({"until": 200.0}, ["docs_busy", "docs_exists"]),
        ({"since": 250, "until": 400}, ["users_busy", "users_remove"]),
        (
            {"since": datetime.datetime.fromtimestamp(450.0)},
            ["flow"],
        ),
        ({"table": "docs", "error": "NotFoundError"}, []),
        ({}, ["docs_busy", "docs_exists", "users_busy", "users_remove", "flow"]),
    ],
)
def test_list_and_iter_take_filters(
    dead_letters: DeadLetterTable,
    host: FakeHost,
    filters: dict[str, Any],
    names: list[str],
) -> None:
    ids = _triage_letters(host)
    wanted = [ids[name] for name in names]
    assert [letter.id for letter in dead_letters.list(WAIT, **filters)] == wanted
    assert [letter.id for letter in dead_letters.iter(WAIT, **filters)] == wanted


def test_ids_and_filters_together_take_the_given_letters_that_match(
    dead_letters: DeadLetterTable, host: FakeHost
) -> None:
    ids = _triage_letters(host)
    chosen = [ids["users_busy"], ids["docs_busy"], ids["docs_exists"]]
    letters = dead_letters.list(WAIT, ids=chosen, error="StoreBusyError")
    assert [letter.id for letter in letters] == [ids["users_busy"], ids["docs_busy"]]
    with pytest.raises(UnknownDeadLetterError):
        dead_letters.list(WAIT, ids=[ids["flow"], 12345], op="flow")


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"table": 3}, "table= takes a table name"),
        ({"table": ["docs"]}, "table= takes a table name"),
        ({"op": "upsret"}, "op= takes an op type"),
        ({"error": "no such class!"}, "error= takes an error class name"),
        ({"since": "yesterday"}, "since= takes seconds since the epoch"),
        ({"until": float("nan")}, "until= must be finite"),
        ({"since": 5.0, "until": 1.0}, "later than until"),
    ],
)
def test_bad_filters_are_refused_before_anything_is_read(
    dead_letters: DeadLetterTable, host: FakeHost, filters: dict[str, Any], message: str
) -> None:
    _triage_letters(host)
    for call in (
        dead_letters.list,
        dead_letters.iter,
        dead_letters.purge,
        dead_letters.replay,
        dead_letters.summary,
    ):
        with pytest.raises(InvalidOptionError, match=message):
            call(timeout=WAIT, **filters)
    assert host.submitted == []
    assert len(host.letters) == 5


def test_purge_takes_filters_and_removes_a_page_per_transaction(
    dead_letters: DeadLetterTable, host: FakeHost
) -> None:
    ids = _triage_letters(host)
    assert dead_letters.purge(timeout=WAIT, table="users") == 2
    assert sorted(host.letters) == sorted(
        [ids["docs_busy"], ids["docs_exists"], ids["flow"]]
    )
    dead_letters.page_size = 2
    host.add_letters(3)
    host.submitted.clear()
    assert dead_letters.purge(timeout=WAIT, op="upsert") == 4
    batches = [value for op, _, value, _ in host.submitted if op == "batch"]
    assert [len(batch) for batch in batches] == [2, 2]
    assert sorted(host.letters) == sorted([ids["docs_exists"], ids["flow"]])


def test_replay_takes_filters_and_reports_each_kind(
    dead_letters: DeadLetterTable, host: FakeHost
) -> None:
    ids = _triage_letters(host)
    host.replay_errors[ids["users_busy"]] = busy()
    host.replay_answers[ids["docs_busy"]] = ALREADY_APPLIED
    report = dead_letters.replay(timeout=WAIT, error="StoreBusyError")
    assert isinstance(report, ReplayReport)
    assert list(report) == [ids["docs_busy"], ids["users_busy"]]
    assert (report.replayed, report.failed_again, report.already_applied) == (0, 1, 1)
    assert report.was_already_applied(ids["docs_busy"])
    assert report[ids["docs_busy"]] is None
    assert isinstance(report.errors[ids["users_busy"]], StoreBusyError)
    assert "0 replayed, 1 failed again, 1 already applied" in repr(report)
    assert ids["docs_busy"] not in host.letters  # already applied: removed
    assert ids["users_busy"] in host.letters  # failed again: kept
    report = dead_letters.replay(timeout=WAIT, table="docs")
    assert (report.replayed, report.failed_again, report.already_applied) == (1, 0, 0)


def test_replay_per_second_spaces_the_replays_on_the_host_s_timer(
    dead_letters: DeadLetterTable, host: FakeHost
) -> None:
    ids = host.add_letters(5)
    began = time.monotonic()
    report = dead_letters.replay(timeout=WAIT, per_second=50)
    took = time.monotonic() - began
    assert list(report) == ids and report.replayed == 5
    # The first starts at once; each next one 1/50 s after the one before.
    assert len(host.delays) == 4
    assert all(0 < delay <= 0.021 * n for n, delay in enumerate(host.delays, 1))
    assert took >= 4 / 50 * 0.9


def test_replay_per_second_at_close_replays_the_rest_at_once_and_they_fail(
    dead_letters: DeadLetterTable, host: FakeHost
) -> None:
    ids = host.add_letters(3)
    original = host.replay

    def replay_then_close(letter: DeadLetter) -> Any:
        future = original(letter)
        if letter.id == ids[0]:
            host.close()  # what is scheduled from now on runs its on_close
        if host.closed and letter.id != ids[0]:
            return FakeFuture.failed(StoreClosedError("store"))
        return future

    host.replay = replay_then_close  # type: ignore[method-assign]
    report = dead_letters.replay(timeout=WAIT, per_second=0.01)  # 100 s apart
    assert report[ids[0]] is None
    assert isinstance(report[ids[1]], StoreClosedError)
    assert isinstance(report[ids[2]], StoreClosedError)


@pytest.mark.parametrize("rate", [0, -1, float("inf"), True, "fast"])
def test_a_bad_rate_is_refused(dead_letters: DeadLetterTable, rate: Any) -> None:
    with pytest.raises(InvalidOptionError, match="per_second"):
        dead_letters.replay(timeout=WAIT, per_second=rate)


def test_summary_counts_by_table_op_and_error(
    dead_letters: DeadLetterTable, host: FakeHost
) -> None:
    _triage_letters(host)
    summary = dead_letters.summary(WAIT)
    assert isinstance(summary, DeadLetterSummary)
    assert summary.total == 5
    assert summary.by_table == {"docs": 2, "users": 2, "flow:bump": 1}
    assert list(summary.by_table) == ["docs", "users", "flow:bump"]
    assert summary.by_op == {"upsert": 2, "flow": 1, "insert": 1, "remove": 1}
    assert summary.by_error == {
        "StoreBusyError": 2,
        "KeyExistsError": 1,
        "NotFoundError": 1,
        "ValueError": 1,
    }
    assert (summary.oldest, summary.newest) == (100.0, 500.0)
    narrowed = dead_letters.summary(WAIT, since=250)
    assert narrowed.total == 3 and narrowed.by_table == {"users": 2, "flow:bump": 1}
    assert dead_letters.summary(WAIT, table="nothing") == DeadLetterSummary()
    assert summary.to_json()["by_error"]["StoreBusyError"] == 2
