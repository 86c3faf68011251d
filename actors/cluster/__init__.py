"""actorstore on a Ray cluster: table owners on labelled nodes, placed by a directory.

The only code of actorstore that imports `ray`; `import actorstore` does
not import it. Install with `pip install "actorstore[cluster]"`. A user
needs `connect_store` (and `label_resource` to name a node's Ray resource);
`simulated_cluster` runs a cluster on one machine, for tests and examples.
The owners, the wire format and the placement owner are private modules.
"""

import logging as _logging

# Before the modules below import ray: without it, say what to install.
try:
    import ray as _ray  # noqa: F401 - imported to fail here, not deeper
except ModuleNotFoundError as _missing:  # pragma: no cover - depends on the install
    raise ImportError(
        "actorstore.cluster needs Ray, which is not installed: "
        'pip install "actorstore[cluster]"'
    ) from _missing

from actorstore.cluster._connect import CLUSTER_POLICY, ClusterStore, connect_store
from actorstore.cluster._names import NAMESPACE, label_resource
from actorstore.cluster._simulated import SimulatedCluster, simulated_cluster

__all__ = [
    "CLUSTER_POLICY",
    "NAMESPACE",
    "ClusterStore",
    "SimulatedCluster",
    "connect_store",
    "label_resource",
    "simulated_cluster",
]

_logging.getLogger(__name__).addHandler(_logging.NullHandler())
