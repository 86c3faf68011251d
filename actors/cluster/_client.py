"""connect_store(): the same Store API, with table owners on Ray nodes.

`ClusterBackend` is a store's `Backend` whose tables live on labelled Ray
nodes: each node's tables are owned by its `NodeOwner`, found by name, and
a `DirectoryOwner` keeps where each table lives and the cluster's dead
letters. The facade, submission, retries and callbacks are the local
store's own (`actors.Store`); only where ops go changes: a `RemoteMailbox`
per owner carries them in groups, one Ray call each.
"""

from __future__ import annotations

import atexit
import json
import logging
import math
import os
import threading
import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import ray
import ray.exceptions

from actorstore._options import check_interval, check_timeout
from actorstore._transports.base import Capabilities, TableSpec
from actorstore.cluster._errors import OwnerUnavailableError, translate_call_error
from actorstore.cluster._names import NAMESPACE, validate_label
from actorstore.cluster._node import BACKUP_GROUP, START_TIMEOUT, start_node_owner
from actorstore.cluster._placement_owner import (
    DIRECTORY_DIR,
    directory_label,
    start_directory_owner,
)
from actorstore.cluster._ray_messages import route_raylet_messages
from actorstore.cluster._remote import RemoteOwners
from actorstore.cluster._wire import outcomes_of, wire_op
from actorstore.retry import DEAD_LETTER_TABLE, DeadLetter, RetryPolicy
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
from actorstore.storage._session_records import DEFAULT_WINDOW as DEFAULT_OUTCOME_WINDOW
from actorstore.storage._store_directory import check_outcome_window
from actorstore.storage._table_codecs import TableCodecs
from actorstore.store import DEFAULT_WAIT_TIMEOUT, Store

if TYPE_CHECKING:
    import concurrent.futures

    from actorstore._record import OpRecord
    from actorstore._timer import Timer
    from actorstore._transports.base import OwnerReports, Reader
    from actorstore.retry import DeadLetterHook
    from actorstore.storage import StoreDirectory

__all__ = ["CLUSTER_POLICY", "ClusterBackend", "ClusterStore", "connect_store"]

logger = logging.getLogger(__name__)

CLUSTER_POLICY = RetryPolicy(max_attempts=30, initial_wait=0.01, max_wait=1.0)
"""The default policy of a cluster store: an owner that restarts (a node that
comes back) is waited for about 25 s before its ops are dead-lettered."""

CALL_TIMEOUT = 60.0
"""Seconds a call that is not an op (create a table, stats, sync) waits."""

BACKUP_TIMEOUT = 3600.0
"""Seconds `backup()` waits for a node's copy (a large store takes long)."""

