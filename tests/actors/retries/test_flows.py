"""Staged flows (`retry.Flow`), each test over the fake host and a real store.

One copy of the flow tests. The `bed` fixture runs each test twice: over
"fake host", the `RetryHost` and store of tests/retry/fakes.py (no LMDB, no
actors; the host's timer is the only thread), and over "real store", an
open store (LMDB, pykka owners, its scheduler). A test that takes `fake`
runs over the fake host alone: it steers or reads what only the fake
shows (held requests, the host's exact schedule, a letter that cannot be
written). A test that takes `real` runs over the real store alone: close
and flush with owners and threads. Inside a shared test, an `isinstance`
block adds what one backend alone can show. A `Flow`'s argument checking
and stage discovery run no flow: tests/retry/test_flows.py.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from actorstore import Store
from actorstore.retry import (
    DEFAULT_POLICY,
    DeadLetter,
    Flow,
    Next,
    RetriesExhaustedError,
    RetryPolicy,
    Scheduler,
)
from actorstore.storage import (
    InvalidInputError,
    NotFoundError,
    StoreBusyError,
    StoreClosedError,
    StoreError,
)
from tests.retry.fakes import TIMER, WAIT, FakeFuture, FakeHost, FakeStore, busy
from tests.retry.flow_samples import Bump, FlakyCompose, Numbered

FAKE = "fake host"
REAL = "real store"
FAST = RetryPolicy(max_attempts=5, initial_wait=0.001)


class FakeBed:
    """Flows over the fake host: a `FakeStore` over a `FakeHost`."""

    timer = TIMER
    """The thread later stages run on: the fake host's `Scheduler`."""

    def __init__(self, scheduler: Scheduler) -> None:
        self.host = FakeHost(scheduler)
        self.store = FakeStore(self.host)

    def open(self, policy: RetryPolicy | None = None) -> FakeStore:
        """Return the store, its host's own policy `policy`."""
        self.host.policy = policy
        return self.store

    def put(self, docs: Mapping[str, Any]) -> None:
        """Write `docs` (key -> value) into table `docs`."""
        self.store.data.setdefault("docs", {}).update(docs)

    def docs(self) -> dict[str, Any]:
        """Return what table `docs` holds (key -> value)."""
        return dict(self.store.data.get("docs", {}))

    def letters(self) -> list[DeadLetter]:
        """Return the letters the host parked, in order; each is in its table."""
        parked = list(self.host.parked)
        assert [letter.id for letter in parked] == list(self.host.letters)
        return parked

    def same_letter(self, got: object, letter: DeadLetter) -> bool:
        """Say whether `got` is `letter`: the very object the host parked."""
        return got is letter

    def close(self) -> None:
        """Close the host as a store's `close()` would."""
        self.host.close()


class StoreBed:
    """Flows over a real store (table `docs`: str keys, JSON values)."""

    timer = "StoreScheduler"
    """The thread later stages run on: the store's scheduler."""

    def __init__(self, make_store: Callable[..., Store], path: Path) -> None:
        self._make_store = make_store
        self._path = path
        self._store: Store | None = None
        self._reopened: Store | None = None

    def open(self, policy: RetryPolicy | None = None, **options: Any) -> Store:
        """Open the store (2 owners unless `options` say), its policy `policy`."""
        assert self._store is None, "the store is open already"
        self._store = self._make_store(
            self._path, retry=policy, **{"threads": 2, **options}
        )
        self._store.create_table("docs", key_format="str", value_format="json")
        return self._store

    @property
    def store(self) -> Store:
        """The store, opened with the defaults on first use."""
        return self._store if self._store is not None else self.open()

    def put(self, docs: Mapping[str, Any]) -> None:
        """Write `docs` (key -> value) into table `docs`."""
        for key, value in docs.items():
            self.store.upsert("docs", key, value)
        self.store.flush(WAIT)

    def docs(self) -> dict[str, Any]:
        """Return what table `docs` holds (key -> value)."""
        return dict(self.store.scan("docs").get(WAIT))

    def letters(self) -> list[DeadLetter]:
        """Return the dead-letter table's letters; once the store closed, as a
        store reopened on its directory reads them."""
        store = self.store
        if store.is_closed:
            if self._reopened is None:
                self._reopened = self._make_store(self._path)
            store = self._reopened
        return store.dead_letters.list(WAIT)

    def same_letter(self, got: object, letter: DeadLetter) -> bool:
        """Say whether `got` is `letter`: the record read back equals it."""
        return got == letter

    def close(self) -> None:
        """Close the store."""
        self.store.close(timeout=10)


