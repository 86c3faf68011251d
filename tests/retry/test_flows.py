"""Tests for retry/flows.py: staged flows over a fake host and a fake store."""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

import pytest

from actorstore.retry import (
    DEFAULT_POLICY,
    Flow,
    Next,
    RetriesExhaustedError,
    RetryPolicy,
)
from actorstore.storage import (
    InvalidInputError,
    InvalidOptionError,
    NotFoundError,
    StoreBusyError,
    StoreClosedError,
    StoreError,
)

from .conftest import TIMER, WAIT, FakeFuture, FakeHost, FakeStore, busy
from .flow_samples import Bump, FlakyCompose

FAST = RetryPolicy(max_attempts=5, initial_wait=0.001)


class Given(Flow):
    """A flow whose first stage returns `returned`; `go2Next` records its args."""

    def __init__(self, store: FakeStore, returned: Any) -> None:
        super().__init__(store)
        self.returned = returned
        self.seen: list[tuple[Any, ...]] = []
        self.threads: list[str] = []

    def go1First(self) -> Any:
        return self.returned

    def go2Next(self, *args: Any) -> Any:
        self.seen.append(args)
        self.threads.append(threading.current_thread().name)
        return "next ran"


@pytest.fixture
def docs(store: FakeStore) -> FakeStore:
    """The fake store with doc `a` = {"n": 1} in table `docs`."""
    store.data["docs"] = {"a": {"n": 1}}
    return store


# -- stages ---------------------------------------------------------------------


def test_a_three_stage_flow_runs_its_stages_in_order(
    docs: FakeStore, host: FakeHost
) -> None:
    flow = Bump(docs)
    assert flow.start("bump", "a").get(WAIT) == "a"
    assert docs.data["docs"]["a"] == {"n": 2}
    assert [(r.op, r.key) for r in docs.requests] == [("search", "a"), ("upsert", "a")]
    assert list(flow.calls) == ["prepare", "compose", "finish"]
    assert all(len(times) == 1 for times in flow.calls.values())
    # The first stage runs on the caller; after each request the flow hops
    # onto the host's timer (a schedule() with no delay), never staying on
    # the thread that completed the request.
    assert flow.threads["prepare"] == [threading.current_thread().name]
    assert flow.threads["compose"] == [TIMER]
    assert flow.threads["finish"] == [TIMER]
    assert host.delays == [0, 0]
    assert host.parked == []


def test_the_flows_future_is_the_one_the_host_tracks(
    docs: FakeStore, host: FakeHost
) -> None:
    docs.hold()
    future = Bump(docs).start("bump", "a")
    assert host.tracked == [future]
    search = docs.held.get(timeout=WAIT)
    assert not future.done()
    docs.complete(search)
    docs.complete(docs.held.get(timeout=WAIT))
    assert future.get(WAIT) == "a"


def test_stages_are_found_in_numeric_order(store: FakeStore) -> None:
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


def test_an_unknown_flow_is_refused_with_the_naming_rule(store: FakeStore) -> None:
    with pytest.raises(InvalidInputError, match="nope1Prepare, nope2Compose"):
        Bump(store).start("nope")
    with pytest.raises(InvalidInputError, match="no stages of flow 'bump'"):
        Flow(store).start("bump")


def test_a_flow_refuses_a_policy_that_is_not_a_retry_policy(store: FakeStore) -> None:
    with pytest.raises(InvalidOptionError, match=r"actorstore\.RetryPolicy"):
        Bump(store, policy={"max_attempts": 3})  # type: ignore[arg-type]


def test_a_flow_refuses_something_that_is_not_a_store() -> None:
    with pytest.raises(InvalidOptionError, match="object: it has no dead_letters"):
        Flow(object())


# -- what a stage returns -------------------------------------------------------


def test_next_hands_the_requests_result_and_the_state_on(docs: FakeStore) -> None:
    flow = Given(docs, Next(docs.search("docs", "a"), "x", 2))
    assert flow.start("go").get(WAIT) == "next ran"
    assert flow.seen == [({"n": 1}, "x", 2)]
    assert flow.threads == [TIMER]


def test_next_with_a_plain_value_hands_it_on_at_once(
    store: FakeStore, host: FakeHost
) -> None:
    flow = Given(store, Next(41, "state"))
    assert flow.start("go").get(WAIT) == "next ran"
    assert flow.seen == [(41, "state")]
    # No request to wait for: no hop, the next stage ran on the caller.
    assert flow.threads == [threading.current_thread().name]
    assert host.delays == []


