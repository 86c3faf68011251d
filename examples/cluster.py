"""Beyond one host: table owners on the nodes of a Ray cluster.

Usage: python examples/cluster.py [RAY_ADDRESS LABEL=PATH ...]
       (default: a simulated cluster on this machine, nodes `a` and `b`)

Needs `pip install "actorstore[cluster]"`. With no address it starts a head
and two nodes labelled `a` and `b` on this machine
(`actorstore.cluster.simulated_cluster`, Ray's own `ray.cluster_utils.Cluster`),
each with the custom resource `actorstore-<label>` that owners are placed
by. It creates a table on each node, writes and reads through one store,
kills node `a` and shows that node `b` keeps serving while a write to `a`
waits and retries, then brings `a` back (a new node with the same label:
its owner restarts on it, with every acknowledged write there).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

# Read by ray when it is first imported: keep a simulated cluster on loopback.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

import ray

from actorstore.cluster import connect_store, simulated_cluster

NAMESPACE = "actorstore-example"


def demo(
    nodes: dict[str, str],
    kill: Callable[[], None] | None = None,
    restore: Callable[[], None] | None = None,
) -> None:
    store = connect_store(nodes=nodes, namespace=NAMESPACE)
    store.create_table("orders", node="a", exist_ok=True)
    store.create_table("stock", node="b", value_format="int", exist_ok=True)
    print(f"placement: {store.placement()}")

    futures = [store.upsert("orders", f"o{i}", {"qty": i}) for i in range(1000)]
    for future in futures:
        future.get(timeout=60)
    store.upsert("stock", "widget", 7).get(timeout=60)
    orders = store.count("orders").get(timeout=60)
    print(f"orders: {orders}, widget stock: {store.search('stock', 'widget').get(60)}")

    if kill is not None and restore is not None:
        kill()
        print("node a killed")
        started = time.monotonic()
        stock = store.search("stock", "widget").get(timeout=60)
        print(f"node b still serves: widget stock {stock}")
        waiting = store.upsert("orders", "late", {"qty": 99})  # retried until a is back
        restore()
        print("node a back (a new node, the same label)")
        waiting.get(timeout=60)
        print(f"the write to a waited {time.monotonic() - started:.1f} s and landed")
        print(f"orders after the restart: {store.count('orders').get(timeout=60)}")
    store.close()
    print("closed")


def main(argv: list[str]) -> None:
    if argv:
        ray.init(address=argv[0], namespace=NAMESPACE, log_to_driver=False)
        demo(dict(pair.split("=", 1) for pair in argv[1:]))
        return
    with simulated_cluster(("a", "b"), namespace=NAMESPACE) as cluster:
        demo(cluster.nodes, lambda: cluster.kill("a"), lambda: cluster.restore("a"))


if __name__ == "__main__":
    main(sys.argv[1:])
