"""Retries through a real store: backoff, dead letters, close, faults at scale."""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import tenacity

from actorstore import OpFuture, OpTimeoutError, Store
from actorstore.retry import (
    DeadLetter,
    RetriesExhaustedError,
    RetryCallback,
    RetryPolicy,
)
from actorstore.storage import KeyExistsError, NotFoundError, StoreBusyError

WAIT = 5.0


def busy() -> StoreBusyError:
    return StoreBusyError("the store is busy")


class Flaky(RetryCallback):
    """Raise `StoreBusyError` in `callback()` the first `failures` times.

    Records `time.monotonic()` at every call, counts `retry()` and `dead()`
    calls, and sets `failed` once `exception()` has decided about a failure
    (so a retry is then pending, or the op is being dead-lettered).
    """

    def __init__(self, failures: int, policy: RetryPolicy | None = None) -> None:
        super().__init__(policy)
        self.failures = failures
        self.calls: list[float] = []
        self.retries = 0
        self.deaths: list[BaseException] = []
        self.failed = threading.Event()

    def callback(self, result: Any) -> object:
        self.calls.append(time.monotonic())
        if len(self.calls) <= self.failures:
            raise busy()
        return None

    def exception(self, error: BaseException) -> None:
        super().exception(error)
        self.failed.set()

    def retry(self, error: BaseException) -> None:
        self.retries += 1
        super().retry(error)

    def dead(self, error: BaseException) -> None:
        self.deaths.append(error)
        super().dead(error)


def open_docs(make_store: Callable[..., Store], **options: Any) -> Store:
    store = make_store(**options)
    store.create_table("docs", key_format="str", value_format="json", exist_ok=True)
    return store


# -- backoff ----------------------------------------------------------------------


def test_a_flaky_callback_is_retried_with_the_policys_gaps(store: Store) -> None:
    policy = RetryPolicy(max_attempts=6, initial_wait=0.01, max_wait=1.0)
    handler = Flaky(failures=4, policy=policy)
    future = store.upsert("docs", "k", {"n": 1}, callback=handler)
    assert future.get(WAIT) is None
    assert len(handler.calls) == 5
    assert handler.retries == 4
    assert handler.deaths == []
    gaps = [after - before for before, after in itertools.pairwise(handler.calls)]
    for attempt, gap in enumerate(gaps, 1):
        assert gap >= policy.delay(attempt), (attempt, gap, policy.delay(attempt))
    assert store.search("docs", "k").get(WAIT) == {"n": 1}


def test_a_store_policy_retries_with_the_policys_gaps(
    make_store: Callable[..., Store],
) -> None:
    policy = RetryPolicy(max_attempts=5, initial_wait=0.01)
    store = open_docs(make_store, retry=policy)
    calls: list[float] = []

    def flaky(error: BaseException | None, result: Any) -> None:
        if error is None:
            calls.append(time.monotonic())
            if len(calls) <= 3:
                raise busy()

    assert store.upsert("docs", "k", 1, callback=flaky).get(WAIT) is None
    assert len(calls) == 4
    for attempt, (before, after) in enumerate(itertools.pairwise(calls), 1):
        assert after - before >= policy.delay(attempt)
    assert store.stats()["retried"] == 3


def test_the_worker_keeps_serving_while_a_retry_is_pending(
    make_store: Callable[..., Store],
) -> None:
    store = open_docs(make_store, threads=1)
    handler = Flaky(
        failures=1, policy=RetryPolicy(max_attempts=3, initial_wait=0.5, max_wait=1.0)
    )
    retried = store.upsert("docs", "slow", {"n": 0}, callback=handler)
    assert handler.failed.wait(WAIT)
    others: list[OpFuture[Any]] = [
        store.upsert("docs", f"k{n}", {"n": n}) for n in range(5)
    ]
    others += [store.search("docs", "k0"), store.count("docs")]
    for other in others:
        other.get(WAIT)
    done_at = time.monotonic()
    # Every other op of the same table, on the only worker, finished while
    # the retry was still waiting out its 0.5 s.
    assert not retried.done()
    assert others[5].get(0) == {"n": 0}
    assert retried.get(WAIT) is None
    assert handler.calls[1] > done_at
    assert handler.calls[1] - handler.calls[0] >= 0.5
    assert store.search("docs", "slow").get(WAIT) == {"n": 0}


# -- exhausting -------------------------------------------------------------------


