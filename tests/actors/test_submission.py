"""Tests for actors/_submission.py: check, slot, hand to the transport.

On a mock transport with a timer run by hand: no LMDB, no threads. An op
that waits for a retry on the timer keeps its `ops_max` slot, which is how
these tests hold slots.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from actorstore import (
    InvalidKeyError,
    OpsMaxExceededError,
    OpSubmittedError,
    RetryPolicy,
    Store,
    StoreBusyError,
    StoreClosedError,
    UnknownTableError,
)
from actorstore._record import OpRecord
from actorstore._transports.mock import MemoryTables, MockTransport
from tests.actors.helpers import ManualTimer

RETRY = RetryPolicy(max_attempts=5, initial_wait=0.01)


class FailOnce:
    """Fail the first attempt of every write to `t` (its retry then waits on the
    timer, holding the op's slot)."""

    def __init__(self) -> None:
        self.memory = MemoryTables()
        self.seen: set[int] = set()

    def __call__(self, record: OpRecord) -> Any:
        if record.table == "t" and record.id not in self.seen:
            self.seen.add(record.id)
            raise StoreBusyError("busy")
        return self.memory(record)


@pytest.fixture
def parts() -> Iterator[tuple[Store, MockTransport, ManualTimer]]:
    transport = MockTransport(FailOnce())
    timer = ManualTimer()
    store = Store(transport, scheduler=timer, ops_max=2, retry=RETRY, wait=False)
    store.create_table("t")
    store.create_table("u")
    yield store, transport, timer
    store.close()


def test_bad_input_is_refused_before_anything_reaches_the_transport(
    parts: tuple[Store, MockTransport, ManualTimer],
) -> None:
    store, transport, _ = parts

    with pytest.raises(InvalidKeyError):
        store.upsert("t", "", 1)
    with pytest.raises(UnknownTableError):
        store.upsert("nope", "k", 1)

    assert transport.put_records == []
    assert store.stats()["in_flight"] == 0


def test_a_handle_is_submitted_once(
    parts: tuple[Store, MockTransport, ManualTimer],
) -> None:
    store, _, _ = parts
    op = store.new_op("u")
    op.key, op.value = "k", 1
    op.upsert()

    op.key = "other"
    with pytest.raises(OpSubmittedError, match="already submitted"):
        op.insert()


def test_ops_past_ops_max_are_refused_at_once_and_slots_come_back(
    parts: tuple[Store, MockTransport, ManualTimer],
) -> None:
    store, _, timer = parts
    first, second = store.upsert("t", "a", 1), store.upsert("t", "b", 2)

    with pytest.raises(OpsMaxExceededError):
        store.upsert("u", "c", 3)
    timer.run_due()

    assert first.get(0) is None and second.get(0) is None
    assert store.upsert("u", "c", 3).get(0) is None


def test_on_a_running_loop_ops_past_ops_max_are_parked_and_admitted_in_order(
    parts: tuple[Store, MockTransport, ManualTimer],
) -> None:
    store, transport, timer = parts

    async def scenario() -> list[Any]:
        held = [store.upsert("t", "a", 1, wait=True), store.upsert("t", "b", 2)]
        parked = [store.upsert("u", f"p{i}", i, wait=True) for i in range(3)]
        assert not any(future.done() for future in parked)
        timer.run_due()  # the held ops commit; the parked ones take their slots
        return [await future for future in [*held, *parked]]

    assert asyncio.run(scenario()) == [None] * 5
    order = [r.key for r in transport.put_records if r.table == "u"]
    assert order == ["p0", "p1", "p2"]


def test_a_closed_store_refuses_ops(
    parts: tuple[Store, MockTransport, ManualTimer],
) -> None:
    store, _, _ = parts
    store.close()

    with pytest.raises(StoreClosedError):
        store.upsert("u", "k", 1)


class Switch:
    """Fail every write with StoreBusyError while `down`."""

    def __init__(self) -> None:
        self.memory = MemoryTables()
        self.down = True

    def __call__(self, record: OpRecord) -> Any:
        if self.down and record.table != "__dead_letters__":
            raise StoreBusyError("busy")
        return self.memory(record)


def test_a_dead_letter_replays_as_a_plain_op_and_is_removed() -> None:
    switch = Switch()
    store = Store(MockTransport(switch), scheduler=ManualTimer())
    try:
        store.create_table("t")
        failed = store.upsert("t", "k", {"v": 1}, retry=RetryPolicy(max_attempts=1))
        assert failed.exception(0) is not None
        (letter,) = store.dead_letters.list()
        switch.down = False

        outcomes = store.dead_letters.replay([letter.id])

        assert outcomes == {letter.id: None}
        assert store.dead_letters.list() == []
        assert switch.memory.data["t"] == {"k": {"v": 1}}
    finally:
        store.close()
