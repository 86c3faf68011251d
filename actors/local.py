"""LocalBackend: a store's tables in a directory on this host, owned by local actors."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from actorstore.syncing import LazySync
from actorstore.worker import LocalOwners
from actorstore.retry import DEAD_LETTER_TABLE
from actorstore.storage import Durability, InvalidOptionError

if TYPE_CHECKING:
    from actorstore.dispatch import OwnerReports
    from actorstore.retry import DeadLetter, Scheduler
    from actorstore.storage import CheckResult, StoreDirectory, TableInfo
    from actorstore.storage._table import Table

__all__ = ["LocalBackend"]


class LocalBackend:
    """A `StoreDirectory` served by `threads` owner actors (`actors.worker`)."""

    reads_at_once = True
    """Tables are on this host: a read of an idle one runs on the caller's thread."""
    callbacks_in_txn = True
    """Owners run callbacks inside ops' transactions (unless an executor is given)."""
    spool: Callable[[DeadLetter], object] | None = None
    """No second place for dead letters: the dead-letter table is on this host."""

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
        assert self._local_owners is not None, "LocalBackend.start() was not called"
        return self._local_owners

    def table(self, name: str, *, internal: bool = False) -> Table:
        """Return the open table `name`, opening it on first use."""
        return self.directory.table(name, internal=internal)

    def start(
        self,
        reports: OwnerReports,
        scheduler: Scheduler,
        *,
        callbacks_in_txn: bool,
        sync_interval: float,
    ) -> LocalOwners:
        """Start the owner actors and the lazy sync of NONE tables."""
        self._sync = LazySync(self.directory, scheduler, sync_interval)
        self._local_owners = LocalOwners(
            self.owners,
            self.directory,
            reports,
            callbacks_in_txn=callbacks_in_txn,
            on_dirty=self._sync.dirty,
        )
        return self._local_owners

    def create_table(
        self,
        name: str,
        *,
        key_format: str,
        value_format: str,
        durability: Durability | str | None,
        exist_ok: bool,
        node: str | None = None,
    ) -> TableInfo:
        """Create table `name` in the directory's catalog; return its record.

        Raises:
            InvalidOptionError: for a `node`: a local store has one host.
        """
        if node is not None:
            raise InvalidOptionError(
                f"node={node!r}: a local store keeps every table on this host; "
                "node= is for actorstore.cluster.connect_store()"
            )
        return self.directory.create_table(
            name,
            key_format=key_format,
            value_format=value_format,
            durability=durability,
            exist_ok=exist_ok,
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