def test_an_exhausted_op_leaves_exactly_one_durable_replayable_dead_letter(
    make_store: Callable[..., Store],
) -> None:
    store = open_docs(make_store)
    policy = RetryPolicy(max_attempts=3, initial_wait=0.01)
    handler = Flaky(failures=100, policy=policy)
    future = store.upsert("docs", "norma", {"name": "Norma"}, callback=handler)
    with pytest.raises(RetriesExhaustedError) as caught:
        future.get(WAIT)
    assert caught.value.attempts == 3
    assert isinstance(caught.value.last_error, StoreBusyError)
    assert (caught.value.table, caught.value.key) == ("docs", "norma")
    assert len(handler.calls) == 3
    assert handler.retries == 2
    assert len(handler.deaths) == 1
    (letter,) = store.dead_letters.list(WAIT)
    assert (letter.op_type, letter.table, letter.key) == ("upsert", "docs", "norma")
    assert letter.value == {"name": "Norma"}
    assert letter.attempts == 3
    assert letter.error == {"type": "StoreBusyError", "message": "the store is busy"}
    assert letter.first_failed_at < letter.last_failed_at
    assert not store.exists("docs", "norma").get(WAIT)
    store.close()

    reopened = open_docs(make_store)
    (again,) = reopened.dead_letters.list(WAIT)
    assert again == letter
    assert reopened.dead_letters.replay(timeout=WAIT) == {letter.id: None}
    assert reopened.search("docs", "norma").get(WAIT) == {"name": "Norma"}
    assert reopened.dead_letters.list(WAIT) == []
    reopened.close()

    third = open_docs(make_store)
    assert third.dead_letters.list(WAIT) == []
    assert third.search("docs", "norma").get(WAIT) == {"name": "Norma"}


def test_a_store_policy_dead_letters_what_it_gives_up_on(
    make_store: Callable[..., Store],
) -> None:
    store = open_docs(make_store, retry=RetryPolicy(max_attempts=2, initial_wait=0.001))
    told: list[BaseException | None] = []

    def always_busy(error: BaseException | None, result: Any) -> None:
        told.append(error)
        if error is None:
            raise busy()

    future = store.insert("docs", "k", 1, callback=always_busy)
    with pytest.raises(RetriesExhaustedError):
        future.get(WAIT)
    # The function callback was called in each attempt's transaction, then
    # told the final error once.
    assert told[:2] == [None, None]
    assert len(told) == 3
    assert isinstance(told[2], RetriesExhaustedError)
    (letter,) = store.dead_letters.list(WAIT)
    assert (letter.op_type, letter.key, letter.attempts) == ("insert", "k", 2)


@pytest.mark.parametrize(
    ("op", "error_type"),
    [("insert", KeyExistsError), ("update", NotFoundError)],
)
def test_permanent_errors_go_straight_to_dead_with_no_retry(
    store: Store, op: str, error_type: type[Exception]
) -> None:
    store.upsert("docs", "present", 1).get(WAIT)
    key = "present" if op == "insert" else "absent"
    handler = Flaky(failures=0, policy=RetryPolicy(max_attempts=5))
    future = getattr(store, op)("docs", key, 2, callback=handler)
    with pytest.raises(error_type):
        future.get(WAIT)
    assert handler.retries == 0
    assert len(handler.deaths) == 1
    assert isinstance(handler.deaths[0], error_type)
    (letter,) = store.dead_letters.list(WAIT)
    assert letter.error["type"] == error_type.__name__
    assert letter.attempts == 1
    assert store.stats()["retried"] == 0


@pytest.mark.parametrize(
    ("op", "error_type"),
    [("insert", KeyExistsError), ("update", NotFoundError)],
)
def test_a_store_policy_hands_permanent_errors_to_the_caller(
    make_store: Callable[..., Store], op: str, error_type: type[Exception]
) -> None:
    store = open_docs(make_store, retry=RetryPolicy(max_attempts=5))
    store.upsert("docs", "present", 1).get(WAIT)
    key = "present" if op == "insert" else "absent"
    with pytest.raises(error_type):
        getattr(store, op)("docs", key, 2).get(WAIT)
    assert store.dead_letters.list(WAIT) == []
    stats = store.stats()
    assert (stats["retried"], stats["dead_lettered"]) == (0, 0)


def test_a_handler_policy_that_retries_a_permanent_error_ends_exhausted(
    store: Store,
) -> None:
    # The handler's own policy says KeyExistsError is worth retrying (say,
    # another writer is expected to remove the key): when it gives up, the op
    # failed on every attempt its policy allowed.
    policy = RetryPolicy(max_attempts=2, initial_wait=0.001, retry_on=(KeyExistsError,))
    store.upsert("docs", "k", 1).get(WAIT)
    handler = Flaky(failures=0, policy=policy)
    future = store.insert("docs", "k", 2, callback=handler)
    with pytest.raises(RetriesExhaustedError) as caught:
        future.get(WAIT)
    assert isinstance(caught.value.last_error, KeyExistsError)
    assert handler.retries == 1
    assert len(store.dead_letters.list(WAIT)) == 1


