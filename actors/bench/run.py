"""run_bench: one bench run, every engine on the same workload, in a temp directory."""

from __future__ import annotations

import os
import tempfile

from actorstore.bench.asyncio_path import measure_asyncio
from actorstore.bench.engines import (
    ACTORSTORE,
    ACTORSTORE_CLUSTER,
    HAND_ACTOR,
    RAW_LMDB,
)
from actorstore.bench.hand_actor import measure_hand_actor
from actorstore.bench.memory import measure_memory
from actorstore.bench.peers import PEERS, Peer, measure_peers
from actorstore.bench.raw import measure_raw_lmdb
from actorstore.bench.result import BenchResult
from actorstore.bench.timing import medians
from actorstore.bench.workload import Workload
from actorstore.bench.workloads import (
    StoreFactory,
    StoreFigures,
    local_store,
    measure_store,
)

__all__ = ["run_bench"]


def run_bench(
    workload: Workload | None = None,
    *,
    path: str | None = None,
    peers: bool = False,
    cluster: bool = False,
    peer_engines: tuple[Peer, ...] = PEERS,
    store_factory: StoreFactory | None = None,
) -> BenchResult:
    """Run every workload and return every figure (checks derive from them).

    Args:
        workload: sizes and records (default: `Workload()`, the full run).
        path: where to make the temporary directory (default: the temp dir).
        peers: also run the peers that are installed (`peer_engines`).
        cluster: also run the store on a simulated Ray cluster (needs ray).
        peer_engines: the peers to try when `peers` is true.
        store_factory: opens the store under test (default: a local store);
            a cluster store, say, runs the same workloads through it.
    """
    workload = workload or Workload()
    open_store = store_factory or local_store(
        ops_max=max(4096, 2 * max(*workload.sync_windows, workload.window))
    )
    with tempfile.TemporaryDirectory(dir=path, prefix="actorstore-bench-") as root:
        stores: list[StoreFigures] = []
        raws: list[dict[str, float]] = []
        asyncios: list[dict[str, float]] = []
        for number in range(workload.rounds):
            where = os.path.join(root, f"round{number}")
            os.mkdir(where)
            # Taking turns, and in turn first: drift and order hit both alike.
            if number % 2:
                raws.append(measure_raw_lmdb(workload, where))
            stores.append(measure_store(open_store, workload, where))
            if not number % 2:
                raws.append(measure_raw_lmdb(workload, where))
            asyncios.append(measure_asyncio(workload, where))
        store = StoreFigures(
            throughput=medians([figures.throughput for figures in stores]),
            latency=medians([figures.latency for figures in stores]),
        )
        hand_throughput, hand_latency = measure_hand_actor(workload, root)
        throughput = {
            ACTORSTORE: store.throughput,
            RAW_LMDB: medians(raws),
            HAND_ACTOR: hand_throughput,
        }
        missing: dict[str, str] = {}
        if peers:
            peer_throughput, missing = measure_peers(workload, root, peer_engines)
            throughput.update(peer_throughput)
        memory = measure_memory(workload, root)
    latency = {ACTORSTORE: store.latency, HAND_ACTOR: hand_latency}
    if cluster:
        from actorstore.bench.cluster import measure_cluster

        throughput[ACTORSTORE_CLUSTER], latency[ACTORSTORE_CLUSTER] = measure_cluster(
            workload
        )
    return BenchResult(
        workload=workload,
        throughput=throughput,
        latency=latency,
        memory=memory,
        asyncio=medians(asyncios),
        peers_run=peers,
        missing=missing,
        rounds=[
            {
                ACTORSTORE: {
                    "throughput": figures.throughput,
                    "latency": figures.latency,
                },
                RAW_LMDB: {"throughput": raw},
                "asyncio": {"figures": aio},
            }
            for figures, raw, aio in zip(stores, raws, asyncios, strict=True)
        ],
    )
