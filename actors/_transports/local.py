"""LocalTransport: a store's tables in a directory here, owned by local actors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from actorstore._transports.base import Capabilities, Reader, TableSpec
from actorstore._transports.owners import LocalOwners
from actorstore._transports.syncing import LazySync
from actorstore.retry import DEAD_LETTER_TABLE
from actorstore.storage import Durability, InvalidOptionError

if TYPE_CHECKING:
    from actorstore._record import OpRecord
    from actorstore._timer import Timer
    from actorstore._transports.base import OwnerReports
    from actorstore.storage import CheckResult, StoreDirectory, TableInfo
    from actorstore.storage._table import Table

__all__ = ["LocalTransport"]


class LocalTransport:
    """A `StoreDirectory` served by `threads` owner actors (`owners.py`), with a
    lazy sync of its NONE tables (`syncing.py`)."""

    capabilities = Capabilities(callbacks_in_txn=True)
    """Owners run callbacks inside ops' transactions; no spool: the
    dead-letter table is on this host."""

    def __init__(self, directory: StoreDirectory, threads: int) -> None:
        """Serve `directory` with `threads` owners (started by `start`)."""
        self.directory = directory
        self.owners = threads
        directory.create_table(
            DEAD_LETTER_TABLE,
            key_format="int",
            value_format="json",
            durability=Durability.SYNC,
            exist_ok=True,
            internal=True,
        )
        self._local_owners: LocalOwners | None = None
        self._sync: LazySync | None = None

    @property
    def path(self) -> str:
        """The store's directory."""
        return self.directory.path

    @property
    def durability(self) -> Durability:
        """The default durability of new tables."""
        return self.directory.durability

    @property
    def local_owners(self) -> LocalOwners:
        """The owner actors (after `start`)."""
        assert self._local_owners is not None, "LocalTransport.start() was not called"
        return self._local_owners

    def table(self, name: str, *, internal: bool = False) -> Table:
        """Return the open table `name`, opening it on first use."""
        return self.directory.table(name, internal=internal)

    def reader(self, name: str) -> Reader | None:
        """Return the table's `read`: a read runs on the caller's thread."""
        return self.directory.table(name).read

    def start(
        self,
        reports: OwnerReports,
        scheduler: Timer,
        *,
        callbacks_in_txn: bool,
        sync_interval: float,
    ) -> None:
        """Start the owner actors and the lazy sync of NONE tables."""
        self._sync = LazySync(self.directory, scheduler, sync_interval)
        self._local_owners = LocalOwners(
            self.owners,
            self.directory,
            reports,
            callbacks_in_txn=callbacks_in_txn,
            on_dirty=self._sync.dirty,
        )

    def put(self, record: OpRecord) -> None:
        """Queue `record` in its table's owner's mailbox."""
        self.local_owners.mailbox_for(record.table).put(record)

    def pending(self, table: str) -> bool:
        """Return whether an op of `table` is queued or running at its owner."""
        return self.local_owners.mailbox_for(table).pending(table)

    def create_table(self, spec: TableSpec) -> TableInfo:
        """Create a table in the directory's catalog; return its record.

        Raises:
            InvalidOptionError: for a `node`: a local store has one host.
        """
        if spec.node is not None:
            raise InvalidOptionError(
                f"node={spec.node!r}: a local store keeps every table on this host; "
                "node= is for actorstore.cluster.connect_store()"
            )
        return self.directory.create_table(
            spec.name,
            key_format=spec.key_format,
            value_format=spec.value_format,
            durability=spec.durability,
            exist_ok=spec.exist_ok,
        )

    def set_table_options(self, name: str, options: Mapping[str, Any]) -> TableInfo:
        """Keep `options` with table `name` in the catalog."""
        return self.directory.set_table_options(name, options)

    def table_names(self) -> list[str]:
        """Return the names of the (non-internal) tables, sorted."""
        return self.directory.table_names()

    def table_info(self, name: str) -> TableInfo:
        """Return table `name`'s catalog record."""
        return self.directory.table_info(name)

    def table_stats(self) -> dict[str, dict[str, Any]]:
        """Return each table's record count and sizes, by name."""
        return self.directory.stats()

    def check(self, table: str | None) -> dict[str, CheckResult]:
        """Verify one table (every table if None) in full."""
        return self.directory.check(table)

    def sync(self, *, raise_errors: bool) -> None:
        """Sync the NONE tables written since their last sync."""
        if self._sync is not None:
            self._sync.sync(raise_errors=raise_errors)

    def stop(self, timeout: float | None) -> bool:
        """Stop the owner actors and the lazy sync."""
        if self._sync is not None:
            self._sync.stop()
        return self._local_owners is None or self._local_owners.stop(timeout)

    def close(self) -> None:
        """Close the directory (its tables and catalog)."""
        self.directory.close()