# -- close ------------------------------------------------------------------------


def test_close_with_a_retry_pending_30s_away_dead_letters_it_promptly(
    make_store: Callable[..., Store],
) -> None:
    store = open_docs(make_store)
    handler = Flaky(failures=100, policy=RetryPolicy(initial_wait=30, max_wait=60))
    future = store.upsert("docs", "k", {"n": 1}, callback=handler)
    assert handler.failed.wait(WAIT)
    assert not future.done()
    started = time.monotonic()
    store.close(timeout=10)
    assert time.monotonic() - started < 3
    with pytest.raises(RetriesExhaustedError) as caught:
        future.get(0)
    assert isinstance(caught.value.last_error, StoreBusyError)
    assert len(handler.calls) == 1
    assert handler.retries == 0

    reopened = open_docs(make_store)
    (letter,) = reopened.dead_letters.list(WAIT)
    assert (letter.key, letter.attempts) == ("k", 1)
    assert not reopened.exists("docs", "k").get(WAIT)


def test_close_with_a_store_policy_retry_pending_dead_letters_it_promptly(
    make_store: Callable[..., Store],
) -> None:
    store = open_docs(make_store, retry=RetryPolicy(initial_wait=30, max_wait=60))
    failed = threading.Event()

    def always_busy(error: BaseException | None, result: Any) -> None:
        if error is None:
            failed.set()
            raise busy()

    future = store.upsert("docs", "k", 1, callback=always_busy)
    # Once the callback raised, the retry is scheduled 30 s away (or, if
    # close() wins the race, dead-lettered at once: the outcome is the same).
    assert failed.wait(WAIT)
    started = time.monotonic()
    store.close(timeout=10)
    assert time.monotonic() - started < 3
    with pytest.raises(RetriesExhaustedError):
        future.get(0)
    reopened = open_docs(make_store)
    assert [letter.key for letter in reopened.dead_letters.list(WAIT)] == ["k"]


def test_close_dead_letters_every_pending_retry(
    make_store: Callable[..., Store],
) -> None:
    store = open_docs(make_store)
    handlers = [
        Flaky(failures=100, policy=RetryPolicy(initial_wait=30, max_wait=60))
        for _ in range(20)
    ]
    futures = [
        store.upsert("docs", f"k{n:02}", n, callback=handler)
        for n, handler in enumerate(handlers)
    ]
    for handler in handlers:
        assert handler.failed.wait(WAIT)
    store.close(timeout=10)
    for future in futures:
        assert isinstance(future.exception(0), RetriesExhaustedError)
    reopened = open_docs(make_store)
    keys = sorted(letter.key for letter in reopened.dead_letters.list(WAIT))
    assert keys == [f"k{n:02}" for n in range(20)]


# -- flush ------------------------------------------------------------------------


def test_flush_waits_for_an_op_whose_retry_is_pending(store: Store) -> None:
    handler = Flaky(
        failures=1, policy=RetryPolicy(max_attempts=3, initial_wait=0.5, max_wait=1.0)
    )
    future = store.upsert("docs", "k", {"n": 1}, callback=handler)
    assert handler.failed.wait(WAIT)
    with pytest.raises(OpTimeoutError, match="flush"):
        store.flush(timeout=0.05)
    assert not future.done()
    store.flush(WAIT)
    assert future.done()
    assert future.get(0) is None
    assert len(handler.calls) == 2


# -- which policy ---------------------------------------------------------------


def test_op_policy_beats_table_policy_beats_store_policy(
    make_store: Callable[..., Store],
) -> None:
    store = make_store(retry=RetryPolicy(max_attempts=2, initial_wait=0.001))
    store.create_table("plain")
    store.create_table("tuned", retry=RetryPolicy(max_attempts=3, initial_wait=0.001))
    calls: dict[str, int] = {}

    def counting(name: str) -> Callable[[BaseException | None, Any], None]:
        def always_busy(error: BaseException | None, result: Any) -> None:
            if error is None:
                calls[name] = calls.get(name, 0) + 1
                raise busy()

        return always_busy

    op_policy = RetryPolicy(max_attempts=4, initial_wait=0.001)
    futures = {
        "store": store.upsert("plain", "store", 1, callback=counting("store")),
        "table": store.upsert("tuned", "table", 1, callback=counting("table")),
        "op": store.upsert("tuned", "op", 1, callback=counting("op"), retry=op_policy),
        "op-on-plain": store.upsert(
            "plain", "op-on-plain", 1, callback=counting("op-on-plain"), retry=op_policy
        ),
    }
    for future in futures.values():
        with pytest.raises(RetriesExhaustedError):
            future.get(WAIT)
    assert calls == {"store": 2, "table": 3, "op": 4, "op-on-plain": 4}
    attempts = {letter.key: letter.attempts for letter in store.dead_letters.list(WAIT)}
    assert attempts == calls


