"""Tests for actors/futures.py: OpFuture by get, done callbacks and asyncio await."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest

from actorstore import OpFuture, OpTimeoutError, Store
from actorstore.storage import InvalidOptionError, NotFoundError, StoreError

WAIT = 5.0


# -- get, done, exception ----------------------------------------------------------


def test_get_returns_the_result_once_set() -> None:
    future: OpFuture[int] = OpFuture(7)
    assert not future.done()

    future.set_result(42)

    assert future.done()
    assert future.get() == 42
    assert future.get(timeout=0) == 42
    assert future.exception() is None


class Waiter:
    """A thread blocked in `future.get()`; `result()` is what that get returned.

    Its own timeout is far longer than `result()`'s, so a waiter that is
    never woken fails the test instead of timing out into a pass.
    """

    def __init__(self, future: OpFuture[Any]) -> None:
        self.got: list[object] = []
        self.thread = threading.Thread(
            target=lambda: self.got.append(future.get(timeout=10 * WAIT)),
            daemon=True,
        )
        self.thread.start()

    def result(self) -> object:
        self.thread.join(WAIT)
        assert self.got, "the waiter was never woken"
        return self.got[0]


def test_set_results_completes_each_pending_future_and_runs_its_callbacks() -> None:
    futures: list[OpFuture[int]] = [OpFuture(i) for i in range(4)]
    futures[2].set_result(-1)  # already done: left as it is
    seen: list[int] = []
    futures[1].add_done_callback(lambda f: seen.append(f.get()))
    waiter = Waiter(futures[0])

    OpFuture.set_results(futures, [10, 11, 12, 13])

    assert waiter.result() == 10
    assert [f.get(timeout=0) for f in futures] == [10, 11, -1, 13]
    assert seen == [11]


def test_set_results_wakes_an_awaiting_task() -> None:
    future: OpFuture[str] = OpFuture(1)

    async def main() -> str:
        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(future)  # awaits it from now on
        await asyncio.sleep(0)
        assert not task.done()
        await loop.run_in_executor(None, OpFuture.set_results, [future], ["ok"])
        return await asyncio.wait_for(task, WAIT)

    assert asyncio.run(main()) == "ok"


class Stop(BaseException):
    """What a done callback raises in these tests: not an `Exception`."""


def stop(_: OpFuture[Any]) -> None:
    """A done callback that raises `Stop`."""
    raise Stop


def test_set_results_wakes_everyone_even_if_a_callback_raises_base_exception() -> None:
    futures: list[OpFuture[int]] = [OpFuture(i) for i in range(3)]
    seen: list[int] = []
    futures[0].add_done_callback(stop)
    futures[1].add_done_callback(lambda f: seen.append(f.get()))
    waiter = Waiter(futures[2])

    with pytest.raises(Stop):
        OpFuture.set_results(futures, [0, 1, 2])

    assert waiter.result() == 2
    assert seen == [1]
    assert [f.get(timeout=0) for f in futures] == [0, 1, 2]


def test_set_result_runs_every_callback_even_if_one_raises_base_exception() -> None:
    future: OpFuture[int] = OpFuture(1)
    seen: list[int] = []
    future.add_done_callback(stop)
    future.add_done_callback(lambda f: seen.append(f.get()))

    with pytest.raises(Stop):
        future.set_result(5)

    assert seen == [5]


def test_set_results_refuses_mismatched_lengths_before_completing_any() -> None:
    futures: list[OpFuture[int]] = [OpFuture(i) for i in range(2)]
    with pytest.raises(ValueError, match="2 futures but 1 results"):
        OpFuture.set_results(futures, [0])
    assert not any(f.done() for f in futures)


def test_get_raises_the_stored_error_itself_not_wrapped() -> None:
    future: OpFuture[Any] = OpFuture(7)
    error = NotFoundError(table="users", key="norma")

    future.set_exception(error)

    with pytest.raises(NotFoundError, match="'norma' not found") as caught:
        future.get(timeout=0)
    assert caught.value is error
    assert future.exception(timeout=0) is error


def test_get_times_out_with_op_timeout_error_naming_the_op() -> None:
    future: OpFuture[Any] = OpFuture(12)

    with pytest.raises(OpTimeoutError, match=r"op 12 not done after 0\.01 seconds"):
        future.get(timeout=0.01)
    with pytest.raises(OpTimeoutError):
        future.exception(timeout=0.01)
    assert not future.done()


def test_op_timeout_error_is_a_store_error_and_a_timeout_error() -> None:
    assert issubclass(OpTimeoutError, StoreError)
    assert issubclass(OpTimeoutError, TimeoutError)


@pytest.mark.parametrize("done", [False, True], ids=["pending", "done"])
def test_negative_timeouts_are_refused(done: bool) -> None:
    future: OpFuture[int] = OpFuture(1)
    if done:
        future.set_result(1)

    with pytest.raises(InvalidOptionError, match="timeout must be >= 0"):
        future.get(timeout=-1)
    with pytest.raises(InvalidOptionError, match="timeout must be >= 0"):
        future.exception(timeout=-1)


def test_get_blocks_until_another_thread_completes_it() -> None:
    future: OpFuture[str] = OpFuture(1)
    started = threading.Event()
    results: list[str] = []

    def wait() -> None:
        started.set()
        results.append(future.get(timeout=WAIT))

    waiter = threading.Thread(target=wait)
    waiter.start()
    assert started.wait(WAIT)
    future.set_result("late")
    waiter.join(WAIT)

    assert results == ["late"]


def test_every_waiting_thread_wakes() -> None:
    future: OpFuture[int] = OpFuture(1)
    results: list[int] = []
    lock = threading.Lock()

    def wait() -> None:
        value = future.get(timeout=WAIT)
        with lock:
            results.append(value)

    waiters = [threading.Thread(target=wait) for _ in range(8)]
    for waiter in waiters:
        waiter.start()
    future.set_result(3)
    for waiter in waiters:
        waiter.join(WAIT)

    assert results == [3] * 8


def test_a_future_completes_once() -> None:
    future: OpFuture[int] = OpFuture(5)
    future.set_result(1)

    with pytest.raises(RuntimeError, match="op 5: future completed twice"):
        future.set_result(2)
    with pytest.raises(RuntimeError, match="completed twice"):
        future.set_exception(ValueError("late"))
    assert future.get() == 1


def test_repr_shows_the_op_and_state() -> None:
    pending: OpFuture[Any] = OpFuture(3)
    done: OpFuture[Any] = OpFuture(4)
    done.set_result(None)
    failed: OpFuture[Any] = OpFuture(5)
    failed.set_exception(NotFoundError(table="t", key="k"))

    assert repr(pending) == "<OpFuture op=3 pending>"
    assert repr(done) == "<OpFuture op=4 done>"
    assert repr(failed) == "<OpFuture op=5 failed NotFoundError>"


# -- add_done_callback -------------------------------------------------------------


def test_done_callbacks_run_once_on_the_completing_thread() -> None:
    future: OpFuture[int] = OpFuture(1)
    calls: list[tuple[OpFuture[int], str]] = []

    def record(done: OpFuture[int]) -> None:
        calls.append((done, threading.current_thread().name))

    future.add_done_callback(record)
    future.add_done_callback(record)
    thread = threading.Thread(target=future.set_result, args=(1,), name="completer")
    thread.start()
    thread.join(WAIT)

    assert calls == [(future, "completer"), (future, "completer")]


def test_a_done_callback_added_after_completion_runs_at_once() -> None:
    future: OpFuture[int] = OpFuture(1)
    future.set_exception(ValueError("no"))
    calls: list[BaseException | None] = []

    future.add_done_callback(lambda done: calls.append(done.exception(0)))

    assert len(calls) == 1
    assert isinstance(calls[0], ValueError)


def test_a_raising_done_callback_is_logged_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    future: OpFuture[int] = OpFuture(9)
    calls: list[int] = []

    def broken(_: OpFuture[int]) -> None:
        raise ValueError("broken callback")

    future.add_done_callback(broken)
    future.add_done_callback(lambda done: calls.append(done.get()))
    with caplog.at_level(logging.ERROR, logger="actorstore.futures"):
        future.set_result(2)

    assert calls == [2]
    assert future.get() == 2
    assert "op 9 failed" in caplog.text


def test_done_callbacks_of_store_ops_see_the_outcome(store: Store) -> None:
    seen: list[Any] = []
    done = threading.Event()

    def record(future: OpFuture[Any]) -> None:
        seen.append(future.exception(0))
        done.set()

    store.search("users", "gone").add_done_callback(record)

    assert done.wait(WAIT)
    assert isinstance(seen[0], NotFoundError)


def test_remove_done_callback_returns_how_many_it_removed() -> None:
    future: OpFuture[int] = OpFuture(1)
    calls: list[str] = []

    def removed(_: OpFuture[int]) -> None:
        calls.append("removed")

    future.add_done_callback(removed)
    future.add_done_callback(lambda _: calls.append("kept"))
    future.add_done_callback(removed, context=contextvars.copy_context())

    assert future.remove_done_callback(removed) == 2
    assert future.remove_done_callback(removed) == 0
    future.set_result(1)

    assert calls == ["kept"]
    assert future.remove_done_callback(removed) == 0


def test_add_done_callback_runs_fn_in_the_context_given() -> None:
    name: contextvars.ContextVar[str] = contextvars.ContextVar("name", default="")
    context = contextvars.copy_context()
    context.run(name.set, "given")
    future: OpFuture[int] = OpFuture(1)
    seen: list[str] = []

    future.add_done_callback(lambda _: seen.append(name.get()), context=context)
    future.set_result(1)

    assert seen == ["given"]


def test_add_completion_callback_ignores_the_loop_it_is_added_on() -> None:
    future: OpFuture[int] = OpFuture(1)
    ran_on: list[str] = []

    async def main() -> None:
        future.add_completion_callback(
            lambda _: ran_on.append(threading.current_thread().name)
        )

    asyncio.run(main())
    completer = threading.Thread(target=future.set_result, args=(1,), name="done")
    completer.start()
    completer.join(WAIT)

    assert ran_on == ["done"]


# -- the asyncio future protocol ----------------------------------------------------


def test_an_op_cannot_be_cancelled() -> None:
    future: OpFuture[int] = OpFuture(1)

    assert future.cancel() is False
    assert future.cancel("msg") is False
    assert future.cancelled() is False
    assert not future.done()
    future.set_result(1)
    assert future.cancelled() is False


def test_result_returns_the_result_or_raises_the_ops_error() -> None:
    succeeded: OpFuture[int] = OpFuture(1)
    succeeded.set_result(4)
    failed: OpFuture[int] = OpFuture(2)
    failed.set_exception(NotFoundError(table="t", key="k"))
    pending: OpFuture[int] = OpFuture(3)

    assert succeeded.result() == 4
    with pytest.raises(NotFoundError):
        failed.result()
    with pytest.raises(OpTimeoutError, match="op 3 not done"):
        pending.result(timeout=0.01)


def test_result_and_exception_never_block_an_event_loop() -> None:
    """asyncio's Future raises InvalidStateError when pending; so does OpFuture."""
    future: OpFuture[int] = OpFuture(1)

    async def main() -> tuple[int, BaseException | None]:
        with pytest.raises(asyncio.InvalidStateError, match="op 1 in an event loop"):
            future.result()
        with pytest.raises(asyncio.InvalidStateError, match="await the future"):
            future.exception()
        future.set_result(2)
        return future.result(), future.exception()

    assert asyncio.run(asyncio.wait_for(main(), WAIT)) == (2, None)


