"""Conservation: under injected faults every op is committed or dead-lettered, once.

Faults are injected by the op's own callback, which runs inside the op's
transaction and raises `storage.StoreBusyError` (a `TransientError`), so the
attempt rolls back and the store's retry policy decides what happens next.
"""

from __future__ import annotations

import functools
import random
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import actorstore
from actorstore import OpFuture, Store
from actorstore.retry import RetriesExhaustedError, RetryPolicy
from actorstore.storage import StoreBusyError

WAIT = 10.0
OPS = 1000
FAULT_RATE = 0.3
SEED = 1234
POLICY = RetryPolicy(max_attempts=3, initial_wait=0.001, max_wait=0.01)


class FaultPlan:
    """Seeded faults per key and attempt; a `fn(error, result)` callback per key.

    The plan is drawn up front, so which keys must end as dead letters (those
    whose every attempt faults) is known before anything runs.
    """

    def __init__(self, keys: list[str], *, attempts: int, rate: float) -> None:
        rng = random.Random(SEED)
        self.faults = {
            key: [rng.random() < rate for _ in range(attempts)] for key in keys
        }
        self.tried: dict[str, int] = dict.fromkeys(keys, 0)
        self.told: dict[str, list[BaseException]] = {key: [] for key in keys}
        self._lock = threading.Lock()

    def callback(self, key: str) -> Callable[[BaseException | None, Any], None]:
        """Return the callback for `key`'s op."""
        return functools.partial(self._call, key)

    def _call(self, key: str, error: BaseException | None, result: Any) -> None:
        with self._lock:
            if error is not None:
                self.told[key].append(error)
                return
            attempt = self.tried[key]
            self.tried[key] = attempt + 1
            faulty = attempt < len(self.faults[key]) and self.faults[key][attempt]
        if faulty:
            raise StoreBusyError(f"injected fault, attempt {attempt + 1}", key=key)

    def doomed(self) -> set[str]:
        """Return the keys whose every attempt faults."""
        return {key for key, faults in self.faults.items() if all(faults)}


def submit_all(
    store: Store, plan: FaultPlan, keys: list[str]
) -> dict[str, OpFuture[Any]]:
    """Submit one write per key (inserts and upserts alternate); return futures."""
    futures: dict[str, OpFuture[Any]] = {}
    for index, key in enumerate(keys):
        write = store.insert if index % 2 else store.upsert
        futures[key] = write("ledger", key, value_of(key), callback=plan.callback(key))
    return futures


def value_of(key: str) -> dict[str, Any]:
    return {"key": key, "payload": [key, len(key)]}


def outcome_sets(futures: dict[str, OpFuture[Any]]) -> tuple[set[str], set[str]]:
    """Split keys by their future: (committed, dead-lettered); fail on anything else."""
    committed: set[str] = set()
    dead: set[str] = set()
    for key, future in futures.items():
        assert future.done(), f"op for {key} never ended"
        error = future.exception(0)
        if error is None:
            committed.add(key)
        else:
            assert isinstance(error, RetriesExhaustedError), (key, repr(error))
            assert isinstance(error.last_error, StoreBusyError), (key, repr(error))
            dead.add(key)
    return committed, dead


def stored_sets(store: Store) -> tuple[set[str], set[str]]:
    """Return (keys in the table, keys in the dead letters), checking values."""
    stored = dict(store.scan("ledger").get(timeout=WAIT))
    for key, value in stored.items():
        assert value == value_of(key)
    letters = store.dead_letters.list(timeout=WAIT)
    dead_keys = [letter.key for letter in letters]
    assert len(dead_keys) == len(set(dead_keys)), "an op was dead-lettered twice"
    for letter in letters:
        assert letter.table == "ledger"
        assert letter.value == value_of(letter.key)
        assert letter.error["type"] == "StoreBusyError"
    return set(stored), set(dead_keys)


def assert_conserved(committed: set[str], dead: set[str], keys: list[str]) -> None:
    assert not committed & dead, (
        f"both committed and dead: {sorted(committed & dead)[:5]}"
    )
    assert committed | dead == set(keys), (
        f"lost: {sorted(set(keys) - committed - dead)[:5]}"
    )
    assert len(committed) + len(dead) == len(keys)


@pytest.mark.timeout(60)
def test_every_op_is_committed_or_dead_lettered_exactly_once(
    make_store: Callable[..., Store],
) -> None:
    keys = [f"op-{i:04d}" for i in range(OPS)]
    plan = FaultPlan(keys, attempts=POLICY.max_attempts, rate=FAULT_RATE)
    store = make_store(retry=POLICY)
    store.create_table("ledger", key_format="str", value_format="json")

    futures = submit_all(store, plan, keys)
    store.flush(timeout=30)

    committed, dead = outcome_sets(futures)
    assert_conserved(committed, dead, keys)
    assert dead == plan.doomed(), "dead letters differ from the keys that always failed"
    assert 0 < len(dead) < OPS // 10  # 0.3 ** 3: about 27 of 1000
    for key in committed:
        assert plan.tried[key] == plan.faults[key].index(False) + 1, key
    for key in dead:
        assert plan.tried[key] == POLICY.max_attempts, key
        assert [type(e) for e in plan.told[key]] == [RetriesExhaustedError], key
    assert (committed, dead) == stored_sets(store)
    for letter in store.dead_letters.list(timeout=WAIT):
        assert letter.attempts == POLICY.max_attempts
        index = keys.index(letter.key)
        assert letter.op_type == ("insert" if index % 2 else "upsert")
    stats = store.stats()
    assert stats["dead_lettered"] == len(dead)
    assert stats["in_flight"] == 0

    store.close(timeout=WAIT)
    with actorstore.open_store(store.path) as reopened:
        assert (committed, dead) == stored_sets(reopened)
        assert reopened.count("ledger").get(timeout=WAIT) == len(committed)
        assert len(reopened.dead_letters) == len(dead)


@pytest.mark.timeout(60)
def test_close_with_pending_retries_loses_nothing(store_path: Path) -> None:
    # Retries wait long enough that close() finds many still pending: they
    # must become dead letters, not vanish.
    policy = RetryPolicy(max_attempts=5, initial_wait=0.05, max_wait=0.2)
    keys = [f"op-{i:04d}" for i in range(OPS)]
    plan = FaultPlan(keys, attempts=policy.max_attempts, rate=FAULT_RATE)
    store = actorstore.open_store(store_path, retry=policy)
    try:
        store.create_table("ledger", key_format="str", value_format="json")
        futures = submit_all(store, plan, keys)
    finally:
        store.close(timeout=30)

    committed, dead = outcome_sets(futures)
    assert_conserved(committed, dead, keys)
    assert dead, "close() found no pending retry; the test proves nothing"
    with actorstore.open_store(store_path) as reopened:
        assert (committed, dead) == stored_sets(reopened)
