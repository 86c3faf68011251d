"""A simulated cluster on this machine: a head and a node per label, killable.

For trying `connect_store` out, the example and the benchmark: Ray's own
`ray.cluster_utils.Cluster`, on loopback, quiet, with health checks that
notice a killed node within about a second. Set `RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`
in the environment before `ray` is first imported (before `actors.cluster`),
or Ray may dial its head on the host's outward address.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from typing import Any

import ray
from ray.cluster_utils import Cluster

from actorstore.cluster._names import label_resource

__all__ = ["SimulatedCluster", "simulated_cluster"]

HEALTH_CHECKS = {
    "health_check_initial_delay_ms": 0,
    "health_check_period_ms": 200,
    "health_check_timeout_ms": 500,
    "health_check_failure_threshold": 3,
}
"""Head settings that notice a killed node within about a second."""


class SimulatedCluster:
    """A head and one node per label, with this process connected as a driver."""

    def __init__(self, labels: Iterable[str], root: str, *, namespace: str) -> None:
        self.root = root
        self.labels = labels = sorted(labels)
        self.nodes = {
            label: os.path.join(root, f"node-{label}") for label in self.labels
        }
        """Each label's store path, as `connect_store(nodes=...)` takes it."""
        self._temp_dir = os.path.join(root, "ray")
        self._cluster = Cluster(
            initialize_head=True,
            head_node_args=self._node_args(
                include_dashboard=False, _system_config=HEALTH_CHECKS
            ),
        )
        try:
            self._running = {label: self._add(label) for label in self.labels}
            ray.init(address=self.address, namespace=namespace, log_to_driver=False)
        except BaseException:
            self._cluster.shutdown()
            raise

    @property
    def address(self) -> str:
        """The head's address, for `ray.init` of another driver."""
        return str(self._cluster.address)

    def _node_args(self, **extra: Any) -> dict[str, Any]:
        return {
            "num_cpus": 1,
            "node_ip_address": "127.0.0.1",
            "temp_dir": self._temp_dir,
            "object_store_memory": 100 << 20,
            **extra,
        }

    def _add(self, label: str) -> Any:
        return self._cluster.add_node(
            **self._node_args(resources={label_resource(label): 1})
        )

    def kill(self, label: str) -> None:
        """Kill every process of node `label` at once, as a power loss would."""
        self._cluster.remove_node(self._running.pop(label), allow_graceful=False)

    def restore(self, label: str) -> None:
        """Start a new node with `label` (a new node id, the same label)."""
        if label not in self._running:
            self._running[label] = self._add(label)

    def shutdown(self) -> None:
        """Disconnect and stop every node."""
        ray.shutdown()
        self._cluster.shutdown()


@contextlib.contextmanager
def simulated_cluster(
    labels: Iterable[str] = ("a", "b"), *, namespace: str = "actorstore-simulated"
) -> Iterator[SimulatedCluster]:
    """Run a `SimulatedCluster` for the block; remove it all (stores too) after.

    Its files live under a short new directory of /tmp: Ray's sockets there
    must have paths under 107 characters.
    """
    root = tempfile.mkdtemp(prefix="as-sim-", dir="/tmp")
    saved = {
        name: os.environ.get(name)
        for name in ("RAY_TMPDIR", "RAY_BACKEND_LOG_LEVEL", "RAY_USAGE_STATS_ENABLED")
    }
    os.environ["RAY_TMPDIR"] = root
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "warning")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        cluster = SimulatedCluster(labels, root, namespace=namespace)
        try:
            yield cluster
        finally:
            cluster.shutdown()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(root, ignore_errors=True)