Bed = FakeBed | StoreBed


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run each test over both backends, or the one its fixtures name:
    `fake` the fake host, `real` the real store."""
    if "backend" not in metafunc.fixturenames:
        return
    if "fake" in metafunc.fixturenames:
        backends = [FAKE]
    elif "real" in metafunc.fixturenames:
        backends = [REAL]
    else:
        backends = [FAKE, REAL]
    metafunc.parametrize("backend", backends, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """Return which backend the test runs over (`FAKE` or `REAL`)."""
    name: str = request.param
    return name


@pytest.fixture
def bed(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Bed]:
    """Yield the flows' test bed over `backend`; torn down with the test."""
    if backend == REAL:
        yield StoreBed(request.getfixturevalue("make_store"), tmp_path / "store")
        return
    scheduler = Scheduler(name=TIMER)
    try:
        yield FakeBed(scheduler)
    finally:
        scheduler.close()


@pytest.fixture
def fake(bed: Bed) -> FakeBed:
    """Return the bed of a test that runs over the fake host alone."""
    assert isinstance(bed, FakeBed)
    return bed


@pytest.fixture
def real(bed: Bed) -> StoreBed:
    """Return the bed of a test that runs over the real store alone."""
    assert isinstance(bed, StoreBed)
    return bed


class Given(Flow):
    """A flow whose first stage returns `returned`; `go2Next` records its args."""

    def __init__(self, store: Any, returned: Any) -> None:
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


class Doomed(Flow):
    """Raise `error` in stage `where` (`first` on the caller, `second` on the
    timer, after a write)."""

    def __init__(
        self,
        store: Any,
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
        return self.store.upsert("docs", "hop", 1)

    def go2Second(self, _: None) -> Any:
        self.calls += 1
        raise self.error


# -- stages ---------------------------------------------------------------------


def test_a_three_stage_flow_runs_its_stages_in_order(bed: Bed) -> None:
    bed.put({"a": {"n": 1}})
    flow = Bump(bed.store)
    assert flow.start("bump", "a").get(WAIT) == "a"
    assert bed.docs()["a"] == {"n": 2}
    assert list(flow.calls) == ["prepare", "compose", "finish"]
    assert all(len(times) == 1 for times in flow.calls.values())
    # The first stage runs on the caller; after each request the flow hops
    # onto the host's timer, never staying on the thread that completed the
    # request, so no owner waits between stages.
    assert flow.threads["prepare"] == [threading.current_thread().name]
    assert flow.threads["compose"] == [bed.timer]
    assert flow.threads["finish"] == [bed.timer]
    assert bed.letters() == []
    if isinstance(bed, FakeBed):
        # One request per stage; each hop is a schedule() with no delay.
        requests = [(r.op, r.key) for r in bed.store.requests]
        assert requests == [("search", "a"), ("upsert", "a")]
        assert bed.host.delays == [0, 0]


def test_the_flows_future_is_the_one_the_host_tracks(fake: FakeBed) -> None:
    fake.put({"a": {"n": 1}})
    fake.store.hold()
    future = Bump(fake.store).start("bump", "a")
    assert fake.host.tracked == [future]
    search = fake.store.held.get(timeout=WAIT)
    assert not future.done()
    fake.store.complete(search)
    fake.store.complete(fake.store.held.get(timeout=WAIT))
    assert future.get(WAIT) == "a"


def test_stages_run_in_numeric_order(bed: Bed) -> None:
    assert Numbered(bed.store).start("go").get(WAIT) == [1, 2, 10]


# -- what a stage returns -------------------------------------------------------


def test_next_hands_the_requests_result_and_the_state_on(bed: Bed) -> None:
    bed.put({"a": {"n": 1}})
    flow = Given(bed.store, Next(bed.store.search("docs", "a"), "x", 2))
    assert flow.start("go").get(WAIT) == "next ran"
    assert flow.seen == [({"n": 1}, "x", 2)]
    assert flow.threads == [bed.timer]


def test_next_with_a_plain_value_hands_it_on_at_once(bed: Bed) -> None:
    flow = Given(bed.store, Next(41, "state"))
    assert flow.start("go").get(WAIT) == "next ran"
    assert flow.seen == [(41, "state")]
    # No request to wait for: no hop, the next stage ran on the caller.
    assert flow.threads == [threading.current_thread().name]
    if isinstance(bed, FakeBed):
        assert bed.host.delays == []


def test_a_bare_future_hands_on_its_result_alone(bed: Bed) -> None:
    bed.put({"a": {"n": 1}})
    flow = Given(bed.store, bed.store.search("docs", "a"))
    assert flow.start("go").get(WAIT) == "next ran"
    assert flow.seen == [({"n": 1},)]


def test_a_tuple_led_by_a_future_hands_on_the_rest_as_state(bed: Bed) -> None:
    bed.put({"a": {"n": 1}})
    flow = Given(bed.store, (bed.store.search("docs", "a"), "k", 3))
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
    bed: Bed, returned: Any
) -> None:
    flow = Given(bed.store, returned)
    assert flow.start("go").get(WAIT) is returned
    assert flow.seen == []