def test_a_bare_future_hands_on_its_result_alone(docs: FakeStore) -> None:
    flow = Given(docs, docs.search("docs", "a"))
    assert flow.start("go").get(WAIT) == "next ran"
    assert flow.seen == [({"n": 1},)]


def test_a_tuple_led_by_a_future_hands_on_the_rest_as_state(docs: FakeStore) -> None:
    flow = Given(docs, (docs.search("docs", "a"), "k", 3))
    assert flow.start("go").get(WAIT) == "next ran"
    assert flow.seen == [({"n": 1}, "k", 3)]


@pytest.mark.parametrize(
    "returned",
    [
        ("ok", "dst", 42),
        ("ok",),
        (),
        ("ok", FakeFuture.of("not a request: it is not first")),
        None,
        "skipped",
        [FakeFuture.of(1)],
    ],
    ids=["tuple", "1-tuple", "empty-tuple", "future-not-first", "none", "str", "list"],
)
def test_a_plain_value_or_a_tuple_of_them_ends_the_flow_whole(
    store: FakeStore, returned: Any
) -> None:
    flow = Given(store, returned)
    assert flow.start("go").get(WAIT) is returned
    assert flow.seen == []


def test_the_last_stage_ends_the_flow_with_its_next_or_its_requests_result(
    docs: FakeStore,
) -> None:
    class Last(Flow):
        def plain1Only(self) -> Any:
            return Next("done", "state is dropped")

        def request1Only(self) -> Any:
            return self.store.search("docs", "a"), "state is dropped"

    assert Last(docs).start("plain").get(WAIT) == "done"
    assert Last(docs).start("request").get(WAIT) == {"n": 1}


# -- failures and retries -------------------------------------------------------


def test_a_failing_stage_is_run_again_after_the_policys_delays(
    store: FakeStore, host: FakeHost
) -> None:
    policy = RetryPolicy(max_attempts=5, initial_wait=0.01)
    calls: list[tuple[float, str]] = []

    class Flaky(Flow):
        def go1Try(self, key: str) -> Any:
            calls.append((time.monotonic(), threading.current_thread().name))
            if len(calls) < 3:
                raise busy()
            return key

    assert Flaky(store, policy=policy).start("go", "a").get(WAIT) == "a"
    assert len(calls) == 3
    assert host.delays == [policy.delay(1), policy.delay(2)]
    for attempt, (before, after) in enumerate(itertools.pairwise(calls), 1):
        assert after[0] - before[0] >= policy.delay(attempt)
    # The retries run on the host's timer, the first attempt on the caller.
    assert [thread for _, thread in calls][1:] == [TIMER, TIMER]
    assert host.parked == []


def test_a_stage_whose_request_fails_transiently_is_run_again(
    docs: FakeStore, host: FakeHost
) -> None:
    docs.fail_next("upsert", busy())
    flow = Bump(docs, policy=FAST)
    assert flow.start("bump", "a").get(WAIT) == "a"
    assert len(flow.calls["prepare"]) == 1
    assert len(flow.calls["compose"]) == 2
    assert docs.data["docs"]["a"] == {"n": 2}
    assert FAST.delay(1) in host.delays
    assert host.parked == []


def test_a_flow_that_exhausts_is_dead_lettered_with_flow_and_stage(
    docs: FakeStore, host: FakeHost
) -> None:
    flow = FlakyCompose(docs, failures=100, policy=RetryPolicy(max_attempts=3))
    future = flow.start("bump", "a")
    with pytest.raises(RetriesExhaustedError) as caught:
        future.get(WAIT)
    error = caught.value
    assert isinstance(error.last_error, StoreBusyError)
    assert error.attempts == 3
    assert len(flow.calls["compose"]) == 3
    (letter,) = host.parked
    assert (letter.flow, letter.stage) == ("bump", "bump2Compose")
    assert (letter.op_type, letter.table, letter.key) == ("flow", "", "bump")
    assert letter.value == [{"n": 1}, "a"]
    assert letter.attempts == 3
    assert letter.error == {"type": "StoreBusyError", "message": "the store is busy"}
    assert letter.first_failed_at < letter.last_failed_at
    assert error.dead_letter is letter
    assert error.written
    assert f"the op was dead-lettered as letter {letter.id}" in str(error)
    assert list(host.letters) == [letter.id]
    assert docs.data["docs"]["a"] == {"n": 1}


