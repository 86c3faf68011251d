"""connect_store(): the same Store API, with table owners on Ray nodes.

`ClusterStore` is a `Store` whose transport is a `ClusterBackend`
(`_client.py`); `connect_store` joins (or starts) the Ray session and makes
one; a client that exits without `close()` finishes its ops and only
disconnects.
"""

from __future__ import annotations

import atexit
import logging
import os
import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import ray

from actorstore._options import check_interval, check_timeout
from actorstore._transports.base import TableSpec
from actorstore.cluster._client import ClusterBackend
from actorstore.cluster._names import NAMESPACE
from actorstore.cluster._ray_messages import route_raylet_messages
from actorstore.retry import RetryPolicy
from actorstore.storage import BackupResult, Durability, InvalidOptionError, TableInfo
from actorstore.storage._session_records import DEFAULT_WINDOW as DEFAULT_OUTCOME_WINDOW
from actorstore.storage._store_directory import check_outcome_window
from actorstore.store import DEFAULT_WAIT_TIMEOUT, Store

if TYPE_CHECKING:
    import concurrent.futures

    from actorstore.retry import DeadLetterHook

__all__ = ["CLUSTER_POLICY", "ClusterStore", "connect_store"]

logger = logging.getLogger(__name__)

CLUSTER_POLICY = RetryPolicy(max_attempts=30, initial_wait=0.01, max_wait=1.0)
"""The default policy of a cluster store: an owner that restarts (a node that
comes back) is waited for about 25 s before its ops are dead-lettered."""


class ClusterStore(Store):
    """A store whose tables live on Ray nodes: see `connect_store`."""

    _transport: ClusterBackend

    def create_table(
        self,
        name: str,
        *,
        key_format: str = "str",
        value_format: str = "json",
        durability: Durability | str | None = None,
        retry: RetryPolicy | None = None,
        exist_ok: bool = False,
        node: str | None = None,
    ) -> TableInfo:
        """Create table `name` on node `node` (else where rendezvous hashing puts it).

        Otherwise as `Store.create_table`.

        Raises:
            InvalidOptionError: for a `node` that is not one of the nodes.
            TableExistsError: if the table lives on another node than `node`.
        """
        spec = TableSpec(name, key_format, value_format, durability, exist_ok, node)
        return self._create_table(spec, retry)

    def placement(self) -> dict[str, str]:
        """Return each table's node label, by table name."""
        return {
            name: label
            for name, label in self._transport.placement().items()
            if not name.startswith("_")
        }

    def backup(
        self,
        dest: str | os.PathLike[str],
        *,
        compact: bool = True,
        progress: Callable[[str, int, int], object] | None = None,
    ) -> BackupResult:
        """Copy each node's tables to `dest/<label>` on that node (`dest` is
        absolute), and the directory's placements and dead letters to
        `dest/<its label>/_cluster`; the result's `nodes` says where each
        node's copy is. Every op acknowledged before this call is in the
        copies; each node's ops go on while it copies. `progress(label,
        nodes copied, nodes)` is called as each node ends.

        Raises:
            InvalidOptionError: for a relative `dest`, or one a node refuses
                (it exists there, or cannot be created).
            StoreClosedError: if the store is closed.
            OwnerUnavailableError: if a node does not answer.
        """
        self._lifecycle.check_open()
        return self._transport.backup(dest, compact=compact, progress=progress)


