"""What crosses the wire in one call to a node owner, and back.

A call is a list of `Group`s, `(table name, ops, sync flags, numbers)`:
the ops of one table in submission order, for each op whether it asked
for SYNC durability, and who sent the ops and their numbers (an
`OpNumbers` as plain data, `OpNumbers.to_wire()`, or None: exactly once,
see `storage._session_records`; a group may also leave it out). The owner runs
each group as one `TableSession.run_group` and answers a `GroupAnswer` per
group: plain lists and a dict, because Ray pickles with cloudpickle, which
makes every object with its own reduction cost about 2 µs (512 `Outcome`s
pickle in 1.2 ms and unpickle in 0.35 ms; their `GroupAnswer` in 0.005 ms).

An op crosses in either of two forms, mixed freely:

- a `WireOp`, `(type, key, value, scan options)` with the raw key and
  value, rebuilt on the node by `build_request` (so encoded a
  second time there). For 512 upserts: 0.14 ms to pickle, 0.12 ms to
  unpickle, and the group runs in 3.0 ms on the node (SYNC);
- a `TableRequest`, as the caller built (and checked) it: it pickles
  as its type, its table's name and formats and its encoded fields, and
  runs as is (`run_group` accepts it if the formats match): 1.4 ms to
  pickle, 0.6 ms to unpickle, 1.75 ms to run.

End to end a 512-op call is ~1 ms faster with `WireOp`s today (see
`actors.cluster.node`). Operations would win if they pickled as a tuple
of their fields (`__reduce__`: 0.8 ms and 0.16 ms in a trial), and they
are what a caller has already built to check its input.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

from actorstore.storage import OpType
from actorstore.storage._requests import Outcome, TableRequest, build_request

if TYPE_CHECKING:
    from actorstore.storage._table import Table

__all__ = [
    "Group",
    "GroupAnswer",
    "WireOp",
    "answer_of",
    "bind_operation",
    "outcomes_of",
    "wire_op",
]

WireOp: TypeAlias = tuple[str, Any, Any, "dict[str, Any] | None"]
"""One op as it crosses the wire: `(type, key, value, scan options or None)`."""

Group: TypeAlias = (
    tuple[str, Sequence["WireOp | TableRequest"], Sequence[bool]]
    | tuple[str, Sequence["WireOp | TableRequest"], Sequence[bool], Any]
)
"""One table's ops in one call: `(table name, ops, sync flags[, numbers])`."""

GroupAnswer: TypeAlias = (
    tuple[list[Any], dict[int, BaseException]]
    | tuple[list[Any], dict[int, BaseException], list[int]]
)
"""One group's outcomes: each op's result (None where it failed), the errors
by op index, and (when there are any) the indices of ops answered from
their session's records (`Outcome.recorded`)."""


def wire_op(
    op_type: OpType | str, key: Any = None, value: Any = None, **options: Any
) -> WireOp:
    """Return op `op_type` as it crosses the wire (`build_request`'s arguments)."""
    kind = op_type.value if isinstance(op_type, OpType) else op_type
    return (kind, key, value, options or None)


def bind_operation(table: Table, op: WireOp | TableRequest) -> TableRequest:
    """Return `op` as an operation on `table`, ready for `run_group`.

    Raises:
        InvalidInputError: (or a subclass) if the op does not fit the table:
            an unknown type, a key or value its codecs refuse.
    """
    if isinstance(op, TableRequest):
        return op
    kind, key, value, options = op
    return build_request(table, kind, key, value, **(options or {}))


def answer_of(outcomes: Sequence[Outcome]) -> GroupAnswer:
    """Return `outcomes` as they cross the wire."""
    results = [outcome.result for outcome in outcomes]
    errors = {i: o.error for i, o in enumerate(outcomes) if o.error is not None}
    recorded = [i for i, o in enumerate(outcomes) if o.recorded]
    return (results, errors, recorded) if recorded else (results, errors)


def outcomes_of(answer: GroupAnswer) -> list[Outcome]:
    """Return the outcomes a `GroupAnswer` carries, one per op in order."""
    results, errors, *recorded = answer
    if not errors:
        outcomes = [Outcome(result) for result in results]
    else:
        outcomes = [Outcome(result, errors.get(i)) for i, result in enumerate(results)]
    for index in recorded[0] if recorded else ():
        outcomes[index].recorded = True
    return outcomes