def test_a_permanent_request_error_dead_letters_the_flow_at_once(
    store: FakeStore, host: FakeHost
) -> None:
    flow = Bump(store, policy=FAST)
    with pytest.raises(NotFoundError) as caught:
        flow.start("bump", "missing").get(WAIT)
    assert len(flow.calls["prepare"]) == 1
    assert "compose" not in flow.calls
    (letter,) = host.parked
    assert (letter.flow, letter.stage, letter.attempts) == ("bump", "bump1Prepare", 1)
    assert letter.error["type"] == "NotFoundError"
    assert letter.value == ["missing"]
    assert caught.value.dead_letter is letter  # type: ignore[attr-defined]
    assert f"dead-lettered as letter {letter.id}" in caught.value.__notes__[-1]


class Doomed(Flow):
    """Raise `error` in stage `where` (`first` on the caller, `second` on the timer)."""

    def __init__(
        self,
        store: FakeStore,
        error: BaseException,
        where: str,
        *,
        policy: RetryPolicy | None = None,
    ) -> None:
        super().__init__(store, policy=policy)
        self.error = error
        self.where = where
        self.calls = 0

    def go1First(self) -> Any:
        if self.where == "first":
            self.calls += 1
            raise self.error
        return FakeFuture.of("hop")

    def go2Second(self, _: str) -> Any:
        self.calls += 1
        raise self.error


@pytest.mark.parametrize("where", ["first", "second"])
@pytest.mark.parametrize(
    "error", [SystemExit(3), KeyboardInterrupt(), ValueError("a bug")], ids=repr
)
def test_a_stage_raising_anything_fails_only_its_flow(
    docs: FakeStore, host: FakeHost, error: BaseException, where: str
) -> None:
    flow = Doomed(docs, error, where, policy=FAST)
    future = flow.start("go")  # must not raise, even on the caller's thread
    # Not a retryable error under the policy: given up at once, as it is (the
    # flow's caller gets its own copy, carrying the note of its letter).
    got = future.exception(WAIT)
    assert type(got) is type(error) and got.args == error.args
    assert flow.calls == 1
    (letter,) = host.parked
    assert letter.stage == ("go1First" if where == "first" else "go2Second")
    assert letter.error["type"] == type(error).__name__
    # The timer and the host keep serving other flows.
    assert Bump(docs).start("bump", "a").get(WAIT) == "a"


@pytest.mark.parametrize("error", [SystemExit(3), KeyboardInterrupt()], ids=repr)
def test_a_policy_may_retry_even_a_base_exception(
    store: FakeStore, host: FakeHost, error: BaseException
) -> None:
    policy = RetryPolicy(
        max_attempts=2, initial_wait=0.001, retry_on=(SystemExit, KeyboardInterrupt)
    )
    flow = Doomed(store, error, "second", policy=policy)
    with pytest.raises(RetriesExhaustedError) as caught:
        flow.start("go").get(WAIT)
    assert caught.value.last_error is error
    assert caught.value.attempts == 2
    assert flow.calls == 2


def test_a_raising_policy_fails_the_flow_with_its_error_and_parks_it(
    store: FakeStore, host: FakeHost
) -> None:
    def broken(error: BaseException) -> bool:
        raise LookupError("policy bug")

    flow = Doomed(store, busy(), "first", policy=RetryPolicy(retry_on=broken))
    error = flow.start("go").exception(WAIT)
    assert isinstance(error, LookupError)
    assert isinstance(error.__context__, StoreBusyError)
    (letter,) = host.parked
    assert letter.error == {"type": "LookupError", "message": "policy bug"}
    assert error.dead_letter is letter  # type: ignore[attr-defined]


def test_a_raising_policy_keeps_the_failed_requests_error_as_context(
    store: FakeStore, host: FakeHost
) -> None:
    def broken(error: BaseException) -> bool:
        raise LookupError("policy bug")

    failure = busy()

    class Failing(Flow):
        def go1Read(self) -> Any:
            return FakeFuture.failed(failure)

        def go2Never(self, _: Any) -> Any:
            raise AssertionError("must not run")

    future = Failing(store, policy=RetryPolicy(retry_on=broken)).start("go")
    error = future.exception(WAIT)
    assert isinstance(error, LookupError)
    # As when the stage itself raised (then Python chains it implicitly).
    assert error.__context__ is failure


