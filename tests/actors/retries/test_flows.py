"""Staged flows (retry.Flow) over a real store: threads, retries, close, flush."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from actorstore import Store
from actorstore.retry import DeadLetter, Flow, Next, RetriesExhaustedError, RetryPolicy
from actorstore.storage import (
    InvalidInputError,
    InvalidOptionError,
    NotFoundError,
    StoreBusyError,
    StoreError,
)
from tests.retry.flow_samples import Bump, FlakyCompose

WAIT = 5.0
FAST = RetryPolicy(max_attempts=5, initial_wait=0.001)


def test_a_three_stage_flow_runs_its_stages_in_order(store: Store) -> None:
    store.upsert("docs", "a", {"n": 1}).get(WAIT)
    flow = Bump(store)
    assert flow.start("bump", "a").get(WAIT) == "a"
    assert store.search("docs", "a").get(WAIT) == {"n": 2}
    assert list(flow.calls) == ["prepare", "compose", "finish"]
    assert all(len(times) == 1 for times in flow.calls.values())
    # The first stage runs on the caller; later ones hop onto the scheduler,
    # so no worker waits between stages.
    assert flow.threads["prepare"] == [threading.current_thread().name]
    assert flow.threads["compose"] == ["StoreScheduler"]
    assert flow.threads["finish"] == ["StoreScheduler"]


def test_stages_are_found_in_numeric_order(store: Store) -> None:
    class Long(Flow):
        def go10Last(self, seen: list[int]) -> Any:
            return [*seen, 10]

        def go2Second(self, seen: list[int]) -> Any:
            return Next([*seen, 2])

        def go1First(self) -> Any:
            return Next([1])

        def other1Stage(self) -> Any:
            return "not part of go"

    flow = Long(store)
    assert [stage.__name__ for stage in flow.stages("go")] == [
        "go1First",
        "go2Second",
        "go10Last",
    ]
    assert flow.start("go").get(WAIT) == [1, 2, 10]


def test_an_unknown_flow_is_refused_with_the_naming_rule(store: Store) -> None:
    with pytest.raises(InvalidInputError, match="nope1Prepare, nope2Compose"):
        Bump(store).start("nope")
    with pytest.raises(InvalidInputError, match="no stages of flow 'bump'"):
        Flow(store).start("bump")


def test_a_flow_refuses_a_policy_that_is_not_a_retry_policy(store: Store) -> None:
    with pytest.raises(InvalidOptionError, match=r"actorstore\.RetryPolicy"):
        Bump(store, policy={"max_attempts": 3})  # type: ignore[arg-type]


def test_a_plain_value_ends_the_flow_early(store: Store) -> None:
    class Early(Flow):
        def f1Check(self, key: str) -> Any:
            return "skipped"

        def f2Never(self, *args: Any) -> Any:
            raise AssertionError("must not run")

    assert Early(store).start("f", "a").get(WAIT) == "skipped"


def test_a_middle_stage_that_fails_twice_then_succeeds(store: Store) -> None:
    store.upsert("docs", "a", {"n": 1}).get(WAIT)
    policy = RetryPolicy(max_attempts=5, initial_wait=0.01)
    flow = FlakyCompose(store, failures=2, policy=policy)
    assert flow.start("bump", "a").get(WAIT) == "a"
    assert store.search("docs", "a").get(WAIT) == {"n": 2}
    calls = flow.calls["compose"]
    assert len(calls) == 3
    assert len(flow.calls["prepare"]) == 1
    for attempt, (before, after) in enumerate(itertools.pairwise(calls), 1):
        assert after - before >= policy.delay(attempt)
    assert store.dead_letters.list(WAIT) == []


def test_a_stage_whose_request_fails_transiently_is_run_again(store: Store) -> None:
    store.upsert("docs", "a", {"n": 1}).get(WAIT)
    failures = [1]

    def fail_once(error: BaseException | None, result: Any) -> None:
        if error is None and failures[0] > 0:
            failures[0] -= 1
            raise StoreBusyError("the store is busy")

    class Writes(Bump):
        def bump2Compose(self, doc: dict[str, int], key: str) -> Any:
            self._enter("compose")
            new = {"n": doc["n"] + 1}
            return self.store.upsert("docs", key, new, callback=fail_once), key

    flow = Writes(store, policy=FAST)
    assert flow.start("bump", "a").get(WAIT) == "a"
    assert len(flow.calls["compose"]) == 2
    # The failed write rolled back, so the doc is bumped once, not twice.
    assert store.search("docs", "a").get(WAIT) == {"n": 2}


def test_a_flow_that_exhausts_is_dead_lettered_with_flow_and_stage(
    store: Store,
) -> None:
    store.upsert("docs", "a", {"n": 1}).get(WAIT)
    flow = FlakyCompose(store, failures=100, policy=RetryPolicy(max_attempts=3))
    future = flow.start("bump", "a")
    with pytest.raises(RetriesExhaustedError) as caught:
        future.get(WAIT)
    assert isinstance(caught.value.last_error, StoreBusyError)
    assert caught.value.attempts == 3
    assert len(flow.calls["compose"]) == 3
    (letter,) = store.dead_letters.list(WAIT)
    assert (letter.flow, letter.stage) == ("bump", "bump2Compose")
    assert letter.op_type == "flow"
    assert letter.key == "bump"
    assert letter.value == [{"n": 1}, "a"]
    assert letter.attempts == 3
    assert letter.error["type"] == "StoreBusyError"
    assert store.search("docs", "a").get(WAIT) == {"n": 1}
    assert store.stats()["in_flight"] == 0


def test_a_permanent_request_error_dead_letters_the_flow_at_once(
    store: Store,
) -> None:
    flow = Bump(store, policy=FAST)
    with pytest.raises(NotFoundError):
        flow.start("bump", "missing").get(WAIT)
    assert len(flow.calls["prepare"]) == 1
    assert "compose" not in flow.calls
    (letter,) = store.dead_letters.list(WAIT)
    assert (letter.flow, letter.stage, letter.attempts) == ("bump", "bump1Prepare", 1)
    assert letter.error["type"] == "NotFoundError"
    assert letter.value == ["missing"]


def test_a_flow_without_a_policy_uses_the_stores(
    make_store: Callable[..., Store],
) -> None:
    store = make_store(retry=RetryPolicy(max_attempts=2, initial_wait=0.001))
    store.create_table("docs")
    store.upsert("docs", "a", {"n": 1}).get(WAIT)
    flow = FlakyCompose(store, failures=100)
    with pytest.raises(RetriesExhaustedError):
        flow.start("bump", "a").get(WAIT)
    assert len(flow.calls["compose"]) == 2


def test_a_flow_class_policy_is_used(store: Store) -> None:
    class Once(FlakyCompose):
        policy = RetryPolicy(max_attempts=1)

    store.upsert("docs", "a", {"n": 1}).get(WAIT)
    flow = Once(store, failures=100)
    with pytest.raises(RetriesExhaustedError):
        flow.start("bump", "a").get(WAIT)
    assert len(flow.calls["compose"]) == 1


def test_many_flows_run_concurrently(store: Store) -> None:
    keys = [f"k{n}" for n in range(50)]
    for key in keys:
        store.upsert("docs", key, {"n": 0})
    store.flush(WAIT)
    futures = [Bump(store).start("bump", key) for key in keys]
    assert [future.get(WAIT) for future in futures] == keys
    assert {v["n"] for _, v in store.scan("docs").get(WAIT)} == {1}


def test_close_dead_letters_a_flow_whose_retry_is_pending(
    make_store: Callable[..., Store],
) -> None:
    store = make_store()
    store.create_table("docs")
    store.upsert("docs", "a", {"n": 1}).get(WAIT)
    flow = FlakyCompose(
        store, failures=100, policy=RetryPolicy(initial_wait=30, max_wait=60)
    )
    future = flow.start("bump", "a")
    # Once compose has failed, its retry is 30 s away (or, if close() wins
    # the race, never scheduled: either way close() must dead-letter it).
    assert flow.failed.wait(WAIT)
    started = time.monotonic()
    store.close(timeout=10)
    assert time.monotonic() - started < 5
    with pytest.raises(RetriesExhaustedError):
        future.get(WAIT)
    assert len(flow.calls["compose"]) == 1
    reopened = make_store()
    (letter,) = reopened.dead_letters.list(WAIT)
    assert (letter.flow, letter.stage) == ("bump", "bump2Compose")


def test_a_flow_whose_request_ends_during_close_is_dead_lettered_with_a_store_error(
    make_store: Callable[..., Store],
) -> None:
    letters: dict[str, DeadLetter] = {}
    parked = {"pending": threading.Event(), "held": threading.Event()}

    def hook(letter: DeadLetter) -> None:
        assert letter.flow is not None
        letters[letter.flow] = letter
        parked[letter.flow].set()

    store = make_store(threads=1, dead_letter_hook=hook)
    store.create_table("docs")
    gate, entered = threading.Event(), threading.Event()

    def hold(error: BaseException | None, result: Any) -> None:
        if error is None:
            entered.set()
            assert gate.wait(WAIT)

    class Pending(Flow):
        policy = RetryPolicy(initial_wait=30, max_wait=60)

        def __init__(self, store: Store) -> None:
            super().__init__(store)
            self.failed = threading.Event()

        def pending1Fail(self) -> Any:
            self.failed.set()
            raise StoreBusyError("the store is busy")

    class Held(Flow):
        def held1Write(self) -> Any:
            return (self.store.upsert("docs", "k", 1, callback=hold),)

        def held2Finish(self, _: None) -> Any:
            return "finished"

    pending = Pending(store)
    pending_future = pending.start("pending")
    assert pending.failed.wait(WAIT)
    held_future = Held(store).start("held")
    assert entered.wait(WAIT)
    closer = threading.Thread(target=store.close, kwargs={"timeout": 10})
    closer.start()
    try:
        # close() parks the flow whose retry is pending before it flushes:
        # from then on nothing can be scheduled.
        assert parked["pending"].wait(WAIT)
    finally:
        gate.set()
    closer.join(WAIT)
    assert not closer.is_alive()
    assert isinstance(pending_future.exception(WAIT), RetriesExhaustedError)
    assert parked["held"].wait(WAIT)
    # held1Write committed; the store closed before held2Finish could run.
    assert letters["held"].stage == "held2Finish"
    # Every error the store hands back derives from StoreError (DESIGN.md).
    error = held_future.exception(WAIT)
    assert isinstance(error, StoreError), repr(error)


def test_flush_waits_for_a_flow_whose_stage_waits_to_retry(store: Store) -> None:
    calls: list[float] = []

    class Slow(Flow):
        def go1Prepare(self, key: str) -> Any:
            calls.append(time.monotonic())
            if len(calls) < 3:
                raise StoreBusyError("busy")
            return self.store.upsert("docs", key, {"n": 1}), key

        def go2Finish(self, _: None, key: str) -> Any:
            return key

    future = Slow(store, policy=RetryPolicy(initial_wait=0.2, max_wait=0.2)).start(
        "go", "a"
    )
    store.flush(timeout=WAIT)
    assert future.done()
    assert future.get(0) == "a"
    assert len(calls) == 3
