"""A fake `retry.RetryHost` and a fake store over it, and the retry tests' helpers.

The retry framework talks to whatever hosts it only through `RetryHost`
(schedule, park, submit, replay, track, policy), so here a small
fake plays the store: a real `retry.Scheduler` for its timer, a dict for
its dead-letter table, and `FakeFuture`s for its requests. Nothing here
needs LMDB, pykka or a worker thread. The fixtures over them are in
conftest.py; the flow tests import these as `tests.retry.fakes`, to run
each flow over this fake host and over a real store
(tests/actors/retries/test_flows.py).
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from actorstore.retry import (
    DEAD_LETTER_TABLE,
    AttemptState,
    DeadLetter,
    DeadLetterTable,
    RetryPolicy,
    Scheduler,
)
from actorstore.retry._letters import new_dead_letter_id
from actorstore.storage import (
    InvalidOptionError,
    KeyExistsError,
    NotFoundError,
    StoreBusyError,
    StoreClosedError,
)

WAIT = 5.0
"""Seconds any test waits for something that signals; far above what it takes."""

TIMER = "FakeHostTimer"
"""The name of the fake host's timer thread (its `retry.Scheduler`)."""


class FakeFuture:
    """A thread-safe future with one result slot, as the retry framework reads one.

    `add_completion_callback` (and its alias `add_done_callback`) runs its
    function on the thread that completes the future, or at once if it is
    done. Completing it twice raises, as pykka's futures do.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._done = False
        self._result: Any = None
        self._error: BaseException | None = None
        self._callbacks: list[Callable[[FakeFuture], object]] = []

    @classmethod
    def of(cls, result: Any = None) -> FakeFuture:
        """Return a future already done with `result`."""
        future = cls()
        future.set_result(result)
        return future

    @classmethod
    def failed(cls, error: BaseException) -> FakeFuture:
        """Return a future already failed with `error`."""
        future = cls()
        future.set_exception(error)
        return future

    def done(self) -> bool:
        with self._cond:
            return self._done

    def set_result(self, result: Any) -> None:
        self._complete(result, None)

    def set_exception(self, error: BaseException) -> None:
        self._complete(None, error)

    def _complete(self, result: Any, error: BaseException | None) -> None:
        with self._cond:
            if self._done:
                raise RuntimeError(f"{self!r} was already completed")
            self._done = True
            self._result, self._error = result, error
            callbacks, self._callbacks = self._callbacks, []
            self._cond.notify_all()
        for fn in callbacks:
            fn(self)

    def _wait(self, timeout: float | None) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: self._done, timeout):
                raise TimeoutError(f"{timeout} seconds")

    def get(self, timeout: float | None = None) -> Any:
        self._wait(timeout)
        if self._error is not None:
            raise self._error
        return self._result

    def exception(self, timeout: float | None = None) -> BaseException | None:
        self._wait(timeout)
        return self._error

    def add_completion_callback(self, fn: Callable[[FakeFuture], object]) -> None:
        with self._cond:
            if not self._done:
                self._callbacks.append(fn)
                return
        fn(self)

    add_done_callback = add_completion_callback

    def __repr__(self) -> str:
        return f"<FakeFuture done={self._done}>"


class FakeHost:
    """A `retry.RetryHost` over a real `Scheduler` and an in-memory letter table.

    `letters` stands for the dead-letter table (int ids to JSON records,
    stored as JSON would give them back). Tests steer it with:

    - `park_error`: `park()` returns a future failed with it ("the dead
      letter could not be written"); `park_raises`: `park()` raises it;
    - `fail_next[op_type]`: errors the next `submit` calls of that
      type fail with, one per call;
    - `replay_errors[letter_id]`: the replayed op fails with it;
    - `replay_answers[letter_id]`: the replayed op's result (say
      `ALREADY_APPLIED`);
    - `remove_errors[letter_id]`: removing that letter fails with it.

    It records what it was asked: `delays` (every `schedule()`), `parked`,
    `submitted` (`(op_type, key, value, options)`), `replayed`, `tracked`.
    """

    def __init__(self, scheduler: Scheduler, policy: RetryPolicy | None = None) -> None:
        self.scheduler = scheduler
        self.policy = policy
        self.letters: dict[int, Any] = {}
        self.closed = False
        self.park_error: BaseException | None = None
        self.park_raises: BaseException | None = None
        self.fail_next: dict[str, list[BaseException]] = {}
        self.replay_errors: dict[int, BaseException] = {}
        self.replay_answers: dict[int, Any] = {}
        self.remove_errors: dict[int, BaseException] = {}
        self.delays: list[float] = []
        self.parked: list[DeadLetter] = []
        self.submitted: list[tuple[str, Any, Any, Mapping[str, Any] | None]] = []
        self.replayed: list[DeadLetter] = []
        self.tracked: list[FakeFuture] = []
        self._lock = threading.RLock()

    # -- retry.RetryHost ----------------------------------------------------------

    def schedule(
        self, delay: float, fn: Callable[[], object], on_close: Callable[[], object]
    ) -> None:
        with self._lock:
            self.delays.append(delay)
        self.scheduler.call_later(delay, fn, on_close=on_close)

    def park(self, letter: DeadLetter) -> FakeFuture:
        with self._lock:
            self.parked.append(letter)
        if self.park_raises is not None:
            raise self.park_raises
        if self.park_error is not None:
            return FakeFuture.failed(self.park_error)
        return self.submit("insert", letter.id, letter.to_json())

    def submit(
        self,
        op_type: str,
        key: Any = None,
        value: Any = None,
        options: Mapping[str, Any] | None = None,
    ) -> FakeFuture:
        with self._lock:
            self.submitted.append((op_type, key, value, options))
            failures = self.fail_next.get(op_type)
            if failures:
                return FakeFuture.failed(failures.pop(0))
            try:
                return FakeFuture.of(self._run(op_type, key, value, options or {}))
            except Exception as exc:  # noqa: BLE001 - it goes to the op's future
                return FakeFuture.failed(exc)

    def _run(
        self, op_type: str, key: Any, value: Any, options: Mapping[str, Any]
    ) -> Any:
        table = self.letters
        if op_type == "insert":
            if key in table:
                raise KeyExistsError(table=DEAD_LETTER_TABLE, key=key)
            table[key] = json.loads(json.dumps(value))
            return None
        if op_type == "remove":
            if key in self.remove_errors:
                raise self.remove_errors[key]
            if key not in table:
                raise NotFoundError(table=DEAD_LETTER_TABLE, key=key, op="remove")
            del table[key]
            return None
        if op_type == "count":
            return len(table)
        if op_type == "scan":
            start, limit = options.get("start"), options.get("limit")
            keys = sorted(k for k in table if start is None or k >= start)
            return [(k, table[k]) for k in keys[:limit]]
        if op_type == "batch":
            # One transaction: the writes apply in order, all or nothing.
            after = dict(table)
            for kind, letter_id in value:
                assert kind == "remove", kind
                if letter_id not in after:
                    raise NotFoundError(
                        table=DEAD_LETTER_TABLE, key=letter_id, op="remove"
                    )
                del after[letter_id]
            table.clear()
            table.update(after)
            return len(value)
        raise AssertionError(f"the fake host has no op {op_type!r}")

    def replay(self, letter: DeadLetter) -> FakeFuture:
        if not letter.replayable:
            raise InvalidOptionError(f"dead letter {letter.id} cannot be replayed")
        with self._lock:
            self.replayed.append(letter)
            error = self.replay_errors.get(letter.id)
            answer = self.replay_answers.get(letter.id)
        return FakeFuture.of(answer) if error is None else FakeFuture.failed(error)

    def track(self) -> FakeFuture:
        if self.closed:
            raise StoreClosedError("store")
        future = FakeFuture()
        with self._lock:
            self.tracked.append(future)
        return future

    # -- what the store would do ------------------------------------------------

    def close(self) -> None:
        """Refuse new flows and run `on_close` in place of every pending call,
        as a store's `close()` does with its timer."""
        self.closed = True
        self.scheduler.close_pending()

    def add_letters(self, count: int) -> list[int]:
        """Write `count` sample letters straight into the table; return their ids."""
        ids = []
        for n in range(count):
            letter = sample_letter(key=f"k{n}", value={"n": n})
            self.letters[letter.id] = letter.to_json()
            ids.append(letter.id)
        return ids


