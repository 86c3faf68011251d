"""actorstore on a Ray cluster: table owners on labelled nodes, placed by a directory.

The only code of actorstore that imports `ray`; `import actorstore` does
not import it. Install with `pip install "actorstore[cluster]"`.
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

from actorstore.cluster.client import (
    CLUSTER_POLICY,
    ClusterBackend,
    ClusterStore,
    connect_store,
)
from actorstore.cluster.directory import (
    DIRECTORY_DIR,
    PLACEMENT_TABLE,
    DirectoryOwner,
    directory_label,
    find_directory_owner,
    start_directory_owner,
)
from actorstore.cluster.errors import (
    OutcomeUnknownError,
    OwnerLostError,
    OwnerUnavailableError,
    translate_call_error,
)
from actorstore.cluster.names import (
    DIRECTORY_OWNER_NAME,
    NAMESPACE,
    label_resource,
    node_owner_name,
    validate_label,
)
from actorstore.cluster.node import (
    OWNER_RESOURCE_SHARE,
    NodeOwner,
    find_node_owner,
    owner_options,
    start_node_owner,
    stop_owner,
)
from actorstore.cluster.placement import rendezvous_label, rendezvous_weight
from actorstore.cluster.remote import MAX_CALL, RemoteMailbox, RemoteOwners
from actorstore.cluster.simulated import SimulatedCluster, simulated_cluster
from actorstore.cluster.wire import (
    Group,
    GroupAnswer,
    WireOp,
    answer_of,
    bind_operation,
    outcomes_of,
    wire_op,
)

__all__ = [
    "CLUSTER_POLICY",
    "DIRECTORY_DIR",
    "DIRECTORY_OWNER_NAME",
    "MAX_CALL",
    "NAMESPACE",
    "OWNER_RESOURCE_SHARE",
    "PLACEMENT_TABLE",
    "ClusterBackend",
    "ClusterStore",
    "DirectoryOwner",
    "Group",
    "GroupAnswer",
    "NodeOwner",
    "OutcomeUnknownError",
    "OwnerLostError",
    "OwnerUnavailableError",
    "RemoteMailbox",
    "RemoteOwners",
    "SimulatedCluster",
    "WireOp",
    "answer_of",
    "bind_operation",
    "connect_store",
    "directory_label",
    "find_directory_owner",
    "find_node_owner",
    "label_resource",
    "node_owner_name",
    "outcomes_of",
    "owner_options",
    "rendezvous_label",
    "rendezvous_weight",
    "simulated_cluster",
    "start_directory_owner",
    "start_node_owner",
    "stop_owner",
    "translate_call_error",
    "validate_label",
    "wire_op",
]

_logging.getLogger(__name__).addHandler(_logging.NullHandler())
