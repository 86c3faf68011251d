"""Tests for retry/_scheduler.py: one timer thread, due order, cancel, close."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import pytest

from actorstore.retry import Scheduler
from actorstore.retry._scheduler import ScheduledCall, on_timer_thread

WAIT = 5.0


@pytest.fixture
def scheduler() -> Iterator[Scheduler]:
    """Yield a scheduler; closed in teardown so its thread never outlives the test."""
    scheduler = Scheduler(name="TestScheduler")
    yield scheduler
    scheduler.close()


def test_calls_run_in_due_order_not_submission_order(scheduler: Scheduler) -> None:
    ran: list[str] = []
    last = threading.Event()

    def run_last() -> None:
        ran.append("c")
        last.set()

    scheduler.call_later(0.06, run_last)
    scheduler.call_later(0.02, ran.append, "a")
    scheduler.call_later(0.04, ran.append, "b")
    scheduler.call_later(0.0, ran.append, "now")
    assert last.wait(WAIT)
    assert ran == ["now", "a", "b", "c"]


def test_calls_that_fall_due_while_the_thread_is_busy_run_in_order(
    scheduler: Scheduler,
) -> None:
    ran: list[int] = []
    done = threading.Event()
    gate = threading.Event()
    # Hold the timer thread so that all ten become due before any runs.
    scheduler.call_later(0, gate.wait, WAIT)
    due_at = 0.01
    for n in range(10):
        scheduler.call_later(due_at, ran.append, n)
    scheduler.call_later(due_at, done.set)
    gate.set()
    assert done.wait(WAIT)
    assert ran == sorted(ran)
    assert len(ran) == 10


def test_a_call_does_not_run_before_its_delay(scheduler: Scheduler) -> None:
    ran_at: list[float] = []
    done = threading.Event()
    start = time.monotonic()

    def record() -> None:
        ran_at.append(time.monotonic())
        done.set()

    scheduler.call_later(0.05, record)
    assert done.wait(WAIT)
    assert ran_at[0] - start >= 0.05


def test_call_later_passes_its_arguments(scheduler: Scheduler) -> None:
    got: list[tuple[int, str]] = []
    done = threading.Event()

    def record(n: int, s: str) -> None:
        got.append((n, s))
        done.set()

    scheduler.call_later(0, record, 7, "x")
    assert done.wait(WAIT)
    assert got == [(7, "x")]


def test_a_negative_delay_runs_at_once(scheduler: Scheduler) -> None:
    done = threading.Event()
    scheduler.call_later(-10, done.set)
    assert done.wait(WAIT)


def test_a_cancelled_call_never_runs(scheduler: Scheduler) -> None:
    ran: list[str] = []
    marker = threading.Event()
    cancelled = scheduler.call_later(0.01, ran.append, "cancelled")
    scheduler.call_later(0.02, marker.set)
    cancelled.cancel()
    assert cancelled.cancelled
    assert cancelled not in scheduler.pending()
    assert marker.wait(WAIT)
    assert ran == []


def test_a_later_call_scheduled_first_does_not_hold_back_an_earlier_one(
    scheduler: Scheduler,
) -> None:
    early = threading.Event()
    late = scheduler.call_later(30, lambda: None)
    scheduler.call_later(0.01, early.set)
    assert early.wait(WAIT)
    assert scheduler.pending() == [late]


def test_pending_lists_calls_in_due_order(scheduler: Scheduler) -> None:
    b = scheduler.call_later(20, lambda: None)
    a = scheduler.call_later(10, lambda: None)
    c = scheduler.call_later(30, lambda: None)
    assert scheduler.pending() == [a, b, c]
    assert all(isinstance(call, ScheduledCall) for call in (a, b, c))
    assert a.due < b.due < c.due


def test_close_returns_the_calls_that_never_ran(scheduler: Scheduler) -> None:
    ran = threading.Event()
    scheduler.call_later(0, ran.set)
    assert ran.wait(WAIT)
    later = scheduler.call_later(30, lambda: None)
    soonest = scheduler.call_later(20, lambda: None)
    dropped = scheduler.call_later(10, lambda: None)
    dropped.cancel()
    started = time.monotonic()
    left = scheduler.close()
    assert time.monotonic() - started < 2
    assert left == [soonest, later]
    assert not any(call.cancelled for call in left)
    assert scheduler.pending() == []


def test_close_stops_the_timer_thread_and_refuses_new_calls() -> None:
    scheduler = Scheduler(name="ClosingScheduler")
    thread = scheduler._thread
    assert thread.daemon
    assert thread.name == "ClosingScheduler"
    assert scheduler.close() == []
    assert not thread.is_alive()
    with pytest.raises(RuntimeError, match="closed scheduler"):
        scheduler.call_later(0, lambda: None)
    assert scheduler.close() == []


def test_close_from_a_scheduled_call_does_not_deadlock() -> None:
    scheduler = Scheduler()
    left: list[list[ScheduledCall]] = []
    done = threading.Event()
    later = scheduler.call_later(30, lambda: None)

    def close_from_inside() -> None:
        left.append(scheduler.close())
        done.set()

    scheduler.call_later(0, close_from_inside)
    assert done.wait(WAIT)
    assert left == [[later]]
    scheduler._thread.join(WAIT)
    assert not scheduler._thread.is_alive()


def test_a_raising_call_is_logged_and_the_scheduler_keeps_going(
    scheduler: Scheduler, caplog: pytest.LogCaptureFixture
) -> None:
    after = threading.Event()

    def boom() -> None:
        raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR, logger="actorstore.retry._scheduler"):
        scheduler.call_later(0, boom)
        scheduler.call_later(0.01, after.set)
        assert after.wait(WAIT)
    assert any(
        record.exc_info and "boom" in str(record.exc_info[1])
        for record in caplog.records
    )
    again = threading.Event()
    scheduler.call_later(0, again.set)
    assert again.wait(WAIT)


def test_unnamed_schedulers_get_distinct_names() -> None:
    first, second = Scheduler(), Scheduler()
    try:
        assert first._thread.name != second._thread.name
        assert first._thread.name.startswith("Scheduler-")
    finally:
        first.close()
        second.close()


def test_calls_from_many_threads_all_run(scheduler: Scheduler) -> None:
    ran: list[int] = []
    lock = threading.Lock()
    all_done = threading.Event()
    total = 8 * 50

    def record(n: int) -> None:
        with lock:
            ran.append(n)
            if len(ran) == total:
                all_done.set()

    def submit(base: int) -> None:
        for n in range(50):
            scheduler.call_later((n % 5) * 0.001, record, base + n)

    threads = [threading.Thread(target=submit, args=(i * 50,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert all_done.wait(WAIT)
    assert sorted(ran) == list(range(total))


@pytest.mark.parametrize(
    "error", [SystemExit(1), KeyboardInterrupt(), GeneratorExit()], ids=repr
)
def test_a_call_raising_a_base_exception_does_not_stop_the_timer(
    scheduler: Scheduler, caplog: pytest.LogCaptureFixture, error: BaseException
) -> None:
    def boom() -> None:
        raise error

    after = threading.Event()
    with caplog.at_level(logging.ERROR, logger="actorstore.retry._scheduler"):
        scheduler.call_later(0, boom)
        scheduler.call_later(0.01, after.set)
        assert after.wait(WAIT)
    assert any(
        record.exc_info and record.exc_info[1] is error for record in caplog.records
    )
    assert scheduler._thread.is_alive()


def test_calls_run_on_the_timer_thread(scheduler: Scheduler) -> None:
    seen: list[tuple[bool, str]] = []
    done = threading.Event()

    def look() -> None:
        seen.append((on_timer_thread(), threading.current_thread().name))
        done.set()

    scheduler.call_later(0, look)
    assert done.wait(WAIT)
    assert seen == [(True, "TestScheduler")]
    assert not on_timer_thread()


def test_a_nan_delay_runs_at_once(scheduler: Scheduler) -> None:
    done = threading.Event()
    scheduler.call_later(float("nan"), done.set)
    assert done.wait(WAIT)


# -- on_close: nothing scheduled with one is ever lost ------------------------------


def test_close_pending_runs_on_close_in_place_of_pending_calls_in_due_order(
    scheduler: Scheduler,
) -> None:
    ran: list[str] = []
    scheduler.call_later(20, ran.append, "b", on_close=lambda: ran.append("closed b"))
    scheduler.call_later(10, ran.append, "a", on_close=lambda: ran.append("closed a"))
    housekeeping = scheduler.call_later(30, ran.append, "housekeeping")
    scheduler.close_pending()
    # on_close ran on this thread, before close_pending() returned.
    assert ran == ["closed a", "closed b"]
    # A call without on_close keeps its schedule.
    assert scheduler.pending() == [housekeeping]


def test_a_call_without_on_close_still_runs_after_close_pending(
    scheduler: Scheduler,
) -> None:
    scheduler.close_pending()
    done = threading.Event()
    scheduler.call_later(0.01, done.set)
    assert done.wait(WAIT)


def test_after_close_pending_a_call_with_on_close_runs_that_at_once(
    scheduler: Scheduler,
) -> None:
    scheduler.close_pending()
    ran: list[tuple[str, str]] = []
    me = threading.current_thread().name
    call = scheduler.call_later(
        0,
        lambda: ran.append(("fn", threading.current_thread().name)),
        on_close=lambda: ran.append(("on_close", threading.current_thread().name)),
    )
    assert ran == [("on_close", me)]
    assert call.cancelled
    assert scheduler.pending() == []


def test_close_runs_on_close_and_a_closed_scheduler_still_honours_it() -> None:
    scheduler = Scheduler(name="ClosingScheduler")
    ran: list[str] = []
    scheduler.call_later(30, ran.append, "fn", on_close=lambda: ran.append("closed"))
    kept = scheduler.call_later(30, ran.append, "housekeeping")
    assert scheduler.close() == [kept]
    assert ran == ["closed"]
    # A call that brings an on_close is never refused: it runs that instead.
    scheduler.call_later(0, ran.append, "late", on_close=lambda: ran.append("late"))
    assert ran == ["closed", "late"]
    with pytest.raises(RuntimeError, match="closed scheduler"):
        scheduler.call_later(0, ran.append, "no on_close")


def test_a_cancelled_or_finished_call_does_not_run_its_on_close(
    scheduler: Scheduler,
) -> None:
    ran: list[str] = []
    finished = threading.Event()
    scheduler.call_later(0, finished.set, on_close=lambda: ran.append("finished"))
    assert finished.wait(WAIT)
    cancelled = scheduler.call_later(
        30, ran.append, "fn", on_close=lambda: ran.append("cancelled")
    )
    cancelled.cancel()
    scheduler.close_pending()
    assert ran == []


@pytest.mark.parametrize(
    "error", [RuntimeError("boom"), SystemExit(1), KeyboardInterrupt()], ids=repr
)
def test_an_on_close_that_raises_is_logged_and_the_others_still_run(
    scheduler: Scheduler, caplog: pytest.LogCaptureFixture, error: BaseException
) -> None:
    ran: list[str] = []

    def broken() -> None:
        raise error

    scheduler.call_later(10, ran.append, "a", on_close=broken)
    scheduler.call_later(20, ran.append, "b", on_close=lambda: ran.append("closed b"))
    with caplog.at_level(logging.ERROR, logger="actorstore.retry._scheduler"):
        scheduler.close_pending()
    assert ran == ["closed b"]
    assert any(
        record.exc_info and record.exc_info[1] is error for record in caplog.records
    )