_DIRECTORY = "__directory__"
"""The router's label for the directory owner (dead letters)."""


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
        self._spool_path = os.fspath(
            spool_path
            if spool_path is not None
            else os.path.join(
                os.environ.get("XDG_CACHE_HOME")
                or os.path.join(os.path.expanduser("~"), ".cache"),
                "actorstore",
                f"{namespace}-dead-letters.jsonl",
            )
        )
        self._directory = start_directory_owner(
            self.nodes, namespace=namespace, timeout=timeout
        )
        self.capabilities = Capabilities(
            # Callbacks run on the client, after commit: no veto across hosts.
            callbacks_in_txn=False,
            spool=self.spool,
            # An owner may die mid-call: owners record every op's outcome.
            answers_can_be_lost=True,
        )
        self._refresh_placement()
        self._forward_spooled()

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
            return _DIRECTORY, self._directory
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
        placement = _call(self._directory.placement, label=_DIRECTORY)
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
        label = _call(
            self._directory.place,
            name,
            list(self.nodes),
            node,
            label=_DIRECTORY,
        )
        with self._lock:
            self._placement[name] = label
        info: TableInfo = _call(
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
        info: TableInfo = _call(
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
            created = set(_call(self.owner(label).table_names, label=label))
            names += [n for n, at in placement.items() if at == label and n in created]
        return sorted(n for n in names if not n.startswith("_"))

    def table_info(self, name: str) -> TableInfo:
        """Return table `name`'s record from its node's catalog."""
        label = self.label_of(name)
        info: TableInfo = _call(self.owner(label).table_info, name, label=label)
        return info

    def table_stats(self) -> dict[str, dict[str, Any]]:
        """Return each table's record count and sizes, by name, with its node."""
        stats: dict[str, dict[str, Any]] = {}
        for label in sorted(set(self.placement().values())):
            owner_stats = _call(self.owner(label).stats, label=label)
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
            results.update(_call(self.owner(label).check, name, label=label))
        return results

    def sync(self, *, raise_errors: bool) -> None:
        """Sync the NONE tables written since their last sync, on every node."""
        with self._lock:
            handles = dict(self._handles)
        for label, handle in handles.items():
            try:
                _call(handle.sync, label=label)
            except StoreError:
                if raise_errors:
                    raise
                logger.warning("sync on node %s failed", label, exc_info=True)
        self._forward_spooled()

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
        for done, (label, call) in enumerate(calls.items(), 1):
            try:
                results.append(_wait(call, label=label, timeout=BACKUP_TIMEOUT))
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
            _call(
                copy_directory,
                os.path.join(places[label], DIRECTORY_DIR),
                compact,
                label=_DIRECTORY,
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

    # -- dead letters the directory cannot take ----------------------------------

    def spool(self, letter: DeadLetter) -> str:
        """Append `letter` to the local spool file; it is forwarded later.

        Raises:
            StorageError: (an OSError, translated) if the file cannot be written.
        """
        os.makedirs(os.path.dirname(self._spool_path), exist_ok=True)
        line = json.dumps(letter.to_json(), sort_keys=True) + "\n"
        with self._lock, open(self._spool_path, "a", encoding="utf-8") as spool:
            spool.write(line)
            spool.flush()
            os.fsync(spool.fileno())
        return self._spool_path

    def _forward_spooled(self) -> None:
        """Write the spooled dead letters to the directory, in one call.

        The lock is held only to read and to trim the file, never across the
        call: letters spooled meanwhile stay for the next round, and so do
        all of them if the directory is still out of reach.
        """
        with self._lock:
            try:
                with open(self._spool_path, "rb") as spool:
                    taken = spool.read()
            except FileNotFoundError:
                return
        records = [json.loads(line) for line in taken.splitlines() if line.strip()]
        if records:
            ops = [wire_op("upsert", record["id"], record) for record in records]
            try:
                answer = _call(
                    self._directory.run,
                    [(DEAD_LETTER_TABLE, ops, [True] * len(ops))],
                    label=_DIRECTORY,
                )
            except StoreError:
                return  # still out of reach: kept for the next round
            failed = [o.error for o in outcomes_of(answer[0]) if o.error is not None]
            if failed:
                logger.error("spooled dead letters not forwarded: %r", failed[0])
                return
        with self._lock:
            with open(self._spool_path, "rb") as spool:
                now = spool.read()
            left = now[len(taken) :]  # spooled while this round ran
            if left:
                tmp = self._spool_path + ".tmp"
                with open(tmp, "wb") as spool:
                    spool.write(left)
                    spool.flush()
                    os.fsync(spool.fileno())
                os.replace(tmp, self._spool_path)
            else:
                os.remove(self._spool_path)
        logger.info("forwarded %d spooled dead letters", len(records))


def _call(
    method: Any, *args: Any, label: str, timeout: float = CALL_TIMEOUT, **kwargs: Any
) -> Any:
    """Call remote `method` with `args` and wait for its result; raise its own
    error, or the owner's failure.

    Once this process has disconnected from Ray, nothing is called (touching
    Ray then would start a new local session): the owner is unavailable.
    """
    if not ray.is_initialized():
        raise OwnerUnavailableError(
            label=label, reason="this client has disconnected from Ray"
        )
    return _wait(method.remote(*args, **kwargs), label=label, timeout=timeout)


def _wait(ref: Any, *, label: str, timeout: float = CALL_TIMEOUT) -> Any:
    """Wait for the result of a call made (`ref`); raise its own error, or the
    owner's failure."""
    try:
        return ray.get(ref, timeout=timeout)
    except ray.exceptions.RayTaskError as exc:
        cause = exc.cause
        if isinstance(cause, BaseException):
            raise cause from None
        raise
    except ray.exceptions.GetTimeoutError as exc:
        raise OwnerUnavailableError(
            label=label, reason=f"no answer within {timeout} s"
        ) from exc
    except ray.exceptions.RayActorError as exc:
        raise translate_call_error(exc, label=label) from exc


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
