"""Fixtures of the cluster tests: one simulated Ray cluster for the whole package.

Skipped as a whole when `ray` is not installed. The cluster (see
`tests/cluster/harness.py` for its settings) is started once per session,
with a head and nodes labelled `a` and `b`, and shut down at the end; a test
that kills a node gets it back before the next test starts.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterator
from typing import Any

import pytest

# Not importorskip(): it would import ray before harness.py sets what ray
# reads at import.
if importlib.util.find_spec("ray") is None:
    pytest.skip(
        "ray is not installed; pip install -e '.[cluster]' to run the cluster tests",
        allow_module_level=True,
    )

# The harness first: it sets the environment ray reads when imported.
from tests.cluster.harness import (
    WAIT,
    LabelledCluster,
    labelled_cluster,
    wait_until_serving,
)

# isort: split
from actors.cluster import (
    start_directory_owner,
    start_node_owner,
)

LABELS = ("a", "b")

NAMESPACE = "actorstore-tests"


@pytest.fixture(scope="session")
def ray_cluster(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LabelledCluster]:
    """Return the session's cluster; this process is connected to it as a driver."""
    with labelled_cluster(
        LABELS, tmp_path_factory.mktemp("stores"), namespace=NAMESPACE
    ) as cluster:
        yield cluster


@pytest.fixture
def cluster(ray_cluster: LabelledCluster) -> Iterator[LabelledCluster]:
    """Return the session's cluster; any node a test killed comes back after it."""
    yield ray_cluster
    ray_cluster.restore_all()


@pytest.fixture(scope="session")
def session_node_owners(ray_cluster: LabelledCluster) -> dict[str, Any]:
    """Return the handle of each label's node owner, by label."""
    return {
        label: start_node_owner(
            label, path, namespace=ray_cluster.namespace, timeout=WAIT
        )
        for label, path in ray_cluster.paths.items()
    }


@pytest.fixture
def node_owners(
    cluster: LabelledCluster, session_node_owners: dict[str, Any]
) -> dict[str, Any]:
    """Return the node owners, by label, once each answers (an earlier test may
    have killed its node)."""
    for handle in session_node_owners.values():
        wait_until_serving(handle)
    return session_node_owners


@pytest.fixture(scope="session")
def session_directory_owner(ray_cluster: LabelledCluster) -> Any:
    """Return the handle of the cluster's directory owner."""
    return start_directory_owner(
        ray_cluster.paths, namespace=ray_cluster.namespace, timeout=WAIT
    )


@pytest.fixture
def directory_owner(cluster: LabelledCluster, session_directory_owner: Any) -> Any:
    """Return the directory owner once it answers."""
    wait_until_serving(session_directory_owner)
    return session_directory_owner


@pytest.fixture
def table_name(request: pytest.FixtureRequest) -> str:
    """Return a table name of this test's own (owners are shared by the session)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "-", request.node.name)[:64]