def test_the_last_stage_ends_the_flow_with_its_next_or_its_requests_result(
    bed: Bed,
) -> None:
    class Last(Flow):
        def plain1Only(self) -> Any:
            return Next("done", "state is dropped")

        def request1Only(self) -> Any:
            return self.store.search("docs", "a"), "state is dropped"

    bed.put({"a": {"n": 1}})
    assert Last(bed.store).start("plain").get(WAIT) == "done"
    assert Last(bed.store).start("request").get(WAIT) == {"n": 1}


# -- failures and retries -------------------------------------------------------


def test_a_failing_stage_is_run_again_after_the_policys_delays(bed: Bed) -> None:
    policy = RetryPolicy(max_attempts=5, initial_wait=0.01)
    calls: list[tuple[float, str]] = []

    class Flaky(Flow):
        def go1Try(self, key: str) -> Any:
            calls.append((time.monotonic(), threading.current_thread().name))
            if len(calls) < 3:
                raise busy()
            return key

    assert Flaky(bed.store, policy=policy).start("go", "a").get(WAIT) == "a"
    assert len(calls) == 3
    for attempt, (before, after) in enumerate(itertools.pairwise(calls), 1):
        assert after[0] - before[0] >= policy.delay(attempt)
    # The retries run on the host's timer, the first attempt on the caller.
    assert [thread for _, thread in calls][1:] == [bed.timer, bed.timer]
    assert bed.letters() == []
    if isinstance(bed, FakeBed):
        assert bed.host.delays == [policy.delay(1), policy.delay(2)]


def test_a_middle_stage_that_fails_twice_then_succeeds(bed: Bed) -> None:
    bed.put({"a": {"n": 1}})
    policy = RetryPolicy(max_attempts=5, initial_wait=0.01)
    flow = FlakyCompose(bed.store, failures=2, policy=policy)
    assert flow.start("bump", "a").get(WAIT) == "a"
    assert bed.docs()["a"] == {"n": 2}
    calls = flow.calls["compose"]
    assert len(calls) == 3
    assert len(flow.calls["prepare"]) == 1
    for attempt, (before, after) in enumerate(itertools.pairwise(calls), 1):
        assert after - before >= policy.delay(attempt)
    assert flow.threads["compose"] == [bed.timer] * 3
    assert bed.letters() == []


