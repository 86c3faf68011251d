"""NodeOwner: the Ray actor that owns the tables stored on one node's disk.

One call carries a group of ops per table (`actors.cluster.wire`); the
owner runs each group as one `TableSession.run_group` (one top-level
transaction, one fsync) and answers with one `Outcome` per op, so one Ray
call and one ObjectRef serve up to a whole group.

Measured with `python -m tests.cluster.measure_calls` (Ray 2.60, the tests'
cluster of a head and two labelled nodes on one host with 2 shared cores,
load average ~2.5; best of 3 rounds of 200 calls, one call in flight, 512
upserts of 25-byte JSON values a call):

- an empty call, round trip: 0.7 ms;
- SYNC table: 5.3 ms a call (~97k ops/s) with `WireOp`s, 6.5 ms with
  pickled `TableRequest`s;
- NONE table: 4.4 ms a call (~116k ops/s) with `WireOp`s, 5.1 ms with
  `TableRequest`s;
- counting the caller building each call's ops: 74k (SYNC) and 91k (NONE)
  ops/s with `WireOp`s.

See `actors.cluster.wire` for where the time goes.
"""

from __future__ import annotations

import functools
import logging
import os
import pickle
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import ray

import actorstore._metrics as _metrics
from actorstore.cluster._names import (
    validate_label,
)
from actorstore.cluster._wire import (
    Group,
    GroupAnswer,
    WireOp,
    answer_of,
    bind_operation,
)
from actorstore.storage import (
    BackupResult,
    CheckResult,
    Durability,
    InvalidInputError,
    LmdbError,
    StoreDirectory,
    TableInfo,
)
from actorstore.storage._op_numbers import OpNumbers
from actorstore.storage._requests import Outcome, TableRequest
from actorstore.storage._session import TableSession
from actorstore.storage._session_records import DEFAULT_WINDOW
from actorstore.storage._store_directory import (
    DEFAULT_INITIAL_MAP_SIZE,
    DEFAULT_MAX_MAP_SIZE,
)

if TYPE_CHECKING:
    from actorstore.storage._table import Table

__all__ = ["BACKUP_GROUP", "NodeOwner", "portable_errors"]

logger = logging.getLogger(__name__)

BACKUP_GROUP = "backup"
"""The concurrency group of `NodeOwner.backup`: one backup at a time, beside
(not behind) the calls that run ops."""

P = ParamSpec("P")
R = TypeVar("R")


def portable_errors(method: Callable[P, R]) -> Callable[P, R]:
    """Make `method` raise only errors that unpickle on the caller's side.

    Ray would otherwise hand the caller an `UnserializableException`
    instead of the error; see `_portable`.
    """

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except Exception as exc:
            portable = _portable(exc)
            if portable is exc:
                raise
            raise portable from exc

    return wrapper


