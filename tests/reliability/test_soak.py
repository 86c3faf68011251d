"""Soak: many ops with transient faults end, memory stays flat, no thread leaks.

The size comes from `SOAK_OPS` (default 20000, small enough for the normal
suite); CI can raise it.
"""

from __future__ import annotations

import gc
import os
import random
import threading
from pathlib import Path
from typing import Any

import pytest

import actorstore
from actorstore import OpFuture, Store
from actorstore.retry import RetriesExhaustedError, RetryPolicy
from actorstore.storage import StoreBusyError

WAIT = 10.0
SOAK_OPS = int(os.environ.get("SOAK_OPS", "20000"))
WARM_UP_OPS = max(10_000, SOAK_OPS // 10)
"""Enough to touch most keys and fill the latency window: a steady state."""
FAULT_RATE = 0.05
WINDOW = 500
"""Ops outstanding at once; the soak waits for each window before the next."""
KEYS = 2000
"""Keys are drawn from a bounded space, so the files stop growing early."""
TABLES = ("hot", "cold")  # two tables: both workers serve
SEED = 99
POLICY = RetryPolicy(max_attempts=2, initial_wait=0.001, max_wait=0.01)


def rss_bytes() -> int:
    """Return this process's resident set size (VmRSS), in bytes."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


class Soak:
    """Submit seeded random ops window by window and count how each ends."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.rng = random.Random(SEED)
        self._fault_rng = random.Random(SEED + 1)
        self._lock = threading.Lock()
        self.faults = 0
        self.submitted = 0
        self.committed = 0
        self.dead = 0

    def flaky(self, error: BaseException | None, result: Any) -> None:
        """Fail 5% of attempts inside the transaction with a transient error."""
        if error is not None:
            return
        with self._lock:
            faulty = self._fault_rng.random() < FAULT_RATE
            self.faults += faulty
        if faulty:
            raise StoreBusyError("injected transient fault")

    def submit_one(self) -> OpFuture[Any]:
        rng, store = self.rng, self.store
        table = rng.choice(TABLES)
        key = f"k{rng.randrange(KEYS):05d}"
        kind = rng.random()
        self.submitted += 1
        if kind < 0.70:
            return store.upsert(table, key, {"n": self.submitted}, callback=self.flaky)
        if kind < 0.80:
            writes = [("upsert", f"k{rng.randrange(KEYS):05d}", i) for i in range(3)]
            return store.batch(table, writes, callback=self.flaky)
        if kind < 0.90:
            return store.exists(table, key, callback=self.flaky)
        if kind < 0.95:
            return store.count(table, callback=self.flaky)
        return store.scan(table, prefix="k01", limit=10, callback=self.flaky)

    def run(self, ops: int) -> None:
        """Run `ops` ops, `WINDOW` at a time; each must commit or be dead-lettered."""
        done = 0
        while done < ops:
            window = [self.submit_one() for _ in range(min(WINDOW, ops - done))]
            for future in window:
                error = future.exception(timeout=WAIT)
                if error is None:
                    self.committed += 1
                else:
                    assert isinstance(error, RetriesExhaustedError), repr(error)
                    assert isinstance(error.last_error, StoreBusyError), repr(error)
                    self.dead += 1
            done += len(window)


@pytest.mark.soak
@pytest.mark.timeout(120)
def test_soak_with_transient_faults(store_path: Path) -> None:
    threads_before = threading.enumerate()
    count_before = threading.active_count()
    store = actorstore.open_store(store_path, retry=POLICY)
    for table in TABLES:
        store.create_table(table, key_format="str", value_format="json")
    soak = Soak(store)

    soak.run(WARM_UP_OPS)
    gc.collect()
    rss_warm = rss_bytes()
    soak.run(SOAK_OPS)
    store.flush(timeout=30)
    gc.collect()
    rss_end = rss_bytes()

    total = WARM_UP_OPS + SOAK_OPS
    assert soak.submitted == total
    assert soak.committed + soak.dead == total
    assert soak.faults > total * FAULT_RATE * 0.8  # the faults did happen
    assert soak.dead > 0  # and some ran out of retries
    stats = store.stats()
    assert stats["in_flight"] == 0
    assert stats["dead_lettered"] == soak.dead
    assert len(store.dead_letters.list(timeout=WAIT)) == soak.dead
    assert rss_end <= rss_warm * 1.3, (
        f"RSS grew from {rss_warm >> 20} MiB after warm-up to {rss_end >> 20} MiB "
        f"after {SOAK_OPS} more ops"
    )

    store.close(timeout=30)
    started = [t for t in threading.enumerate() if t not in threads_before]
    for thread in started:
        thread.join(timeout=WAIT)
    alive = [t.name for t in started if t.is_alive()]
    assert not alive, f"threads still alive after close(): {alive}"
    assert threading.active_count() == count_before

    with actorstore.open_store(store_path) as reopened:
        assert len(reopened.dead_letters) == soak.dead
        for table in TABLES:
            assert 0 < reopened.count(table).get(timeout=WAIT) <= KEYS