def connect_store(
    address: str = "auto",
    nodes: Mapping[str, str] | None = None,
    *,
    namespace: str = NAMESPACE,
    ops_max: int = 1024,
    durability: Durability | str = Durability.SYNC,
    retry: RetryPolicy | None = CLUSTER_POLICY,
    callback_executor: concurrent.futures.Executor | None = None,
    sync_interval: float = 1.0,
    wait: bool = True,
    wait_timeout: float | None = DEFAULT_WAIT_TIMEOUT,
    dead_letter_hook: DeadLetterHook | None = None,
    initial_map_size: int | None = None,
    max_map_size: int | None = None,
    spool_path: str | os.PathLike[str] | None = None,
    outcome_window: float = DEFAULT_OUTCOME_WINDOW,
    call_timeout: float | None = None,
) -> ClusterStore:
    """Connect to the Ray cluster at `address` and return a store on its nodes.

    `nodes` maps each node label (its Ray resource `actorstore-<label>`) to
    the store's directory on that node's disk. The store has the op methods,
    futures, callbacks (run on this client after commit), `await`, retries
    and dead letters of `open_store`'s; `create_table(..., node="a")` pins
    a table to a node. Clients connecting with the same `nodes` share the
    same owners and tables. Retries default to `CLUSTER_POLICY`, which
    rides out an owner's restart. Dead letters go to the cluster's directory
    owner; while it is unreachable, to the local `spool_path` file, forwarded
    at the next flush.

    Every op is applied at most once and answered (exactly once): the
    store is a session and numbers its ops; when an owner dies mid-call,
    or does not answer a call within its deadline (`call_timeout`
    seconds; by default a few seconds past the slowest call it answered),
    the call's ops are retried under the retry policy with the same
    numbers, and an op that did commit is answered from its owner's
    records instead of running twice. Owners keep those records for
    `outcome_window` seconds (give every client the same); a dead letter
    of an op whose outcome stayed unknown carries its number, so
    replaying it within that window is safe too.

    Raises:
        InvalidOptionError: for bad options, labels or paths.
        OwnerUnavailableError: if the directory owner does not answer.
    """
    if nodes is None:
        raise InvalidOptionError(
            "connect_store() needs nodes=, the store path of each node label, "
            'such as {"a": "/var/lib/actorstore"}'
        )
    check_interval(sync_interval)
    check_outcome_window(outcome_window)
    check_timeout("call_timeout", call_timeout)
    if call_timeout == 0:
        raise InvalidOptionError(
            "call_timeout must be a number of seconds > 0 (or None: a few "
            "seconds past the slowest call an owner answered)"
        )
    if not ray.is_initialized():
        ray.init(
            address=address,
            namespace=namespace,
            log_to_driver=False,
            configure_logging=False,
        )
        # This client's connection: what the cluster publishes for it (a dead
        # node's raylet log) goes to the log, not to the terminal.
        route_raylet_messages()
    backend = ClusterBackend(
        nodes,
        namespace=namespace,
        durability=durability,
        initial_map_size=initial_map_size,
        max_map_size=max_map_size,
        spool_path=spool_path,
        outcome_window=outcome_window,
        call_timeout=call_timeout,
    )
    store = ClusterStore(
        backend,
        ops_max=ops_max,
        wait=wait,
        wait_timeout=wait_timeout,
        retry=retry,
        callback_executor=callback_executor,
        sync_interval=sync_interval,
        dead_letter_hook=dead_letter_hook,
        outcome_window=outcome_window,
    )
    _close_at_exit(store)
    return store


EXIT_TIMEOUT = 10.0
"""Seconds a cluster store left open at exit gets to finish its ops."""

_open_at_exit: weakref.WeakSet[ClusterStore] = weakref.WeakSet()
_exit_hook: list[bool] = []


def _close_at_exit(store: ClusterStore) -> None:
    """Close `store` at exit, if still open, while Ray is still connected.

    Ray disconnects at exit with an `atexit` hook of its own, registered
    when it is imported; after it, touching Ray (a flush, a sync) would
    start a new local Ray session. This hook is registered later, so it
    runs first: a client that exits without `close()` finishes its ops
    (for `EXIT_TIMEOUT` seconds at most), then only disconnects.
    """
    _open_at_exit.add(store)
    if not _exit_hook:
        _exit_hook.append(True)
        atexit.register(_close_open_cluster_stores)


def _close_open_cluster_stores() -> None:
    for store in list(_open_at_exit):
        if store.is_closed or not ray.is_initialized():
            continue
        try:
            store.close(timeout=EXIT_TIMEOUT)
        except Exception:
            logger.error("closing %r at exit failed", store, exc_info=True)