@pytest.mark.parametrize(
    ("how", "problem"),
    [
        ("park_error", OSError("disk full")),
        ("park_raises", OSError("disk full")),
        ("park_raises", KeyboardInterrupt()),
    ],
    ids=["write-fails", "park-raises", "park-raises-keyboard-interrupt"],
)
def test_a_flow_whose_letter_cannot_be_written_says_the_op_is_lost(
    docs: FakeStore, host: FakeHost, how: str, problem: BaseException
) -> None:
    setattr(host, how, problem)
    flow = FlakyCompose(docs, failures=100, policy=RetryPolicy(max_attempts=1))
    with pytest.raises(RetriesExhaustedError) as caught:
        flow.start("bump", "a").get(WAIT)
    error = caught.value
    (letter,) = host.parked
    assert error.dead_letter is letter
    assert not error.written
    assert host.letters == {}
    message = str(error)
    assert message.startswith("gave up after 1 attempt: StoreBusyError")
    assert f"the dead letter could not be written ({problem!r})" in message
    assert "so the op is lost to the store" in message
    assert "error's .dead_letter (flow bump stage bump2Compose)" in message


def test_a_permanent_error_whose_letter_cannot_be_written_says_so_in_a_note(
    store: FakeStore, host: FakeHost
) -> None:
    host.park_error = OSError("disk full")
    with pytest.raises(NotFoundError) as caught:
        Bump(store).start("bump", "missing").get(WAIT)
    (letter,) = host.parked
    assert caught.value.dead_letter is letter  # type: ignore[attr-defined]
    (note,) = caught.value.__notes__
    assert "could not be written (OSError('disk full'))" in note
    assert "lost to the store" in note
    assert "(flow bump stage bump1Prepare)" in note


def test_each_stage_counts_its_own_attempts_from_the_flows_first_failure(
    store: FakeStore, host: FakeHost
) -> None:
    times: dict[str, float] = {}

    class Two(Flow):
        policy = RetryPolicy(max_attempts=3, initial_wait=0.001)

        def go1First(self) -> Any:
            if "first" not in times:
                times["first"] = time.time()
                raise busy()
            return Next("on")

        def go2Second(self, _: str) -> Any:
            times.setdefault("second", time.time())
            raise busy()

    with pytest.raises(RetriesExhaustedError) as caught:
        Two(store).start("go").get(WAIT)
    (letter,) = host.parked
    assert letter.stage == "go2Second"
    assert letter.attempts == caught.value.attempts == 3
    assert times["first"] <= letter.first_failed_at <= times["second"]


# -- which policy -----------------------------------------------------------------


def test_a_flow_without_a_policy_uses_the_hosts(
    docs: FakeStore, host: FakeHost
) -> None:
    host.policy = RetryPolicy(max_attempts=2, initial_wait=0.001)
    flow = FlakyCompose(docs, failures=100)
    with pytest.raises(RetriesExhaustedError):
        flow.start("bump", "a").get(WAIT)
    assert len(flow.calls["compose"]) == 2


def test_a_flow_class_policy_is_used_and_an_explicit_one_wins(
    docs: FakeStore,
) -> None:
    class Once(FlakyCompose):
        policy = RetryPolicy(max_attempts=1)

    flow = Once(docs, failures=100)
    with pytest.raises(RetriesExhaustedError):
        flow.start("bump", "a").get(WAIT)
    assert len(flow.calls["compose"]) == 1
    flow = Once(docs, failures=100, policy=RetryPolicy(max_attempts=2))
    with pytest.raises(RetriesExhaustedError):
        flow.start("bump", "a").get(WAIT)
    assert len(flow.calls["compose"]) == 2


def test_with_no_policy_anywhere_a_flow_uses_the_default(
    store: FakeStore, host: FakeHost
) -> None:
    flow = Doomed(store, busy(), "first")
    assert flow.policy is None
    assert host.policy is None
    future = flow.start("go")
    assert host.delays == [DEFAULT_POLICY.delay(1)]
    host.close()  # its retries would take long: cut them short
    assert isinstance(future.exception(WAIT), RetriesExhaustedError)


def test_many_flows_run_concurrently(store: FakeStore) -> None:
    keys = [f"k{n}" for n in range(50)]
    store.data["docs"] = {key: {"n": 0} for key in keys}
    futures = [Bump(store).start("bump", key) for key in keys]
    assert [future.get(WAIT) for future in futures] == keys
    assert {v["n"] for v in store.data["docs"].values()} == {1}


# -- close --------------------------------------------------------------------------


