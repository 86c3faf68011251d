"""The raw py-lmdb baseline: what a user of LMDB alone does, codec work included.

No actors, no futures: one transaction per put or get on the caller's thread,
with the JSON encoding (`json.dumps(...).encode()`) and decoding (`json.loads`)
that a user of raw LMDB writes, and the environment options the store's tables
use.
"""

from __future__ import annotations

import json
import os

import lmdb

from actorstore.bench.timing import rate, unsynced_rates
from actorstore.bench.workload import Workload

__all__ = ["measure_raw_lmdb", "open_raw_env"]


def open_raw_env(path: str, *, sync: bool) -> lmdb.Environment:
    """Open a plain LMDB environment as the store opens a table's (`sync` or not)."""
    return lmdb.open(
        path, map_size=1 << 30, sync=sync, metasync=sync, writemap=False, max_dbs=0
    )


def measure_raw_lmdb(workload: Workload, root: str) -> dict[str, float]:
    """Return raw py-lmdb's ops/s: write, durable_write, point_read, batch_1000.

    `durable_write` is one put per transaction with an fsync per commit, one at
    a time (raw LMDB has nothing in flight); `write` is the same without sync.
    """
    records = workload.records
    env = open_raw_env(os.path.join(root, "raw-nosync"), sync=False)
    try:

        def put_each() -> None:
            for key, value in records:
                with env.begin(write=True) as txn:
                    txn.put(key.encode(), json.dumps(value).encode())

        def get_each() -> None:
            for key, _ in records:
                with env.begin() as txn:
                    json.loads(txn.get(key.encode(), b""))  # b"" fails: a miss

        def put_batches() -> None:
            for number in range(workload.batches):
                with env.begin(write=True) as txn:
                    for key, value in workload.batch(number):
                        txn.put(key.encode(), json.dumps(value).encode())

        figures = unsynced_rates(
            workload, write=put_each, point_read=get_each, batch_1000=put_batches
        )
    finally:
        env.close()
    env = open_raw_env(os.path.join(root, "raw-sync"), sync=True)
    try:
        durable = [workload.record(i) for i in range(workload.sync_ops)]

        def put_fsync_each() -> None:
            for key, value in durable:
                with env.begin(write=True) as txn:
                    txn.put(key.encode(), json.dumps(value).encode())

        figures["durable_write"] = rate(len(durable), put_fsync_each)
    finally:
        env.close()
    return figures
