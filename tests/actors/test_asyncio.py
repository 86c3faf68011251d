"""Tests for actors/futures.py in asyncio: OpFuture with every asyncio helper.

Each test drives real ops of a real store (hundreds at once) through one
helper (`await`, `gather`, `wait`, `wait_for`, `as_completed`, `TaskGroup`,
`ensure_future`) and checks that no loop code runs off the loop's thread.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from actorstore import (
    OpFuture,
    RetriesExhaustedError,
    RetryPolicy,
    Store,
    TransientError,
)
from actorstore.storage import NotFoundError

pytestmark = pytest.mark.timeout(60)

T = TypeVar("T")

WAIT = 10.0
"""Seconds any asyncio main may take; far above what it needs."""

MANY = 300
"""Ops submitted at once in each test."""

TABLE = "users"


@pytest.fixture
def store(make_store: Callable[..., Store], tmp_path: Path) -> Store:
    """Return an open store (2 workers) with table `users`; closed in teardown.

    `make_store` opens every held gate before closing it, so a test that
    fails while an owner is held does not hang in teardown.
    """
    store = make_store(tmp_path / "s", threads=2, ops_max=8192)
    store.create_table(TABLE, key_format="str", value_format="json")
    return store


def run(main: Callable[[], Coroutine[Any, Any, T]], *, debug: bool = False) -> T:
    """Run `main()` in a new event loop, failing after `WAIT` seconds."""

    async def bounded() -> T:
        async with asyncio.timeout(WAIT):
            return await main()

    return asyncio.run(bounded(), debug=debug)


def upserts(store: Store, count: int = MANY, prefix: str = "k") -> list[OpFuture[None]]:
    """Submit `count` upserts of `prefix<i>` -> i at once."""
    return [store.upsert(TABLE, f"{prefix}{i}", i) for i in range(count)]


@pytest.fixture
def errors_logged(caplog: pytest.LogCaptureFixture) -> Callable[[], list[str]]:
    """Return a function listing every record logged at ERROR or above so far."""
    caplog.set_level(logging.ERROR)

    def errors() -> list[str]:
        return [
            f"{record.name}: {record.getMessage()}\n{record.exc_text or ''}"
            for record in caplog.records
            if record.levelno >= logging.ERROR
        ]

    return errors


# -- each asyncio helper over real ops ---------------------------------------------


def test_await_each_of_many_ops(store: Store) -> None:
    async def main() -> list[Any]:
        written = upserts(store)
        for future in written:
            assert await future is None
        return [await store.search(TABLE, f"k{i}") for i in range(MANY)]

    assert run(main) == list(range(MANY))


def test_gather(store: Store) -> None:
    async def main() -> list[Any]:
        await asyncio.gather(*upserts(store))
        return await asyncio.gather(
            *(store.search(TABLE, f"k{i}") for i in range(MANY))
        )

    assert run(main) == list(range(MANY))


def test_gather_with_return_exceptions_returns_the_ops_errors(store: Store) -> None:
    async def main() -> list[Any]:
        return await asyncio.gather(
            store.search(TABLE, "gone"), *upserts(store), return_exceptions=True
        )

    results = run(main)

    assert isinstance(results[0], NotFoundError)
    assert results[1:] == [None] * MANY


def test_wait_all_completed(store: Store) -> None:
    async def main() -> tuple[set[OpFuture[None]], set[OpFuture[None]]]:
        return await asyncio.wait(upserts(store))

    done, pending = run(main)

    assert len(done) == MANY
    assert not pending
    assert all(future.result() is None for future in done)


def test_wait_all_completed_with_a_timeout(store: Store) -> None:
    async def main() -> tuple[set[OpFuture[None]], set[OpFuture[None]]]:
        return await asyncio.wait(upserts(store), timeout=WAIT)

    done, pending = run(main)

    assert len(done) == MANY
    assert not pending


def test_wait_first_completed_returns_once_one_is_done(
    store: Store, hold: Callable[..., Any]
) -> None:
    gate = hold(store, TABLE)
    held = upserts(store)

    async def main() -> tuple[set[OpFuture[None]], set[OpFuture[None]]]:
        loop = asyncio.get_running_loop()
        loop.call_later(0.01, gate.open)
        first = await asyncio.wait(held, return_when=asyncio.FIRST_COMPLETED)
        rest, still = await asyncio.wait(held, timeout=WAIT)
        assert not still
        assert len(rest) == MANY
        return first

    done, pending = run(main)

    assert done
    assert done | pending == set(held)
    assert not done & pending


def test_wait_first_exception_returns_with_the_failed_op(
    store: Store, hold: Callable[..., Any]
) -> None:
    gate = hold(store, TABLE)
    written = upserts(store)
    failing = store.search(TABLE, "gone")  # queued behind the writes

    async def main() -> set[OpFuture[Any]]:
        asyncio.get_running_loop().call_later(0.01, gate.open)
        done, _ = await asyncio.wait(
            [*written, failing], return_when=asyncio.FIRST_EXCEPTION
        )
        return done

    done = run(main)

    assert failing in done
    assert isinstance(failing.exception(), NotFoundError)


def test_wait_with_a_tiny_timeout_leaves_a_held_op_pending(
    store: Store, hold: Callable[..., Any], errors_logged: Callable[[], list[str]]
) -> None:
    gate = hold(store, TABLE)
    held = store.upsert(TABLE, "k", 1)

    async def main() -> tuple[set[OpFuture[None]], set[OpFuture[None]]]:
        return await asyncio.wait([held], timeout=0.001)

    done, pending = run(main)
    gate.open()

    assert (done, pending) == (set(), {held})
    assert held.get(timeout=WAIT) is None
    assert store.flush(timeout=WAIT) is None
    assert errors_logged() == []


def test_wait_for(store: Store, hold: Callable[..., Any]) -> None:
    async def main() -> list[Any]:
        return await asyncio.gather(
            *(asyncio.wait_for(future, WAIT) for future in upserts(store))
        )

    assert run(main) == [None] * MANY

    gate = hold(store, TABLE)
    held = store.upsert(TABLE, "late", 1)

    async def times_out() -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(held, 0.01)

    run(times_out)
    gate.open()

    assert held.get(timeout=WAIT) is None  # only the wait was cancelled


def test_as_completed(store: Store) -> None:
    async def main() -> list[Any]:
        await asyncio.gather(*upserts(store))
        searches = [store.search(TABLE, f"k{i}") for i in range(MANY)]
        return [await next_done for next_done in asyncio.as_completed(searches)]

    assert sorted(run(main)) == list(range(MANY))


def test_as_completed_with_a_timeout(store: Store) -> None:
    async def main() -> list[Any]:
        return [
            await next_done
            for next_done in asyncio.as_completed(upserts(store), timeout=WAIT)
        ]

    assert run(main) == [None] * MANY


def test_task_group(store: Store) -> None:
    async def write_then_read(i: int) -> Any:
        await store.upsert(TABLE, f"k{i}", i)
        return await store.search(TABLE, f"k{i}")

    async def main() -> list[Any]:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(write_then_read(i)) for i in range(MANY)]
        return [task.result() for task in tasks]

    assert run(main) == list(range(MANY))


def test_on_a_loop_an_op_is_an_asyncio_future_taken_as_it_is(store: Store) -> None:
    written = upserts(store)
    assert not any(asyncio.isfuture(future) for future in written)  # no loop here

    async def main() -> list[Any]:
        assert all(asyncio.isfuture(future) for future in written)
        assert all(asyncio.ensure_future(f) is f for f in written)  # no Task
        assert {future.get_loop() for future in written} == {asyncio.get_running_loop()}
        return await asyncio.gather(*written)

    assert run(main) == [None] * MANY


def test_a_loop_that_never_ran_still_runs_an_op_until_complete(store: Store) -> None:
    """Off a running loop an op is no asyncio future, so asyncio wraps it."""
    future = store.upsert(TABLE, "k", 1)
    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(future) is None
    finally:
        loop.close()


# -- loop code runs on the loop's thread -------------------------------------------


def test_done_callbacks_added_on_the_loop_run_on_the_loop_thread(
    store: Store, hold: Callable[..., Any]
) -> None:
    done_already = store.upsert(TABLE, "other", 0)
    assert done_already.get(timeout=WAIT) is None
    gate = hold(store, TABLE)
    held = upserts(store)
    ran_on: list[int] = []

    def record(future: OpFuture[Any]) -> None:
        assert future.done()
        ran_on.append(threading.get_ident())

    async def main() -> int:
        for future in [*held, done_already]:
            future.add_done_callback(record)
        assert ran_on == []  # scheduled, never run inside add_done_callback
        gate.open()
        await asyncio.gather(*held)
        await asyncio.sleep(0)  # the callbacks were scheduled before the wakeups
        return threading.get_ident()

    loop_thread = run(main)

    assert ran_on == [loop_thread] * (MANY + 1)


def test_wait_in_debug_mode_makes_no_non_thread_safe_call(
    store: Store, hold: Callable[..., Any], errors_logged: Callable[[], list[str]]
) -> None:
    """asyncio's debug mode raises if a loop is called from another thread."""
    gate = hold(store, TABLE)
    held = upserts(store)

    async def main() -> None:
        assert asyncio.get_running_loop().get_debug()
        done, pending = await asyncio.wait(held, timeout=0.001)
        assert (done, pending) == (set(), set(held))
        gate.open()
        done, pending = await asyncio.wait(held)
        assert (len(done), pending) == (MANY, set())
        done, _ = await asyncio.wait(upserts(store, prefix="j"), timeout=WAIT)
        assert len(done) == MANY

    run(main, debug=True)

    assert store.flush(timeout=WAIT) is None
    assert errors_logged() == []