def sample_letter(**changes: Any) -> DeadLetter:
    """Return a replayable upsert letter with a fresh id; `changes` override fields."""
    fields: dict[str, Any] = {
        "id": new_dead_letter_id(),
        "op_type": "upsert",
        "table": "docs",
        "key": "k",
        "value": {"n": 1},
        "error": {"type": "StoreBusyError", "message": "busy"},
        "attempts": 3,
        "first_failed_at": 100.0,
        "last_failed_at": 101.5,
        "key_bytes": b"k",
        "value_bytes": b'{"n": 1}',
    }
    fields.update(changes)
    return DeadLetter(**fields)


def busy() -> StoreBusyError:
    """Return a fresh transient error, the one the retry framework retries."""
    return StoreBusyError("the store is busy")


def failed_state(*errors: BaseException, started_ago: float = 0.0) -> AttemptState:
    """Return the state of an op whose attempts failed with `errors`, in order,
    started `started_ago` seconds before now."""
    state = AttemptState(started_at=time.monotonic() - started_ago)
    for error in errors:
        state.failed(error)
    return state


class FakeAttempt:
    """A stand-in `retry.RetryAttempt` that records what a handler asked of it.

    `calls` holds `(what, argument)` in order; `scheduled` the functions
    `schedule()` was given, for the test to run.
    """

    def __init__(self, attempts: int = 1, policy: RetryPolicy | None = None) -> None:
        self.op_id = 1
        self.op_type = "upsert"
        self.table = "docs"
        self.key = "k"
        self.attempts = attempts
        self.elapsed = 0.0
        self.state = AttemptState()
        self.policy = policy or RetryPolicy()
        self.calls: list[tuple[str, Any]] = []
        self.scheduled: list[Callable[[], object]] = []

    def schedule(self, delay: float, fn: Callable[[], object]) -> None:
        self.calls.append(("schedule", delay))
        self.scheduled.append(fn)

    def resubmit(self) -> None:
        self.calls.append(("resubmit", None))

    def dead_letter(self, error: BaseException) -> None:
        self.calls.append(("dead_letter", error))

    def fail(self, error: BaseException) -> None:
        self.calls.append(("fail", error))