def test_a_retry_callbacks_attempt_policy_follows_the_same_precedence(
    make_store: Callable[..., Store],
) -> None:
    store = make_store(retry=RetryPolicy(max_attempts=2, initial_wait=0.001))
    store.create_table("tuned", retry=RetryPolicy(max_attempts=3, initial_wait=0.001))
    by_table = Flaky(failures=100)
    by_op = Flaky(failures=100)
    first = store.upsert("tuned", "a", 1, callback=by_table)
    second = store.upsert(
        "tuned",
        "b",
        1,
        callback=by_op,
        retry=RetryPolicy(max_attempts=4, initial_wait=0.001),
    )
    for future in (first, second):
        with pytest.raises(RetriesExhaustedError):
            future.get(WAIT)
    assert (len(by_table.calls), len(by_op.calls)) == (3, 4)


# -- stats ------------------------------------------------------------------------


def test_stats_count_retried_and_dead_lettered(store: Store) -> None:
    fast = RetryPolicy(max_attempts=3, initial_wait=0.001)
    recovered = store.upsert("docs", "a", 1, callback=Flaky(failures=2, policy=fast))
    exhausted = store.upsert("docs", "b", 1, callback=Flaky(failures=9, policy=fast))
    assert recovered.get(WAIT) is None
    with pytest.raises(RetriesExhaustedError):
        exhausted.get(WAIT)
    store.flush(WAIT)
    stats = store.stats()
    assert stats["retried"] == 4
    assert stats["dead_lettered"] == 1
    assert stats["in_flight"] == 0


# -- faults at scale --------------------------------------------------------------

FAULT_RATE = 0.3
SEED = 20240607
N_OPS = 1000


class SometimesBusy(RetryCallback):
    """Fail attempt `n` of its op when `plan[n]` is True."""

    def __init__(self, plan: list[bool], policy: RetryPolicy | None) -> None:
        super().__init__(policy)
        self.plan = plan
        self.attempts = 0

    def callback(self, result: Any) -> object:
        self.attempts += 1
        if self.plan[self.attempts - 1]:
            raise busy()
        return None


def fault_plans(keys: list[str]) -> dict[str, list[bool]]:
    """Return, per key, whether each of its 3 attempts fails (30%, seeded)."""
    rng = random.Random(SEED)
    return {key: [rng.random() < FAULT_RATE for _ in range(3)] for key in keys}


def committed_and_parked(store: Store) -> tuple[dict[str, Any], list[DeadLetter]]:
    records: dict[str, Any] = {}
    for table in ("left", "right"):
        records.update(store.scan(table).get(WAIT))
    return records, store.dead_letters.list(WAIT)


@pytest.mark.parametrize("style", ["store-policy", "retry-callback"])
def test_1000_ops_under_30_percent_faults_are_committed_or_dead_lettered(
    make_store: Callable[..., Store], style: str
) -> None:
    policy = RetryPolicy(max_attempts=3, initial_wait=0.001)
    store = make_store(retry=policy if style == "store-policy" else None)
    for table in ("left", "right"):
        store.create_table(table)
    keys = [f"k{n:04}" for n in range(N_OPS)]
    plans = fault_plans(keys)
    doomed = {key for key, plan in plans.items() if all(plan)}
    assert 0 < len(doomed) < 100  # the seed gives some of each, about 2.7%

    futures = {}
    for n, key in enumerate(keys):
        table = "left" if n % 2 else "right"
        if style == "store-policy":
            plan, calls = plans[key], [0]

            def callback(
                error: BaseException | None,
                result: Any,
                plan: list[bool] = plan,
                calls: list[int] = calls,
            ) -> None:
                if error is None:
                    calls[0] += 1
                    if plan[calls[0] - 1]:
                        raise busy()

            futures[key] = store.insert(table, key, {"n": n}, callback=callback)
        else:
            handler = SometimesBusy(plans[key], policy)
            futures[key] = store.insert(table, key, {"n": n}, callback=handler)

    failed = set()
    for key, future in futures.items():
        error = future.exception(WAIT)
        if error is not None:
            assert isinstance(error, RetriesExhaustedError), (key, error)
            assert isinstance(error.last_error, StoreBusyError)
            failed.add(key)
    assert failed == doomed
    store.flush(WAIT)

    def check(store: Store) -> None:
        records, letters = committed_and_parked(store)
        parked = [letter.key for letter in letters]
        assert len(records) + len(letters) == N_OPS
        assert len(parked) == len(set(parked))
        assert set(records).isdisjoint(parked)
        assert set(records) | set(parked) == set(keys)
        assert set(parked) == doomed
        assert all(records[key] == {"n": int(key[1:])} for key in records)
        assert all(letter.attempts == 3 for letter in letters)

    check(store)
    stats = store.stats()
    assert stats["dead_lettered"] == len(doomed)
    assert stats["retried"] == sum(
        min(2, next((i for i, f in enumerate(plan) if not f), 2))
        for plan in plans.values()
    )
    store.close()
    check(make_store())