def test_awaiting_5000_ops_keeps_loop_lag_low(store: Store) -> None:
    """A watchdog measures how late its sleeps end while the ops are awaited."""
    total, chunk, tick = 5000, 500, 0.005

    async def watchdog(lags: list[float]) -> None:
        while True:
            start = time.monotonic()
            await asyncio.sleep(tick)
            lags.append(time.monotonic() - start - tick)

    async def main() -> list[float]:
        lags: list[float] = []
        dog = asyncio.create_task(watchdog(lags))
        written: list[OpFuture[None]] = []
        for start in range(0, total, chunk):  # submitting also yields to the loop
            written += [
                store.upsert(TABLE, f"k{i}", i) for i in range(start, start + chunk)
            ]
            await asyncio.sleep(0)
        assert await asyncio.gather(*written) == [None] * total
        dog.cancel()
        return lags

    lags = run(main)

    assert lags, "the watchdog never ran"
    assert max(lags) < 0.5
    assert store.count(TABLE).get(timeout=WAIT) == total


# -- a loop that closed before the op finished ---------------------------------------


def test_completing_after_the_waiters_loop_closed_raises_nothing(
    store: Store, hold: Callable[..., Any], errors_logged: Callable[[], list[str]]
) -> None:
    gate = hold(store, TABLE)
    held = store.upsert(TABLE, "k", 1)
    calls: list[int] = []

    async def main() -> None:
        held.add_done_callback(lambda _: calls.append(threading.get_ident()))
        assert await asyncio.wait([held], timeout=0.001) == (set(), {held})
        with pytest.raises(TimeoutError):  # a task awaiting it times out
            await asyncio.wait_for(_await(held), 0.001)

    loop = asyncio.new_event_loop()
    loop.set_debug(True)
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
    gate.open()

    assert held.get(timeout=WAIT) is None
    assert store.search(TABLE, "k").get(timeout=WAIT) == 1
    assert store.flush(timeout=WAIT) is None
    assert errors_logged() == []
    # The loop cannot run it any more: it ran once, on the completing thread.
    assert len(calls) == 1
    assert calls[0] != threading.get_ident()


