"""Group commit: a group of ops in one top-level transaction, one commit.

Each op runs in a child transaction of its own, which commits or aborts
alone; when no op of the group has a before_commit, the plain ops (see
`TableRequest.single_write`) run straight in the top-level transaction.

A group fills the map now and then; growing it (up to the table's maximum)
is part of running a group, so it lives here too.

The last `reserve_size()` bytes below the maximum are kept for removes.
Removing needs pages too (LMDB copies every page it changes, and pages freed
by a transaction are reused only by later ones), so a table filled to its
very last page could never be emptied. Other writes stop at
`write_limit()`; an op that only removes (a remove, or a batch of removes)
may grow the map into the reserve, up to `max_map_size`. After such a
group the map is brought back down to the write limit (LMDB keeps at least
the pages in use), so other writes cannot eat the reserve.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

import lmdb

from actorstore.storage._lmdb import ResizeGate, translate
from actorstore.storage._requests import (
    Batch,
    BeforeCommit,
    Outcome,
    Remove,
    TableRequest,
)
from actorstore.storage.errors import (
    InvalidInputError,
    OpVetoedError,
    StoreClosedError,
    StoreError,
    StoreFullError,
)

if TYPE_CHECKING:
    from actorstore.storage._op_numbers import OpNumbers
    from actorstore.storage._session_records import GroupRecords, SessionRecords
    from actorstore.storage._table_codecs import TableCodecs

__all__ = [
    "GroupHost",
    "check_operations",
    "grow",
    "remove_batch",
    "reserve_size",
    "run_group",
    "write_limit",
]

logger = logging.getLogger(__name__)

Requests = Sequence[tuple[TableRequest, BeforeCommit | None]]

_MIN_RESERVE = 256 << 10
_MAX_RESERVE = 64 << 20


def reserve_size(max_map_size: int) -> int:
    """Return the bytes below `max_map_size` kept for removes.

    A sixteenth of the map, between 256 KiB and 64 MiB (and at most a
    quarter of the map): room for a batch of 100 neighbouring keys (the
    batch size `StoreFullError` advises) in the smallest maps, far more in
    large ones.
    """
    reserve = min(max(max_map_size // 16, _MIN_RESERVE), _MAX_RESERVE)
    return min(reserve, max_map_size // 4)


def remove_batch(max_map_size: int) -> int:
    """Return how many keys a batch of removes at the limit may safely hold.

    Measured: removing random keys needs up to about 1.5 new pages per key
    (a copy of each leaf, its branches, the free list), and two batches in a
    row cannot reuse each other's freed pages; so a third of the reserve's
    pages, rounded down to one significant digit.
    """
    keys = max(1, reserve_size(max_map_size) // (3 * 4096))
    scale: int = 10 ** (len(str(keys)) - 1)
    return keys // scale * scale


def write_limit(max_map_size: int) -> int:
    """Return how large writes other than removes may grow the map."""
    return max_map_size - reserve_size(max_map_size)


def only_removes(op: TableRequest) -> bool:
    """Whether `op` only removes records (so it may use the reserve)."""
    kind = type(op)
    if kind is Remove:
        return True
    if kind is Batch:
        batch: Batch = op  # type: ignore[assignment]
        return batch.only_removes()
    return False


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

    @property
    def session_records(self) -> SessionRecords:
        """The table's session records (exactly once: `storage._session_records`)."""
        ...

    def begin(self, *, write: bool) -> lmdb.Transaction[bytes]:
        """Begin a top-level transaction; the caller holds the gate shared."""
        ...

    def read(self, fn: Callable[[lmdb.Transaction[bytes]], None]) -> None:
        """Run `fn` in one read transaction (the gate held shared)."""
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