@dataclass
class Request:
    """One request a flow stage made of the fake store, pending until completed."""

    op: str
    table: str
    key: Any
    value: Any
    callback: Callable[[BaseException | None, Any], object] | None = None
    future: FakeFuture = field(default_factory=FakeFuture)


class FakeStore:
    """What a flow sees of its store: `dead_letters` (its host) and op methods.

    Each op returns a `FakeFuture`. By default it is completed at once
    against `data` (per table, key -> value). An upsert's `callback=` (a
    function `fn(error, result)`, as a real store takes) runs after the
    write, as if inside its transaction (on success only): if it raises,
    the write is undone and the op fails with that error. After `hold()`,
    requests stay pending and are put on `held`, for the test to take
    (`held.get(timeout=WAIT)`) and complete (`complete(request)` or
    `request.future.set_exception`).
    """

    def __init__(self, host: FakeHost) -> None:
        self.dead_letters = DeadLetterTable(host)
        self.data: dict[str, dict[Any, Any]] = {}
        self.requests: list[Request] = []
        self.held: queue.Queue[Request] = queue.Queue()
        self._holding = False
        self._lock = threading.Lock()

    def hold(self) -> None:
        """Keep later requests pending, on `held`."""
        self._holding = True

    def search(self, table: str, key: Any) -> FakeFuture:
        return self._request(Request("search", table, key, None))

    def upsert(
        self,
        table: str,
        key: Any,
        value: Any,
        *,
        callback: Callable[[BaseException | None, Any], object] | None = None,
    ) -> FakeFuture:
        return self._request(Request("upsert", table, key, value, callback))

    def _request(self, request: Request) -> FakeFuture:
        with self._lock:
            self.requests.append(request)
        if self._holding:
            self.held.put(request)
        else:
            self.complete(request)
        return request.future

    def complete(self, request: Request) -> None:
        """Run `request` against `data`; complete its future."""
        with self._lock:
            error: BaseException | None = None
            rows = self.data.setdefault(request.table, {})
            result = None
            if request.op == "search":
                if request.key in rows:
                    result = rows[request.key]
                else:
                    error = NotFoundError(table=request.table, key=request.key)
            elif request.op == "upsert":
                missing = object()
                before = rows.get(request.key, missing)
                rows[request.key] = request.value
                if request.callback is not None:
                    try:
                        request.callback(None, None)
                    except Exception as exc:  # noqa: BLE001 - it fails the op
                        error = exc
                        if before is missing:
                            del rows[request.key]
                        else:
                            rows[request.key] = before
        if error is None:
            request.future.set_result(result)
        else:
            request.future.set_exception(error)
