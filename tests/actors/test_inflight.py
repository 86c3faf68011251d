"""Tests for actors/inflight.py: the ops_max bound, flush's wait and the counters."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from actorstore import OpsMaxExceededError
from actorstore._inflight import InFlight
from actorstore._record import OpRecord as Op
from actorstore.storage import TransientError

WAIT = 5.0


def new_op() -> Op:
    # Records only: these ops are never submitted.
    return Op("t")


def fill(inflight: InFlight, count: int) -> list[Op]:
    ops = [new_op() for _ in range(count)]
    for op in ops:
        inflight.add(op, wait=False, timeout=None)
    return ops


def test_ops_up_to_ops_max_are_admitted_and_one_more_is_refused_at_once() -> None:
    inflight = InFlight(3)
    fill(inflight, 3)

    with pytest.raises(OpsMaxExceededError, match=r"3 ops are already outstanding"):
        inflight.add(new_op(), wait=False, timeout=None)

    assert len(inflight) == 3
    assert inflight.stats()["submitted"] == 3


def test_ops_max_exceeded_is_transient_and_keeps_ops_max() -> None:
    error = OpsMaxExceededError(ops_max=8)

    assert isinstance(error, TransientError)
    assert error.ops_max == 8
    assert "ops_max=8" in str(error)


def test_removing_an_op_frees_its_slot() -> None:
    inflight = InFlight(2)
    first, _ = fill(inflight, 2)

    inflight.remove([first], failed=False)
    inflight.add(new_op(), wait=False, timeout=None)

    assert len(inflight) == 2


def test_removing_twice_counts_once() -> None:
    inflight = InFlight(2)
    (op,) = fill(inflight, 1)

    inflight.remove([op], failed=True)
    inflight.remove([op], failed=False)

    stats = inflight.stats()
    assert (stats["failed"], stats["completed"]) == (1, 0)
    assert len(inflight) == 0


def test_internal_ops_are_admitted_past_ops_max() -> None:
    inflight = InFlight(1)
    fill(inflight, 1)

    inflight.add(new_op(), wait=False, timeout=None, internal=True)

    assert len(inflight) == 2


def test_a_waiting_add_gives_up_after_its_timeout() -> None:
    inflight = InFlight(1)
    fill(inflight, 1)

    with pytest.raises(OpsMaxExceededError, match=r"after waiting 0\.02 s"):
        inflight.add(new_op(), wait=True, timeout=0.02)
    assert len(inflight) == 1


def test_a_waiting_add_takes_the_slot_freed_by_another_thread() -> None:
    inflight = InFlight(1)
    (held,) = fill(inflight, 1)
    admitted = threading.Event()
    late = new_op()

    def add() -> None:
        inflight.add(late, wait=True, timeout=WAIT)
        admitted.set()

    waiter = threading.Thread(target=add)
    waiter.start()
    assert not admitted.wait(0.05)  # no slot yet
    inflight.remove([held], failed=False)

    assert admitted.wait(WAIT)
    waiter.join(WAIT)
    assert inflight.snapshot() == [late]


def test_ops_get_increasing_sequence_numbers_and_a_submit_time() -> None:
    inflight = InFlight(10)
    ops = fill(inflight, 5)

    seqs = [op.seq for op in ops]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == 5
    assert all(op.submitted_at > 0 for op in ops)
    assert inflight.snapshot() == ops


def test_wait_for_submitted_returns_true_when_nothing_is_outstanding() -> None:
    assert InFlight(1).wait_for_submitted(0) is True
    assert InFlight(1).wait_for_submitted(None) is True


def test_wait_for_submitted_waits_for_the_oldest_op_too() -> None:
    inflight = InFlight(10)
    first, second = fill(inflight, 2)

    inflight.remove([second], failed=False)
    assert inflight.wait_for_submitted(0.01) is False

    inflight.remove([first], failed=False)
    assert inflight.wait_for_submitted(0) is True


def test_wait_for_submitted_wakes_when_the_last_op_finishes() -> None:
    inflight = InFlight(10)
    ops = fill(inflight, 3)
    result: list[bool] = []
    waiter = threading.Thread(
        target=lambda: result.append(inflight.wait_for_submitted(WAIT))
    )

    waiter.start()
    for op in ops:
        inflight.remove([op], failed=False)
    waiter.join(WAIT)

    assert result == [True]


def test_stats_report_counts_in_flight_and_latency() -> None:
    inflight = InFlight(10)
    ops = fill(inflight, 4)
    inflight.remove([ops[0]], failed=False)
    inflight.remove([ops[1]], failed=True)
    inflight.count("retried")
    inflight.count("dead_lettered")

    stats: dict[str, Any] = inflight.stats()

    assert stats["submitted"] == 4
    assert (stats["completed"], stats["failed"], stats["in_flight"]) == (1, 1, 2)
    assert (stats["retried"], stats["dead_lettered"]) == (1, 1)
    assert 0 <= stats["latency_p50"] <= stats["latency_p99"]


def test_stats_without_samples_have_no_latency() -> None:
    stats = InFlight(1).stats()

    assert stats["latency_p50"] is None
    assert stats["latency_p99"] is None
    assert stats["in_flight"] == 0


def test_ops_max_holds_under_concurrent_adds() -> None:
    inflight = InFlight(5)
    admitted: list[Op] = []
    refused: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def add() -> None:
        start.wait(WAIT)
        for _ in range(20):
            op = new_op()
            try:
                inflight.add(op, wait=False, timeout=None)
            except OpsMaxExceededError as exc:
                with lock:
                    refused.append(exc)
            else:
                with lock:
                    admitted.append(op)

    threads = [threading.Thread(target=add) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)

    assert len(admitted) == 5
    assert len(refused) == 8 * 20 - 5
    assert len(inflight) == 5
