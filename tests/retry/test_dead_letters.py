"""Tests for retry/_dead_letters.py: park, the final error, list, replay, purge."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import tenacity

from actorstore.retry import (
    DeadLetter,
    DeadLetterTable,
    RetriesExhaustedError,
    RetryPolicy,
    UnknownDeadLetterError,
)
from actorstore.retry._dead_letters import give_up_error, park_then
from actorstore.storage import (
    InvalidOptionError,
    KeyExistsError,
    NotFoundError,
    StoreBusyError,
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
