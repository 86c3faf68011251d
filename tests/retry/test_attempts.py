"""Tests for retry/_attempts.py: which attempt a retry handler is handling."""

from __future__ import annotations

import threading

import pytest

from actorstore.retry import RetryAttempt, RetryCallback, RetryPolicy, current_attempt
from actorstore.retry._attempts import handling
from actorstore.storage import StoreBusyError

from .fakes import FakeAttempt

WAIT = 5.0


def test_current_attempt_outside_a_handler_raises_runtime_error() -> None:
    with pytest.raises(RuntimeError, match=r"RetryCallback\.attempt"):
        current_attempt()


def test_retry_callback_attempt_outside_a_handler_raises_runtime_error() -> None:
    with pytest.raises(RuntimeError, match="only available while the store calls"):
        _ = RetryCallback().attempt


def test_handling_makes_the_attempt_current_for_the_block_only() -> None:
    attempt = FakeAttempt()
    with handling(attempt) as current:
        assert current is attempt
        assert current_attempt() is attempt
    with pytest.raises(RuntimeError):
        current_attempt()


def test_handling_nests_and_restores_the_outer_attempt() -> None:
    outer, inner = FakeAttempt(attempts=1), FakeAttempt(attempts=2)
    with handling(outer):
        with handling(inner):
            assert current_attempt() is inner
        assert current_attempt() is outer


def test_handling_restores_even_when_the_block_raises() -> None:
    with pytest.raises(ValueError, match="inside"), handling(FakeAttempt()):
        raise ValueError("inside")
    with pytest.raises(RuntimeError):
        current_attempt()


def test_the_current_attempt_belongs_to_its_thread() -> None:
    seen: list[BaseException | RetryAttempt] = []
    with handling(FakeAttempt()):

        def look() -> None:
            try:
                seen.append(current_attempt())
            except RuntimeError as exc:
                seen.append(exc)

        thread = threading.Thread(target=look)
        thread.start()
        thread.join(WAIT)
    assert len(seen) == 1
    assert isinstance(seen[0], RuntimeError)


def test_a_fake_attempt_satisfies_the_protocol_for_the_handler() -> None:
    attempt = FakeAttempt(attempts=1, policy=RetryPolicy(initial_wait=0.25))
    handler = RetryCallback()
    with handling(attempt):
        handler.exception(StoreBusyError("busy"))
    assert attempt.calls == [("schedule", 0.25)]
