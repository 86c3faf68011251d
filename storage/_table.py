"""One table: its LMDB environment and its codecs.

Running groups of ops (and growing the map) is `storage.group_commit`'s
job, compacting the file `storage.compaction`'s; `Table` gives both what
they need through public names and delegates `run_group()` and `compact()`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any, TypeVar

import lmdb

import actorstore.storage._compaction as compaction
import actorstore.storage._group_commit as group_commit
from actorstore.storage._catalog import TableInfo
from actorstore.storage._headroom import Headroom
from actorstore.storage._integrity import CheckResult, find_problem
from actorstore.storage._lmdb import (
    DATA_FILE,
    ResizeGate,
    fsync_directory,
    make_directory,
    open_environment,
    translate,
)
from actorstore.storage._op_numbers import OpNumbers
from actorstore.storage._requests import (
    BeforeCommit,
    Outcome,
    TableRequest,
    count_records,
)
from actorstore.storage._session_records import DEFAULT_WINDOW, SessionRecords
from actorstore.storage._table_codecs import TableCodecs
from actorstore.storage._table_lock import TableLock
from actorstore.storage.durability import Durability
from actorstore.storage.errors import (
    StoreClosedError,
    StoreCorruptedError,
    table_remedy,
)

__all__ = ["Table"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


class Table:
    """A table's LMDB environment, shared by every thread that uses the table.

    Reads and writes go through `TableSession`; this object holds what they
    share: the environment, the codecs, and the gate that lets the map grow
    (LMDB resizes only while no transaction of the process is active).
    """

    def __init__(
        self,
        path: str,
        info: TableInfo,
        *,
        initial_map_size: int,
        max_map_size: int,
        outcome_window: float = DEFAULT_WINDOW,
    ) -> None:
        self.path = path
        self.info = info
        self.name = info.name
        self.max_map_size = max_map_size
        self.codecs = TableCodecs(
            info.name, info.key_format, info.value_format, info.key_encoding
        )
        self.key_codec = self.codecs.key_codec
        self.value_codec = self.codecs.value_codec
        self.data_file = os.path.join(path, DATA_FILE)
        self.gate = ResizeGate()
        self.session_records = SessionRecords(self.name, outcome_window)
        """The outcomes of clients' recent ops (`storage._session_records`)."""
        self._closed = False
        self._fork_map_size: int | None = None
        try:
            make_directory(path)
            self._lock = TableLock(path, self.name)
        except OSError as exc:
            raise translate(
                exc, what="cannot open", table=self.name, path=path
            ) from exc
        try:
            # Holding the lock, no other process compacts: its scratch
            # directory, if any, is what a crash left behind.
            compaction.remove_scratch(path)
            self._verify_after_unclean_shutdown()
            self._env = self._open(min(initial_map_size, max_map_size))
            # Another process may have grown the map already; adopt its size,
            # but not the space kept for removes (see storage.group_commit).
            self._env.set_mapsize(0)
            limit = group_commit.write_limit(max_map_size)
            if int(self._env.info()["map_size"]) > limit:
                self._env.set_mapsize(limit)
            self._headroom = self._new_headroom()
            # What this process knows of the last sync before its own: the
            # file's last write (a NONE table is synced when it is closed).
            self._last_sync = self._modified_at()
            try:
                # A NONE table's record is its unclean-shutdown marker: on
                # disk before the first commit it guards.
                self._lock.register(durable=self.durability is Durability.NONE)
            except OSError as exc:
                raise translate(
                    exc, what="cannot record its holder", table=self.name, path=path
                ) from exc
            self._lock.forget_stale()
            self._lock.share()
        except BaseException:
            self._lock.release()
            raise

    def _verify_after_unclean_shutdown(self) -> None:
        """Walk a NONE table's file if a process died with it open.

        Runs while this process holds the table's lock alone, before LMDB
        maps the file. A SYNC table needs no walk: every commit was synced
        before it counted. A NONE table's last commits may have been only
        partly on disk at a power loss (see `Durability`).

        Raises:
            StoreCorruptedError: if the walk finds damage. The dead holders'
                records stay, so the next open walks again.
        """
        lock = self._lock
        if not (lock.alone and lock.stale_holders):
            return
        if self.durability is not Durability.NONE:
            return
        pids = ", ".join(map(str, lock.stale_holders))
        logger.warning(
            "table %s: process %s died with it open; as a NONE table, the writes "
            "it acknowledged since the table's last sync are lost if the "
            "machine lost power too; verifying the table",
            self.name,
            pids,
        )
        problem = find_problem(self.path)
        if problem is not None:
            raise StoreCorruptedError(
                path=self.path,
                problem=f"after an unclean shutdown (process {pids} died with it "
                f"open), its file fails verification: {problem}",
                table=self.name,
            )

    def _open(self, map_size: int) -> lmdb.Environment:
        return open_environment(
            self.path,
            sync=self.durability is Durability.SYNC,
            map_size=map_size,
            table=self.name,
        )

    def _reopen(self, map_size: int) -> None:
        """Open the environment again (after `close()` of it), headroom too."""
        self._env = self._open(map_size)
        self._headroom = self._new_headroom()

    def _new_headroom(self) -> Headroom | None:
        """SYNC tables keep zeros ahead of their last page (see `Headroom`)."""
        if self.durability is not Durability.SYNC:
            return None
        page_size = int(self._env.stat()["psize"])
        return Headroom(self.data_file, page_size)

    @property
    def durability(self) -> Durability:
        """The table's durability, as recorded in the catalog."""
        return self.info.durability

    @property
    def is_closed(self) -> bool:
        """Whether `close()` was called."""
        return self._closed

    @property
    def env(self) -> lmdb.Environment:
        """The open LMDB environment.

        For storage's group commit and compaction: use it only while holding
        `gate` (shared for transactions, exclusive to resize or replace it).
        """
        return self._env

    # -- encoding: kept for callers of the old API; use `codecs` ----------------

    def encode_key(self, key: Any) -> bytes:
        """Return `key` encoded; same as `codecs.encode_key` (use that)."""
        return self.codecs.encode_key(key)

    def encode_prefix(self, prefix: Any) -> bytes:
        """Return a scan prefix encoded; same as `codecs.encode_prefix` (use that)."""
        return self.codecs.encode_prefix(prefix)

    def encode_value(self, value: Any) -> bytes:
        """Return `value` encoded; same as `codecs.encode_value` (use that)."""
        return self.codecs.encode_value(value)

    def decode_key(self, data: bytes) -> Any:
        """Return the key stored as `data`; same as `codecs.decode_key` (use that)."""
        return self.codecs.decode_key(data)

    def decode_value(self, data: bytes) -> Any:
        """Return the value stored as `data`; same as `codecs.decode_value`."""
        return self.codecs.decode_value(data)

    # -- transactions --------------------------------------------------------------

    def run_group(
        self,
        requests: Sequence[tuple[TableRequest, BeforeCommit | None]],
        numbers: OpNumbers | None = None,
    ) -> list[Outcome]:
        """Run each request in its own transaction, as one group; return outcomes.

        See `storage.group_commit.run_group`: one top-level transaction and
        commit, a child transaction per op (none for plain ops in a group
        without a before_commit); the map grows when it fills. With
        `numbers`, outcomes are recorded by session and resent ops are
        answered from their records (`storage._session_records`).

        Raises:
            InvalidInputError: if an op belongs to another table, or
                `numbers` does not number every op.
            StoreClosedError: if the table is closed when the group starts.
        """
        return group_commit.run_group(self, requests, numbers)

    def check_operations(
        self, requests: Sequence[tuple[TableRequest, BeforeCommit | None]]
    ) -> None:
        """Check that every op of `requests` was built for this table.

        Raises:
            InvalidInputError: for an op of another table (or of this table
                with other formats).
        """
        group_commit.check_operations(self, requests)

    def read(self, fn: Callable[[lmdb.Transaction[bytes]], T]) -> T:
        """Run `fn` in one read transaction and return its result.

        Raises:
            StoreClosedError: if the table is closed.
            StoreBusyError: if LMDB cannot start a reader now.
        """
        gate = self.gate
        gate.enter()  # not `with gate.shared()`: a generator per read costs
        try:
            txn = self.begin(write=False)
            try:
                return fn(txn)
            except lmdb.Error as exc:
                raise translate(
                    exc, what="read failed", table=self.name, path=self.path
                ) from exc
            finally:
                txn.abort()
        finally:
            gate.leave()

    def begin(self, *, write: bool) -> lmdb.Transaction[bytes]:
        """Begin a top-level transaction; the caller holds `gate` shared.

        If another process grew the map, adopt its size and begin again.

        Raises:
            StoreClosedError: if the table is closed.
            StoreBusyError: if LMDB cannot begin now (readers table full).
        """
        if not self._closed:
            try:  # the common case, without the loop below
                return self._env.begin(write=write)
            except lmdb.Error:
                pass  # the loop begins again, and says what failed
        for _ in range(3):
            if self._closed:
                raise StoreClosedError("table", table=self.name)
            try:
                return self._env.begin(write=write)
            except lmdb.MapResizedError:
                self.gate.leave()
                try:
                    with self.gate.exclusive():
                        if not self._closed:
                            self._env.set_mapsize(0)
                finally:
                    self.gate.enter()
            except lmdb.Error as exc:
                raise translate(
                    exc, what="cannot begin", table=self.name, path=self.path
                ) from exc
        raise translate(
            lmdb.MapResizedError("begin"), what="begin", table=self.name, path=self.path
        )

    def before_write(self) -> None:
        """Prepare the file for a write transaction that has just begun.

        A SYNC table tops up its headroom (see `storage._headroom`). Call it
        inside the write transaction, before anything is written in it.
        """
        if self._headroom is not None:
            self._headroom.keep(self._env)

    # -- maintenance -----------------------------------------------------------

    def sync(self) -> None:
        """Flush the table's committed data to disk (`env.sync(True)`).

        Raises:
            StoreClosedError: if the table is closed.
        """
        with self.gate.shared():
            if self._closed:
                raise StoreClosedError("table", table=self.name)
            try:
                self._env.sync(True)
            except lmdb.Error as exc:
                raise translate(
                    exc, what="sync failed", table=self.name, path=self.path
                ) from exc
            self._last_sync = time.time()

    @property
    def last_sync(self) -> float | None:
        """When the table's data was last known on disk (seconds since the
        epoch), or None if it never was.

        A SYNC table syncs every commit, so this is the data file's last
        write. A NONE table's is this process's last `sync()` or, before
        its first, the file's last write when it was opened (a clean close
        syncs; after a crash it may be later than the last real sync).
        """
        if self.durability is Durability.SYNC:
            return self._modified_at()
        return self._last_sync

    def _modified_at(self) -> float | None:
        try:
            return os.path.getmtime(self.data_file)
        except OSError:
            return None

    def stats(self) -> dict[str, Any]:
        """Return the record count, the file, used and map sizes (bytes), and
        `last_sync` (see `last_sync`)."""
        entries = self.read(count_records)
        with self.gate.shared():
            map_size = int(self._env.info()["map_size"])
        return {
            "records": entries,
            "file_size": self.file_size(),
            "used_size": self.used_size(),
            "map_size": map_size,
            "max_map_size": self.max_map_size,
            "last_sync": self.last_sync,
            "durability": self.durability.value,
            "key_format": self.info.key_format,
            "value_format": self.info.value_format,
        }

    def used_size(self) -> int:
        """Return the bytes of the data file in use: up to its last page.

        The file can be longer: a SYNC table keeps zeroed headroom past its
        last page (see `storage._headroom`), and freed pages stay in the file
        until `compact()`.

        Raises:
            StoreClosedError: if the table is closed.
        """
        with self.gate.shared():
            if self._closed:
                raise StoreClosedError("table", table=self.name)
            return self.used_bytes()

    def used_bytes(self) -> int:
        """Return `used_size()` for a caller that holds `gate`."""
        info = self._env.info()
        return (int(info["last_pgno"]) + 1) * int(self._env.stat()["psize"])

    def file_size(self) -> int:
        """Return the size of the table's data file, in bytes."""
        try:
            return os.path.getsize(self.data_file)
        except OSError:
            return 0

    def check(self) -> CheckResult:
        """Verify the whole table and return what was found.

        Walks every page of the file (see `storage.integrity`) while holding
        the table's write transaction, so no process commits meanwhile:
        writers of this table wait until it is done. Never raises for a
        damaged table: the result says what is wrong.

        Raises:
            StoreClosedError: if the table is closed.
        """
        with self.gate.shared():
            txn = self.begin(write=True)
            try:
                records = count_records(txn)
                problem = find_problem(self.path)
            finally:
                txn.abort()
        if problem is None:
            return CheckResult(ok=True, records=records)
        return CheckResult(
            ok=False, records=records, problem=problem, remedy=table_remedy(self.path)
        )

    def compact(self) -> int:
        """Rewrite the data file without its free pages; return bytes reclaimed.

        See `storage.compaction.compact`. Do not compact a table that another
        process has open.

        Raises:
            StoreClosedError: if the table is closed.
            LmdbError: if the copy fails (the old file is kept).
        """
        return compaction.compact(self)

    def hold_alone(self) -> AbstractContextManager[None]:
        """Hold the table alone among processes for the block, or refuse at once.

        While a process has the table open it holds the table's lock shared;
        this takes it exclusively without waiting.

        Raises:
            TableBusyError: (on entering) if another process has the table
                open, naming its pid where known.
        """
        return self._lock.exclusive()

    def replace_data_file(self, new_file: str) -> None:
        """Close the environment, rename `new_file` over the data file, reopen.

        The rename is made durable (the directory is synced). The
        environment is reopened with the same map size even if the rename
        fails. The caller holds `gate` exclusively.

        Raises:
            OSError: if the rename or the sync fails.
        """
        map_size = int(self._env.info()["map_size"])
        self._env.close()
        try:
            os.replace(new_file, self.data_file)
            fsync_directory(self.path)
        finally:
            self._reopen(map_size)

    # -- fork (see storage._fork) ------------------------------------------------

    def before_fork(self, timeout: float) -> None:
        """Close the environment so that a fork()ed child inherits none of it.

        Waits up to `timeout` seconds for the transactions under way; if
        they do not end in time the environment stays open (and the child
        cannot open this table itself). `after_fork_in_parent` reopens it.
        """
        if self._closed or not self.gate.acquire_exclusive(timeout):
            return
        try:
            map_size = int(self._env.info()["map_size"])
            self._env.close()
        except BaseException:
            logger.error("table %s: closing before fork() failed", self.name)
            self.gate.release_exclusive()
            raise
        self._fork_map_size = map_size

    def after_fork_in_parent(self) -> None:
        """Reopen what `before_fork` closed, and let transactions in again."""
        map_size, self._fork_map_size = self._fork_map_size, None
        if map_size is None:
            return
        try:
            self._reopen(map_size)
        except BaseException:
            # The table cannot serve any more; its ops fail with the reason.
            logger.error(
                "table %s: reopening after fork() failed", self.name, exc_info=True
            )
            self._closed = True
        finally:
            self.gate.release_exclusive()

    def after_fork_in_child(self) -> None:
        """In the child: the table is the parent's; let go of its lock.

        Its gate starts afresh (the parent held it across fork()), so the
        child's calls on this table fail with `StoreClosedError` rather
        than wait for ever.
        """
        self._closed = True
        self._fork_map_size = None
        self.gate = ResizeGate()
        self._lock.forget_in_child()

    def close(self) -> None:
        """Sync if needed and close the environment; safe to call twice."""
        with self.gate.exclusive():
            if self._closed:
                return
            self._closed = True
            try:
                if self.durability is not Durability.SYNC:
                    self._env.sync(True)
            finally:
                self._env.close()
                self._lock.release()

    def __repr__(self) -> str:
        return f"<Table {self.name!r} at {self.path!r}>"
