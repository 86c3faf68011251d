"""The seams of an op's path: where an op is handed, what its owner reports to.

```
Submission ──put(op)──▶ Dispatcher ──▶ owner (local: Mailbox → TableOwner,
                                              remote: actors.cluster)
owner ──finish_group(ops, outcomes)──▶ OwnerReports (the store's Outcomes)
```
A second transport for owners (a remote one) implements `Dispatcher` and a
`Router`, and reports to the same `OwnerReports`; nothing else changes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from actorstore.op import Op
    from actorstore.storage._requests import BeforeCommit, Outcome

__all__ = ["Dispatcher", "OwnerReports", "Router"]


class Dispatcher(Protocol):
    """The queue of one owner of tables; ops of a table run in the order put."""

    def put(self, op: Op) -> None:
        """Queue `op` (already checked and counted) for its table's owner.

        Non-blocking; safe from any thread, owner threads included.

        Raises:
            StoreClosedError: if the owner has stopped; the op is not queued.
        """
        ...

    def pending(self, table: str) -> bool:
        """Return whether an op of `table` is queued here or still running."""
        ...

    def close(self) -> list[Op]:
        """Refuse further ops; return those queued that will never run."""
        ...


class Router(Protocol):
    """Which dispatcher serves each table."""

    def dispatcher_for(self, table: str) -> Dispatcher:
        """Return the dispatcher of `table`'s owner (assigning one on first use)."""
        ...


class OwnerReports(Protocol):
    """What an owner calls as it runs a group of ops (the store's Outcomes)."""

    def before_commit(self, op: Op) -> BeforeCommit | None:
        """Return what to run inside `op`'s transaction (its callback), if anything.

        Called only for ops with a callback, and only by owners that run
        callbacks inside transactions.
        """
        ...

    def finish_group(self, ops: list[Op], outcomes: list[Outcome]) -> None:
        """Take over `ops` once their group has ended with `outcomes` (one per op,
        final: committed, or failed); never raises."""
        ...