def test_a_stage_whose_request_fails_transiently_is_run_again(bed: Bed) -> None:
    bed.put({"a": {"n": 1}})
    failures = [1]

    def fail_once(error: BaseException | None, result: Any) -> None:
        if error is None and failures[0] > 0:
            failures[0] -= 1
            raise busy()

    class Writes(Bump):
        def bump2Compose(self, doc: dict[str, int], key: str) -> Any:
            self._enter("compose")
            new = {"n": doc["n"] + 1}
            return self.store.upsert("docs", key, new, callback=fail_once), key

    flow = Writes(bed.store, policy=FAST)
    assert flow.start("bump", "a").get(WAIT) == "a"
    assert len(flow.calls["prepare"]) == 1
    assert len(flow.calls["compose"]) == 2
    # The failed write rolled back, so the doc is bumped once, not twice.
    assert bed.docs()["a"] == {"n": 2}
    assert bed.letters() == []
    if isinstance(bed, FakeBed):
        assert FAST.delay(1) in bed.host.delays


def test_a_flow_that_exhausts_is_dead_lettered_with_flow_and_stage(
    bed: Bed,
) -> None:
    bed.put({"a": {"n": 1}})
    flow = FlakyCompose(bed.store, failures=100, policy=RetryPolicy(max_attempts=3))
    future = flow.start("bump", "a")
    with pytest.raises(RetriesExhaustedError) as caught:
        future.get(WAIT)
    error = caught.value
    assert isinstance(error.last_error, StoreBusyError)
    assert error.attempts == 3
    assert len(flow.calls["compose"]) == 3
    (letter,) = bed.letters()
    assert (letter.flow, letter.stage) == ("bump", "bump2Compose")
    assert (letter.op_type, letter.table, letter.key) == ("flow", "", "bump")
    assert letter.value == [{"n": 1}, "a"]
    assert letter.attempts == 3
    assert letter.error == {"type": "StoreBusyError", "message": "the store is busy"}
    assert letter.first_failed_at < letter.last_failed_at
    assert bed.same_letter(error.dead_letter, letter)
    assert error.written
    assert f"the op was dead-lettered as letter {letter.id}" in str(error)
    assert bed.docs()["a"] == {"n": 1}
    if isinstance(bed, StoreBed):
        assert bed.store.stats()["in_flight"] == 0


def test_a_permanent_request_error_dead_letters_the_flow_at_once(bed: Bed) -> None:
    flow = Bump(bed.store, policy=FAST)
    with pytest.raises(NotFoundError) as caught:
        flow.start("bump", "missing").get(WAIT)
    assert len(flow.calls["prepare"]) == 1
    assert "compose" not in flow.calls
    (letter,) = bed.letters()
    assert (letter.flow, letter.stage, letter.attempts) == ("bump", "bump1Prepare", 1)
    assert letter.error["type"] == "NotFoundError"
    assert letter.value == ["missing"]
    assert bed.same_letter(caught.value.dead_letter, letter)  # type: ignore[attr-defined]
    assert f"dead-lettered as letter {letter.id}" in caught.value.__notes__[-1]


@pytest.mark.parametrize("where", ["first", "second"])
@pytest.mark.parametrize(
    "error", [SystemExit(3), KeyboardInterrupt(), ValueError("a bug")], ids=repr
)
def test_a_stage_raising_anything_fails_only_its_flow(
    bed: Bed, error: BaseException, where: str
) -> None:
    bed.put({"a": {"n": 1}})
    flow = Doomed(bed.store, error, where, policy=FAST)
    future = flow.start("go")  # must not raise, even on the caller's thread
    # Not a retryable error under the policy: given up at once, as it is (the
    # flow's caller gets its own copy, carrying the note of its letter).
    got = future.exception(WAIT)
    assert type(got) is type(error) and got.args == error.args
    assert flow.calls == 1
    (letter,) = bed.letters()
    assert letter.stage == ("go1First" if where == "first" else "go2Second")
    assert letter.error["type"] == type(error).__name__
    # The timer and the host keep serving other flows.
    assert Bump(bed.store).start("bump", "a").get(WAIT) == "a"


