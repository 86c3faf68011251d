"""Tests for actors/_loop_inbox.py: completions reach an event loop in batches.

The ops of a group that ends together wake the loop that awaits them once,
are resolved there in submission order, and a loop that closed first breaks
neither the owner nor anyone else's completion.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from actorstore import OpFuture, Store
from actorstore._loop_inbox import LoopInbox, WakeupBatch

pytestmark = pytest.mark.timeout(60)

T = TypeVar("T")

WAIT = 10.0
MANY = 300
"""Ops held behind one owner: fewer than a group takes, so they end as one."""
TABLE = "t"


class CountingLoop(asyncio.SelectorEventLoop):
    """An event loop that counts its thread-safe wake-ups."""

    def __init__(self) -> None:
        super().__init__()
        self.wakeups = 0

    def call_soon_threadsafe(self, *args: Any, **options: Any) -> asyncio.Handle:
        self.wakeups += 1
        return super().call_soon_threadsafe(*args, **options)


def run_on(loop: asyncio.AbstractEventLoop, main: Coroutine[Any, Any, T]) -> T:
    """Run `main` on `loop` (failing after `WAIT` seconds), then close it."""

    async def bounded() -> T:
        async with asyncio.timeout(WAIT):
            return await main

    try:
        return loop.run_until_complete(bounded())
    finally:
        loop.close()


@pytest.fixture
def store(make_store: Callable[..., Store], tmp_path: Path) -> Store:
    """A store with one owner (so a held table holds every op) and table `t`."""
    store = make_store(tmp_path / "s", threads=1, ops_max=8192)
    store.create_table(TABLE, key_format="int", value_format="json")
    return store


@pytest.fixture
def errors_logged(caplog: pytest.LogCaptureFixture) -> Callable[[], list[str]]:
    """Return a function listing every record logged at ERROR or above so far."""
    caplog.set_level(logging.ERROR)
    return lambda: [r.getMessage() for r in caplog.records if r.levelno >= 40]


# -- one wake-up per loop per group, in submission order ---------------------------


def test_a_group_of_ops_wakes_the_loop_awaiting_them_once(
    store: Store, hold: Callable[..., Any]
) -> None:
    gate = hold(store, TABLE, key=-1)
    loop = CountingLoop()

    async def main() -> tuple[list[Any], int]:
        held = [store.upsert(TABLE, i, i) for i in range(MANY)]
        gathered = asyncio.gather(*held)
        awaited = [asyncio.ensure_future(_await(future)) for future in held[:10]]
        await asyncio.sleep(0)
        before = loop.wakeups
        gate.open()  # the MANY ops now run as one group
        results = await gathered
        await asyncio.gather(*awaited)
        return results, loop.wakeups - before

    results, wakeups = run_on(loop, main())

    assert results == [None] * MANY
    assert wakeups == 1  # not one per op (MANY), nor one per waiter


def test_ops_of_a_group_are_resolved_on_the_loop_in_submission_order(
    store: Store, hold: Callable[..., Any]
) -> None:
    gate = hold(store, TABLE, key=-1)
    seen: list[int] = []
    loop_thread: list[int] = []

    async def main() -> None:
        loop_thread.append(threading.get_ident())
        held = [store.upsert(TABLE, i, i) for i in range(MANY)]
        for number, future in enumerate(held):
            future.add_done_callback(
                lambda _, number=number: seen.append((number, threading.get_ident()))
            )
        gate.open()
        await asyncio.gather(*held)
        await asyncio.sleep(0)

    run_on(asyncio.new_event_loop(), main())

    assert seen == [(number, loop_thread[0]) for number in range(MANY)]


def test_a_loop_busy_elsewhere_is_woken_once_for_many_groups() -> None:
    """Completions arriving while a wake-up is on its way ride on it."""
    loop = CountingLoop()
    futures: list[OpFuture[int]] = [OpFuture(i) for i in range(3 * MANY)]

    async def main() -> list[int]:
        gathered = asyncio.gather(*futures)
        completer = threading.Thread(
            target=lambda: [
                OpFuture.set_results(futures[i : i + MANY], list(range(i, i + MANY)))
                for i in range(0, len(futures), MANY)
            ]
        )
        completer.start()
        completer.join(WAIT)  # the loop is blocked meanwhile: it cannot drain
        return await gathered

    assert run_on(loop, main()) == list(range(3 * MANY))
    assert loop.wakeups == 1


def test_wake_ups_owed_in_a_batch_are_made_once_when_the_outermost_ends() -> None:
    loop = CountingLoop()
    futures: list[OpFuture[int]] = [OpFuture(i) for i in range(4)]
    inside: list[int] = []

    async def main() -> list[int]:
        gathered = asyncio.gather(*futures)

        def complete() -> None:
            with WakeupBatch():
                with WakeupBatch():
                    futures[0].set_result(0)
                    futures[1].set_result(1)
                inside.append(loop.wakeups)  # the inner block owes it onwards
                futures[2].set_result(2)
                futures[3].set_exception(ValueError("four"))
                inside.append(loop.wakeups)

        completer = threading.Thread(target=complete)
        completer.start()
        completer.join(WAIT)  # blocks the loop: only the batch may wake it
        return await gathered

    with pytest.raises(ValueError, match="four"):
        run_on(loop, main())
    assert inside == [0, 0]
    assert loop.wakeups == 1


# -- what a drain does with callbacks that raise --------------------------------------


def test_a_raising_callback_goes_to_the_loops_handler_and_the_rest_still_run() -> None:
    handled: list[BaseException | None] = []
    ran: list[int] = []
    futures: list[OpFuture[int]] = [OpFuture(i) for i in range(3)]

    def broken(_: OpFuture[int]) -> None:
        raise ValueError("broken")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _, c: handled.append(c.get("exception")))
        futures[0].add_done_callback(lambda f: ran.append(f.op_id))
        futures[1].add_done_callback(broken)
        futures[2].add_done_callback(lambda f: ran.append(f.op_id))
        await asyncio.to_thread(OpFuture.set_results, futures, [0, 1, 2])
        await asyncio.sleep(0)

    run_on(asyncio.new_event_loop(), main())

    assert ran == [0, 2]
    assert len(handled) == 1
    assert isinstance(handled[0], ValueError)


def test_a_callback_raising_system_exit_leaves_the_rest_for_the_next_drain() -> None:
    ran: list[int] = []
    futures: list[OpFuture[int]] = [OpFuture(i) for i in range(3)]
    loop = asyncio.new_event_loop()

    def leave(_: OpFuture[int]) -> None:
        raise SystemExit(3)

    async def main() -> None:
        futures[0].add_done_callback(lambda f: ran.append(f.op_id))
        futures[1].add_done_callback(leave)
        futures[2].add_done_callback(lambda f: ran.append(f.op_id))
        await asyncio.to_thread(OpFuture.set_results, futures, [0, 1, 2])
        await asyncio.sleep(WAIT)  # SystemExit ends the loop's run first

    try:
        with pytest.raises(SystemExit):
            loop.run_until_complete(main())
        assert ran == [0]
        loop.run_until_complete(asyncio.sleep(0))  # the loop runs again
        assert ran == [0, 2]
    finally:
        for task in asyncio.all_tasks(loop):
            task.cancel()
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()


# -- a loop that closed first ----------------------------------------------------------


def test_posts_to_a_loop_closed_with_a_drain_on_its_way_run_on_the_poster() -> None:
    """The drain asked for will never run: later posts must not wait for it."""
    ran: list[tuple[int, str]] = []
    futures: list[OpFuture[int]] = [OpFuture(i) for i in range(2)]
    name: contextvars.ContextVar[str] = contextvars.ContextVar("name", default="-")

    async def main() -> None:
        name.set("added on the loop")
        for future in futures:
            future.add_done_callback(lambda f: ran.append((f.op_id, name.get())))

    loop = asyncio.new_event_loop()
    loop.run_until_complete(main())  # the loop stops: its posts wait for it
    completer = threading.Thread(target=futures[0].set_result, args=(0,))
    completer.start()
    completer.join(WAIT)
    assert ran == []  # a drain is on its way: the loop may run again
    loop.close()  # it will not

    completer = threading.Thread(target=futures[1].set_result, args=(1,))
    completer.start()
    completer.join(WAIT)

    # Both ran once, on the completing thread, in their own context.
    assert ran == [(0, "added on the loop"), (1, "added on the loop")]


def test_ops_awaited_on_a_loop_that_closed_end_and_the_owner_serves_on(
    store: Store, hold: Callable[..., Any], errors_logged: Callable[[], list[str]]
) -> None:
    gate = hold(store, TABLE, key=-1)
    ran: list[int] = []

    async def main() -> list[OpFuture[None]]:
        held = [store.upsert(TABLE, i, i) for i in range(MANY)]
        for future in held:
            future.add_done_callback(lambda f: ran.append(threading.get_ident()))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*held), 0.01)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(_await(held[0]), 0.01)
        return held

    loop = asyncio.new_event_loop()
    held = loop.run_until_complete(main())
    loop.close()
    gate.open()

    assert [future.get(timeout=WAIT) for future in held] == [None] * MANY
    assert store.upsert(TABLE, MANY, 0).get(timeout=WAIT) is None  # serving on
    assert store.count(TABLE).get(timeout=WAIT) == MANY + 2
    assert store.flush(timeout=WAIT) is None
    assert store.stats()["in_flight"] == 0
    assert errors_logged() == []
    # The gather's cancel ran each op's loop callback on the loop, once.
    assert ran == [threading.get_ident()] * MANY


def test_an_inbox_does_not_keep_its_loop_alive() -> None:
    loop = asyncio.new_event_loop()
    inbox = LoopInbox(loop)
    loop.close()
    del loop
    import gc

    gc.collect()
    assert inbox.loop_ref() is None
    ran: list[int] = []
    inbox.post([(1, ran.append, contextvars.copy_context(), None)])
    inbox.wake()  # no loop to wake: it runs here

    assert ran == [1]


async def _await(future: OpFuture[Any]) -> Any:
    return await future


def test_a_callback_raising_system_exit_on_a_closed_loop_never_reaches_the_owner(
    store: Store, hold: Callable[..., Any], errors_logged: Callable[[], list[str]]
) -> None:
    gate = hold(store, TABLE, key=-1)

    def leave(_: OpFuture[None]) -> None:
        raise SystemExit(3)

    async def main() -> OpFuture[None]:
        future = store.upsert(TABLE, 1, 1)
        future.add_done_callback(leave)
        return future

    loop = asyncio.new_event_loop()
    future = loop.run_until_complete(main())
    loop.close()
    gate.open()

    assert future.get(timeout=WAIT) is None
    assert store.upsert(TABLE, 2, 2).get(timeout=WAIT) is None  # serving on
    assert store.flush(timeout=WAIT) is None
    assert any("done callback" in message for message in errors_logged())
