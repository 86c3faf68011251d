"""Backend: where a store's tables live, behind the facade.

The local backend (`actors.local.LocalBackend`) keeps them in a directory on
this host and runs owner actors here; `actors.cluster` keeps them on Ray
nodes. The facade (`Store`), its submission path and its outcomes are the
same for both: a backend gives them each table's codecs, starts the owners
(the `Router` ops are dispatched through) and answers the calls that are
not ops (create a table, list, stats, check, sync, close).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from actorstore.dispatch import OwnerReports, Router
    from actorstore.retry import DeadLetter, Scheduler
    from actorstore.storage import CheckResult, Durability, TableInfo
    from actorstore.storage._requests import BeforeCommit, Outcome, TableRequest
    from actorstore.storage._table_codecs import TableCodecs

__all__ = ["Backend", "OpTable"]

T = TypeVar("T")


class OpTable(Protocol):
    """What submission needs of a table: its codecs, and (locally) reads."""

    @property
    def codecs(self) -> TableCodecs:
        """The table's codecs, which check and encode each op's input."""
        ...

    def read(self, fn: Callable[[Any], T]) -> T:
        """Run `fn` in one read transaction on this thread (local tables only)."""
        ...

    def run_group(
        self, requests: Sequence[tuple[TableRequest, BeforeCommit | None]]
    ) -> list[Outcome]:
        """Run ops as one group on this thread (local tables only; reads here)."""
        ...


class Backend(Protocol):
    """Where a store's tables live and who owns them."""

    @property
    def path(self) -> str:
        """Where the store is (a directory, or the cluster's description)."""
        ...

    @property
    def durability(self) -> Durability:
        """The default durability of new tables."""
        ...

    @property
    def reads_at_once(self) -> bool:
        """Whether a read of an idle table may run on the caller's thread."""
        ...

    @property
    def callbacks_in_txn(self) -> bool:
        """Whether owners can run callbacks inside ops' transactions (local)."""
        ...

    @property
    def spool(self) -> Callable[[DeadLetter], object] | None:
        """What keeps a dead letter the dead-letter table cannot take (and says
        where), or None: the op's error then says it is lost to the store."""
        ...

    @property
    def owners(self) -> int:
        """How many owners serve the tables (a local store's `threads`)."""
        ...

    def table(self, name: str, *, internal: bool = False) -> OpTable:
        """Return table `name` (opening it, or learning its formats, on first use).

        Raises:
            InvalidTableNameError, UnknownTableError, StoreClosedError.
        """
        ...

    def start(
        self,
        reports: OwnerReports,
        scheduler: Scheduler,
        *,
        callbacks_in_txn: bool,
        sync_interval: float,
    ) -> Router:
        """Start the owners, which report to `reports`; return their router."""
        ...

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
        """Create table `name` (see `Store.create_table`), on node `node` where
        tables live on several nodes; return its record."""
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