def test_a_done_callback_added_on_a_loop_runs_there_in_its_context() -> None:
    name: contextvars.ContextVar[str] = contextvars.ContextVar("name", default="")
    future: OpFuture[int] = OpFuture(1)
    seen: list[tuple[str, int]] = []

    def record(_: OpFuture[int]) -> None:
        seen.append((name.get(), threading.get_ident()))

    async def main() -> int:
        name.set("coroutine")
        future.add_done_callback(record)
        completer = threading.Thread(target=future.set_result, args=(1,))
        completer.start()
        await asyncio.to_thread(completer.join, WAIT)
        await asyncio.sleep(0)
        return threading.get_ident()

    loop_thread = asyncio.run(asyncio.wait_for(main(), WAIT))

    assert seen == [("coroutine", loop_thread)]


def test_a_done_callback_raising_on_a_loop_goes_to_its_exception_handler() -> None:
    future: OpFuture[int] = OpFuture(1)
    handled: list[tuple[object, int]] = []

    def broken(_: OpFuture[int]) -> None:
        raise ValueError("broken callback")

    async def main() -> int:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(
            lambda _, context: handled.append(
                (context.get("exception"), threading.get_ident())
            )
        )
        future.add_done_callback(broken)
        await loop.run_in_executor(None, future.set_result, 1)
        await asyncio.sleep(0)
        return threading.get_ident()

    loop_thread = asyncio.run(asyncio.wait_for(main(), WAIT))

    assert len(handled) == 1
    assert isinstance(handled[0][0], ValueError)
    assert handled[0][1] == loop_thread