class NodeOwner:
    """Serve the `StoreDirectory` at `path`: run calls of grouped ops on its tables.

    Ray runs it as a named, detached actor (see `owner_options`) that
    restarts in the same directory, and runs its methods one at a time.
    Each session belongs to the thread that opened it, as LMDB requires.
    NONE tables written since their last sync are synced by `sync()` and
    `close()`, or at once for a group in which an op asked for SYNC.
    """

    def __init__(
        self,
        label: str,
        path: str,
        *,
        durability: Durability | str = Durability.SYNC,
        initial_map_size: int = DEFAULT_INITIAL_MAP_SIZE,
        max_map_size: int = DEFAULT_MAX_MAP_SIZE,
        outcome_window: float = DEFAULT_WINDOW,
    ) -> None:
        """Open (or create) the store at `path` on this node.

        Its tables keep each client's recent outcomes for `outcome_window`
        seconds after the client's last group (exactly once).

        Raises:
            InvalidOptionError: for a bad label, path or size.
            LmdbError: if the directory cannot be opened.
        """
        self.label = validate_label(label)
        self._directory = StoreDirectory(
            path,
            durability=durability,
            initial_map_size=initial_map_size,
            max_map_size=max_map_size,
            outcome_window=outcome_window,
        )
        self._local = threading.local()
        self._dirty: set[str] = set()
        self._counts = {"calls": 0, "groups": 0, "ops": 0, "failed": 0}
        logger.debug("owner of node %r serving %s", label, self._directory.path)

    # -- the hot path ---------------------------------------------------------

    def run(self, groups: Sequence[Group]) -> list[GroupAnswer]:
        """Run each group of the call in order; answer each with its ops' outcomes.

        A group is `(table name, ops, sync flags[, numbers])` (numbers as
        `OpNumbers.to_wire()` gives them); its ops run as one `run_group`
        (one top-level transaction and commit, each op committing or
        aborting alone), and a NONE table is synced before answering if an
        op that wrote asked for SYNC. With `numbers` (who
        sent each op, and its number), the outcomes are recorded in the same
        transaction and an op sent again is answered from its record
        instead of running twice (`storage._session_records`). Never raises: a
        group that cannot run (unknown table, closed store) fails each of
        its ops with that error.
        """
        self._counts["calls"] += 1
        return [
            self._run_group(name, ops, sync, numbered[0] if numbered else None)
            for name, ops, sync, *numbered in groups
        ]

    @staticmethod
    def _numbers(wire: Any) -> OpNumbers | None:
        return None if wire is None else OpNumbers.from_wire(wire)

    def _run_group(
        self,
        name: str,
        ops: Sequence[WireOp | TableRequest],
        sync: Sequence[bool],
        wire_numbers: Any = None,
    ) -> GroupAnswer:
        self._counts["groups"] += 1
        self._counts["ops"] += len(ops)
        started = time.perf_counter()
        try:
            if len(sync) != len(ops):
                raise InvalidInputError(
                    f"a group of {len(ops)} ops came with {len(sync)} sync flags",
                    table=name,
                )
            numbers = self._numbers(wire_numbers)
            session = self._session(name)
            operations, bound = _bind_all(session.table, ops)
            requests = [(op, None) for op in operations if op is not None]
            if numbers is not None and len(requests) < len(operations):
                numbers = numbers.select(
                    [i for i, op in enumerate(operations) if op is not None]
                )
            ran = iter(session.run_group(requests, numbers))
            outcomes = [next(ran) if outcome is None else outcome for outcome in bound]
            if session.make_durable(
                operations, sync, outcomes, lambda: self._dirty.add(name)
            ):
                self._dirty.discard(name)  # synced before the call answers
            if _metrics.recording or _metrics.poll():
                took = time.perf_counter() - started
                _metrics.group_ran(name, len(operations), operations, took)
        except Exception as exc:  # the group's ops fail, the owner serves on
            logger.debug("group of %d ops on %r failed", len(ops), name, exc_info=True)
            self._counts["failed"] += len(ops)
            return [None] * len(ops), dict.fromkeys(range(len(ops)), _portable(exc))
        answer = answer_of(outcomes)
        errors = answer[1]
        self._counts["failed"] += len(errors)
        for index, error in errors.items():
            errors[index] = _portable(error)
        return answer

    def _session(self, name: str) -> TableSession:
        sessions: dict[str, TableSession] | None = getattr(
            self._local, "sessions", None
        )
        if sessions is None:
            sessions = self._local.sessions = {}
        session = sessions.get(name)
        if session is None or session.is_closed:
            session = self._directory.session(name, internal=True)
            sessions[name] = session
        return session

    # -- tables -----------------------------------------------------------------

    @portable_errors
    def create_table(
        self,
        name: str,
        *,
        key_format: str = "str",
        value_format: str = "json",
        durability: Durability | str | None = None,
        exist_ok: bool = True,
    ) -> TableInfo:
        """Create table `name` if it is missing; return its catalog record.

        Idempotent by default: creating a table again with the same formats
        returns its record (with the durability it was created with), so a
        client may repeat a call whose answer it lost.

        Raises:
            InvalidTableNameError: for a name that is not allowed.
            UnknownFormatError: for a format with no registered codec.
            TableExistsError: if the table exists with other formats (or at
                all, with `exist_ok=False`).
        """
        return self._directory.create_table(
            name,
            key_format=key_format,
            value_format=value_format,
            durability=durability,
            exist_ok=exist_ok,
        )

    @portable_errors
    def set_table_options(self, name: str, options: Mapping[str, Any]) -> TableInfo:
        """Keep JSON-able `options` with table `name`, durably; return its record.

        Raises:
            UnknownTableError: if there is no such table.
            EncodeError: if `options` is not JSON-able.
        """
        return self._directory.set_table_options(name, options)

    @portable_errors
    def check(self, name: str | None = None) -> dict[str, CheckResult]:
        """Verify table `name` in full (every table if None), by table name.

        Each table's writers wait while its file is walked.

        Raises:
            UnknownTableError: if `name` does not exist.
        """
        return self._directory.check(name)

    @portable_errors
    def table_info(self, name: str) -> TableInfo:
        """Return the catalog record of table `name`.

        Raises:
            UnknownTableError: if there is no such table.
        """
        return self._directory.table_info(name)

    @portable_errors
    def table_names(self) -> list[str]:
        """Return the names of the (non-internal) tables, sorted."""
        return self._directory.table_names()

    @portable_errors
    def compact(self, name: str) -> int:
        """Rewrite table `name`'s file without its free pages; return bytes reclaimed.

        Raises:
            UnknownTableError: if there is no such table.
            LmdbError: if the copy fails (the old file is kept).
        """
        return self._session(name).compact()

    @portable_errors
    def backup(self, dest: str, compact: bool = True) -> BackupResult:
        """Copy this node's store into the new directory `dest` on this node.

        Call it in the `BACKUP_GROUP` concurrency group
        (`handle.backup.options(concurrency_group=BACKUP_GROUP)`): then the
        owner's calls of ops go on while it copies. See
        `StoreDirectory.backup`.

        Raises:
            InvalidOptionError: for a `dest` that exists, is inside the
                store, or cannot be created (before anything is written).
            DiskFullError, LmdbError: if the copy fails (it is removed).
        """
        return self._directory.backup(dest, compact=compact)

    @portable_errors
    def sync(self, names: Iterable[str] | None = None) -> list[str]:
        """Sync the NONE tables written since their last sync; return their names.

        With `names`, sync those tables (if open) whether dirty or not.

        Raises:
            LmdbError: if a sync fails (the table stays dirty).
        """
        wanted = sorted(self._dirty) if names is None else list(names)
        synced = []
        for name in wanted:
            self._directory.table(name, internal=True).sync()
            self._dirty.discard(name)
            synced.append(name)
        return synced

    # -- about the owner -----------------------------------------------------

    def location(self) -> dict[str, Any]:
        """Return where this owner runs: `label`, `path`, `node_id`, `pid`."""
        return {
            "label": self.label,
            "path": self._directory.path,
            "node_id": ray.get_runtime_context().get_node_id(),
            "pid": os.getpid(),
        }

    @portable_errors
    def stats(self) -> dict[str, Any]:
        """Return this owner's counts (`calls`, `groups`, `ops`, `failed`), dirty
        tables, and each table's records and sizes (`tables`)."""
        return {
            **self.location(),
            **self._counts,
            "dirty": sorted(self._dirty),
            "tables": self._directory.stats(),
        }

    @portable_errors
    def close(self) -> None:
        """Sync and close the store; later calls fail with `StoreClosedError`.

        Safe to call twice. The actor itself stays up: `exit()` ends it.
        """
        self._dirty.clear()
        self._directory.close()

    def exit(self) -> None:
        """Close the store and end this actor for good: Ray does not restart it.

        Only as a Ray actor. The call that runs it, and every later call,
        fails with `ray.exceptions.ActorDiedError`, and its name is free.
        """
        self.close()
        ray.actor.exit_actor()