def test_close_parks_a_flow_whose_retry_is_pending_as_cut_short(
    store: FakeStore, host: FakeHost
) -> None:
    flow = Doomed(store, busy(), "first", policy=RetryPolicy(initial_wait=30))
    future = flow.start("go")
    # The first stage ran on this thread: its retry is now 30 s away.
    assert host.delays == [30]
    assert not future.done()
    host.close()
    # close ran the retry's on_close in its place, on this thread.
    with pytest.raises(RetriesExhaustedError) as caught:
        future.get(0)
    assert flow.calls == 1
    (letter,) = host.parked
    assert (letter.flow, letter.stage, letter.attempts) == ("go", "go1First", 1)
    assert caught.value.written
    assert caught.value.dead_letter is letter
    assert str(caught.value).startswith(
        "its pending retry was cut short by close() after 1 attempt "
        "of the 10 its policy allowed: StoreBusyError: the store is busy"
    )


def test_a_retry_due_after_close_began_is_parked_at_once(
    store: FakeStore, host: FakeHost
) -> None:
    store.hold()

    class Held(Flow):
        def go1Read(self) -> Any:
            return self.store.search("docs", "a")

        def go2Never(self, _: Any) -> Any:
            raise AssertionError("must not run")

    future = Held(store).start("go")
    request = store.held.get(timeout=WAIT)
    host.close()
    # The request fails after close began: its retry can no longer be
    # scheduled, so the flow is parked on this thread, as it stands, and the
    # error says close() cut its retries short (as an op's does).
    request.future.set_exception(busy())
    with pytest.raises(RetriesExhaustedError) as caught:
        future.get(0)
    assert str(caught.value).startswith(
        "its pending retry was cut short by close() after 1 attempt of the 10 its "
        "policy allowed: StoreBusyError"
    )
    (letter,) = host.parked
    assert (letter.stage, letter.attempts) == ("go1Read", 1)


def test_a_permanent_error_during_close_is_not_called_cut_short(
    store: FakeStore, host: FakeHost
) -> None:
    store.hold()

    class Held(Flow):
        def go1Write(self) -> Any:
            return self.store.upsert("docs", "a", 1)

        def go2Never(self, _: Any) -> Any:
            raise AssertionError("must not run")

    future = Held(store).start("go")
    request = store.held.get(timeout=WAIT)
    host.close()
    refused = InvalidInputError("a value the table refuses")
    request.future.set_exception(refused)
    # Never retried anyway: the error stays itself, with its letter's note.
    error = future.exception(0)
    assert type(error) is InvalidInputError and str(error) == str(refused)
    (letter,) = host.parked
    assert error.__notes__ == [
        f"dead-lettered as letter {letter.id} (see store.dead_letters)"
    ]


def test_a_request_that_ends_during_close_parks_the_next_stage(
    store: FakeStore, host: FakeHost
) -> None:
    store.hold()

    class Held(Flow):
        def held1Write(self) -> Any:
            return (self.store.upsert("docs", "k", 1),)

        def held2Finish(self, _: None) -> Any:
            raise AssertionError("must not run once the host closed")

    future = Held(store).start("held")
    request = store.held.get(timeout=WAIT)
    host.close()
    store.complete(request)  # held1Write committed: held2Finish is parked
    error = future.exception(0)
    # Every error a store hands back derives from StoreError (DESIGN.md).
    assert isinstance(error, StoreClosedError)
    assert isinstance(error, StoreError)
    (letter,) = host.parked
    assert (letter.stage, letter.value) == ("held2Finish", [None])
    assert letter.error["type"] == "StoreClosedError"
    assert error.dead_letter is letter  # type: ignore[attr-defined]


def test_a_last_request_that_ends_during_close_still_ends_the_flow(
    docs: FakeStore, host: FakeHost
) -> None:
    docs.hold()

    class Read(Flow):
        def read1Only(self) -> Any:
            return self.store.search("docs", "a")

    future = Read(docs).start("read")
    request = docs.held.get(timeout=WAIT)
    host.close()
    docs.complete(request)
    # No stage is left to run: the request's result is the flow's.
    assert future.get(0) == {"n": 1}
    assert host.parked == []


def test_a_flow_cannot_start_once_the_host_closed(
    store: FakeStore, host: FakeHost
) -> None:
    host.close()
    flow = Doomed(store, busy(), "first")
    with pytest.raises(StoreClosedError):
        flow.start("go")
    assert flow.calls == 0
    assert host.parked == []


def test_next_shows_its_request_and_state() -> None:
    assert repr(Next("r", 1, "s")) == "Next('r', *(1, 's'))"