@pytest.mark.parametrize("style", ["store-policy", "retry-callback"])
def test_closing_in_the_middle_of_faulty_retries_loses_nothing(
    make_store: Callable[..., Store], style: str
) -> None:
    policy = RetryPolicy(max_attempts=5, initial_wait=0.02)
    store = make_store(retry=policy if style == "store-policy" else None)
    for table in ("left", "right"):
        store.create_table(table)
    rng = random.Random(SEED)
    keys = [f"k{n:04}" for n in range(300)]
    plans = {key: [rng.random() < 0.5 for _ in range(5)] for key in keys}
    futures = []
    for n, key in enumerate(keys):
        table = "left" if n % 2 else "right"
        if style == "store-policy":
            plan, calls = plans[key], [0]

            def callback(
                error: BaseException | None,
                result: Any,
                plan: list[bool] = plan,
                calls: list[int] = calls,
            ) -> None:
                if error is None:
                    calls[0] += 1
                    if plan[calls[0] - 1]:
                        raise busy()

            futures.append(store.insert(table, key, {"n": n}, callback=callback))
        else:
            handler = SometimesBusy(plans[key], policy)
            futures.append(store.insert(table, key, {"n": n}, callback=handler))
    # Close at once: some ops have not run, some wait for a retry, some are
    # running; each must end committed or dead-lettered.
    store.close(timeout=10)
    for future in futures:
        assert future.done()
        error = future.exception(0)
        assert error is None or isinstance(error, RetriesExhaustedError), error

    reopened = make_store()
    records, letters = committed_and_parked(reopened)
    parked = [letter.key for letter in letters]
    assert len(records) + len(parked) == len(keys)
    assert set(records).isdisjoint(parked)
    assert set(records) | set(parked) == set(keys)
    failed = {
        key
        for key, future in zip(keys, futures, strict=True)
        if future.exception(0) is not None
    }
    assert failed == set(parked)


@pytest.mark.parametrize("handler", [False, True], ids=["store-policy", "callback"])
def test_a_time_based_stop_strategy_ends_the_retries(
    make_store: Callable[..., Store], handler: bool
) -> None:
    # tenacity's stop_after_delay reads the elapsed time: it must be passed.
    policy = RetryPolicy(
        retry_on=(StoreBusyError,), stop=tenacity.stop_after_delay(0.2), max_wait=0.01
    )
    store = make_store(retry=None if handler else policy)
    store.create_table("docs")
    flaky = Flaky(10**6, policy if handler else None)
    if handler:
        future = store.upsert("docs", "k", 1, callback=flaky)
    else:
        future = store.upsert(
            "docs", "k", 1, callback=lambda e, r: flaky.callback(r) if e is None else 0
        )
    started = time.monotonic()
    assert isinstance(future.exception(WAIT), RetriesExhaustedError)
    assert 0.2 <= time.monotonic() - started < WAIT
    assert len(store.dead_letters.list()) == 1


def test_flush_waits_for_the_retries_of_a_read_that_ran_at_once(store: Store) -> None:
    store.upsert("docs", "k", {"n": 1}).get(WAIT)
    store.flush(WAIT)
    seen: list[int] = []

    class FailsTwice(RetryCallback):
        def callback(self, result: object) -> None:
            seen.append(self.attempt.attempts)
            if len(seen) < 3:
                raise StoreBusyError("not yet")

    future = store.search(
        "docs",
        "k",
        callback=FailsTwice(policy=RetryPolicy(max_attempts=5, initial_wait=0.05)),
    )
    store.flush(WAIT)
    assert future.done()
    assert future.get(0) == {"n": 1}
    assert len(seen) == 3
