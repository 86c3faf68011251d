"""Group commit: a group of ops, each its own child transaction, one top-level commit.

A group fills the map now and then; growing it (up to the table's maximum)
is part of running a group, so it lives here too.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import lmdb

from storage._lmdb import ResizeGate, translate
from storage.errors import (
    InvalidInputError,
    OpVetoedError,
    StoreClosedError,
    StoreError,
    StoreFullError,
)
from storage.operations import BeforeCommit, Operation, Outcome

if TYPE_CHECKING:
    from storage.codecs import TableCodecs

__all__ = ["GroupHost", "check_operations", "grow", "run_group"]

logger = logging.getLogger(__name__)

Requests = Sequence[tuple[Operation, BeforeCommit | None]]


class GroupHost(Protocol):
    """What group commit needs of a table (`Table` is one)."""

    @property
    def name(self) -> str:
        """The table's name."""
        ...

    @property
    def path(self) -> str:
        """The table's directory."""
        ...

    @property
    def codecs(self) -> TableCodecs:
        """The table's codecs; ops must have been built with equal ones."""
        ...

    @property
    def max_map_size(self) -> int:
        """The size the map may grow to, in bytes."""
        ...

    @property
    def gate(self) -> ResizeGate:
        """Held shared by every transaction, exclusive by a resize."""
        ...

    @property
    def env(self) -> lmdb.Environment:
        """The open environment."""
        ...

    @property
    def is_closed(self) -> bool:
        """Whether the table is closed."""
        ...

    def begin(self, *, write: bool) -> lmdb.Transaction[bytes]:
        """Begin a top-level transaction; the caller holds the gate shared."""
        ...

    def before_write(self) -> None:
        """Prepare the file for a write transaction that has just begun."""
        ...


def check_operations(host: GroupHost, requests: Requests) -> None:
    """Check that every op of `requests` was built for `host`'s table.

    An op from another process (unpickled) passes if its codecs name this
    table with the same formats.

    Raises:
        InvalidInputError: for an op of another table (or of this table
            with other formats).
    """
    codecs = host.codecs
    for op, _ in requests:
        if op.codecs is not codecs and op.codecs != codecs:
            theirs = op.codecs
            formats = (
                ""
                if theirs.name != host.name
                else f" with key_format={theirs.key_format!r}, value_format="
                f"{theirs.value_format!r}, not {codecs.key_format!r}, "
                f"{codecs.value_format!r}"
            )
            raise InvalidInputError(
                f"op for table {theirs.name!r}{formats} given to the session "
                f"of table {host.name!r}; build it with that table's codecs",
                table=host.name,
            )


def run_group(host: GroupHost, requests: Requests) -> list[Outcome]:
    """Run each request in its own transaction, as one group; return outcomes.

    Writes run as one top-level write transaction in which each op is a
    nested (child) transaction that commits or aborts alone; one top-level
    commit (one fsync on a SYNC table) makes the group durable. A group of
    only reads shares one read transaction. An outcome is final when this
    returns: if the top-level commit fails, every op it held fails with that
    error.

    When the map fills, what ran so far is committed, the map grows and the
    op that hit the limit is redone; a `before_commit` function can
    therefore run twice only if the top-level commit itself hits the limit.
    At `max_map_size`, the ops that do not fit fail with `StoreFullError`
    and the others still run. If a later pass cannot start (the table was
    closed, the map could not grow), the ops it would have run fail with
    that error and the ones already committed keep their outcomes: this does
    not raise once anything may have committed.

    Raises:
        InvalidInputError: if an op belongs to another table.
        StoreClosedError: if the table is closed when the group starts.
    """
    check_operations(host, requests)
    if host.is_closed:
        raise StoreClosedError("table", table=host.name)
    outcomes: list[Outcome | None] = [None] * len(requests)
    try:
        if not any(op.writes for op, _ in requests):
            _run_reads(host, requests, outcomes)
        else:
            done = 0
            while done < len(requests):
                done = _run_writes(host, requests, outcomes, done)
    except (StoreError, lmdb.Error) as exc:
        failed = Outcome(
            error=translate(exc, what="group failed", table=host.name, path=host.path)
        )
        outcomes = [failed if o is None else o for o in outcomes]
    return outcomes  # type: ignore[return-value]


