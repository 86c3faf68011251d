"""PolicyChooser: a store's retry policies (its own, its tables', an op's)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from actorstore.retry import RetryCallback

if TYPE_CHECKING:
    from actorstore._record import OpRecord
    from actorstore.retry import RetryPolicy

__all__ = ["PolicyChooser"]


class PolicyChooser:
    """Which retry policy applies to an op: the narrowest (op, table, store) wins."""

    def __init__(self, store: RetryPolicy | None) -> None:
        self.store = store
        self._tables: dict[str, RetryPolicy] = {}

    def set_table(self, table: str, policy: RetryPolicy | None) -> None:
        """Set (or, with None, clear) the policy of `table`."""
        if policy is None:
            self._tables.pop(table, None)
        else:
            self._tables[table] = policy

    def for_op(self, op: OpRecord) -> RetryPolicy | None:
        """Return `op`'s policy: its own, else its table's, else the store's."""
        if op.retry is not None:
            return op.retry
        return self._tables.get(op.table, self.store)

    def may_retry(self, op: OpRecord) -> bool:
        """Whether `op` may be run again later (a policy or a `RetryCallback`)."""
        return self.for_op(op) is not None or isinstance(op.callback, RetryCallback)