def run_group(
    host: GroupHost, requests: Requests, numbers: OpNumbers | None = None
) -> list[Outcome]:
    """Run each request in its own transaction, as one group; return outcomes.

    Writes run as one top-level write transaction in which each op is a
    nested (child) transaction that commits or aborts alone, or, when no op
    of the group has a `before_commit`, each plain op (`single_write`) runs
    straight in it; one top-level commit (one fsync on a SYNC table) makes
    the group durable. A group of only reads shares one read transaction.
    An outcome is final when this returns: if the top-level commit fails,
    every op it held fails with that error.

    When the map fills, what ran so far is committed, the map grows and the
    op that hit the limit is redone; a `before_commit` function can
    therefore run twice only if the top-level commit itself hits the limit.
    At the map's limit (see the module docstring), the ops that do not fit
    fail with `StoreFullError` and the others still run; if a top-level
    commit of many ops does not fit, they are redone one per commit. If a
    later pass cannot start (the table was closed, the map could not grow),
    the ops it would have run fail with that error and the ones already
    committed keep their outcomes: this does not raise once anything may
    have committed.

    With `numbers` (who sent each op, and its number), each top-level
    transaction also records its ops' outcomes by session, and an op sent
    again is answered from its record instead of running twice (see
    `storage._session_records`).

    Raises:
        InvalidInputError: if an op belongs to another table, or `numbers`
            does not number every op.
        StoreClosedError: if the table is closed when the group starts.
    """
    check_operations(host, requests)
    if host.is_closed:
        raise StoreClosedError("table", table=host.name)
    outcomes: list[Outcome | None] = [None] * len(requests)
    try:
        for op, _ in requests:
            if op.writes:
                records = (
                    None
                    if numbers is None
                    else host.session_records.group(requests, numbers)
                )
                _run_all_writes(host, requests, outcomes, records)
                break
        else:
            _run_reads(host, requests, outcomes)
    except (StoreError, lmdb.Error) as exc:
        failed = Outcome(
            error=translate(exc, what="group failed", table=host.name, path=host.path)
        )
        outcomes = [failed if o is None else o for o in outcomes]
    return outcomes  # type: ignore[return-value]


def _run_reads(
    host: GroupHost, requests: Requests, outcomes: list[Outcome | None]
) -> None:
    path = host.path

    def run_all(txn: lmdb.Transaction[bytes]) -> None:
        for index, (op, before_commit) in enumerate(requests):
            outcomes[index] = _run_one(op, before_commit, txn, path)

    host.read(run_all)


def _run_all_writes(
    host: GroupHost,
    requests: Requests,
    outcomes: list[Outcome | None],
    records: GroupRecords | None,
) -> None:
    """Run the writes of a group in as few top-level transactions as fit."""
    done = 0
    size = len(requests)  # ops per top-level transaction
    into_reserve = False
    # A child transaction per op costs its owner about a quarter of a plain
    # upsert (0.7 of 2.9 us); only ops that could leave half their work
    # behind need one. With a
    # before_commit anywhere, every op has its own child, so that no pass is
    # ever redone over a before_commit that already ran.
    children = not all(
        before_commit is None and op.single_write for op, before_commit in requests
    )
    try:
        while done < len(requests):
            try:
                done, grew, tight = _run_writes(
                    host, requests, outcomes, done, size, records, children=children
                )
            except _RedoWithChildren:
                children = True  # nothing of the pass landed: redo it with children
                continue
            into_reserve = into_reserve or grew
            if tight:
                # At the limit, a top-level commit holding many ops did not
                # fit: one op per commit then, so that each can use the pages
                # the commits before it freed.
                size = 1
    finally:
        if into_reserve:  # even when a later pass failed
            _leave_reserve(host)


def _run_writes(
    host: GroupHost,
    requests: Requests,
    outcomes: list[Outcome | None],
    start: int,
    size: int,
    records: GroupRecords | None,
    *,
    children: bool,
) -> tuple[int, bool, bool]:
    """Run up to `size` requests from `start` in one top-level txn.

    Each op runs in a child transaction of its own if `children`, else
    straight in the top-level one (see `TableRequest.single_write`). With
    `records`, resent ops are answered from their session records first,
    and the outcomes are recorded in the same transaction.

    Returns where it stopped, whether the map grew past the write limit
    (for removes), and whether the pass must be redone one op at a time.

    Raises:
        _RedoWithChildren: if an op run straight failed with an exception
            but a `StoreError` of its own (the pass was aborted).
    """
    index = start
    map_full = commit_full = False
    # The whole group, unless a pass redoes part of it (growth, the limit).
    todo = requests[start : start + size] if start or size < len(requests) else requests
    gate = host.gate
    gate.enter()  # not `with gate.shared()`: a generator per group costs
    try:
        parent = host.begin(write=True)
        begin = host.env.begin
        path = host.path
        try:
            host.before_write()
            if records is not None:
                todo = records.answer(host.env, parent, todo, start)
            if not children:
                index = _run_straight(todo, parent, outcomes, index)
            for op, before_commit in todo if children else ():
                child = begin(write=True, parent=parent)
                outcome = _run_one(op, before_commit, child, path)
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
            _forget(outcomes, start, len(todo))  # nothing of this pass lands
            parent.abort()
            raise
        try:
            if records is not None:
                _record(records, host.env, parent, start, index, outcomes)
            parent.commit()
        except lmdb.MapFullError:
            commit_full = True
            _forget(outcomes, start, index - start)  # nothing of this pass landed
        except lmdb.Error as exc:
            error = translate(
                exc, what="commit failed", table=host.name, path=host.path
            )
            for i in range(start, index):
                outcomes[i] = Outcome(error=error)
        if not (map_full or commit_full):
            return index, False, False
        full_size = int(host.env.info()["map_size"])
    finally:
        gate.leave()
    if commit_full:  # all of the pass is redone, and the op that filled the map
        redone = requests[start : index + 1 if map_full else index]
        removes = all(only_removes(op) for op, _ in redone)
    else:
        removes = only_removes(requests[index][0])
    try:
        grow(host, full_size, removes=removes)
    except StoreFullError as exc:
        if commit_full and index - start > 1:
            return start, False, True  # redo them one per commit
        # What does not fit fails: the op that hit the limit, or the one op
        # whose top-level commit failed (nothing of it landed). Ops
        # committed before keep their outcomes and the rest still run
        # (they may fit), so no outcome is lost or wrong.
        failed = start if commit_full else index
        outcomes[failed] = Outcome(error=exc)
        return failed + 1, False, False
    return (start if commit_full else index), removes, False