async def _await(future: OpFuture[Any]) -> Any:
    return await future


def test_set_result_after_the_loop_closed_raises_nothing_on_the_completing_thread(
    errors_logged: Callable[[], list[str]],
) -> None:
    future: OpFuture[int] = OpFuture(1)

    async def main() -> None:
        future.add_done_callback(lambda _: None)
        await asyncio.wait([future], timeout=0.001)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(future, 0.001)

    loop = asyncio.new_event_loop()
    loop.run_until_complete(main())
    loop.close()
    raised: list[BaseException] = []

    def complete() -> None:
        try:
            future.set_result(1)
        except BaseException as exc:  # noqa: BLE001 - the test reports it
            raised.append(exc)

    completer = threading.Thread(target=complete)
    completer.start()
    completer.join(WAIT)

    assert raised == []
    assert future.get(timeout=0) == 1
    assert errors_logged() == []


# -- the store's own done callbacks ------------------------------------------------


def test_serialized_ops_submitted_on_a_loop_do_not_wait_for_that_loop(
    store: Store, hold: Callable[..., Any]
) -> None:
    store.create_table("other", key_format="str", value_format="json")
    gate = hold(store, TABLE)
    client = store.serialized()

    async def submit() -> OpFuture[None]:
        client.upsert(TABLE, "a", 1)  # queued behind the held op
        return client.upsert("other", "b", 2)  # queued once the first is done

    loop = asyncio.new_event_loop()
    try:
        second = loop.run_until_complete(submit())  # the loop stops here
        gate.open()
        assert second.get(timeout=2.0) is None
    finally:
        loop.run_until_complete(asyncio.sleep(0))  # lets a stranded op go on
        loop.close()


