"""Fixtures of the actors tests: real stores in pytest's `tmp_path`, real threads."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from actorstore import OpFuture, Store

WAIT = 5.0
"""Seconds any test waits for something that signals; far above what it takes."""


class Gate:
    """A `fn(error, result)` callback that holds its op's owner until opened.

    The callback runs on the owner inside the op's transaction, so while the
    gate is shut every later op of that owner queues up behind it.
    """

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.released = threading.Event()
        self.future: OpFuture[Any] | None = None

    def __call__(self, error: BaseException | None, result: object) -> None:
        if error is not None:
            return
        self.entered.set()
        if not self.released.wait(2 * WAIT):
            raise TimeoutError("the gate was never opened")

    def open(self) -> None:
        """Let the held owner go on."""
        self.released.set()


@pytest.fixture
def gates() -> Iterator[list[Gate]]:
    """Every gate a test shut; all are opened in teardown so no owner stays held."""
    shut: list[Gate] = []
    yield shut
    for gate in shut:
        gate.open()


@pytest.fixture
def hold(gates: list[Gate]) -> Callable[..., Gate]:
    """Return `hold(store, table, key="__hold__", value=0)`: hold `table`'s owner.

    It submits an upsert whose callback blocks on a `Gate`, waits until the
    owner is inside it, and returns the gate (its `future` is the op's).
    """

    def hold(store: Any, table: str, key: Any = "__hold__", value: Any = 0) -> Gate:
        gate = Gate()
        gates.append(gate)
        gate.future = store.upsert(table, key, value, callback=gate)
        assert gate.entered.wait(WAIT), "the owner never ran the holding op"
        return gate

    return hold


@pytest.fixture
def make_store(
    make_store: Callable[..., Store], gates: list[Gate]
) -> Iterator[Callable[..., Store]]:
    """The shared `make_store`, whose teardown first opens every gate (so held
    callbacks let their ops end before the stores close)."""
    yield make_store
    for gate in gates:
        gate.open()


@pytest.fixture
def store(make_store: Callable[..., Store]) -> Store:
    """Return an open store (2 workers) with table `users` (str keys, JSON values).

    It is closed in teardown, so no actor outlives its test.
    """
    store = make_store(threads=2)
    store.create_table("users", key_format="str", value_format="json")
    return store
