"""Owner actors on the cluster: started by name on a labelled node, found, stopped.

Owners are named, detached Ray actors with `max_restarts=-1` and
`max_task_retries=0` (Ray must never run a call again blindly), placed by a
share of their node's `actorstore-<label>` resource (never by node id,
which changes when a node comes back).
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import ray

from actorstore.cluster._errors import OwnerUnavailableError
from actorstore.cluster._names import (
    NAMESPACE,
    label_resource,
    node_owner_name,
)
from actorstore.cluster._node import BACKUP_GROUP, NodeOwner
from actorstore.storage import InvalidOptionError

__all__ = [
    "OWNER_RESOURCE_SHARE",
    "START_TIMEOUT",
    "find_node_owner",
    "find_owner",
    "owner_options",
    "start_node_owner",
    "start_owner",
    "stop_owner",
]

logger = logging.getLogger(__name__)

OWNER_RESOURCE_SHARE = 0.01
"""How much of its node's `actorstore-<label>` resource an owner takes, so
that the node owner, the directory owner and others share one node."""

START_TIMEOUT = 60.0
"""Seconds `start_node_owner` waits for an owner to answer."""


def owner_options(
    name: str, label: str, *, namespace: str = NAMESPACE
) -> dict[str, Any]:
    """Return the Ray actor options of an owner named `name` on node `label`.

    Detached and named, so a second driver finds it and it outlives the
    driver that started it; placed by the label's custom resource (a node
    that comes back keeps its label, not its id); restarted without limit
    in the same directory; and never retried by Ray (`max_task_retries=0`):
    a call that may have committed must not run again blindly, the client
    decides what to retry. `get_if_exists` lets clients race to start it.
    """
    return {
        "name": name,
        "namespace": namespace,
        "lifetime": "detached",
        "get_if_exists": True,
        "resources": {label_resource(label): OWNER_RESOURCE_SHARE},
        "num_cpus": 0,
        "max_restarts": -1,
        "max_task_retries": 0,
        "max_concurrency": 1,
    }


_ACTOR_CLASSES: dict[type[NodeOwner], Any] = {}


def _actor_class(cls: type[NodeOwner]) -> Any:
    """Return `cls` as a Ray actor class (made once per class and process)."""
    actor_class = _ACTOR_CLASSES.get(cls)
    if actor_class is None:
        # Ray takes concurrency groups only here, not in `.options()`.
        remote = ray.remote(concurrency_groups={BACKUP_GROUP: 1})
        actor_class = _ACTOR_CLASSES[cls] = remote(cls)
    return actor_class


def start_owner(
    cls: type[NodeOwner],
    name: str,
    label: str,
    path: str,
    *,
    namespace: str = NAMESPACE,
    timeout: float = START_TIMEOUT,
    **options: Any,
) -> Any:
    """Start (or find) owner `name` of class `cls` on node `label`; return its handle.

    Waits until it answers, and checks that it serves `path`.

    Raises:
        InvalidOptionError: if `path` is not absolute, or the owner found
            serves another path.
        OwnerUnavailableError: if it did not answer within `timeout` (no
            live node has the label, or it cannot open its store).
    """
    if not os.path.isabs(path):
        raise InvalidOptionError(
            f"node {label!r}: store path {path!r} is not absolute; give the "
            "absolute path on that node's disk"
        )
    handle = (
        _actor_class(cls)
        .options(**owner_options(name, label, namespace=namespace))
        .remote(label, path, **options)
    )
    deadline = time.monotonic() + timeout
    while True:
        try:
            where = ray.get(
                handle.location.remote(), timeout=max(0.0, deadline - time.monotonic())
            )
            break
        except ray.exceptions.ActorUnavailableError as exc:
            # It is restarting (its node came back): a call to it fails by
            # itself within about two seconds, so asking again never spins.
            if time.monotonic() < deadline:
                continue
            raise OwnerUnavailableError(
                label=label, reason=f"{name} did not answer within {timeout} s"
            ) from exc
        except (ray.exceptions.GetTimeoutError, ray.exceptions.RayActorError) as exc:
            raise OwnerUnavailableError(
                label=label, reason=f"{name} did not answer within {timeout} s"
            ) from exc
    if os.path.normpath(where["path"]) != os.path.normpath(path):
        raise InvalidOptionError(
            f"{name} in namespace {namespace!r} already serves {where['path']!r}, "
            f"not {path!r}; give the same path as the clients before, or stop it"
        )
    return handle


def start_node_owner(
    label: str,
    path: str,
    *,
    namespace: str = NAMESPACE,
    timeout: float = START_TIMEOUT,
    **store_options: Any,
) -> Any:
    """Start (or find) the owner of node `label` serving `path`; return its handle.

    `store_options` (`durability`, `initial_map_size`, `max_map_size`) only
    apply when this call creates the owner.

    Raises:
        InvalidOptionError: if `path` is not absolute or the running owner
            serves another path.
        OwnerUnavailableError: if it did not answer within `timeout`.
    """
    return start_owner(
        NodeOwner,
        node_owner_name(label),
        label,
        path,
        namespace=namespace,
        timeout=timeout,
        **store_options,
    )


def find_node_owner(label: str, *, namespace: str = NAMESPACE) -> Any:
    """Return the handle of the running owner of node `label`.

    Raises:
        OwnerUnavailableError: if no such owner was started in `namespace`.
    """
    return find_owner(node_owner_name(label), label, namespace=namespace)


def find_owner(name: str, label: str, *, namespace: str = NAMESPACE) -> Any:
    """Return the handle of the running owner `name` (on node `label`).

    Raises:
        OwnerUnavailableError: if no such owner was started in `namespace`.
    """
    try:
        return ray.get_actor(name, namespace=namespace)
    except ValueError:
        raise OwnerUnavailableError(
            label=label, reason=f"no actor {name!r} in namespace {namespace!r}"
        ) from None


def stop_owner(handle: Any, *, timeout: float = 30.0) -> None:
    """Close the owner's store (syncing it) and end the actor for good.

    Returns once it is gone: later calls fail with `ActorDiedError`. Every
    client of the owner loses it: use this to take a store down, not to
    disconnect one client. An owner that does not end within `timeout` is
    killed (its SYNC writes are on disk; NONE writes since the last sync are
    in the OS's cache).
    """
    try:
        ray.get(handle.exit.remote(), timeout=timeout)
    except ray.exceptions.ActorDiedError:
        return  # how the call that ends its actor answers
    except ray.exceptions.RayError:
        logger.warning("owner %s did not end itself; killing it", handle)
    ray.kill(handle, no_restart=True)