@pytest.mark.parametrize("error", [SystemExit(3), KeyboardInterrupt()], ids=repr)
def test_a_policy_may_retry_even_a_base_exception(
    bed: Bed, error: BaseException
) -> None:
    policy = RetryPolicy(
        max_attempts=2, initial_wait=0.001, retry_on=(SystemExit, KeyboardInterrupt)
    )
    flow = Doomed(bed.store, error, "second", policy=policy)
    with pytest.raises(RetriesExhaustedError) as caught:
        flow.start("go").get(WAIT)
    assert caught.value.last_error is error
    assert caught.value.attempts == 2
    assert flow.calls == 2


def test_a_raising_policy_fails_the_flow_with_its_error_and_parks_it(
    bed: Bed,
) -> None:
    def broken(error: BaseException) -> bool:
        raise LookupError("policy bug")

    flow = Doomed(bed.store, busy(), "first", policy=RetryPolicy(retry_on=broken))
    error = flow.start("go").exception(WAIT)
    assert isinstance(error, LookupError)
    assert isinstance(error.__context__, StoreBusyError)
    (letter,) = bed.letters()
    assert letter.error == {"type": "LookupError", "message": "policy bug"}
    assert bed.same_letter(error.dead_letter, letter)  # type: ignore[attr-defined]


def test_a_raising_policy_keeps_the_failed_requests_error_as_context(
    bed: Bed,
) -> None:
    def broken(error: BaseException) -> bool:
        raise LookupError("policy bug")

    failure = busy()

    class Failing(Flow):
        def go1Read(self) -> Any:
            return FakeFuture.failed(failure)

        def go2Never(self, _: Any) -> Any:
            raise AssertionError("must not run")

    future = Failing(bed.store, policy=RetryPolicy(retry_on=broken)).start("go")
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
    fake: FakeBed, how: str, problem: BaseException
) -> None:
    setattr(fake.host, how, problem)
    fake.put({"a": {"n": 1}})
    flow = FlakyCompose(fake.store, failures=100, policy=RetryPolicy(max_attempts=1))
    with pytest.raises(RetriesExhaustedError) as caught:
        flow.start("bump", "a").get(WAIT)
    error = caught.value
    (letter,) = fake.host.parked
    assert error.dead_letter is letter
    assert not error.written
    assert fake.host.letters == {}
    message = str(error)
    assert message.startswith("gave up after 1 attempt: StoreBusyError")
    assert f"the dead letter could not be written ({problem!r})" in message
    assert "so the op is lost to the store" in message
    assert "error's .dead_letter (flow bump stage bump2Compose)" in message


def test_a_permanent_error_whose_letter_cannot_be_written_says_so_in_a_note(
    fake: FakeBed,
) -> None:
    fake.host.park_error = OSError("disk full")
    with pytest.raises(NotFoundError) as caught:
        Bump(fake.store).start("bump", "missing").get(WAIT)
    (letter,) = fake.host.parked
    assert caught.value.dead_letter is letter  # type: ignore[attr-defined]
    (note,) = caught.value.__notes__
    assert "could not be written (OSError('disk full'))" in note
    assert "lost to the store" in note
    assert "(flow bump stage bump1Prepare)" in note