# -- cancelling a wait never touches the op --------------------------------------
#
# Each case holds the table's owner, so the op is still pending when the wait
# on it is cancelled, then lets it go: the op commits (or fails, retries and
# is dead-lettered) as it would have, frees its ops_max slot, runs its
# callback once, and only the awaiting code sees CancelledError.


class Heard:
    """A `fn(error, result)` callback that records each call."""

    def __init__(self) -> None:
        self.calls: list[tuple[BaseException | None, object]] = []

    def __call__(self, error: BaseException | None, result: object) -> None:
        self.calls.append((error, result))


def cancelled_then_committed(
    make_store: Callable[..., Store],
    tmp_path: Path,
    hold: Callable[..., Any],
    errors_logged: Callable[[], list[str]],
    wait_on: Callable[[OpFuture[None]], Coroutine[Any, Any, None]],
) -> None:
    """Cancel `wait_on(op)` while `op` is held; check that the op went on."""
    store = make_store(tmp_path / "c", threads=1, ops_max=4)
    store.create_table(TABLE, key_format="str", value_format="json")
    gate = hold(store, TABLE)
    heard = Heard()
    op = store.upsert(TABLE, "k", 1, callback=heard)

    async def main() -> None:
        await wait_on(op)
        assert not op.finished()  # the wait ended, the op did not
        gate.open()
        assert await op is None  # awaiting again waits for the op itself

    run(main)

    assert op.get(timeout=WAIT) is None
    assert store.search(TABLE, "k").get(timeout=WAIT) == 1
    assert heard.calls == [(None, None)]
    assert store.flush(timeout=WAIT) is None
    assert store.stats()["in_flight"] == 0
    # Every slot is free again: ops_max ops go in without waiting.
    more = [store.upsert(TABLE, f"m{i}", i, wait=False) for i in range(4)]
    assert [future.get(timeout=WAIT) for future in more] == [None] * 4
    assert errors_logged() == []


