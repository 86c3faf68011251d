"""TableSession: one thread's handle on a table; every op is one transaction."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from actorstore.storage._requests import (
    Batch,
    BeforeCommit,
    Compact,
    Count,
    Exists,
    Insert,
    Outcome,
    Remove,
    Scan,
    Search,
    TableRequest,
    Update,
    Upsert,
)
from actorstore.storage.durability import Durability
from actorstore.storage.errors import InvalidInputError, StoreClosedError, StoreError

if TYPE_CHECKING:
    from actorstore.storage._op_numbers import OpNumbers
    from actorstore.storage._table import Table

__all__ = ["TableSession"]


class TableSession:
    """Run ops on one table, each in exactly one LMDB transaction.

    A session belongs to the first thread that uses it (LMDB write
    transactions must begin, run and commit on one thread); open one session
    per thread. Write ops take an optional `before_commit(result)` function
    that runs inside the transaction: raising, or returning False, rolls the
    op back and the op fails.
    """

    def __init__(self, table: Table) -> None:
        self.table = table
        self._thread: int | None = None

    @property
    def name(self) -> str:
        """The table's name."""
        return self.table.name

    @property
    def durability(self) -> Durability:
        """The table's durability, as recorded in the catalog."""
        return self.table.durability

    @property
    def is_closed(self) -> bool:
        """Whether the table is closed (a new session is then needed)."""
        return self.table.is_closed

    def run(self, op: TableRequest, before_commit: BeforeCommit | None = None) -> Any:
        """Run one prepared op in its own transaction and return its result.

        Raises:
            StoreError: the op's own error (e.g. `NotFoundError`).
        """
        (outcome,) = self.run_group([(op, before_commit)])
        if outcome.error is not None:
            raise outcome.error
        return outcome.result

    def run_group(
        self,
        requests: Sequence[tuple[TableRequest, BeforeCommit | None]],
        numbers: OpNumbers | None = None,
    ) -> list[Outcome]:
        """Run many ops as one group: one top-level transaction and commit.

        Each op commits or aborts alone (in a child transaction of its own,
        or, when it cannot matter, straight: see `storage.group_commit`).
        Returns one `Outcome` per request, final once this returns. A
        `Compact` in the group runs in its place: the ops before it commit
        first, then the table is compacted, then the ops after it run as a
        group of their own.

        An op unpickled from another process is accepted if its codecs
        name this table with the same formats. With `numbers` (who sent
        each op, and its number), outcomes are recorded by session in the
        same transactions, and an op sent again is answered from its record
        instead of running twice (`storage._session_records`).

        Raises:
            InvalidInputError: if an op belongs to another table, `numbers`
                does not number every op, or the session is used from a
                thread that is not its own.
            StoreClosedError: if the table is closed when the group starts
                (the ops after a compaction fail with it instead, if the
                table closed meanwhile).
        """
        self._check_thread()
        for op, _ in requests:
            if type(op) is Compact:
                break
        else:  # no compaction: one group (which checks the ops and the table)
            return self.table.run_group(requests, numbers)
        self.table.check_operations(requests)
        if self.table.is_closed:
            raise StoreClosedError("table", table=self.name)
        outcomes: list[Outcome] = []
        start = 0
        for index, (op, _) in enumerate(requests):
            if type(op) is Compact:
                if start < index:
                    outcomes += self._run_part(requests, start, index, numbers)
                outcomes.append(self._compact_outcome())
                start = index + 1
        if start < len(requests):
            outcomes += self._run_part(requests, start, len(requests), numbers)
        return outcomes

    def _run_part(
        self,
        requests: Sequence[tuple[TableRequest, BeforeCommit | None]],
        start: int,
        stop: int,
        numbers: OpNumbers | None,
    ) -> list[Outcome]:
        """Run the ops between compactions as a group; if it cannot start (the
        table was closed meanwhile), each fails with why rather than the
        error being raised: the ops before them may have committed, and keep
        their outcomes."""
        part = requests[start:stop]
        try:
            return self.table.run_group(
                part, None if numbers is None else numbers.part(start, stop)
            )
        except StoreError as exc:
            return [Outcome(error=exc) for _ in part]

    def _compact_outcome(self) -> Outcome:
        try:
            return Outcome(result=self.table.compact())
        except Exception as exc:  # noqa: BLE001 - the op's error is its outcome
            return Outcome(error=exc)

    def _check_thread(self) -> None:
        ident = threading.get_ident()
        if self._thread is None:
            self._thread = ident
        elif self._thread != ident:
            raise InvalidInputError(
                f"the session of table {self.name!r} belongs to another thread; "
                "open one session per thread",
                table=self.name,
            )

    def insert(
        self, key: Any, value: Any, before_commit: BeforeCommit | None = None
    ) -> None:
        """Insert a new record.

        Raises:
            KeyExistsError: if `key` is present; use `update()` or `upsert()`.
        """
        self.run(Insert(self.table.codecs, key, value), before_commit)

    def update(
        self, key: Any, value: Any, before_commit: BeforeCommit | None = None
    ) -> None:
        """Replace the value of an existing record.

        Raises:
            NotFoundError: if `key` is absent; use `insert()` or `upsert()`.
        """
        self.run(Update(self.table.codecs, key, value), before_commit)

    def upsert(
        self, key: Any, value: Any, before_commit: BeforeCommit | None = None
    ) -> None:
        """Write a record, replacing any present one."""
        self.run(Upsert(self.table.codecs, key, value), before_commit)

    def remove(self, key: Any, before_commit: BeforeCommit | None = None) -> None:
        """Delete a record.

        Raises:
            NotFoundError: if `key` is absent.
        """
        self.run(Remove(self.table.codecs, key), before_commit)

    def search(self, key: Any) -> Any:
        """Return the value stored under `key`.

        Raises:
            NotFoundError: if `key` is absent.
        """
        return self.run(Search(self.table.codecs, key))

    def exists(self, key: Any) -> bool:
        """Return whether `key` is present."""
        return bool(self.run(Exists(self.table.codecs, key)))

    def count(self) -> int:
        """Return the number of records."""
        return int(self.run(Count(self.table.codecs)))

    def scan(
        self,
        prefix: Any = None,
        start: Any = None,
        end: Any = None,
        limit: int | None = None,
        reverse: bool = False,
    ) -> list[tuple[Any, Any]]:
        """Return `(key, value)` pairs in key order (descending if `reverse`).

        `prefix` keeps keys that start with it; `start` is inclusive, `end`
        exclusive; `limit` caps the number of pairs.
        """
        op = Scan(
            self.table.codecs,
            prefix=prefix,
            start=start,
            end=end,
            limit=limit,
            reverse=reverse,
        )
        result: list[tuple[Any, Any]] = self.run(op)
        return result

    def batch(
        self, writes: Iterable[Sequence[Any]], before_commit: BeforeCommit | None = None
    ) -> int:
        """Apply writes `[("upsert", k, v), ("remove", k), ...]` in one transaction.

        All or nothing: if one write fails, none is applied. Returns the
        number of writes applied.

        Raises:
            InvalidInputError: for an unknown kind or a malformed item,
                before anything is written.
            KeyExistsError, NotFoundError: from the write that failed.
        """
        return int(self.run(Batch(self.table.codecs, writes), before_commit))

    def sync(self) -> None:
        """Flush the table's committed data to disk."""
        self.table.sync()

    def make_durable(
        self,
        operations: Sequence[TableRequest | None],
        wants_sync: Sequence[bool],
        outcomes: list[Outcome],
        on_write: Callable[[], object],
    ) -> bool:
        """Keep the durability promise of a group this session just ran; return
        whether the table was synced here (nothing of it is left to sync).

        A SYNC table has nothing to do: its commit synced. On a NONE table
        the group wrote to, `on_write()` is called first (the table now has
        commits to sync later; if the sync below fails, a later one tries
        again), then, if an op that wrote asked for SYNC (`wants_sync`), the
        table is synced at once; if that fails, each op that asked fails
        with the error (its outcome is replaced).
        """
        if self.table.durability is Durability.SYNC:
            return False
        wrote = sync = False
        for operation, asked, outcome in zip(
            operations, wants_sync, outcomes, strict=True
        ):
            if outcome.error is None and operation is not None and operation.writes:
                wrote = True
                if asked:
                    sync = True
                    break
        if not wrote:
            return False
        on_write()
        if not sync:
            return False
        try:
            self.table.sync()
        except Exception as exc:  # noqa: BLE001 - the ops that asked for the sync fail
            for index, asked in enumerate(wants_sync):
                if asked and outcomes[index].ok:
                    outcomes[index] = Outcome(error=exc)
            return False
        return True

    def compact(self) -> int:
        """Rewrite the table's file without its free pages; return bytes reclaimed.

        Raises:
            LmdbError: if the copy fails (the old file is kept).
        """
        self._check_thread()
        return self.table.compact()

    def __repr__(self) -> str:
        return f"<TableSession {self.name!r}>"
