"""What one call to a node owner carries: per-table groups of ops, and how they bind.

A call is a list of `Group`s, `(table name, ops, sync flags)`: the ops of
one table in submission order, and for each op whether it asked for SYNC
durability. The owner runs each group as one `TableSession.run_group`.

For now an op crosses the wire as a `WireOp`, its type and raw (decoded)
key, value and scan options, and is rebuilt on the node by
`storage.build_operation` (so the node checks it again with the table's
own codecs). Once `storage` operations pickle (type, table name, formats
and encoded fields), a group may carry them directly: `bind_operation`
passes any `storage.Operation` through unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, TypeAlias

from storage import Operation, OpType, build_operation

if TYPE_CHECKING:
    from storage import Table

__all__ = ["Group", "WireOp", "bind_operation"]


class WireOp(NamedTuple):
    """One op as it crosses the wire: its type and raw arguments."""

    type: str
    key: Any = None
    value: Any = None
    options: dict[str, Any] | None = None

    @classmethod
    def of(
        cls, op_type: OpType | str, key: Any = None, value: Any = None, **options: Any
    ) -> WireOp:
        """Return the op `op_type` with `build_operation`'s arguments."""
        kind = op_type.value if isinstance(op_type, OpType) else op_type
        return cls(kind, key, value, options or None)


Group: TypeAlias = tuple[str, Sequence[WireOp | Operation], Sequence[bool]]
"""One table's ops in one call: `(table name, ops, sync flags)`."""


def bind_operation(table: Table, op: WireOp | Operation) -> Operation:
    """Return `op` as an operation on `table`, ready for `run_group`.

    Raises:
        InvalidInputError: (or a subclass) if the op does not fit the table:
            an unknown type, a key or value its codecs refuse.
    """
    if isinstance(op, Operation):
        return op
    return build_operation(table, op.type, op.key, op.value, **(op.options or {}))
