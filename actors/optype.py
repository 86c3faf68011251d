"""OpType: what an op does."""

from __future__ import annotations

import enum

__all__ = ["OpType"]


class OpType(enum.Enum):
    """The type of an op, as WiredTiger's async API names them."""

    INSERT = "insert"
    UPDATE = "update"
    UPSERT = "upsert"
    REMOVE = "remove"
    SEARCH = "search"
    EXISTS = "exists"
    COUNT = "count"
    SCAN = "scan"
    BATCH = "batch"
    COMPACT = "compact"

    @property
    def writes(self) -> bool:
        """Whether ops of this type change data."""
        return self in _WRITES


_WRITES = frozenset(
    {OpType.INSERT, OpType.UPDATE, OpType.UPSERT, OpType.REMOVE, OpType.BATCH}
)