def test_a_cancelled_await_stops_waiting_for_the_op() -> None:
    future: OpFuture[int] = OpFuture(1)

    async def main() -> None:
        for _ in range(3):
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(_await(future), 0.001)

    asyncio.run(main())

    # Each cancelled wait took its wakeup back: nothing is left to run.
    assert future._callbacks is None
    assert not future.cancelled()


def test_cancel_on_a_loop_cancels_the_asyncio_face_never_the_op() -> None:
    future: OpFuture[int] = OpFuture(1)
    seen: list[bool] = []

    async def main() -> int:
        future.add_done_callback(lambda f: seen.append(f.cancelled()))
        assert future.cancel("enough") is True
        assert future.cancel() is False  # once
        assert future.done() and future.cancelled()
        with pytest.raises(asyncio.CancelledError, match="enough"):
            future.result()
        with pytest.raises(asyncio.CancelledError):
            future.exception()
        await asyncio.sleep(0)  # the done callbacks run soon, on the loop
        assert seen == [True]
        completer = threading.Thread(target=future.set_result, args=(5,))
        completer.start()
        return await future  # awaiting waits for the op itself

    assert asyncio.run(asyncio.wait_for(main(), WAIT)) == 5
    # Off the loop the future is the op: done, not cancelled, its result.
    assert future.done() and not future.cancelled() and future.finished()
    assert future.get(timeout=0) == 5
    assert future.result() == 5
    assert "asyncio face cancelled" in repr(future)


