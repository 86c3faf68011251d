"""Blocking on the store from a store thread fails at once instead of hanging."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from actorstore import BlockingCallError, OpFuture, OpsMaxExceededError, Store
from actorstore._threads import on_owner_thread, on_store_thread

WAIT = 5.0


def test_a_callback_waiting_on_its_own_owner_fails_instead_of_hanging(
    make_store: Callable[..., Store],
) -> None:
    store = make_store(threads=1)
    store.create_table("a")
    store.create_table("b")
    store.upsert("b", "x", 1).get(WAIT)

    def write_other_table(error: BaseException | None, result: Any) -> object:
        if error is None:
            # A write queues at the same (only) owner, which is busy here.
            return store.upsert("b", "x", 2).get(timeout=WAIT)
        return None

    future = store.upsert("a", "k", 1, callback=write_other_table)
    error = future.exception(WAIT)
    assert isinstance(error, BlockingCallError)
    assert "add_done_callback" in str(error)
    assert store.exists("a", "k").get(WAIT) is False  # the veto rolled it back


@pytest.mark.parametrize("call", ["flush", "close"])
def test_flush_or_close_in_a_done_callback_fails_at_once(
    store: Store, call: str
) -> None:
    raised: list[BaseException] = []
    done = threading.Event()

    def on_done(_: OpFuture[None]) -> None:
        try:
            getattr(store, call)(timeout=WAIT)
        except BlockingCallError as error:
            raised.append(error)
        done.set()

    store.upsert("users", "k", 1).add_done_callback(on_done)
    assert done.wait(WAIT)
    assert raised and f"{call}() on a store thread" in str(raised[0])
    store.flush(WAIT)  # from this thread it works, and the store is still open


def test_a_waiting_submit_on_an_owner_refuses_at_once(
    make_store: Callable[..., Store],
) -> None:
    store = make_store(threads=1, ops_max=2, wait=True)
    store.create_table("a")
    refused: list[BaseException] = []

    def submit_more(error: BaseException | None, result: Any) -> None:
        if error is None:
            try:
                store.upsert("a", "side", 1)
            except OpsMaxExceededError as exc:
                refused.append(exc)

    first = store.upsert("a", "k1", 1, callback=submit_more)
    second = store.upsert("a", "k2", 1)
    assert first.get(WAIT) is None and second.get(WAIT) is None
    assert len(refused) == 1


def test_the_markers_tell_owner_and_timer_threads(store: Store) -> None:
    assert not on_owner_thread() and not on_store_thread()
    seen: dict[str, bool] = {}

    def probe(error: BaseException | None, result: Any) -> None:
        seen["owner"], seen["store"] = on_owner_thread(), on_store_thread()

    store.upsert("users", "k", 1, callback=probe).get(WAIT)
    assert seen == {"owner": True, "store": True}