def _bind_all(
    table: Table, ops: Sequence[WireOp | TableRequest]
) -> tuple[list[TableRequest | None], list[Outcome | None]]:
    """Bind each op to `table`; an op that does not bind gets its error as outcome."""
    operations: list[TableRequest | None] = []
    outcomes: list[Outcome | None] = []
    for op in ops:
        try:
            operations.append(bind_operation(table, op))
            outcomes.append(None)
        except Exception as exc:  # noqa: BLE001 - the op's error is its outcome
            operations.append(None)
            outcomes.append(Outcome(error=exc))
    return operations, outcomes


_PICKLES: dict[type[BaseException], bool] = {}
"""Whether errors of each type survive a pickle round trip (checked once a type)."""


def _portable(error: BaseException) -> BaseException:
    """Return `error`, or an `LmdbError` naming it if it cannot cross the wire.

    An error that pickles but does not unpickle (a keyword-only `__init__`)
    would fail the whole call on the caller's side, not just its op.
    """
    kind = type(error)
    pickles = _PICKLES.get(kind)
    if pickles is None:
        try:
            pickle.loads(pickle.dumps(error))
            pickles = True
        except Exception:  # noqa: BLE001 - any failure means it cannot cross
            pickles = False
            logger.warning(
                "%s does not survive pickling; sent as LmdbError", kind.__name__
            )
        _PICKLES[kind] = pickles
    if pickles:
        return error
    return LmdbError(f"{kind.__name__}: {error}", table=getattr(error, "table", None))


# -- lifecycle (driver side) --------------------------------------------------
