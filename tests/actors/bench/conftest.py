"""Bench test fixtures: a tiny workload, one real run of it, synthetic results."""

from __future__ import annotations

from pathlib import Path

import pytest

from actorstore.bench import BenchResult, Workload, run_bench

TINY = Workload(
    ops=300,
    sync_ops=5,
    batch_size=100,
    latency_samples=50,
    memory_ops=200,
    in_flight=50,
    rounds=2,
    asyncio_ops=300,
    asyncio_one_ops=50,
)
"""A few hundred ops: the bench's code runs in a second; its timings mean nothing
(two rounds, so that the medians are taken)."""

ROWS = ("write", "durable_write", "point_read", "batch_1000")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> BenchResult:
    """One real run of the tiny workload, peers included, shared by a module."""
    where: Path = tmp_path_factory.mktemp("bench")
    return run_bench(TINY, path=str(where), peers=True)


def synthetic_result(store_factor: float) -> BenchResult:
    """A result with made-up figures: the store's are 100 * `store_factor` ops/s.

    Every other engine does 100 ops/s per row, except the fsync-per-op ones
    (5 ops/s durable). With `store_factor` 20 every target is met, with 0.5
    the throughput ratios are missed.
    """
    peer = {"write": 100.0, "durable_write": 5.0, "point_read": 100.0}
    peer["batch_1000"] = 100.0
    store = {name: 100.0 * store_factor for name in ROWS}
    store["write"] = store["durable_write"]
    for window in (1, 8, 512):
        store[f"durable_write_w{window}"] = 10.0 * window
    return BenchResult(
        workload=TINY.replace(rounds=3),  # enough rounds to be judged
        throughput={
            "actorstore": store,
            "raw-lmdb": dict(peer),
            "pykka-actor": {"write": 100.0, "durable_write": 5.0, "point_read": 100.0},
            "sqlite3": dict(peer),
        },
        latency={
            "actorstore": {"upsert_p50": 1e-4, "upsert_p99": 3e-4},
            "pykka-actor": {"ask_p50": 1e-4, "ask_p99": 2e-4},
        },
        memory={
            "rss_after_first_tenth": 100e6,
            "rss_after_all": 101e6,
            "bytes_per_in_flight_op": 500.0,
        },
        peers_run=True,
        missing={"rocksdb": "not installed"},
    )
