"""Tests for retry/state.py: AttemptState, what every strategy and record reads."""

from __future__ import annotations

import time

from actorstore.retry import AttemptState
from actorstore.storage import KeyExistsError, StoreBusyError


def test_a_new_state_has_no_attempts_and_no_failure() -> None:
    before = time.monotonic()
    state = AttemptState()
    assert before <= state.started_at <= time.monotonic()
    assert state.attempts == 0
    assert (state.first_failed_at, state.last_failed_at, state.last_error) == (
        None,
        None,
        None,
    )


def test_failed_counts_the_attempt_and_records_when_and_why() -> None:
    state = AttemptState()
    first, last = StoreBusyError("first"), KeyExistsError(table="t", key="k")
    before = time.time()
    state.failed(first)
    after = time.time()
    assert (state.attempts, state.last_error) == (1, first)
    first_at, last_at = state.first_failed_at, state.last_failed_at
    assert first_at is not None
    assert before <= first_at <= after
    assert last_at == first_at
    state.failed(last)
    assert (state.attempts, state.last_error) == (2, last)
    assert state.first_failed_at == first_at
    assert state.last_failed_at is not None
    assert state.last_failed_at >= after


def test_succeeded_counts_the_attempt_and_keeps_the_failures() -> None:
    state = AttemptState()
    error = StoreBusyError("busy")
    state.failed(error)
    failed_at = state.last_failed_at
    state.succeeded()
    assert state.attempts == 2
    assert state.last_error is error
    assert state.last_failed_at == failed_at


def test_elapsed_counts_from_started_at_and_is_never_negative() -> None:
    assert AttemptState(started_at=time.monotonic() - 10).elapsed >= 10
    assert AttemptState(started_at=time.monotonic() + 100).elapsed == 0.0


def test_a_state_can_carry_an_earlier_first_failure() -> None:
    # A flow's later stage starts a fresh state from the run's first failure.
    state = AttemptState(first_failed_at=123.0)
    state.failed(StoreBusyError("busy"))
    assert state.first_failed_at == 123.0
    assert state.attempts == 1