def test_cancel_off_a_loop_or_once_done_does_nothing() -> None:
    pending: OpFuture[int] = OpFuture(1)
    done: OpFuture[int] = OpFuture.resolved(2, 2)

    async def main() -> bool:
        return done.cancel()

    assert pending.cancel() is False
    assert asyncio.run(main()) is False
    assert not pending.done()


# -- await -----------------------------------------------------------------------


def test_await_returns_the_result_and_raises_the_ops_error(store: Store) -> None:
    async def main() -> tuple[Any, BaseException]:
        await store.upsert("users", "norma", {"age": 31})
        found = await store.search("users", "norma")
        try:
            await store.search("users", "gone")
        except NotFoundError as exc:
            return found, exc
        raise AssertionError("no error")

    found, error = asyncio.run(main())

    assert found == {"age": 31}
    assert isinstance(error, NotFoundError)


def test_await_of_a_done_future_returns_at_once() -> None:
    future: OpFuture[int] = OpFuture(1)
    future.set_result(5)

    async def main() -> int:
        return await future

    assert asyncio.run(main()) == 5


def test_await_keeps_the_event_loop_running(
    store: Store, hold: Callable[..., Any]
) -> None:
    """A ticker task keeps ticking while ops held up on their owner are awaited."""
    gate = hold(store, "users")
    held = [store.upsert("users", f"k{i}", i) for i in range(20)]
    ticks_needed = 20

    async def ticker(counter: list[int]) -> None:
        while True:
            counter[0] += 1
            if counter[0] == ticks_needed:
                gate.open()  # only a running loop gets here: the ops were held
            await asyncio.sleep(0.001)

    async def main() -> tuple[int, list[Any]]:
        counter = [0]
        task = asyncio.create_task(ticker(counter))
        results = await asyncio.gather(gate.future, *held)
        task.cancel()
        return counter[0], results

    ticks, results = asyncio.run(asyncio.wait_for(main(), WAIT))

    assert ticks >= ticks_needed
    assert results == [None] * 21
    assert store.count("users").get(timeout=WAIT) == 21


def test_await_with_a_timeout_cancels_only_the_wait(
    store: Store, hold: Callable[..., Any]
) -> None:
    gate = hold(store, "users")
    future = store.upsert("users", "k", 1)

    async def main() -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(_await(future), 0.05)

    asyncio.run(main())
    gate.open()

    assert future.get(timeout=WAIT) is None
    assert store.search("users", "k").get(timeout=WAIT) == 1


async def _await(future: OpFuture[Any]) -> Any:
    return await future


def test_many_ops_gathered_in_asyncio(store: Store) -> None:
    async def main() -> list[Any]:
        await asyncio.gather(*(store.upsert("users", f"k{i}", i) for i in range(200)))
        return await asyncio.gather(
            *(store.search("users", f"k{i}") for i in range(200))
        )

    assert asyncio.run(main()) == list(range(200))


def test_a_future_completed_after_its_loop_closed_is_harmless() -> None:
    future: OpFuture[int] = OpFuture(1)

    async def main() -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(_await(future), 0.01)

    asyncio.run(main())
    future.set_result(1)

    assert future.get(timeout=0) == 1
