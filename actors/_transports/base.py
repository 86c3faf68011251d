"""The transport seam: all the store knows of where its tables live.

```
Submission ──put(record)──▶ Transport ──▶ owners (local: Mailbox → TableOwner;
                                                  cluster: RemoteMailbox → Ray owner;
                                                  mock: a function, at once)
owners ──finish_group(records, outcomes)──▶ OwnerReports (the store's executor)
```
A transport queues checked ops at their tables' owners and reports each
group's outcomes back; it answers the calls that are not ops (create a
table, list, stats, check, sync, stop, close); and it says what it can do
in one `Capabilities` value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from actorstore._exactly_once import ClientSession
    from actorstore._record import OpRecord
    from actorstore._timer import Timer
    from actorstore.retry import DeadLetter
    from actorstore.storage import CheckResult, Durability, StoreDirectory, TableInfo
    from actorstore.storage._requests import BeforeCommit, Outcome
    from actorstore.storage._table_codecs import TableCodecs

__all__ = [
    "Capabilities",
    "OwnerReports",
    "Reader",
    "TableHandle",
    "TableSpec",
    "Transport",
]

T = TypeVar("T")

Reader = Callable[[Callable[[Any], Any]], Any]
"""Runs `fn(txn)` in one read transaction on the calling thread."""


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a transport can do, read once by the store."""

    callbacks_in_txn: bool
    """Owners can run callbacks inside ops' transactions (local owners)."""
    spool: Callable[[DeadLetter], object] | None = None
    """Keeps a dead letter the dead-letter table cannot take and says where
    (a remote table may be unreachable); None: the op's error then says it
    is lost to the store."""
    answers_can_be_lost: bool = False
    """An owner may die mid-call (remote owners): owners record every op's
    outcome, so that an op sent again is answered, not run twice (exactly
    once). Local owners answer in the store's own process: they record only
    what is sent again (replayed letters)."""


@dataclass(frozen=True, slots=True)
class TableSpec:
    """What `create_table` asks for: one value, whatever the transport."""

    name: str
    key_format: str = "str"
    value_format: str = "json"
    durability: Durability | str | None = None
    """None: the store's default."""
    exist_ok: bool = False
    node: str | None = None
    """The label of the node to place it on (cluster stores only)."""


class TableHandle(Protocol):
    """What submission needs of a table: its codecs, to check and encode ops."""

    @property
    def codecs(self) -> TableCodecs:
        """The table's formats and codecs."""
        ...


class OwnerReports(Protocol):
    """What an owner calls as it runs a group of ops (the store's executor)."""

    @property
    def session(self) -> ClientSession:
        """The store's session: numbers each group for its owner (exactly once)."""
        ...

    def before_commit(self, record: OpRecord) -> BeforeCommit | None:
        """Return what to run inside the op's transaction (its callback), if
        anything. Called only for ops with a callback, and only by owners that
        run callbacks inside transactions."""
        ...

    def finish_group(self, records: list[OpRecord], outcomes: list[Outcome]) -> None:
        """Take over ops once their group has ended with `outcomes` (one per
        op, final: committed, or failed); never raises."""
        ...


class Transport(Protocol):
    """Where a store's tables live, who owns them, and how ops reach them."""

    @property
    def capabilities(self) -> Capabilities:
        """What this transport can do."""
        ...

    @property
    def path(self) -> str:
        """Where the store is (a directory, or the cluster's description)."""
        ...

    @property
    def durability(self) -> Durability:
        """The default durability of new tables."""
        ...

    @property
    def owners(self) -> int:
        """How many owners serve the tables (a local store's `threads`)."""
        ...

    @property
    def directory(self) -> StoreDirectory | None:
        """The store's directory on this host, or None if its tables are not here."""
        ...

    def table(self, name: str, *, internal: bool = False) -> TableHandle:
        """Return table `name` (opening it, or learning its formats, on first use).

        Raises:
            InvalidTableNameError, UnknownTableError, StoreClosedError.
        """
        ...

    def reader(self, name: str) -> Reader | None:
        """Return what runs a read of table `name` on the calling thread, or
        None where the table is not on this host."""
        ...

    def start(
        self,
        reports: OwnerReports,
        scheduler: Timer,
        *,
        callbacks_in_txn: bool,
        sync_interval: float,
    ) -> None:
        """Start the owners, which report each group's outcomes to `reports`."""
        ...

    def put(self, record: OpRecord) -> None:
        """Queue a checked, counted op at its table's owner; non-blocking, safe
        from any thread. Ops of a table run in the order put.

        Raises:
            StoreClosedError: if the owners have stopped; the op is not queued.
        """
        ...

    def pending(self, table: str) -> bool:
        """Return whether an op of `table` is queued or still running."""
        ...

    def create_table(self, spec: TableSpec) -> TableInfo:
        """Create a table (see `Store.create_table`); return its record."""
        ...

    def set_table_options(self, name: str, options: Mapping[str, Any]) -> TableInfo:
        """Keep JSON-able `options` with table `name`, durably."""
        ...

    def table_names(self) -> list[str]:
        """Return the names of the (non-internal) tables, sorted."""
        ...

    def table_info(self, name: str) -> TableInfo:
        """Return table `name`'s record (formats, durability, options)."""
        ...

    def table_stats(self) -> dict[str, dict[str, Any]]:
        """Return each table's record count and sizes, by name."""
        ...

    def check(self, table: str | None) -> dict[str, CheckResult]:
        """Verify one table (every table if None) in full."""
        ...

    def sync(self, *, raise_errors: bool) -> None:
        """Sync the NONE tables written since their last sync."""
        ...

    def stop(self, timeout: float | None) -> bool:
        """Stop the owners (queued ops fail); False if one did not stop in time."""
        ...

    def close(self) -> None:
        """Close the tables (after `stop`); safe to call twice."""
        ...