def test_each_stage_counts_its_own_attempts_from_the_flows_first_failure(
    bed: Bed,
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
        Two(bed.store).start("go").get(WAIT)
    (letter,) = bed.letters()
    assert letter.stage == "go2Second"
    assert letter.attempts == caught.value.attempts == 3
    assert times["first"] <= letter.first_failed_at <= times["second"]


# -- which policy -----------------------------------------------------------------


def test_a_flow_without_a_policy_uses_the_hosts(bed: Bed) -> None:
    store = bed.open(RetryPolicy(max_attempts=2, initial_wait=0.001))
    bed.put({"a": {"n": 1}})
    flow = FlakyCompose(store, failures=100)
    with pytest.raises(RetriesExhaustedError):
        flow.start("bump", "a").get(WAIT)
    assert len(flow.calls["compose"]) == 2


def test_a_flow_class_policy_is_used_and_an_explicit_one_wins(bed: Bed) -> None:
    class Once(FlakyCompose):
        policy = RetryPolicy(max_attempts=1)

    bed.put({"a": {"n": 1}})
    flow = Once(bed.store, failures=100)
    with pytest.raises(RetriesExhaustedError):
        flow.start("bump", "a").get(WAIT)
    assert len(flow.calls["compose"]) == 1
    flow = Once(bed.store, failures=100, policy=RetryPolicy(max_attempts=2))
    with pytest.raises(RetriesExhaustedError):
        flow.start("bump", "a").get(WAIT)
    assert len(flow.calls["compose"]) == 2


def test_with_no_policy_anywhere_a_flow_uses_the_default(fake: FakeBed) -> None:
    flow = Doomed(fake.store, busy(), "first")
    assert flow.policy is None
    assert fake.host.policy is None
    future = flow.start("go")
    assert fake.host.delays == [DEFAULT_POLICY.delay(1)]
    fake.close()  # its retries would take long: cut them short
    assert isinstance(future.exception(WAIT), RetriesExhaustedError)


def test_many_flows_run_concurrently(bed: Bed) -> None:
    keys = [f"k{n}" for n in range(50)]
    bed.put({key: {"n": 0} for key in keys})
    futures = [Bump(bed.store).start("bump", key) for key in keys]
    assert [future.get(WAIT) for future in futures] == keys
    assert {v["n"] for v in bed.docs().values()} == {1}


# -- close --------------------------------------------------------------------------


def test_close_parks_a_flow_whose_retry_is_pending_as_cut_short(bed: Bed) -> None:
    flow = Doomed(bed.store, busy(), "first", policy=RetryPolicy(initial_wait=30))
    future = flow.start("go")
    # The first stage ran on this thread: its retry is now 30 s away.
    assert not future.done()
    if isinstance(bed, FakeBed):
        assert bed.host.delays == [30]
    bed.close()
    # close ran the retry's on_close in its place, before it returned.
    with pytest.raises(RetriesExhaustedError) as caught:
        future.get(0)
    assert flow.calls == 1
    (letter,) = bed.letters()
    assert (letter.flow, letter.stage, letter.attempts) == ("go", "go1First", 1)
    assert caught.value.written
    assert bed.same_letter(caught.value.dead_letter, letter)
    assert str(caught.value).startswith(
        "its pending retry was cut short by close() after 1 attempt "
        "of the 10 its policy allowed: StoreBusyError: the store is busy"
    )


def test_close_dead_letters_a_flow_whose_middle_stage_waits_to_retry(
    bed: Bed,
) -> None:
    bed.put({"a": {"n": 1}})
    flow = FlakyCompose(
        bed.store, failures=100, policy=RetryPolicy(initial_wait=30, max_wait=60)
    )
    future = flow.start("bump", "a")
    # Once compose has failed, its retry is 30 s away (or, if close() wins
    # the race, never scheduled: either way close() must dead-letter it).
    assert flow.failed.wait(WAIT)
    started = time.monotonic()
    bed.close()
    assert time.monotonic() - started < 5
    with pytest.raises(RetriesExhaustedError):
        future.get(WAIT)
    assert len(flow.calls["compose"]) == 1
    # Over the real store, as a store reopened on its directory reads it.
    (letter,) = bed.letters()
    assert (letter.flow, letter.stage) == ("bump", "bump2Compose")


def test_a_retry_due_after_close_began_is_parked_at_once(fake: FakeBed) -> None:
    fake.store.hold()

    class Held(Flow):
        def go1Read(self) -> Any:
            return self.store.search("docs", "a")

        def go2Never(self, _: Any) -> Any:
            raise AssertionError("must not run")

    future = Held(fake.store).start("go")
    request = fake.store.held.get(timeout=WAIT)
    fake.close()
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
    (letter,) = fake.host.parked
    assert (letter.stage, letter.attempts) == ("go1Read", 1)


def test_a_permanent_error_during_close_is_not_called_cut_short(
    fake: FakeBed,
) -> None:
    fake.store.hold()

    class Held(Flow):
        def go1Write(self) -> Any:
            return self.store.upsert("docs", "a", 1)

        def go2Never(self, _: Any) -> Any:
            raise AssertionError("must not run")

    future = Held(fake.store).start("go")
    request = fake.store.held.get(timeout=WAIT)
    fake.close()
    refused = InvalidInputError("a value the table refuses")
    request.future.set_exception(refused)
    # Never retried anyway: the error stays itself, with its letter's note.
    error = future.exception(0)
    assert type(error) is InvalidInputError and str(error) == str(refused)
    (letter,) = fake.host.parked
    assert error.__notes__ == [
        f"dead-lettered as letter {letter.id} (see store.dead_letters)"
    ]


def test_a_request_that_ends_during_close_parks_the_next_stage(
    fake: FakeBed,
) -> None:
    fake.store.hold()

    class Held(Flow):
        def held1Write(self) -> Any:
            return (self.store.upsert("docs", "k", 1),)

        def held2Finish(self, _: None) -> Any:
            raise AssertionError("must not run once the host closed")

    future = Held(fake.store).start("held")
    request = fake.store.held.get(timeout=WAIT)
    fake.close()
    fake.store.complete(request)  # held1Write committed: held2Finish is parked
    error = future.exception(0)
    # Every error a store hands back derives from StoreError (DESIGN.md).
    assert isinstance(error, StoreClosedError)
    assert isinstance(error, StoreError)
    (letter,) = fake.host.parked
    assert (letter.stage, letter.value) == ("held2Finish", [None])
    assert letter.error["type"] == "StoreClosedError"
    assert error.dead_letter is letter  # type: ignore[attr-defined]


def test_a_flow_whose_request_ends_during_close_is_dead_lettered_with_a_store_error(
    real: StoreBed,
) -> None:
    letters: dict[str, DeadLetter] = {}
    parked = {"pending": threading.Event(), "held": threading.Event()}

    def hook(letter: DeadLetter) -> None:
        assert letter.flow is not None
        letters[letter.flow] = letter
        parked[letter.flow].set()

    store = real.open(threads=1, dead_letter_hook=hook)
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


def test_a_last_request_that_ends_during_close_still_ends_the_flow(
    fake: FakeBed,
) -> None:
    fake.put({"a": {"n": 1}})
    fake.store.hold()

    class Read(Flow):
        def read1Only(self) -> Any:
            return self.store.search("docs", "a")

    future = Read(fake.store).start("read")
    request = fake.store.held.get(timeout=WAIT)
    fake.close()
    fake.store.complete(request)
    # No stage is left to run: the request's result is the flow's.
    assert future.get(0) == {"n": 1}
    assert fake.host.parked == []


def test_a_flow_cannot_start_once_the_host_closed(bed: Bed) -> None:
    store = bed.store
    bed.close()
    flow = Doomed(store, busy(), "first")
    with pytest.raises(StoreClosedError):
        flow.start("go")
    assert flow.calls == 0
    assert bed.letters() == []


def test_flush_waits_for_a_flow_whose_stage_waits_to_retry(real: StoreBed) -> None:
    calls: list[float] = []

    class Slow(Flow):
        def go1Prepare(self, key: str) -> Any:
            calls.append(time.monotonic())
            if len(calls) < 3:
                raise StoreBusyError("busy")
            return self.store.upsert("docs", key, {"n": 1}), key

        def go2Finish(self, _: None, key: str) -> Any:
            return key

    policy = RetryPolicy(initial_wait=0.2, max_wait=0.2)
    future = Slow(real.store, policy=policy).start("go", "a")
    real.store.flush(timeout=WAIT)
    assert future.done()
    assert future.get(0) == "a"
    assert len(calls) == 3