@pytest.fixture
def cancelled(
    make_store: Callable[..., Store],
    tmp_path: Path,
    hold: Callable[..., Any],
    errors_logged: Callable[[], list[str]],
) -> Callable[[Callable[[OpFuture[None]], Coroutine[Any, Any, None]]], None]:
    """Return `cancelled(wait_on)`: see `cancelled_then_committed`."""
    return lambda wait_on: cancelled_then_committed(
        make_store, tmp_path, hold, errors_logged, wait_on
    )


def test_cancelling_a_task_awaiting_an_op_cancels_only_that_task(
    cancelled: Callable[..., None],
) -> None:
    async def wait_on(op: OpFuture[None]) -> None:
        doomed = asyncio.create_task(_await(op))
        bystander = asyncio.create_task(_await(op))
        await asyncio.sleep(0)  # both are waiting now
        doomed.cancel()
        with pytest.raises(asyncio.CancelledError):
            await doomed
        assert not bystander.done()
        assert not op.cancelled()  # the task was cancelled, not the op's face
        bystander.cancel()  # let main go on without it
        with pytest.raises(asyncio.CancelledError):
            await bystander

    cancelled(wait_on)


def test_wait_for_timing_out_on_an_op_leaves_the_op_going(
    cancelled: Callable[..., None],
) -> None:
    async def wait_on(op: OpFuture[None]) -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(op, 0.01)

    cancelled(wait_on)


def test_asyncio_timeout_running_out_leaves_the_op_going(
    cancelled: Callable[..., None],
) -> None:
    async def wait_on(op: OpFuture[None]) -> None:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.01):
                await op

    cancelled(wait_on)


def test_a_failing_task_group_leaves_the_op_going(
    cancelled: Callable[..., None],
) -> None:
    async def wait_on(op: OpFuture[None]) -> None:
        async def fail() -> None:
            await asyncio.sleep(0.01)
            raise ValueError("a sibling failed")

        waiting: list[asyncio.Task[Any]] = []
        with pytest.raises(ExceptionGroup) as raised:
            async with asyncio.TaskGroup() as group:
                waiting.append(group.create_task(_await(op)))
                group.create_task(fail())
        assert raised.group_contains(ValueError)
        assert waiting[0].cancelled()

    cancelled(wait_on)


def test_a_cancelled_gather_leaves_its_ops_going(
    cancelled: Callable[..., None],
) -> None:
    async def wait_on(op: OpFuture[None]) -> None:
        gathered = asyncio.gather(op)
        await asyncio.sleep(0)
        gathered.cancel()
        with pytest.raises(asyncio.CancelledError):
            await gathered
        assert op.cancelled()  # gather cancels its children's asyncio face

    cancelled(wait_on)


def test_an_op_failing_while_its_awaiter_is_cancelled_retries_then_dead_letters(
    make_store: Callable[..., Store],
    tmp_path: Path,
    hold: Callable[..., Any],
) -> None:
    store = make_store(tmp_path / "d", threads=1, ops_max=4)
    store.create_table(TABLE, key_format="str", value_format="json")
    gate = hold(store, TABLE)
    attempts: list[int] = []

    def refuses(error: BaseException | None, _: object) -> None:
        attempts.append(1)
        if error is None:
            raise TransientError("not now")  # rolls back; the policy retries

    op = store.upsert(
        TABLE,
        "k",
        1,
        callback=refuses,
        retry=RetryPolicy(max_attempts=3, initial_wait=0.001),
    )

    async def main() -> None:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.01):
                await op
        gate.open()

    run(main)

    assert isinstance(op.exception(timeout=WAIT), RetriesExhaustedError)
    assert store.flush(timeout=WAIT) is None
    assert len(attempts) >= 3  # each attempt's callback ran
    (letter,) = store.dead_letters.list()
    assert (letter.key, letter.attempts) == ("k", 3)
    assert store.stats()["in_flight"] == 0
    assert store.search(TABLE, "k").exception(timeout=WAIT) is not None
