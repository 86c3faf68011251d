"""Tests for retry/_callbacks.py: the callback styles and RetryCallback's decisions."""

from __future__ import annotations

from typing import Any

import pytest
import tenacity

from actorstore.retry import AsyncCallback, Callback, RetryCallback, RetryPolicy
from actorstore.retry._attempts import handling
from actorstore.retry._callbacks import FunctionCallback, as_callback
from actorstore.storage import (
    InvalidOptionError,
    KeyExistsError,
    NotFoundError,
)

from .fakes import FakeAttempt, busy

# -- Callback, FunctionCallback, as_callback ------------------------------------


def test_callback_defaults_do_nothing() -> None:
    callback = Callback()
    assert callback.callback(42) is None
    callback.exception(busy())


def test_function_callback_passes_error_or_result() -> None:
    calls: list[tuple[BaseException | None, Any]] = []
    callback = FunctionCallback(lambda error, result: calls.append((error, result)))
    error = busy()
    callback.callback("r")
    callback.exception(error)
    assert calls == [(None, "r"), (error, None)]


def test_function_callback_returns_the_functions_veto() -> None:
    assert FunctionCallback(lambda error, result: False).callback(1) is False
    assert FunctionCallback(lambda error, result: None).callback(1) is None


def test_function_callback_repr_names_the_function() -> None:
    def on_done(error: BaseException | None, result: Any) -> None:
        return None

    assert "on_done" in repr(FunctionCallback(on_done))


def test_as_callback_keeps_callbacks_and_wraps_functions() -> None:
    callback = Callback()
    assert as_callback(None) is None
    assert as_callback(callback) is callback

    def fn(error: BaseException | None, result: Any) -> None:
        return None

    wrapped = as_callback(fn)
    assert isinstance(wrapped, FunctionCallback)
    assert wrapped.fn is fn


@pytest.mark.parametrize("value", [42, "callback", object()])
def test_as_callback_refuses_what_is_not_callable(value: Any) -> None:
    with pytest.raises(InvalidOptionError, match=r"actorstore\.Callback or a function"):
        as_callback(value)


def test_async_callback_notify_does_nothing_by_default() -> None:
    assert AsyncCallback().notify(object(), None, 42) is None
    assert AsyncCallback().notify(object(), busy(), None) is None


def test_as_callback_keeps_an_async_callback() -> None:
    class Keys(AsyncCallback):
        def notify(self, op: Any, error: BaseException | None, result: Any) -> object:
            return None

    keys = Keys()
    assert as_callback(keys) is keys
    assert not isinstance(keys, Callback)


# -- RetryCallback, over a fake attempt -----------------------------------------


@pytest.mark.parametrize("policy", [{"max_attempts": 3}, "fast", 3])
def test_retry_callback_refuses_a_policy_that_is_not_a_retry_policy(
    policy: Any,
) -> None:
    with pytest.raises(InvalidOptionError, match=r"actorstore\.RetryPolicy"):
        RetryCallback(policy)


def test_retry_callback_is_a_callback() -> None:
    assert isinstance(RetryCallback(), Callback)
    assert RetryCallback().policy is None


@pytest.mark.parametrize("attempts", [1, 2, 3, 4])
def test_exception_schedules_a_retry_after_the_policys_delay(attempts: int) -> None:
    policy = RetryPolicy(max_attempts=5, initial_wait=0.01)
    attempt = FakeAttempt(attempts=attempts, policy=policy)
    with handling(attempt):
        RetryCallback().exception(busy())
    assert attempt.calls == [("schedule", policy.delay(attempts))]


def test_the_handlers_own_policy_wins_over_the_attempts() -> None:
    mine = RetryPolicy(max_attempts=2, initial_wait=0.5, max_wait=1.0)
    attempt = FakeAttempt(attempts=1, policy=RetryPolicy(max_attempts=1))
    with handling(attempt):
        RetryCallback(mine).exception(busy())
    assert attempt.calls == [("schedule", 0.5)]
    attempt = FakeAttempt(attempts=2, policy=RetryPolicy(max_attempts=10))
    error = busy()
    with handling(attempt):
        RetryCallback(mine).exception(error)
    assert attempt.calls == [("dead_letter", error)]


def test_exception_calls_dead_when_attempts_run_out() -> None:
    error = busy()
    attempt = FakeAttempt(attempts=3, policy=RetryPolicy(max_attempts=3))
    with handling(attempt):
        RetryCallback().exception(error)
    assert attempt.calls == [("dead_letter", error)]


@pytest.mark.parametrize(
    "error",
    [
        KeyExistsError(table="docs", key="k"),
        NotFoundError(table="docs", key="k", op="update"),
        ValueError("not ours"),
    ],
)
def test_exception_sends_permanent_errors_straight_to_dead(error: Exception) -> None:
    attempt = FakeAttempt(attempts=1)
    with handling(attempt):
        RetryCallback().exception(error)
    assert attempt.calls == [("dead_letter", error)]


def test_the_scheduled_retry_resubmits_by_default() -> None:
    attempt = FakeAttempt(attempts=1)
    with handling(attempt):
        RetryCallback().exception(busy())
        assert len(attempt.scheduled) == 1
        attempt.scheduled[0]()
    assert attempt.calls == [("schedule", 0.001), ("resubmit", None)]


def test_overridden_retry_and_dead_are_called_with_the_error() -> None:
    class Custom(RetryCallback):
        def __init__(self) -> None:
            super().__init__(RetryPolicy(max_attempts=2))
            self.events: list[tuple[str, BaseException]] = []

        def retry(self, error: BaseException) -> None:
            self.events.append(("retry", error))

        def dead(self, error: BaseException) -> None:
            self.events.append(("dead", error))

    handler = Custom()
    first, last = busy(), busy()
    attempt = FakeAttempt(attempts=1)
    with handling(attempt):
        handler.exception(first)
        attempt.scheduled[0]()
    with handling(FakeAttempt(attempts=2)):
        handler.exception(last)
    assert handler.events == [("retry", first), ("dead", last)]


def test_exception_passes_the_attempts_elapsed_time_to_the_policy() -> None:
    policy = RetryPolicy(stop=tenacity.stop_after_delay(5))
    error = busy()
    young = FakeAttempt(attempts=1, policy=policy)
    with handling(young):
        RetryCallback().exception(error)
    assert [call for call, _ in young.calls] == ["schedule"]
    old = FakeAttempt(attempts=1, policy=policy)
    old.elapsed = 10.0
    with handling(old):
        RetryCallback().exception(error)
    assert old.calls == [("dead_letter", error)]
