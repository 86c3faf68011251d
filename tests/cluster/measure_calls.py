"""Measure calls to a remote node owner: round trip, and 512-op calls per second.

Run from the repository root: `python -m tests.cluster.measure_calls`. It
starts the tests' simulated cluster (a head and nodes `a`, `b`), an owner
on `b`, and prints the figures quoted in `actors/cluster/node.py`.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.cluster.harness import labelled_cluster

# isort: split
import ray

from actors.cluster import start_node_owner, wire_op

GROUP = 512
CALLS = 200


def _upserts(table: str, call: int) -> list[Any]:
    ops = [
        wire_op("upsert", f"k{call}-{i}", {"n": i, "s": "abcdefgh"})
        for i in range(GROUP)
    ]
    return [(table, ops, [False] * GROUP)]


def _one_in_flight(owner: Any, table: str) -> tuple[float, float]:
    """Return (median seconds a call, ops a second) of CALLS calls in a row."""
    seconds = []
    started = time.perf_counter()
    for call in range(CALLS):
        groups = _upserts(table, call)
        begun = time.perf_counter()
        ((_, errors),) = ray.get(owner.run.remote(groups))
        seconds.append(time.perf_counter() - begun)
        assert not errors
    elapsed = time.perf_counter() - started
    return statistics.median(seconds), CALLS * GROUP / elapsed


def main() -> None:
    """Start the cluster, measure, print, stop."""
    with tempfile.TemporaryDirectory(prefix="measure-") as root:
        with labelled_cluster(["a", "b"], Path(root), namespace="measure") as cluster:
            started = time.perf_counter()
            owner = start_node_owner(
                "b", cluster.paths["b"], namespace=cluster.namespace
            )
            print(f"cluster start: {cluster.startup_seconds:.1f} s")
            print(f"owner start: {time.perf_counter() - started:.1f} s")
            empty = []
            for _ in range(CALLS):
                begun = time.perf_counter()
                ray.get(owner.run.remote([]))
                empty.append(time.perf_counter() - begun)
            print(f"empty call round trip: {statistics.median(empty) * 1e3:.2f} ms")
            for durability in ("sync", "none"):
                table = f"measure-{durability}"
                ray.get(owner.create_table.remote(table, durability=durability))
                _one_in_flight(owner, table)  # warm up: map growth, imports
                per_call, rate = _one_in_flight(owner, table)
                print(
                    f"{durability.upper()}: {GROUP}-op call {per_call * 1e3:.2f} ms, "
                    f"{rate / 1e3:.0f}k ops/s"
                )
        print(f"cluster teardown: {cluster.teardown_seconds:.1f} s")


if __name__ == "__main__":
    main()
