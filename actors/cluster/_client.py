"""ClusterBackend: the transport of a store whose tables live on Ray nodes.

Each labelled node's tables are owned by its `NodeOwner`, found by name,
and a `DirectoryOwner` keeps where each table lives and the cluster's dead
letters. The facade, submission, retries and callbacks are the local
store's own (`actorstore.Store`); only where ops go changes: a
`RemoteMailbox` per owner carries them in groups, one Ray call each
(`_remote.py`). `connect_store` (`_connect.py`) makes the store.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import ray
import ray.exceptions

from actorstore._transports.base import Capabilities, TableSpec
from actorstore.cluster._calls import (
    BACKUP_TIMEOUT,
    DIRECTORY_CALLS,
    call,
    wait,
)
from actorstore.cluster._errors import OwnerUnavailableError
from actorstore.cluster._names import NAMESPACE, validate_label
from actorstore.cluster._node import BACKUP_GROUP
from actorstore.cluster._owner_actors import START_TIMEOUT, start_node_owner
from actorstore.cluster._placement_owner import (
    DIRECTORY_DIR,
    directory_label,
    start_directory_owner,
)
from actorstore.cluster._remote import RemoteOwners
from actorstore.cluster._spool import LetterSpool
from actorstore.retry import DEAD_LETTER_TABLE
from actorstore.storage import (
    BackupResult,
    CheckResult,
    Durability,
    InvalidOptionError,
    StoreError,
    TableExistsError,
    TableInfo,
    UnknownTableError,
    get_codec,
    validate_table_name,
)
from actorstore.storage._backup import summed as summed_results
from actorstore.storage._table_codecs import TableCodecs

if TYPE_CHECKING:
    from actorstore._record import OpRecord
    from actorstore._timer import Timer
    from actorstore._transports.base import OwnerReports, Reader
    from actorstore.storage import StoreDirectory

__all__ = ["ClusterBackend", "RemoteTable"]

logger = logging.getLogger(__name__)


class RemoteTable:
    """A remote table as submission sees it: its codecs (reads go to its owner)."""

    def __init__(self, codecs: TableCodecs) -> None:
        self.codecs = codecs


class ClusterBackend:
    """Tables on labelled Ray nodes: `nodes` maps each label to its store path.

    Thread-safe. Owners are found (or started) by name on first use, so a
    second client with the same `nodes` (another process or host) finds the
    same owners and tables.
    """

    directory: StoreDirectory | None = None
    """No store directory on this host: the tables are on the nodes."""

    def __init__(
        self,
        nodes: Mapping[str, str],
        *,
        namespace: str = NAMESPACE,
        durability: Durability | str = Durability.SYNC,
        initial_map_size: int | None = None,
        max_map_size: int | None = None,
        spool_path: str | os.PathLike[str] | None = None,
        timeout: float = START_TIMEOUT,
        outcome_window: float | None = None,
        call_timeout: float | None = None,
    ) -> None:
        """Find (or start) the directory owner of `nodes`.

        `outcome_window` is how long owners this client starts keep the
        outcomes of a client's recent ops (exactly once); `call_timeout`
        the deadline of each call to an owner (None: a margin past the
        slowest call it answered).

        Raises:
            InvalidOptionError: for an empty `nodes`, a bad label, a path
                that is not absolute, or owners that serve other paths.
            OwnerUnavailableError: if the directory owner does not answer.
        """
        if not isinstance(nodes, Mapping) or not nodes:
            raise InvalidOptionError(
                "nodes= must map at least one node label to its store path, such "
                'as {"a": "/var/lib/actorstore"}'
            )
        for label, path in nodes.items():
            validate_label(label)
            if not isinstance(path, str) or not os.path.isabs(path):
                raise InvalidOptionError(
                    f"node {label!r}: store path {path!r} is not absolute; give "
                    "the absolute path on that node's disk"
                )
        self.nodes = dict(sorted(nodes.items()))
        self.namespace = namespace
        self.durability = Durability.coerce(durability)
        self.owners = len(self.nodes)
        self._store_options: dict[str, Any] = {"durability": self.durability.value}
        if initial_map_size is not None:
            self._store_options["initial_map_size"] = initial_map_size
        if max_map_size is not None:
            self._store_options["max_map_size"] = max_map_size
        if outcome_window is not None:
            self._store_options["outcome_window"] = outcome_window
        self._call_timeout = call_timeout
        self._timeout = timeout
        self._lock = threading.Lock()
        self._handles: dict[str, Any] = {}
        self._tables: dict[str, RemoteTable] = {}
        self._placement: dict[str, str] = {}
        self._router: RemoteOwners | None = None
        self._stopping = threading.Event()
        self._syncer: threading.Thread | None = None
        self._spool = LetterSpool(
            os.fspath(
                spool_path
                if spool_path is not None
                else os.path.join(
                    os.environ.get("XDG_CACHE_HOME")
                    or os.path.join(os.path.expanduser("~"), ".cache"),
                    "actorstore",
                    f"{namespace}-dead-letters.jsonl",
                )
            )
        )
        self._directory = start_directory_owner(
            self.nodes, namespace=namespace, timeout=timeout
        )
        self.capabilities = Capabilities(
            # Callbacks run on the client, after commit: no veto across hosts.
            callbacks_in_txn=False,
            spool=self._spool.keep,
            # An owner may die mid-call: owners record every op's outcome.
            answers_can_be_lost=True,
        )
        self._refresh_placement()
        self._spool.forward(self._directory)

    @property
    def directory_owner(self) -> Any:
        """The handle of the cluster's directory owner."""
        return self._directory

    @property
    def router(self) -> RemoteOwners:
        """The remote mailboxes (after `start`)."""
        assert self._router is not None, "ClusterBackend.start() was not called"
        return self._router

    @property
    def path(self) -> str:
        """The cluster's nodes and their store paths."""
        nodes = ", ".join(f"{label}={path}" for label, path in self.nodes.items())
        return f"ray:{self.namespace} [{nodes}]"

    # -- owners and placement ---------------------------------------------------

    def owner(self, label: str) -> Any:
        """Return the handle of node `label`'s owner, starting it if needed.

        Raises:
            InvalidOptionError: for a label that is not one of `nodes`.
            OwnerUnavailableError: if it does not answer.
        """
        handle = self._handles.get(label)
        if handle is not None:
            return handle
        if not ray.is_initialized():
            raise OwnerUnavailableError(
                label=label, reason="this client has disconnected from Ray"
            )
        if label not in self.nodes:
            raise InvalidOptionError(
                f"node {label!r} is not one of the nodes {sorted(self.nodes)}"
            )
        handle = start_node_owner(
            label,
            self.nodes[label],
            namespace=self.namespace,
            timeout=self._timeout,
            **self._store_options,
        )
        with self._lock:
            return self._handles.setdefault(label, handle)

    def owner_of(self, table: str) -> tuple[str, Any]:
        """Return the label and owner handle of `table`'s node.

        Raises:
            UnknownTableError: if the table was never placed.
        """
        if table == DEAD_LETTER_TABLE:
            return DIRECTORY_CALLS, self._directory
        label = self.label_of(table)
        return label, self.owner(label)

    def label_of(self, table: str) -> str:
        """Return the label of the node `table` lives on.

        Raises:
            UnknownTableError: if the table was never placed.
        """
        label = self._placement.get(table)
        if label is None:
            self._refresh_placement()
            label = self._placement.get(table)
        if label is None:
            raise UnknownTableError(table=table)
        return label

    def placement(self) -> dict[str, str]:
        """Return each table's node label, by table name (as durably recorded)."""
        self._refresh_placement()
        return dict(self._placement)

    def _refresh_placement(self) -> None:
        placement = call(self._directory.placement, label=DIRECTORY_CALLS)
        with self._lock:
            self._placement = dict(placement)

    # -- Backend ------------------------------------------------------------------

    def table(self, name: str, *, internal: bool = False) -> RemoteTable:
        """Return table `name`'s codecs (learning its formats on first use)."""
        table = self._tables.get(name)
        if table is not None:
            return table
        validate_table_name(name, internal=internal)
        if name == DEAD_LETTER_TABLE:
            codecs = TableCodecs(name, "int", "json")
        else:
            info = self.table_info(name)
            codecs = TableCodecs(
                name, info.key_format, info.value_format, info.key_encoding
            )
        with self._lock:
            return self._tables.setdefault(name, RemoteTable(codecs))

    def reader(self, name: str) -> Reader | None:
        """Return None: reads go to the table's owner like any op."""
        return None

    def put(self, record: OpRecord) -> None:
        """Queue `record` at its table's owner; send a call if none is in flight."""
        self.router.dispatcher_for(record.table).put(record)

    def pending(self, table: str) -> bool:
        """Return whether an op of `table` is queued or in a call."""
        return self.router.dispatcher_for(table).pending(table)

    def start(
        self,
        reports: OwnerReports,
        scheduler: Timer,
        *,
        callbacks_in_txn: bool,
        sync_interval: float,
    ) -> None:
        """Make the router of remote mailboxes; sync NONE tables every
        `sync_interval` seconds on a thread of its own.

        Not on the store's timer: a sync is a call to every owner, which waits
        while a node is down, and retries must not wait behind it.
        """
        self._router = RemoteOwners(
            self.owner_of, reports, call_timeout=self._call_timeout
        )
        if math.isfinite(sync_interval):
            self._syncer = threading.Thread(
                target=self._sync_every,
                args=(sync_interval,),
                name="ClusterSync",
                daemon=True,
            )
            self._syncer.start()

    def _sync_every(self, interval: float) -> None:
        while not self._stopping.wait(interval):
            if not ray.is_initialized():
                return  # disconnected: touching Ray would start a new session
            try:
                self.sync(raise_errors=False)
            except BaseException:
                logger.error("the cluster's periodic sync failed", exc_info=True)

    def create_table(self, spec: TableSpec) -> TableInfo:
        """Place a table (on `spec.node`, else by rendezvous hashing) and create it.

        Raises:
            InvalidTableNameError, UnknownFormatError, TableExistsError.
            InvalidOptionError: for a `node` that is not one of `nodes`.
            OwnerUnavailableError: if an owner does not answer.
        """
        name, key_format, value_format = spec.name, spec.key_format, spec.value_format
        durability, exist_ok, node = spec.durability, spec.exist_ok, spec.node
        validate_table_name(name)
        get_codec(key_format)  # checked here: bad formats never cross the wire
        get_codec(value_format)
        wanted = Durability.coerce(durability).value if durability else None
        if not exist_ok and name in self.placement():
            raise TableExistsError(
                f"table {name!r} already exists; pass exist_ok=True to use it",
                table=name,
            )
        label = call(
            self._directory.place,
            name,
            list(self.nodes),
            node,
            label=DIRECTORY_CALLS,
        )
        with self._lock:
            self._placement[name] = label
        info: TableInfo = call(
            self.owner(label).create_table,
            name,
            key_format=key_format,
            value_format=value_format,
            durability=wanted,
            label=label,
        )
        if (info.key_format, info.value_format) != (key_format, value_format):
            raise TableExistsError(
                f"table {name!r} exists with key_format={info.key_format!r}, "
                f"value_format={info.value_format!r}; use another name",
                table=name,
            )
        return info

    def set_table_options(self, name: str, options: Mapping[str, Any]) -> TableInfo:
        """Keep `options` with table `name` in its node's catalog."""
        label = self.label_of(name)
        info: TableInfo = call(
            self.owner(label).set_table_options,
            name,
            dict(options),
            label=label,
        )
        return info

    def table_names(self) -> list[str]:
        """Return the names of the (non-internal) tables, sorted.

        A table is listed once its node has created it: a placement alone
        (a client that died between placing and creating) is not a table.
        """
        placement = self.placement()
        names: list[str] = []
        for label in sorted(set(placement.values())):
            created = set(call(self.owner(label).table_names, label=label))
            names += [n for n, at in placement.items() if at == label and n in created]
        return sorted(n for n in names if not n.startswith("_"))

    def table_info(self, name: str) -> TableInfo:
        """Return table `name`'s record from its node's catalog."""
        label = self.label_of(name)
        info: TableInfo = call(self.owner(label).table_info, name, label=label)
        return info

    def table_stats(self) -> dict[str, dict[str, Any]]:
        """Return each table's record count and sizes, by name, with its node."""
        stats: dict[str, dict[str, Any]] = {}
        for label in sorted(set(self.placement().values())):
            owner_stats = call(self.owner(label).stats, label=label)
            for name, table in owner_stats["tables"].items():
                if not name.startswith("_"):
                    stats[name] = {**table, "node": label}
        return stats

    def check(self, table: str | None) -> dict[str, CheckResult]:
        """Verify one table (every table if None) on its node."""
        names = [table] if table is not None else self.table_names()
        results: dict[str, CheckResult] = {}
        for name in names:
            label = self.label_of(name)
            results.update(call(self.owner(label).check, name, label=label))
        return results

    def sync(self, *, raise_errors: bool) -> None:
        """Sync the NONE tables written since their last sync, on every node."""
        with self._lock:
            handles = dict(self._handles)
        for label, handle in handles.items():
            try:
                call(handle.sync, label=label)
            except StoreError:
                if raise_errors:
                    raise
                logger.warning("sync on node %s failed", label, exc_info=True)
        self._spool.forward(self._directory)

    def backup(
        self,
        dest: str | os.PathLike[str],
        *,
        compact: bool,
        progress: Callable[[str, int, int], object] | None,
    ) -> BackupResult:
        """Copy each node's store into `dest/<label>` on that node, at once on
        every node, then the directory's (placements, dead letters) into
        `dest/<its label>/_cluster`; return what was copied, with `nodes`
        mapping each label to its copy. `progress(label, nodes done, nodes)`
        is called as each node's copy ends.

        The copies together are a cluster store: `connect_store` with
        `nodes` mapping each label to `dest/<label>` (and a namespace of its
        own) opens them.

        Raises:
            InvalidOptionError: for a `dest` that is not absolute, or that a
                node refuses (it exists there, or cannot be created), before
                that node writes anything.
            OwnerUnavailableError: if a node does not answer; the nodes that
                did keep their copies.
        """
        if not isinstance(dest, str | os.PathLike) or not os.path.isabs(dest):
            raise InvalidOptionError(
                f"a cluster store's backup destination must be an absolute path "
                f"(it is made on each node's disk), not {dest!r}"
            )
        root = os.fspath(dest)
        places = {label: os.path.join(root, label) for label in self.nodes}
        calls = {
            label: self.owner(label)
            .backup.options(concurrency_group=BACKUP_GROUP)
            .remote(place, compact)
            for label, place in places.items()
        }
        results: list[BackupResult] = []
        failure: BaseException | None = None
        for done, (label, copying) in enumerate(calls.items(), 1):
            try:
                results.append(wait(copying, label=label, timeout=BACKUP_TIMEOUT))
            except StoreError as exc:
                failure = failure or exc
                continue
            if progress is not None:
                progress(label, done, len(calls))
        if failure is not None:
            raise failure
        label = directory_label(self.nodes)
        copy_directory = self._directory.backup.options(concurrency_group=BACKUP_GROUP)
        results.append(
            call(
                copy_directory,
                os.path.join(places[label], DIRECTORY_DIR),
                compact,
                label=DIRECTORY_CALLS,
                timeout=BACKUP_TIMEOUT,
            )
        )
        return summed_results(results, root, places)

    def stop(self, timeout: float | None) -> bool:
        """Fail what is queued and wait for calls in flight (the owners stay up:
        other clients share them)."""
        self._stopping.set()
        return self._router is None or self._router.stop(timeout)

    def close(self) -> None:
        """Nothing to close here: the owners belong to the cluster, not this client."""
