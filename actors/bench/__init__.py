"""actorstore's benchmark: the store against raw py-lmdb, a hand-written actor, peers.

`actorstore bench` prints the figures and the targets they are held to;
`run_bench()` returns them as a `BenchResult`. `measure_store()` runs the
store's workloads on any store a factory opens (the hook for other kinds of
store, such as a cluster's).
"""

import logging as _logging

from actorstore.bench.peers import PEERS, Peer, measure_peers
from actorstore.bench.plot import plot
from actorstore.bench.report import format_report
from actorstore.bench.result import BenchResult
from actorstore.bench.run import run_bench
from actorstore.bench.targets import (
    ASYNCIO_TARGETS,
    PEER_TARGETS,
    STORE_TARGETS,
    TARGETS,
    Check,
    Target,
)
from actorstore.bench.window import async_sliding_window, sliding_window
from actorstore.bench.workload import Workload
from actorstore.bench.workloads import (
    BenchStore,
    StoreFactory,
    local_store,
    measure_store,
)

__all__ = [
    "ASYNCIO_TARGETS",
    "PEERS",
    "PEER_TARGETS",
    "STORE_TARGETS",
    "TARGETS",
    "BenchResult",
    "BenchStore",
    "Check",
    "Peer",
    "StoreFactory",
    "Target",
    "Workload",
    "async_sliding_window",
    "format_report",
    "local_store",
    "measure_peers",
    "measure_store",
    "plot",
    "run_bench",
    "sliding_window",
]

_logging.getLogger(__name__).addHandler(_logging.NullHandler())