def _run_reads(
    host: GroupHost, requests: Requests, outcomes: list[Outcome | None]
) -> None:
    with host.gate.shared():
        txn = host.begin(write=False)
        try:
            for index, (op, before_commit) in enumerate(requests):
                outcomes[index] = _run_one(op, before_commit, txn, host.path)
        finally:
            txn.abort()


def _run_writes(
    host: GroupHost, requests: Requests, outcomes: list[Outcome | None], start: int
) -> int:
    """Run requests from `start` in one top-level txn; return where it stopped."""
    index = start
    map_full = commit_full = False
    with host.gate.shared():
        parent = host.begin(write=True)
        begin = host.env.begin
        try:
            host.before_write()
            for op, before_commit in requests[start:]:
                child = begin(write=True, parent=parent)
                outcome = _run_one(op, before_commit, child, host.path)
                if outcome.error is None:
                    child.commit()
                elif isinstance(outcome.error, lmdb.MapFullError):
                    child.abort()
                    map_full = True
                    break
                else:
                    child.abort()
                outcomes[index] = outcome
                index += 1
        except BaseException:
            parent.abort()
            raise
        try:
            parent.commit()
        except lmdb.MapFullError:
            commit_full = True  # nothing of this group landed
        except lmdb.Error as exc:
            error = translate(
                exc, what="commit failed", table=host.name, path=host.path
            )
            for i in range(start, index):
                outcomes[i] = Outcome(error=error)
        if not (map_full or commit_full):
            return index
        full_size = int(host.env.info()["map_size"])
    try:
        grow(host, full_size)
    except StoreFullError as exc:
        # At the maximum, what does not fit fails: the op that hit the
        # limit, or every op the failed top-level commit held (none of
        # them landed). Ops committed before keep their outcomes and the
        # rest still run (they may fit), so no outcome is lost or wrong.
        stop = max(index, start + 1) if commit_full else index + 1
        for i in range(start if commit_full else index, stop):
            outcomes[i] = Outcome(error=exc)
        return stop
    return start if commit_full else index


def grow(host: GroupHost, full_size: int) -> None:
    """Double the map that filled at `full_size` bytes, up to `max_map_size`.

    If another thread grew the map meanwhile, this does nothing: the op that
    hit the limit is redone in the larger map. The caller must not hold the
    gate (a resize needs it exclusively).

    Raises:
        StoreFullError: if the map is already at its maximum.
        StoreClosedError: if the table was closed.
    """
    with host.gate.exclusive():
        if host.is_closed:
            raise StoreClosedError("table", table=host.name)
        env = host.env
        size = env.info()["map_size"]
        if size > full_size:
            return
        if size >= host.max_map_size:
            raise StoreFullError(table=host.name, max_map_size=host.max_map_size)
        new_size = min(size * 2, host.max_map_size)
        logger.debug("table %s: map grows to %d bytes", host.name, new_size)
        try:
            env.set_mapsize(new_size)
        except lmdb.Error as exc:
            raise translate(
                exc, what="cannot grow", table=host.name, path=host.path
            ) from exc


def _run_one(
    op: Operation,
    before_commit: BeforeCommit | None,
    txn: lmdb.Transaction[bytes],
    path: str,
) -> Outcome:
    """Run `op` and its `before_commit` in `txn`; the caller commits or aborts."""
    try:
        result = op.run(txn)
        if before_commit is not None and before_commit(result) is False:
            raise OpVetoedError(table=op.codecs.name, key=op.key)
    except lmdb.MapFullError as exc:
        return Outcome(error=exc)  # the caller grows the map and redoes the op
    except lmdb.Error as exc:
        return Outcome(
            error=translate(exc, what="op failed", table=op.codecs.name, path=path)
        )
    except BaseException as exc:  # noqa: BLE001 - the op's own error is its outcome
        # Even SystemExit from user code in a callback fails only its op: it
        # must not unwind a worker in the middle of a transaction.
        return Outcome(error=exc)
    return Outcome(result=result)
