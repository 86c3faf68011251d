"""A simulated Ray cluster on one machine: a head and labelled nodes, killable.

Choices, each for a reason:

- A head with no `actorstore-*` resource and one node per label with
  `{"actorstore-<label>": 1}`: owners are placed by label only, and a
  killed node takes only its own owners down (the GCS and the driver's
  raylet live on the head, which is never killed).
- Loopback only: every node binds 127.0.0.1, and
  `RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0` (read when `ray` is imported) makes
  Ray resolve "127.0.0.1" to itself instead of the host's outward address
  (without it a driver dials the GCS on the outward address and hangs).
  `RAY_USAGE_STATS_ENABLED=0`: nothing is reported anywhere.
- `RAY_TMPDIR` and `temp_dir` under a short `/tmp/as-*` directory: Ray's
  unix sockets live there and their paths must stay under 107 characters
  (pytest's `tmp_path` is too deep); it is removed at teardown.
- Health checks every 200 ms, 500 ms timeout, 3 misses (`_system_config`
  of the head, i.e. the GCS): a killed node is declared dead in about one
  second instead of Ray's default ~30 s.
- Dashboard off, no worker prestart, 100 MiB object store per node, logs
  at warning and not forwarded to the driver, unhandled-error reports
  off: a small, quiet cluster (about 17 processes, ~1.3 GiB).
- Nodes get `PYTHONPATH=<repo root>` (`env_vars`, inherited by their
  workers), so workers import test helper classes by name, as the driver.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

# Read once, when ray is imported: set before the first import.
if "ray" in sys.modules and os.environ.get("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER") != "0":
    raise ImportError(
        "import tests.cluster.harness before ray (or anything importing it, "
        "such as actors.cluster): it sets what ray reads at import"
    )
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import ray  # after the environment it reads at import
from ray.cluster_utils import Cluster

from actorstore.cluster import label_resource
from actorstore.cluster._node import NodeOwner
from actorstore.cluster._wire import Group, GroupAnswer, outcomes_of
from actorstore.storage._requests import Outcome

__all__ = [
    "DIE_AFTER_COMMIT",
    "DIE_BEFORE_RUN",
    "WAIT",
    "DyingNodeOwner",
    "HeldNodeOwner",
    "LabelledCluster",
    "call",
    "labelled_cluster",
    "wait_for",
    "wait_until_serving",
]

REPO_ROOT = Path(__file__).resolve().parents[2]

LOOPBACK = "127.0.0.1"

WAIT = 30.0
"""Seconds a test waits for Ray to answer; far above what it takes."""

HEALTH_CHECKS = {
    "health_check_initial_delay_ms": 0,
    "health_check_period_ms": 200,
    "health_check_timeout_ms": 500,
    "health_check_failure_threshold": 3,
}
"""GCS settings that notice a killed node within about a second."""

OBJECT_STORE_BYTES = 100 << 20


RAY_ENV = {
    "RAY_IGNORE_UNHANDLED_ERRORS": "1",
    "RAY_enable_worker_prestart": "0",
}
"""Environment of the driver and of every node (the rest is set at import)."""


class LabelledCluster:
    """A running `ray.cluster_utils.Cluster` with a node per label, and this
    process connected to it as a driver in `namespace`."""

    def __init__(
        self,
        labels: Iterable[str],
        store_root: Path,
        *,
        temp_root: str,
        namespace: str,
        health_checks: Mapping[str, int] | None = HEALTH_CHECKS,
    ) -> None:
        self.namespace = namespace
        self.labels = sorted(labels)
        self.paths = {label: str(store_root / f"node-{label}") for label in self.labels}
        self.temp_root = temp_root
        self.temp_dir = os.path.join(temp_root, "ray")
        self.started = time.monotonic()
        head = self._node_args(include_dashboard=False)
        if health_checks is not None:
            head["_system_config"] = dict(health_checks)
        self.cluster = Cluster(initialize_head=True, head_node_args=head)
        try:
            self.nodes: dict[str, Any] = {
                label: self._add(label) for label in self.labels
            }
            ray.init(
                address=self.cluster.address,
                namespace=namespace,
                logging_level=logging.WARNING,
                log_to_driver=False,
            )
        except BaseException:
            self.cluster.shutdown()
            raise
        self.startup_seconds = time.monotonic() - self.started
        self.teardown_seconds: float | None = None

    @property
    def address(self) -> str:
        """The GCS address a second driver connects to."""
        return str(self.cluster.address)

    def env(self) -> dict[str, str]:
        """Return the environment a second driver (a subprocess) needs."""
        return {
            **os.environ,
            **RAY_ENV,
            "RAY_TMPDIR": self.temp_root,
            "PYTHONPATH": str(REPO_ROOT),
        }

    def _node_args(self, **extra: Any) -> dict[str, Any]:
        return {
            "num_cpus": 1,
            "node_ip_address": LOOPBACK,
            "temp_dir": self.temp_dir,
            "object_store_memory": OBJECT_STORE_BYTES,
            "env_vars": {**RAY_ENV, "PYTHONPATH": str(REPO_ROOT)},
            **extra,
        }

    def _add(self, label: str) -> Any:
        return self.cluster.add_node(
            **self._node_args(resources={label_resource(label): 1})
        )

    def node_id(self, label: str) -> str:
        """Return the Ray node id of the node with `label` now."""
        return str(self.nodes[label].node_id)

    def kill(self, label: str) -> None:
        """Kill every process of the node with `label` at once (SIGKILL)."""
        self.cluster.remove_node(self.nodes.pop(label), allow_graceful=False)

    def restore(self, label: str) -> None:
        """Start a new node with `label` (a new node id, the same resource)."""
        if label not in self.nodes:
            self.nodes[label] = self._add(label)

    def restore_all(self) -> None:
        """Bring back every killed node."""
        for label in self.labels:
            self.restore(label)

    def shutdown(self) -> float:
        """Disconnect and stop every node; return the seconds it took."""
        started = time.monotonic()
        ray.shutdown()
        self.cluster.shutdown()
        return time.monotonic() - started


@contextlib.contextmanager
def labelled_cluster(
    labels: Iterable[str],
    store_root: Path,
    *,
    namespace: str,
    health_checks: Mapping[str, int] | None = HEALTH_CHECKS,
) -> Iterator[LabelledCluster]:
    """Run a `LabelledCluster` for the duration of the block, then remove it all.

    `health_checks` are the head's settings (None: Ray's own, which notice a
    dead node only after half a minute or more).
    """
    # Under /tmp, not pytest's deep tmp_path: Ray's socket paths must stay
    # under 107 characters.
    temp_root = tempfile.mkdtemp(prefix="as-", dir="/tmp")
    try:
        with _environment({**RAY_ENV, "RAY_TMPDIR": temp_root}):
            cluster = LabelledCluster(
                labels,
                store_root,
                temp_root=temp_root,
                namespace=namespace,
                health_checks=health_checks,
            )
            try:
                yield cluster
            finally:
                cluster.teardown_seconds = cluster.shutdown()
    finally:
        shutil.rmtree(temp_root, ignore_errors=True)


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class HeldNodeOwner(NodeOwner):
    """A NodeOwner that can commit a call and then never answer it.

    Here, not in a test module, so that workers import it by name (test
    modules get names of pytest's own).
    """

    def run_then_hold(self, groups: list[Group], entered: str) -> None:
        """Run `groups` (committed), create file `entered`, then hang until killed."""
        self.run(groups)
        Path(entered).touch()
        threading.Event().wait(2 * WAIT)


DIE_AFTER_COMMIT = "die-after-commit"
"""A file in a `DyingNodeOwner`'s store directory: its next call commits, then
its process dies before answering."""

DIE_BEFORE_RUN = "die-before-run"
"""A file in a `DyingNodeOwner`'s store directory: its next call dies before
running anything."""


class DyingNodeOwner(NodeOwner):
    """A NodeOwner whose process dies in the middle of a call when told to.

    Told by a file in its store directory (`DIE_AFTER_COMMIT`,
    `DIE_BEFORE_RUN`), removed as it dies: the restarted owner (Ray restarts
    it, `max_restarts=-1`) serves on.
    """

    def run(self, groups: Sequence[Group]) -> list[GroupAnswer]:
        """Run `groups`, unless a file says to die before or after committing."""
        self._die_if(DIE_BEFORE_RUN)
        answers = super().run(groups)
        self._die_if(DIE_AFTER_COMMIT)
        return answers

    def _die_if(self, marker: str) -> None:
        path = Path(self._directory.path) / marker
        try:
            path.unlink()
        except FileNotFoundError:
            return
        os._exit(1)  # as a SIGKILL would: nothing answers, nothing cleans up


def wait_until_serving(handle: Any, *, timeout: float = WAIT) -> dict[str, Any]:
    """Return the owner's `location()` once it answers again (after a restart).

    Ray has no event for "restarted": this calls until one answers or the
    deadline passes. A call to a restarting owner fails by itself within
    about two seconds (`ActorUnavailableError`), so this never spins.

    Raises:
        TimeoutError: if the owner did not answer in `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"{handle} did not answer within {timeout} s")
        try:
            where: dict[str, Any] = ray.get(handle.location.remote(), timeout=remaining)
            return where
        except ray.exceptions.ActorUnavailableError:
            continue
        except ray.exceptions.GetTimeoutError:
            raise TimeoutError(f"{handle} did not answer within {timeout} s") from None


def wait_for(
    condition: Callable[[], bool], what: str, *, timeout: float = WAIT
) -> None:
    """Return once `condition()` holds, checking every 10 ms (where Ray gives no event).

    Raises:
        TimeoutError: naming `what`, if it did not hold within `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout} s")
        time.sleep(0.01)


def call(
    handle: Any, groups: list[Group], *, timeout: float = WAIT
) -> list[list[Outcome]]:
    """Run one call on owner `handle`; return its outcomes, by group."""
    return [outcomes_of(a) for a in ray.get(handle.run.remote(groups), timeout=timeout)]
