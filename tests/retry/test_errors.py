"""Tests for retry/errors.py: what the errors say and carry."""

from __future__ import annotations

import pickle

import pytest

from actorstore.retry import (
    AttemptState,
    RetriesExhaustedError,
    RetryPolicy,
    UnknownDeadLetterError,
)
from actorstore.retry._dead_letters import give_up_error
from actorstore.storage import InvalidInputError, StoreBusyError, StoreError

from .fakes import sample_letter


def test_unknown_dead_letter_error_names_the_ids() -> None:
    error = UnknownDeadLetterError([7, 9])
    assert isinstance(error, InvalidInputError)
    assert isinstance(error, StoreError)
    assert error.ids == [7, 9]
    assert "7, 9" in str(error)


def test_retries_exhausted_error_keeps_the_last_error() -> None:
    last = StoreBusyError("busy")
    error = RetriesExhaustedError(attempts=3, last_error=last, table="t", key="k")
    assert error.last_error is last
    assert error.__cause__ is last
    assert error.attempts == 3
    assert (error.table, error.key) == ("t", "k")
    assert "gave up after 3 attempts" in str(error)
    assert "1 attempt:" in str(RetriesExhaustedError(attempts=1, last_error=last))


def test_retries_exhausted_error_without_a_letter_says_nothing_of_one() -> None:
    error = RetriesExhaustedError(attempts=2, last_error=StoreBusyError("busy"))
    assert str(error) == "gave up after 2 attempts: StoreBusyError: busy"
    assert error.dead_letter is None
    assert not error.written


def test_retries_exhausted_error_says_where_the_op_went() -> None:
    letter = sample_letter(key="norma")
    last = StoreBusyError("busy")
    written = RetriesExhaustedError(attempts=3, last_error=last, dead_letter=letter)
    assert written.written
    assert written.dead_letter is letter
    assert str(written).endswith(
        f"; the op was dead-lettered as letter {letter.id} (see store.dead_letters)"
    )
    lost = RetriesExhaustedError(
        attempts=3, last_error=last, dead_letter=letter, problem=OSError("full")
    )
    assert not lost.written
    assert lost.dead_letter is letter
    assert str(lost).endswith(
        "; the dead letter could not be written (OSError('full')), so the op is "
        "lost to the store: keep it from this error's .dead_letter "
        "(upsert on table 'docs' key 'norma')"
    )


@pytest.mark.parametrize(
    ("attempts", "allowed", "expected"),
    [
        (1, 10, "after 1 attempt of the 10 its policy allowed: "),
        (3, 10, "after 3 attempts of the 10 its policy allowed: "),
        (2, None, "after 2 attempts: "),
    ],
)
def test_a_cut_short_error_names_the_attempts_the_policy_allowed(
    attempts: int, allowed: int | None, expected: str
) -> None:
    error = RetriesExhaustedError(
        attempts=attempts,
        last_error=StoreBusyError("busy"),
        allowed=allowed,
        cut_short=True,
    )
    assert str(error) == (
        f"its pending retry was cut short by close() {expected}StoreBusyError: busy"
    )


@pytest.mark.parametrize(
    ("error", "fields"),
    [
        (
            RetriesExhaustedError(
                attempts=3, last_error=StoreBusyError("busy"), table="t", key="k"
            ),
            ("table", "key", "attempts", "written"),
        ),
        (UnknownDeadLetterError([7, 9]), ("ids",)),
    ],
    ids=["RetriesExhaustedError", "UnknownDeadLetterError"],
)
def test_the_errors_pickle_with_their_message_and_fields(
    error: StoreError, fields: tuple[str, ...]
) -> None:
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error)
    assert str(again) == str(error)
    for name in fields:
        assert getattr(again, name) == getattr(error, name), name


def test_each_op_given_up_on_gets_its_own_copy_of_a_shared_error() -> None:
    # A group that fails as a whole hands every op the same error object.
    shared = StoreClosedErrorLike("the group failed")
    letters, errors = [], []
    for key in ("a", "b"):
        state = AttemptState()
        state.failed(shared)
        letter = sample_letter(key=key)
        letters.append(letter)
        errors.append(give_up_error(state, letter, None, RetryPolicy()))

    first, second = errors
    # The first op gets the error itself; the next a copy of its own.
    assert first is shared and second is not shared
    assert type(second) is StoreClosedErrorLike and str(second) == str(shared)
    assert first.dead_letter is letters[0]  # type: ignore[attr-defined]
    assert second.dead_letter is letters[1]  # type: ignore[attr-defined]
    assert first.__notes__ == [
        f"dead-lettered as letter {letters[0].id} (see store.dead_letters)"
    ]
    assert second.__notes__ == [
        f"dead-lettered as letter {letters[1].id} (see store.dead_letters)"
    ]


class StoreClosedErrorLike(Exception):
    """A permanent error that is not retried (so it is annotated, not wrapped)."""
