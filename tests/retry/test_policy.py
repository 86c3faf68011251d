"""Tests for retry/policy.py: backoff is arithmetic over a built state, no sleeping."""

from __future__ import annotations

import dataclasses
import json

import pytest
import tenacity
from hypothesis import given
from hypothesis import strategies as st

from actorstore import storage
from actorstore.retry import AttemptState
from actorstore.retry.policy import DEFAULT_POLICY, RetryPolicy
from actorstore.storage.errors import (
    InvalidOptionError,
    KeyExistsError,
    NotFoundError,
    StoreBusyError,
    StoreError,
    TransientError,
)

from .fakes import busy, failed_state


def make_retry_state(attempt: int, elapsed: float = 0.0) -> tenacity.RetryCallState:
    """Build the state after failed attempt `attempt`, as tenacity's tests do."""
    state = tenacity.RetryCallState(tenacity.Retrying(), None, (), {})
    state.attempt_number = attempt
    state.outcome_timestamp = state.start_time + elapsed
    return state


# -- delays ------------------------------------------------------------------


def test_default_delays_double_from_1ms_to_the_60s_cap() -> None:
    reference = tenacity.wait_exponential(multiplier=0.001, exp_base=2, max=60.0)
    policy = RetryPolicy()
    for attempt in range(1, 40):
        expected = reference(make_retry_state(attempt))
        assert policy.delay(attempt) == expected
    assert [policy.delay(n) for n in (1, 2, 3, 4)] == [0.001, 0.002, 0.004, 0.008]
    assert policy.delay(16) == pytest.approx(32.768)
    assert policy.delay(17) == 60.0
    assert policy.delay(10_000) == 60.0


def test_default_policy_is_the_documented_one() -> None:
    assert RetryPolicy() == DEFAULT_POLICY
    assert DEFAULT_POLICY.max_attempts == 10
    assert DEFAULT_POLICY.retry_on == (TransientError,)


def test_multiplier_3_grows_by_3() -> None:
    policy = RetryPolicy(initial_wait=0.01, multiplier=3, max_wait=1.0)
    reference = tenacity.wait_exponential(multiplier=0.01, exp_base=3, max=1.0)
    delays = [policy.delay(n) for n in range(1, 8)]
    assert delays == [reference(make_retry_state(n)) for n in range(1, 8)]
    assert delays == pytest.approx([0.01, 0.03, 0.09, 0.27, 0.81, 1.0, 1.0])


def test_multiplier_1_is_a_constant_wait() -> None:
    policy = RetryPolicy(initial_wait=0.5, multiplier=1)
    assert {policy.delay(n) for n in range(1, 50)} == {0.5}


def test_zero_initial_wait_stays_zero_for_many_attempts() -> None:
    policy = RetryPolicy(initial_wait=0)
    assert policy.delay(1) == 0
    assert policy.delay(5_000) == 0


def test_jitter_adds_at_most_jitter_seconds() -> None:
    policy = RetryPolicy(initial_wait=0.1, jitter=0.05)
    for attempt in (1, 2, 3):
        base = 0.1 * 2 ** (attempt - 1)
        for _ in range(200):
            assert base <= policy.delay(attempt) <= base + 0.05


def test_jitter_is_capped_at_max_wait() -> None:
    policy = RetryPolicy(initial_wait=1.0, max_wait=2.0, jitter=10.0)
    assert all(policy.delay(n) <= 2.0 for n in range(1, 10) for _ in range(50))
    assert all(policy.delay(1) >= 1.0 for _ in range(50))
    assert policy.delay(5) == 2.0


@given(
    initial_wait=st.floats(min_value=0, max_value=100),
    extra=st.floats(min_value=0, max_value=1000),
    multiplier=st.floats(min_value=1, max_value=10),
    attempt=st.integers(min_value=1, max_value=5_000),
)
def test_delay_is_monotonic_and_capped(
    initial_wait: float, extra: float, multiplier: float, attempt: int
) -> None:
    max_wait = initial_wait + extra
    policy = RetryPolicy(
        initial_wait=initial_wait, max_wait=max_wait, multiplier=multiplier
    )
    first, second = policy.delay(attempt), policy.delay(attempt + 1)
    assert 0 <= first <= second <= max_wait
    assert policy.delay(1) == initial_wait


