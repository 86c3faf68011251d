"""Fixtures of the cluster tests: one simulated Ray cluster for the whole package.

Skipped as a whole when `ray` is not installed. The cluster (see
`tests/cluster/harness.py` for its settings) is started by the first test
that needs it, with a head and nodes labelled `a` and `b`, and shut down
after the package's last test (package scope, hence `__init__.py`), so it
does not idle through the rest of the suite; a test that kills a node gets
it back before the next test starts.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.cluster.harness import LabelledCluster

RAY_MISSING = (
    "ray is not installed; pip install -e '.[cluster]' to run the cluster tests"
)

if importlib.util.find_spec("ray") is None:
    # Each module is reported skipped instead of imported (they import ray).
    # Not pytest.skip() here: a conftest raising it breaks `pytest tests/cluster`.

    class _SkippedModule(pytest.Module):
        def collect(self) -> Any:
            pytest.skip(RAY_MISSING)

    def pytest_pycollect_makemodule(module_path: Path, parent: Any) -> pytest.Module:
        """Collect every test module of this package as skipped."""
        return _SkippedModule.from_parent(parent, path=module_path)

else:
    # The harness before anything that imports ray: it sets the environment
    # ray reads at import.
    from tests.cluster import harness

    # isort: split
    from actorstore.cluster._owner_actors import start_node_owner
    from actorstore.cluster._placement_owner import start_directory_owner

LABELS = ("a", "b")

NAMESPACE = "actorstore-tests"


@pytest.fixture(scope="package")
def ray_cluster(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LabelledCluster]:
    """Return the package's cluster; this process is connected to it as a driver."""
    with harness.labelled_cluster(
        LABELS, tmp_path_factory.mktemp("stores"), namespace=NAMESPACE
    ) as cluster:
        yield cluster


@pytest.fixture
def cluster(ray_cluster: LabelledCluster) -> Iterator[LabelledCluster]:
    """Return the package's cluster; any node a test killed comes back after it."""
    yield ray_cluster
    ray_cluster.restore_all()


@pytest.fixture(scope="package")
def package_node_owners(ray_cluster: LabelledCluster) -> dict[str, Any]:
    """Return the handle of each label's node owner, by label."""
    return {
        label: start_node_owner(
            label, path, namespace=ray_cluster.namespace, timeout=harness.WAIT
        )
        for label, path in ray_cluster.paths.items()
    }


@pytest.fixture
def node_owners(
    cluster: LabelledCluster, package_node_owners: dict[str, Any]
) -> dict[str, Any]:
    """Return the node owners, by label, once each answers (an earlier test may
    have killed its node)."""
    for handle in package_node_owners.values():
        harness.wait_until_serving(handle)
    return package_node_owners


@pytest.fixture(scope="package")
def package_directory_owner(ray_cluster: LabelledCluster) -> Any:
    """Return the handle of the cluster's directory owner."""
    return start_directory_owner(
        ray_cluster.paths, namespace=ray_cluster.namespace, timeout=harness.WAIT
    )


@pytest.fixture
def directory_owner(cluster: LabelledCluster, package_directory_owner: Any) -> Any:
    """Return the directory owner once it answers."""
    harness.wait_until_serving(package_directory_owner)
    return package_directory_owner


@pytest.fixture
def table_name(request: pytest.FixtureRequest) -> str:
    """Return a table name of this test's own (owners are shared by the package)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "-", request.node.name)[:64]
