"""The store's workloads: throughput and round trips of any store a factory opens.

`measure_store(open_store, workload, root)` takes a *store factory*, so the
same workloads run on a local store (`local_store()`) or on any other store
with the same op methods (a cluster store, say) without changing the bench.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from actorstore import Durability, OpFuture, open_store
from actorstore.bench.timing import percentile, rate, round_trips
from actorstore.bench.window import sliding_window
from actorstore.bench.workload import Workload

__all__ = [
    "BenchStore",
    "StoreFactory",
    "StoreFigures",
    "local_store",
    "measure_store",
]

NONE_TABLE = "bench_none"
SYNC_TABLE = "bench_sync"


class BenchStore(Protocol):
    """What the workloads use of a store: `actors.Store` and stores like it."""

    def create_table(
        self,
        name: str,
        *,
        key_format: str = ...,
        value_format: str = ...,
        durability: Durability | str | None = ...,
        exist_ok: bool = ...,
    ) -> object:
        """Create table `name`."""

    def upsert(self, table: str, key: Any, value: Any) -> OpFuture[None]:
        """Write a record."""

    def search(self, table: str, key: Any) -> OpFuture[Any]:
        """Read a record."""

    def batch(self, table: str, writes: Iterable[Sequence[Any]]) -> OpFuture[int]:
        """Apply many writes in one transaction."""

    def count(self, table: str) -> OpFuture[int]:
        """Count a table's records."""

    def close(self, timeout: float | None = None) -> None:
        """Flush and close the store."""


StoreFactory = Callable[[str], BenchStore]
"""Opens a new, empty store in the directory it is given."""


def local_store(ops_max: int = 4096) -> StoreFactory:
    """Return a factory of local stores (`actors.open_store`) with `ops_max`."""

    def open_local(path: str) -> BenchStore:
        return open_store(path, ops_max=ops_max)

    return open_local


@dataclass
class StoreFigures:
    """The store's ops/s by workload and its single-op latencies (seconds)."""

    throughput: dict[str, float] = field(default_factory=dict)
    latency: dict[str, float] = field(default_factory=dict)


def measure_store(
    open_store: StoreFactory, workload: Workload, root: str
) -> StoreFigures:
    """Run the store's workloads on a store `open_store` makes in `root`.

    Throughput (ops/s), all driven as sliding windows of `workload.window`:
    `write` (upserts to a NONE table), `point_read` (searches),
    `durable_write` (upserts to a SYNC table, `window` in flight) and
    `durable_write_w<W>` for each other window of `workload.sync_windows`,
    `batch_1000` (writes per second in batches of `batch_size`, one
    transaction each). Latency: `upsert_p50`/`p99` (a NONE upsert, one at a
    time) and `search_p50`/`p99`.
    """
    figures = StoreFigures()
    store = open_store(os.path.join(root, "store"))
    try:
        _measure(store, workload, figures)
    finally:
        store.close()
    return figures


def _measure(store: BenchStore, workload: Workload, figures: StoreFigures) -> None:
    records = workload.records
    window = workload.window
    for table, durability in (
        (NONE_TABLE, Durability.NONE),
        (SYNC_TABLE, Durability.SYNC),
    ):
        store.create_table(
            table, key_format="str", value_format="json", durability=durability
        )
        store.count(table).get(timeout=60)  # opens the table before timing

    def upserts(table: str, count: int, in_flight: int) -> Callable[[], None]:
        return lambda: sliding_window(
            count, in_flight, lambda i: store.upsert(table, *workload.record(i))
        )

    throughput = figures.throughput
    throughput["write"] = rate(len(records), upserts(NONE_TABLE, len(records), window))
    throughput["point_read"] = rate(
        len(records),
        lambda: sliding_window(
            len(records), window, lambda i: store.search(NONE_TABLE, records[i][0])
        ),
    )
    windows = list(dict.fromkeys((*workload.sync_windows, window)))
    for in_flight in windows:
        count = workload.durable_ops(in_flight)
        throughput[workload.durable_name(in_flight)] = rate(
            count, upserts(SYNC_TABLE, count, in_flight)
        )

    def batches() -> None:
        for number in range(workload.batches):
            writes = [("upsert", key, value) for key, value in workload.batch(number)]
            store.batch(NONE_TABLE, writes).get(timeout=60)

    throughput["batch_1000"] = rate(workload.batches * workload.batch_size, batches)
    samples = round_trips(
        workload.latency_samples,
        lambda i: store.upsert(NONE_TABLE, *workload.record(i)),
    )
    figures.latency["upsert_p50"] = percentile(samples, 0.50)
    figures.latency["upsert_p99"] = percentile(samples, 0.99)
    samples = round_trips(
        workload.latency_samples,
        lambda i: store.search(NONE_TABLE, workload.record(i)[0]),
    )
    figures.latency["search_p50"] = percentile(samples, 0.50)
    figures.latency["search_p99"] = percentile(samples, 0.99)