@pytest.mark.parametrize("attempt", [0, -1, True, 1.5])
def test_delay_rejects_bad_attempt_numbers(attempt: int) -> None:
    with pytest.raises(InvalidOptionError, match="attempt"):
        RetryPolicy().delay(attempt)


# -- should_retry, next_delay, is_retryable -------------------------------------


def test_transient_errors_are_retried_while_attempts_remain() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert policy.should_retry(busy(), 1)
    assert policy.should_retry(busy(), 2)
    assert not policy.should_retry(busy(), 3)
    assert not policy.should_retry(busy(), 4)
    assert policy.next_delay(busy(), 2) == policy.delay(2)
    assert policy.next_delay(busy(), 3) is None


def test_a_single_attempt_is_never_retried() -> None:
    policy = RetryPolicy(max_attempts=1)
    assert policy.is_retryable(busy())
    assert not policy.should_retry(busy(), 1)


@pytest.mark.parametrize(
    "error",
    [
        KeyExistsError(table="t", key="k"),
        NotFoundError(table="t", key="k", op="update"),
        StoreError("plain"),
        ValueError("not ours"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_permanent_errors_are_not_retried(error: BaseException) -> None:
    policy = RetryPolicy()
    assert not policy.is_retryable(error)
    assert not policy.should_retry(error, 1)
    assert policy.next_delay(error, 1) is None


def test_subclasses_of_retry_on_types_are_retried() -> None:
    assert RetryPolicy().is_retryable(busy())
    assert RetryPolicy(retry_on=(StoreError,)).is_retryable(
        NotFoundError(table="t", key="k")
    )


def test_empty_retry_on_retries_nothing() -> None:
    assert not RetryPolicy(retry_on=()).should_retry(busy(), 1)


def test_predicate_retry_on() -> None:
    def on_table_a(error: BaseException) -> bool:
        return isinstance(error, StoreError) and error.table == "a"

    policy = RetryPolicy(retry_on=on_table_a)
    assert policy.should_retry(KeyExistsError(table="a", key="k"), 1)
    assert not policy.should_retry(KeyExistsError(table="b", key="k"), 1)
    assert not policy.should_retry(busy(), 1)


@pytest.mark.parametrize("elapsed", [-1.0, float("nan"), float("inf")])
def test_should_retry_rejects_bad_elapsed(elapsed: float) -> None:
    with pytest.raises(InvalidOptionError, match="elapsed"):
        RetryPolicy().should_retry(busy(), 1, elapsed=elapsed)


# -- raw tenacity strategies ---------------------------------------------------


def test_raw_wait_is_used_unchanged() -> None:
    wait = tenacity.wait_fixed(0.5)
    policy = RetryPolicy(wait=wait)
    assert policy.wait is wait
    assert {policy.delay(n) for n in range(1, 30)} == {0.5}
    assert policy.next_delay(busy(), 3) == 0.5


def test_raw_wait_can_read_the_error() -> None:
    policy = RetryPolicy(wait=tenacity.wait_exception(lambda e: len(str(e)) / 100))
    assert policy.next_delay(StoreBusyError("abcd"), 1) == 0.04


def test_raw_stop_after_delay_reads_elapsed() -> None:
    policy = RetryPolicy(stop=tenacity.stop_after_delay(10))
    assert policy.should_retry(busy(), 50, elapsed=9.9)
    assert not policy.should_retry(busy(), 1, elapsed=10.0)


def test_raw_stop_before_delay_sees_the_upcoming_sleep() -> None:
    policy = RetryPolicy(
        wait=tenacity.wait_fixed(2), stop=tenacity.stop_before_delay(5)
    )
    assert policy.should_retry(busy(), 1, elapsed=2.9)
    assert not policy.should_retry(busy(), 1, elapsed=3.0)


def test_raw_stops_compose() -> None:
    stop = tenacity.stop_after_attempt(3) | tenacity.stop_after_delay(1)
    policy = RetryPolicy(stop=stop)
    assert policy.should_retry(busy(), 2, elapsed=0.5)
    assert not policy.should_retry(busy(), 3, elapsed=0.5)
    assert not policy.should_retry(busy(), 1, elapsed=1.5)


def test_raw_retry_replaces_retry_on() -> None:
    policy = RetryPolicy(retry=tenacity.retry_if_exception_type(KeyExistsError))
    error = KeyExistsError(table="t", key="k")
    assert policy.should_retry(error, 1)
    assert policy.is_retryable(error)
    assert not policy.should_retry(busy(), 1)


# -- validation ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"max_attempts": 0}, "max_attempts=0.*1 or more"),
        ({"max_attempts": True}, "max_attempts=True"),
        ({"max_attempts": 2.0}, "max_attempts=2.0"),
        ({"initial_wait": -0.1}, "initial_wait=-0.1"),
        ({"max_wait": float("inf")}, "max_wait=inf.*finite"),
        ({"max_wait": float("nan")}, "max_wait=nan"),
        ({"jitter": -1}, "jitter=-1"),
        ({"jitter": False}, "jitter=False"),
        ({"multiplier": 0.5}, "multiplier=0.5.*1"),
        ({"initial_wait": 2, "max_wait": 1}, "initial_wait=2.*max_wait"),
        ({"retry_on": TransientError}, "retry_on=.*tuple"),
        ({"retry_on": [TransientError]}, "retry_on=.*tuple"),
        ({"retry_on": (TransientError, "x")}, "'x' is not an exception type"),
        ({"retry_on": "TransientError"}, "retry_on="),
    ],
)
def test_invalid_fields_raise_naming_the_field(
    options: dict[str, object], match: str
) -> None:
    with pytest.raises(InvalidOptionError, match=match) as info:
        RetryPolicy(**options)  # type: ignore[arg-type]
    assert isinstance(info.value, ValueError)


def test_policy_is_frozen_and_hashable() -> None:
    policy = RetryPolicy(max_attempts=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.max_attempts = 5  # type: ignore[misc]
    assert hash(policy) == hash(RetryPolicy(max_attempts=3))
    assert dataclasses.replace(policy, max_attempts=4).max_attempts == 4
    with pytest.raises(InvalidOptionError, match="max_attempts"):
        dataclasses.replace(policy, max_attempts=0)


# -- from_mapping ----------------------------------------------------------------


def test_from_mapping_reads_toml_like_config() -> None:
    policy = RetryPolicy.from_mapping(
        {
            "max_attempts": 5,
            "initial_wait": 0.01,
            "max_wait": 2,
            "multiplier": 3,
            "jitter": 0,
            "retry_on": ["TransientError", "storage.NotFoundError"],
        }
    )
    assert policy == RetryPolicy(
        max_attempts=5,
        initial_wait=0.01,
        max_wait=2.0,
        multiplier=3.0,
        jitter=0.0,
        retry_on=(TransientError, NotFoundError),
    )


def test_from_mapping_accepts_numbers_as_strings() -> None:
    policy = RetryPolicy.from_mapping(
        {
            "max_attempts": "5",
            "max_wait": "0.5",
            "retry_on": "storage.errors.StoreBusyError, KeyExistsError",
        }
    )
    assert policy.max_attempts == 5
    assert policy.max_wait == 0.5
    assert policy.retry_on == (StoreBusyError, KeyExistsError)


def test_from_mapping_keeps_defaults_for_missing_keys() -> None:
    assert RetryPolicy.from_mapping({}) == RetryPolicy()
    assert RetryPolicy.from_mapping({"retry_on": []}).retry_on == ()


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"max_tries": 5}, "unknown retry policy option 'max_tries'"),
        ({"wait": 1}, "unknown retry policy option 'wait'"),
        ({"max_attempts": "five"}, "max_attempts='five'"),
        ({"max_attempts": "5.5"}, "max_attempts='5.5'"),
        ({"max_attempts": 5.0}, "max_attempts=5.0"),
        ({"max_attempts": True}, "max_attempts=True"),
        ({"max_attempts": None}, "max_attempts=None"),
        ({"max_attempts": 0}, "max_attempts=0"),
        ({"max_attempts": "-3"}, "max_attempts=-3"),
        ({"max_wait": "soon"}, "max_wait='soon'"),
        ({"max_wait": [1]}, r"max_wait=\[1\]"),
        ({"max_wait": False}, "max_wait=False"),
        ({"initial_wait": -1}, "initial_wait=-1"),
        ({"jitter": "-0.5"}, "jitter=-0.5"),
        ({"multiplier": "nan"}, "multiplier=nan"),
        ({"max_wait": "inf"}, "max_wait=inf"),
        ({"initial_wait": 5, "max_wait": 1}, "initial_wait=5"),
        ({"retry_on": ["NoSuchError"]}, "retry_on='NoSuchError'.*TransientError"),
        ({"retry_on": ["os.OSError"]}, "retry_on='os.OSError'"),
        ({"retry_on": ["builtins.Exception"]}, "retry_on='builtins.Exception'"),
        ({"retry_on": ["storage.errors.__all__"]}, "retry_on="),
        ({"retry_on": [TransientError]}, "retry_on="),
        ({"retry_on": 5}, "retry_on=5"),
    ],
)
def test_from_mapping_rejects_bad_config(config: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidOptionError, match=match) as info:
        RetryPolicy.from_mapping(config)
    assert isinstance(info.value, ValueError)


