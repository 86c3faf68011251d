"""Measure a batch of 1000 JSON upserts: `TableSession.batch` against raw py-lmdb.

Not a test (pytest does not collect it): run `python tests/storage/batch_speed.py`.
Each figure is the median of 5 runs, each on a fresh table, with sync off
(NONE tables, `sync=False`) so the CPU cost shows rather than the disk's
fsync; `--sync` measures SYNC tables against `sync=True`.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import lmdb

from actorstore.storage import StoreDirectory

RECORDS = 1000
RUNS = 5


def records(run: int) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"user{run:02d}-{i:05d}", {"name": f"User {i}", "age": i % 90, "tags": ["a"]})
        for i in range(RECORDS)
    ]


def raw(path: str, sync: bool, run: int) -> float:
    env = lmdb.open(path, map_size=1 << 30, sync=sync, metasync=sync)
    try:
        items = records(run)
        start = time.perf_counter()
        with env.begin(write=True) as txn:
            for key, value in items:
                txn.put(
                    key.encode(),
                    json.dumps(value, separators=(",", ":")).encode(),
                )
        return time.perf_counter() - start
    finally:
        env.close()


def session_batch(path: str, sync: bool, run: int, kinds: str) -> float:
    with StoreDirectory(path) as store:
        store.create_table("users", durability="sync" if sync else "none")
        session = store.session("users")
        session.upsert("warm", 0)  # open the table before timing
        items = records(run)
        if kinds == "upserts":
            writes: list[tuple[Any, ...]] = [("upsert", k, v) for k, v in items]
        else:  # an insert every 10th write, the rest upserts
            writes = [
                ("insert" if i % 10 == 0 else "upsert", k, v)
                for i, (k, v) in enumerate(items)
            ]
        start = time.perf_counter()
        session.batch(writes)
        return time.perf_counter() - start


def median_ms(measure: Callable[[str, int], float]) -> float:
    times = []
    for run in range(RUNS):
        with tempfile.TemporaryDirectory() as path:
            times.append(measure(path, run))
    return statistics.median(times) * 1000


def main() -> None:
    sync = "--sync" in sys.argv
    results = {
        "raw py-lmdb (json.dumps + put, one txn)": median_ms(
            lambda path, run: raw(path, sync, run)
        ),
        "TableSession.batch, 1000 upserts": median_ms(
            lambda path, run: session_batch(path, sync, run, "upserts")
        ),
        "TableSession.batch, 900 upserts + 100 inserts": median_ms(
            lambda path, run: session_batch(path, sync, run, "mixed")
        ),
    }
    print(f"{RECORDS} JSON records, sync {'on' if sync else 'off'}, median of {RUNS}:")
    for name, ms in results.items():
        print(f"  {name:48s} {ms:7.2f} ms")


if __name__ == "__main__":
    main()