def grow(host: GroupHost, full_size: int, *, removes: bool = False) -> None:
    """Double the map that filled at `full_size` bytes, up to its limit.

    The limit is `write_limit()`, or `max_map_size` when the op that hit it
    only `removes` (see the module docstring). If another thread grew the
    map meanwhile, this does nothing: the op that hit the limit is redone in
    the larger map. The caller must not hold the gate (a resize needs it
    exclusively).

    Raises:
        StoreFullError: if the map is already at its limit.
        StoreClosedError: if the table was closed.
    """
    limit = host.max_map_size if removes else write_limit(host.max_map_size)
    with host.gate.exclusive():
        if host.is_closed:
            raise StoreClosedError("table", table=host.name)
        env = host.env
        size = env.info()["map_size"]
        if size > full_size:
            return
        if size >= limit:
            raise StoreFullError(
                table=host.name,
                max_map_size=host.max_map_size,
                remove_batch=remove_batch(host.max_map_size),
            )
        new_size = min(size * 2, limit)
        logger.debug("table %s: map grows to %d bytes", host.name, new_size)
        try:
            env.set_mapsize(new_size)
        except lmdb.Error as exc:
            raise translate(
                exc, what="cannot grow", table=host.name, path=host.path
            ) from exc


def _leave_reserve(host: GroupHost) -> None:
    """Bring the map back down to the write limit after removes grew it."""
    limit = write_limit(host.max_map_size)
    with host.gate.exclusive():
        if host.is_closed or int(host.env.info()["map_size"]) <= limit:
            return
        try:
            host.env.set_mapsize(limit)  # LMDB keeps at least the pages in use
        except lmdb.Error as exc:
            logger.debug("table %s: map stays in the reserve: %r", host.name, exc)


def _forget(outcomes: list[Outcome | None], start: int, count: int) -> None:
    """Clear the outcomes of `count` ops from `start`, whose pass was aborted:
    they are redone, or fail with what stopped the group (see `run_group`)."""
    outcomes[start : start + count] = [None] * count


def _record(
    records: GroupRecords,
    env: lmdb.Environment,
    txn: lmdb.Transaction[bytes],
    start: int,
    stop: int,
    outcomes: list[Outcome | None],
) -> None:
    """Record the pass's outcomes in `txn`; if that fails, abort `txn` (its
    caller then handles the error as the commit's own)."""
    try:
        records.record(env, txn, start, stop, outcomes)
    except BaseException:
        txn.abort()
        raise


class _RedoWithChildren(Exception):
    """An op run straight in the top-level transaction failed in a way that
    may have left part of it there: the pass is aborted and redone with a
    child transaction per op (which handles a full map, and the rest)."""


def _run_straight(
    todo: Requests,
    txn: lmdb.Transaction[bytes],
    outcomes: list[Outcome | None],
    index: int,
) -> int:
    """Run each op of `todo` (all `single_write`, none with a before_commit)
    straight in `txn`; return the index after the last.

    Raises:
        _RedoWithChildren: if an op fails with an exception but a
            `StoreError` of its own (raised before it wrote anything).
    """
    for op, _ in todo:
        try:
            outcome = Outcome(result=op.run(txn))
        except StoreError as exc:  # its own error: it wrote nothing
            outcome = Outcome(error=exc)
        except Exception:  # noqa: BLE001 - LMDB's, say: redone with children
            raise _RedoWithChildren from None
        # An interrupt (KeyboardInterrupt, SystemExit) goes on up: the pass is
        # aborted and nothing of it lands, as anywhere else in a group's run.
        outcomes[index] = outcome
        index += 1
    return index


def _run_one(
    op: TableRequest,
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