def test_from_mapping_rejects_a_non_mapping() -> None:
    with pytest.raises(InvalidOptionError, match="not a mapping"):
        RetryPolicy.from_mapping([("max_attempts", 5)])  # type: ignore[arg-type]


# -- policies as data --------------------------------------------------------------


def test_to_mapping_round_trips_through_from_mapping() -> None:
    policy = RetryPolicy(
        max_attempts=3,
        initial_wait=0.5,
        max_wait=2.0,
        multiplier=3.0,
        jitter=0.25,
        retry_on=(storage.StoreBusyError, storage.NotFoundError),
    )
    mapping = policy.to_mapping()
    assert json.loads(json.dumps(mapping)) == mapping
    assert RetryPolicy.from_mapping(mapping) == policy


@pytest.mark.parametrize(
    "name", ["StorageError", "storage.StorageError", "actorstore.StorageError"]
)
def test_config_naming_an_error_by_its_old_name_still_loads(name: str) -> None:
    # A table's policy is kept in the catalog as config: one written before
    # StorageError was renamed LmdbError must still load.
    policy = RetryPolicy.from_mapping({"retry_on": [name]})
    assert policy.retry_on == (storage.LmdbError,)
    assert policy.to_mapping()["retry_on"] == ["LmdbError"]


@pytest.mark.parametrize(
    "policy",
    [
        RetryPolicy(retry_on=lambda error: True),
        RetryPolicy(stop=tenacity.stop_after_attempt(2)),
        RetryPolicy(retry_on=(ValueError,)),
    ],
    ids=["predicate", "raw tenacity", "foreign error type"],
)
def test_a_policy_holding_code_cannot_become_config(policy: RetryPolicy) -> None:
    with pytest.raises(InvalidOptionError, match="per store or per op"):
        policy.to_mapping()


# -- next_delay_for: the decision over an AttemptState ----------------------------


def test_next_delay_for_reads_the_last_error_and_the_attempt_count() -> None:
    policy = RetryPolicy(max_attempts=3, initial_wait=0.01)
    assert policy.next_delay_for(failed_state(busy())) == policy.delay(1)
    assert policy.next_delay_for(failed_state(busy(), busy())) == policy.delay(2)
    assert policy.next_delay_for(failed_state(busy(), busy(), busy())) is None
    permanent = KeyExistsError(table="t", key="k")
    assert policy.next_delay_for(failed_state(busy(), permanent)) is None


def test_next_delay_for_reads_the_elapsed_time() -> None:
    policy = RetryPolicy(stop=tenacity.stop_after_delay(5))
    assert policy.next_delay_for(failed_state(busy(), started_ago=0)) is not None
    assert policy.next_delay_for(failed_state(busy(), started_ago=10)) is None


def test_next_delay_for_refuses_a_state_with_no_failure() -> None:
    with pytest.raises(InvalidOptionError, match="it records no failed attempt"):
        RetryPolicy().next_delay_for(AttemptState())
