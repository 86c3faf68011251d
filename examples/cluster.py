"""Beyond one host: table owners on the nodes of a Ray cluster.

Usage: python examples/cluster.py [RAY_ADDRESS LABEL=PATH ...]
       (default: a simulated cluster on this machine, nodes `a` and `b`)

Needs `pip install "actorstore[cluster]"`. With no address it starts a head
and two nodes labelled `a` and `b` on this machine (Ray's own
`ray.cluster_utils.Cluster`), each with the custom resource
`actorstore-<label>` that owners are placed by. It creates a table on each
node, writes and reads through one store, kills node `a` and shows that
node `b` keeps serving while writes to `a` wait and retry, then brings `a`
back (a new node with the same label: its owner restarts on it, with every
acknowledged write there).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time

# Read by ray when it is imported: keep the simulated cluster on loopback.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "warning")  # no INFO from nodes

import ray
from ray.cluster_utils import Cluster

from actors.cluster import connect_store, label_resource

HEALTH_CHECKS = {  # notice a killed node within about a second
    "health_check_initial_delay_ms": 0,
    "health_check_period_ms": 200,
    "health_check_timeout_ms": 500,
    "health_check_failure_threshold": 3,
}


def node_args(temp_dir: str, **extra: object) -> dict[str, object]:
    return {
        "num_cpus": 1,
        "node_ip_address": "127.0.0.1",
        "temp_dir": temp_dir,
        "object_store_memory": 100 << 20,
        **extra,
    }


def demo(nodes: dict[str, str], kill: object = None, restore: object = None) -> None:
    store = connect_store(nodes=nodes, namespace="actorstore-example")
    store.create_table("orders", node="a", exist_ok=True)
    store.create_table("stock", node="b", value_format="int", exist_ok=True)
    print(f"placement: {store.placement()}")

    futures = [store.upsert("orders", f"o{i}", {"qty": i}) for i in range(1000)]
    for future in futures:
        future.get(timeout=60)
    store.upsert("stock", "widget", 7).get(timeout=60)
    print(
        f"orders: {store.count('orders').get(timeout=60)}, "
        f"widget stock: {store.search('stock', 'widget').get(timeout=60)}"
    )

    if callable(kill) and callable(restore):
        kill()
        print("node a killed")
        started = time.monotonic()
        print(
            f"node b still serves: widget stock "
            f"{store.search('stock', 'widget').get(timeout=60)}"
        )
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
        address, pairs = argv[0], argv[1:]
        ray.init(address=address, namespace="actorstore-example", log_to_driver=False)
        demo(dict(pair.split("=", 1) for pair in pairs))
        return
    temp = tempfile.mkdtemp(prefix="as-ex-", dir="/tmp")  # short: Ray's sockets
    os.environ["RAY_TMPDIR"] = temp
    ray_dir = os.path.join(temp, "ray")
    cluster = Cluster(
        initialize_head=True,
        head_node_args=node_args(
            ray_dir, include_dashboard=False, _system_config=HEALTH_CHECKS
        ),
    )
    try:
        labelled = {
            label: cluster.add_node(
                **node_args(ray_dir, resources={label_resource(label): 1})
            )
            for label in ("a", "b")
        }
        ray.init(
            address=cluster.address, namespace="actorstore-example", log_to_driver=False
        )
        nodes = {label: os.path.join(temp, f"node-{label}") for label in labelled}

        def kill() -> None:
            cluster.remove_node(labelled.pop("a"), allow_graceful=False)

        def restore() -> None:
            labelled["a"] = cluster.add_node(
                **node_args(ray_dir, resources={label_resource("a"): 1})
            )

        demo(nodes, kill, restore)
    finally:
        ray.shutdown()
        cluster.shutdown()
        shutil.rmtree(temp, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])
