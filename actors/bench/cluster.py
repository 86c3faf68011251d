"""The store on a cluster: SYNC upserts to one remote table, and single-op latency.

Runs on a simulated cluster on this machine (`actors.cluster.simulated_cluster`,
one labelled node), through `connect_store`, with a future per op, so the
figure is what an application gets; it is compared with the local store's
figure of the same run. Needs `pip install "actorstore[cluster]"`.
"""

from __future__ import annotations

import os

from actorstore.bench.timing import percentile, rate, round_trips
from actorstore.bench.window import sliding_window
from actorstore.bench.workload import Workload

__all__ = ["CLUSTER_WINDOW", "measure_cluster"]

CLUSTER_WINDOW = 512
"""Ops in flight for the remote durable writes (one call carries up to 512)."""


def measure_cluster(workload: Workload) -> tuple[dict[str, float], dict[str, float]]:
    """Return the cluster store's ops/s (`durable_write_w512`) and latencies.

    Raises:
        ImportError: if ray is not installed.
    """
    # Read by ray when it is first imported: keep the simulated cluster on
    # loopback (see actors.cluster.simulated).
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    from actorstore.cluster import connect_store, simulated_cluster

    throughput: dict[str, float] = {}
    latency: dict[str, float] = {}
    with simulated_cluster(("a",), namespace="actorstore-bench") as cluster:
        store = connect_store(
            nodes=cluster.nodes,
            namespace="actorstore-bench",
            ops_max=4 * CLUSTER_WINDOW,
            spool_path=os.path.join(cluster.root, "spool.jsonl"),
        )
        try:
            store.create_table("bench_sync", node="a", durability="sync")
            store.create_table("bench_none", node="a", durability="none")
            store.count("bench_sync").get(timeout=60)  # the owner is up
            count = workload.durable_ops(CLUSTER_WINDOW)
            throughput[workload.durable_name(CLUSTER_WINDOW)] = rate(
                count,
                lambda: sliding_window(
                    count,
                    CLUSTER_WINDOW,
                    lambda i: store.upsert("bench_sync", *workload.record(i)),
                ),
            )
            samples = round_trips(
                workload.latency_samples,
                lambda i: store.upsert("bench_none", *workload.record(i)),
            )
            latency["upsert_p50"] = percentile(samples, 0.50)
            latency["upsert_p99"] = percentile(samples, 0.99)
        finally:
            store.close()
    return throughput, latency
