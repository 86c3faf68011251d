"""Memory: whether RSS stays flat over many ops; the bytes an in-flight op holds."""

from __future__ import annotations

import gc
import os
import threading
import tracemalloc

from actorstore import Durability, OpFuture, open_store
from actorstore.bench.window import sliding_window
from actorstore.bench.workload import Workload

__all__ = ["measure_memory", "rss"]

_KEYS = 10_000


def rss() -> int:
    """Return this process's resident set size in bytes (Linux), else 0."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def measure_memory(workload: Workload, root: str) -> dict[str, float]:
    """Return RSS after a tenth and after all of `memory_ops` upserts, and per op.

    The upserts (`window` in flight) cycle over 10,000 records, so the data
    (whose mapped pages count in RSS) stays the same size and growth means
    memory the store holds on to. `bytes_per_in_flight_op` is the Python heap
    (tracemalloc) that `in_flight` upserts queued behind a held owner take,
    their futures included, divided by their number.
    """
    records = [workload.record(i) for i in range(min(_KEYS, workload.ops))]
    path = os.path.join(root, "memory")
    with open_store(path, ops_max=workload.in_flight + workload.window) as store:
        store.create_table(
            "memory", key_format="str", value_format="json", durability=Durability.NONE
        )

        def upserts(count: int) -> None:
            sliding_window(
                count,
                workload.window,
                lambda i: store.upsert("memory", *records[i % len(records)]),
            )

        first = max(1, workload.memory_ops // 10)
        upserts(first)
        gc.collect()
        rss_first = rss()
        upserts(workload.memory_ops - first)
        gc.collect()
        rss_all = rss()
        # Hold the table's owner inside a callback so that the ops behind it
        # stay in flight while they are counted.
        entered, release = threading.Event(), threading.Event()

        def hold(error: BaseException | None, result: object) -> None:
            entered.set()
            release.wait(60)

        pending: list[OpFuture[None] | None] = [None] * workload.in_flight
        held = store.upsert("memory", *records[0], callback=hold)
        try:
            entered.wait(60)
            gc.collect()
            tracemalloc.start()
            try:
                before = tracemalloc.get_traced_memory()[0]
                for i in range(workload.in_flight):
                    pending[i] = store.upsert("memory", *records[i % len(records)])
                held_bytes = tracemalloc.get_traced_memory()[0] - before
            finally:
                tracemalloc.stop()
        finally:
            release.set()
        held.get(timeout=60)
        for future in pending:
            if future is not None:
                future.get(timeout=60)
    return {
        "rss_after_first_tenth": float(rss_first),
        "rss_after_all": float(rss_all),
        "bytes_per_in_flight_op": held_bytes / workload.in_flight,
    }
