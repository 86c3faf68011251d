"""One table: its LMDB environment, its codecs and its growth."""

from __future__ import annotations

import logging
import os
import shutil
import stat
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import lmdb

from storage._headroom import Headroom
from storage._lmdb import (
    DIR_MODE,
    ResizeGate,
    make_directory,
    open_environment,
    translate,
)
from storage.catalog import TableInfo
from storage.codecs import MAX_KEY_SIZE, TableCodecs
from storage.durability import Durability
from storage.errors import (
    InvalidInputError,
    OpVetoedError,
    StoreClosedError,
    StoreError,
    StoreFullError,
)
from storage.operations import BeforeCommit, Operation, Outcome

__all__ = ["MAX_KEY_SIZE", "Table"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

_DATA_FILE = "data.mdb"
_COMPACT_DIR = "compact.tmp"


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
    ) -> None:
        self.path = path
        self.info = info
        self.name = info.name
        self.max_map_size = max_map_size
        self.codecs = TableCodecs(info.name, info.key_format, info.value_format)
        self.key_codec = self.codecs.key_codec
        self.value_codec = self.codecs.value_codec
        self._gate = ResizeGate()
        self._lock = threading.Lock()
        self._closed = False
        make_directory(path)
        shutil.rmtree(os.path.join(path, _COMPACT_DIR), ignore_errors=True)
        self._env = open_environment(
            path,
            sync=info.durability is Durability.SYNC,
            map_size=min(initial_map_size, max_map_size),
        )
        # Another process may have grown the map already; adopt its size.
        self._env.set_mapsize(0)
        self._headroom = self._new_headroom()

    def _new_headroom(self) -> Headroom | None:
        """SYNC tables keep zeros ahead of their last page (see `Headroom`)."""
        if self.durability is not Durability.SYNC:
            return None
        page_size = int(self._env.stat()["psize"])
        return Headroom(os.path.join(self.path, _DATA_FILE), page_size)

    @property
    def durability(self) -> Durability:
        """The table's durability, as recorded in the catalog."""
        return self.info.durability

    @property
    def is_closed(self) -> bool:
        """Whether `close()` was called."""
        return self._closed

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
        self, requests: Sequence[tuple[Operation, BeforeCommit | None]]
    ) -> list[Outcome]:
        """Run each request in its own transaction, as one group; return outcomes.

        Writes run as one top-level write transaction in which each op is a
        nested (child) transaction that commits or aborts alone; one top-level
        commit (one fsync on a SYNC table) makes the group durable. A group of
        only reads shares one read transaction. An outcome is final when this
        returns: if the top-level commit fails, every op it held fails with
        that error.

        When the map fills, what ran so far is committed, the map grows and
        the op that hit the limit is redone; a `before_commit` function can
        therefore run twice only if the top-level commit itself hits the limit.
        At `max_map_size`, the ops that do not fit fail with `StoreFullError`
        and the others still run. If a later pass cannot start (the table was
        closed, the map could not grow), the ops it would have run fail with
        that error and the ones already committed keep their outcomes: this
        does not raise once anything may have committed.

        An op may come from another process (unpickled): it is accepted if
        its codecs name this table with the same formats.

        Raises:
            InvalidInputError: if an op belongs to another table.
            StoreClosedError: if the table is closed when the group starts.
        """
        self.check_operations(requests)
        if self._closed:
            raise StoreClosedError("table", table=self.name)
        outcomes: list[Outcome | None] = [None] * len(requests)
        try:
            if not any(op.writes for op, _ in requests):
                self._run_reads(requests, outcomes)
            else:
                done = 0
                while done < len(requests):
                    done = self._run_writes(requests, outcomes, done)
        except (StoreError, lmdb.Error) as exc:
            failed = Outcome(error=translate(exc, what="group failed", table=self.name))
            outcomes = [failed if o is None else o for o in outcomes]
        return outcomes  # type: ignore[return-value]

    def check_operations(
        self, requests: Sequence[tuple[Operation, BeforeCommit | None]]
    ) -> None:
        """Check that every op of `requests` was built for this table.

        Raises:
            InvalidInputError: for an op of another table (or of this table
                with other formats).
        """
        codecs = self.codecs
        for op, _ in requests:
            if op.codecs is not codecs and op.codecs != codecs:
                theirs = op.codecs
                formats = (
                    ""
                    if theirs.name != self.name
                    else f" with key_format={theirs.key_format!r}, value_format="
                    f"{theirs.value_format!r}, not {codecs.key_format!r}, "
                    f"{codecs.value_format!r}"
                )
                raise InvalidInputError(
                    f"op for table {theirs.name!r}{formats} given to the session "
                    f"of table {self.name!r}; build it with that table's codecs",
                    table=self.name,
                )

    def _run_reads(
        self,
        requests: Sequence[tuple[Operation, BeforeCommit | None]],
        outcomes: list[Outcome | None],
    ) -> None:
        with self._gate.shared():
            txn = self._begin(write=False)
            try:
                for index, (op, before_commit) in enumerate(requests):
                    outcomes[index] = _run_one(op, before_commit, txn)
            finally:
                txn.abort()

    def _run_writes(
        self,
        requests: Sequence[tuple[Operation, BeforeCommit | None]],
        outcomes: list[Outcome | None],
        start: int,
    ) -> int:
        """Run requests from `start` in one top-level txn; return where it stopped."""
        index = start
        map_full = commit_full = False
        with self._gate.shared():
            parent = self._begin(write=True)
            begin = self._env.begin
            try:
                if self._headroom is not None:
                    self._headroom.keep(self._env)
                for op, before_commit in requests[start:]:
                    child = begin(write=True, parent=parent)
                    outcome = _run_one(op, before_commit, child)
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
                error = translate(exc, what="commit failed", table=self.name)
                for i in range(start, index):
                    outcomes[i] = Outcome(error=error)
            if not (map_full or commit_full):
                return index
            full_size = int(self._env.info()["map_size"])
        try:
            self._grow(full_size)
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

    def read(self, fn: Callable[[lmdb.Transaction[bytes]], T]) -> T:
        """Run `fn` in one read transaction and return its result.

        Raises:
            StoreClosedError: if the table is closed.
            StoreBusyError: if LMDB cannot start a reader now.
        """
        with self._gate.shared():
            txn = self._begin(write=False)
            try:
                return fn(txn)
            except lmdb.Error as exc:
                raise translate(exc, what="read failed", table=self.name) from exc
            finally:
                txn.abort()

    def _begin(self, *, write: bool) -> lmdb.Transaction[bytes]:
        """Begin a top-level transaction; the caller holds the gate shared."""
        for _ in range(3):
            if self._closed:
                raise StoreClosedError("table", table=self.name)
            try:
                return self._env.begin(write=write)
            except lmdb.MapResizedError:
                # Another process grew the map: adopt its size and begin again.
                self._gate.leave()
                try:
                    with self._gate.exclusive():
                        if not self._closed:
                            self._env.set_mapsize(0)
                finally:
                    self._gate.enter()
            except lmdb.Error as exc:
                raise translate(exc, what="cannot begin", table=self.name) from exc
        raise translate(lmdb.MapResizedError("begin"), what="begin", table=self.name)

    def _grow(self, full_size: int) -> None:
        """Double the map that filled at `full_size` bytes, up to `max_map_size`.

        If another thread grew the map meanwhile, this does nothing: the op
        that hit the limit is redone in the larger map.

        Raises:
            StoreFullError: if the map is already at its maximum.
        """
        with self._gate.exclusive():
            if self._closed:
                raise StoreClosedError("table", table=self.name)
            size = self._env.info()["map_size"]
            if size > full_size:
                return
            if size >= self.max_map_size:
                raise StoreFullError(table=self.name, max_map_size=self.max_map_size)
            new_size = min(size * 2, self.max_map_size)
            logger.debug("table %s: map grows to %d bytes", self.name, new_size)
            try:
                self._env.set_mapsize(new_size)
            except lmdb.Error as exc:
                raise translate(exc, what="cannot grow", table=self.name) from exc

    # -- maintenance -----------------------------------------------------------

    def sync(self) -> None:
        """Flush the table's committed data to disk (`env.sync(True)`).

        Raises:
            StoreClosedError: if the table is closed.
        """
        with self._gate.shared():
            if self._closed:
                raise StoreClosedError("table", table=self.name)
            try:
                self._env.sync(True)
            except lmdb.Error as exc:
                raise translate(exc, what="sync failed", table=self.name) from exc

    def stats(self) -> dict[str, Any]:
        """Return the record count and the file, used and map sizes, in bytes."""
        entries = self.read(lambda txn: int(txn.stat()["entries"]))
        with self._gate.shared():
            map_size = int(self._env.info()["map_size"])
        return {
            "records": entries,
            "file_size": self.file_size(),
            "used_size": self.used_size(),
            "map_size": map_size,
            "max_map_size": self.max_map_size,
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
        with self._gate.shared():
            if self._closed:
                raise StoreClosedError("table", table=self.name)
            return self._used_bytes()

    def _used_bytes(self) -> int:
        """`used_size()` for a caller that holds the gate."""
        info = self._env.info()
        return (int(info["last_pgno"]) + 1) * int(self._env.stat()["psize"])

    def file_size(self) -> int:
        """Return the size of the table's data file, in bytes."""
        try:
            return os.path.getsize(os.path.join(self.path, _DATA_FILE))
        except OSError:
            return 0

    def compact(self) -> int:
        """Rewrite the data file without its free pages; return bytes reclaimed.

        The bytes reclaimed are those of the free pages: the used size before
        less the file's size after. A SYNC table's headroom (see `used_size`)
        goes too, but is not counted: the next writes bring it back.

        The compacted copy replaces the file by an atomic rename, so a crash
        leaves either the old file or the new one. Transactions of this
        process wait while it runs; do not compact a table that another
        process has open.

        Raises:
            StoreClosedError: if the table is closed.
            StorageError: if the copy fails (the old file is kept).
        """
        scratch = os.path.join(self.path, _COMPACT_DIR)
        with self._gate.exclusive():
            if self._closed:
                raise StoreClosedError("table", table=self.name)
            before = self._used_bytes()
            map_size = self._env.info()["map_size"]
            shutil.rmtree(scratch, ignore_errors=True)
            os.mkdir(scratch, DIR_MODE)
            env_closed = False
            try:
                self._env.copy(scratch, compact=True)
                # The copy is created 0o666 less the umask: give it the old
                # file's mode before it takes the old file's place.
                os.chmod(
                    os.path.join(scratch, _DATA_FILE),
                    stat.S_IMODE(os.stat(os.path.join(self.path, _DATA_FILE)).st_mode),
                )
                _fsync_file(os.path.join(scratch, _DATA_FILE))
                self._env.close()
                env_closed = True
                os.replace(
                    os.path.join(scratch, _DATA_FILE),
                    os.path.join(self.path, _DATA_FILE),
                )
                _fsync_dir(self.path)
            except (lmdb.Error, OSError) as exc:
                raise translate(exc, what="compact failed", table=self.name) from exc
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
                if env_closed:
                    self._env = open_environment(
                        self.path,
                        sync=self.durability is Durability.SYNC,
                        map_size=map_size,
                    )
                    self._headroom = self._new_headroom()
        return max(0, before - self.file_size())

    def close(self) -> None:
        """Sync if needed and close the environment; safe to call twice."""
        with self._gate.exclusive():
            if self._closed:
                return
            self._closed = True
            try:
                if self.durability is not Durability.SYNC:
                    self._env.sync(True)
            finally:
                self._env.close()

    def __repr__(self) -> str:
        return f"<Table {self.name!r} at {self.path!r}>"


def _run_one(
    op: Operation, before_commit: BeforeCommit | None, txn: lmdb.Transaction[bytes]
) -> Outcome:
    """Run `op` and its `before_commit` in `txn`; the caller commits or aborts."""
    try:
        result = op.run(txn)
        if before_commit is not None and before_commit(result) is False:
            raise OpVetoedError(table=op.codecs.name, key=op.key)
    except lmdb.MapFullError as exc:
        return Outcome(error=exc)  # the caller grows the map and redoes the op
    except lmdb.Error as exc:
        return Outcome(error=translate(exc, what="op failed", table=op.codecs.name))
    except BaseException as exc:  # noqa: BLE001 - the op's own error is its outcome
        # Even SystemExit from user code in a callback fails only its op: it
        # must not unwind a worker in the middle of a transaction.
        return Outcome(error=exc)
    return Outcome(result=result)


def _fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
