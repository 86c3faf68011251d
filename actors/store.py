"""Store: the application's handle on an actorstore; every op returns a future.

The facade only wires the parts of an op's path together and shows them as
one object:

    Store.upsert() ─▶ Op ─▶ Submission (check, ops_max slot, route)
                              └▶ Dispatcher: Mailbox ─▶ TableOwner (one group per table)
                                                  └▶ Outcomes (callbacks, futures,
                                                     retries, dead letters)
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import logging
import math
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from actorstore.backend import Backend
from actorstore.errors import BlockingCallError, OpTimeoutError, StoreForkedError
from actorstore.futures import OpFuture
from actorstore.inflight import InFlight
from actorstore.local import LocalBackend
from actorstore.methods import OpMethods
from actorstore.op import Op, make_op
from actorstore.options import check_options, check_policy, check_timeout
from actorstore.outcomes import Outcomes
from actorstore.policies import Policies
from actorstore.serialized import SerializedClient
from actorstore.submission import Submission
from actorstore.threads import on_store_thread
from actorstore.retry import (
    CallbackLike,
    DeadLetterHook,
    DeadLetterTable,
    RetryHost,
    RetryPolicy,
    Scheduler,
)
from actorstore.storage import (
    CheckResult,
    Durability,
    InvalidOptionError,
    StoreDirectory,
    TableInfo,
)
from actorstore.storage._store_directory import (
    DEFAULT_INITIAL_MAP_SIZE,
    DEFAULT_MAX_MAP_SIZE,
)

__all__ = ["ScanIterator", "Store", "open_store"]

logger = logging.getLogger(__name__)

DEFAULT_WAIT_TIMEOUT = 60.0
"""Seconds a submitter waits past `ops_max` for a slot by default."""


class Store(OpMethods):
    """An open actorstore: worker actors own the tables and run every op.

    Use `open_store()` to make one. Op methods return an `OpFuture` at once.
    Thread-safe. A context manager (`with`, and `async with`): leaving the
    block closes it.
    """

    def __init__(
        self,
        backend: Backend,
        *,
        ops_max: int = 1024,
        wait: bool = True,
        wait_timeout: float | None = DEFAULT_WAIT_TIMEOUT,
        retry: RetryPolicy | None = None,
        callback_executor: concurrent.futures.Executor | None = None,
        sync_interval: float = 1.0,
        dead_letter_hook: DeadLetterHook | None = None,
    ) -> None:
        check_options(
            threads=backend.owners,
            ops_max=ops_max,
            wait=wait,
            wait_timeout=wait_timeout,
            sync_interval=sync_interval,
            retry=retry,
            dead_letter_hook=dead_letter_hook,
            callback_executor=callback_executor,
        )
        self.backend = backend
        self.path = backend.path
        self.durability = backend.durability
        self.callback_executor = callback_executor
        self.sync_interval = sync_interval
        self.dead_letter_hook = dead_letter_hook
        self._lock = threading.Lock()
        self._closed = False
        self._policies = Policies(retry)
        for name in backend.table_names():
            saved = backend.table_info(name).options.get("retry")
            if saved is not None:
                self._policies.set_table(name, RetryPolicy.from_mapping(saved))
        self._inflight = InFlight(ops_max)
        self._scheduler = Scheduler(name="StoreScheduler")
        self._outcomes = Outcomes(
            self._inflight,
            self._policies,
            self._scheduler,
            callback_executor=callback_executor,
            dead_letter_hook=dead_letter_hook,
            in_txn=backend.callbacks_in_txn,
            spool=backend.spool,
        )
        router = backend.start(
            self._outcomes,
            self._scheduler,
            callbacks_in_txn=self._outcomes.in_txn,
            sync_interval=sync_interval,
        )
        self._submission = Submission(
            backend.table,
            router,
            self._inflight,
            self._outcomes,
            wait=wait,
            wait_timeout=wait_timeout,
            reads_at_once=backend.reads_at_once,
        )
        self.submitter = self._submission
        self._outcomes.attach(self._submission)
        _open_stores.add(self)

    # -- configuration ----------------------------------------------------------

    @property
    def ops_max(self) -> int:
        """The most ops outstanding at once."""
        return self._inflight.ops_max

    @property
    def threads(self) -> int:
        """The number of owner actors (local), or of nodes' owners (cluster)."""
        return self.backend.owners

    @property
    def directory(self) -> StoreDirectory:
        """The store's directory on this host (a local store's storage layer).

        Raises:
            AttributeError: for a store whose tables are not on this host.
        """
        directory: StoreDirectory | None = getattr(self.backend, "directory", None)
        if directory is None:
            raise AttributeError(f"{self!r} has no local directory")
        return directory

    @property
    def retry(self) -> RetryPolicy | None:
        """The store-wide retry policy (tables and ops may narrow it)."""
        return self._policies.store

    @property
    def wait(self) -> bool:
        """Whether a submitter past `ops_max` waits for a slot (else is refused)."""
        return self._submission.wait

    @property
    def wait_timeout(self) -> float | None:
        """Seconds a submitter past `ops_max` waits for a slot (None: for ever)."""
        return self._submission.wait_timeout

    @property
    def is_closed(self) -> bool:
        """Whether `close()` has finished."""
        return self._closed

    @property
    def dead_letters(self) -> DeadLetterTable:
        """The store's dead letters: list, replay and purge them."""
        return self._outcomes.dead_letters

    @property
    def retry_host(self) -> RetryHost:
        """What `retry.Flow` uses of this store (scheduling, tracking, parking)."""
        return self._outcomes

    def create_table(
        self,
        name: str,
        *,
        key_format: str = "str",
        value_format: str = "json",
        durability: Durability | str | None = None,
        retry: RetryPolicy | None = None,
        exist_ok: bool = False,
    ) -> TableInfo:
        """Create table `name` (durability defaults to the store's); return its record.

        `retry` sets the table's retry policy (narrower than the store's,
        wider than an op's). It is kept in the store's catalog, so the table
        has it again when the store is reopened; given for an existing table
        (`exist_ok=True`), it replaces the one kept.

        Raises:
            InvalidTableNameError, UnknownFormatError, TableExistsError.
            InvalidOptionError: for a policy that holds code (a predicate,
                raw tenacity strategies), which cannot be kept with a table.
            StoreClosedError: if the store is closed.
        """
        return self._create_table(
            name,
            key_format=key_format,
            value_format=value_format,
            durability=durability,
            retry=retry,
            exist_ok=exist_ok,
            node=None,
        )

    def _create_table(
        self,
        name: str,
        *,
        key_format: str,
        value_format: str,
        durability: Durability | str | None,
        retry: RetryPolicy | None,
        exist_ok: bool,
        node: str | None,
    ) -> TableInfo:
        self._submission.check_open()
        check_policy(retry)
        saved = retry.to_mapping() if retry is not None else None
        info = self.backend.create_table(
            name,
            key_format=key_format,
            value_format=value_format,
            durability=durability,
            exist_ok=exist_ok,
            node=node,
        )
        if saved is not None and info.options.get("retry") != saved:
            info = self.backend.set_table_options(
                name, {**info.options, "retry": saved}
            )
        if retry is not None:
            self._policies.set_table(name, retry)
        return info

    def tables(self) -> list[str]:
        """Return the names of the store's tables, sorted."""
        self._submission.check_process()
        return self.backend.table_names()

    def table_info(self, name: str) -> TableInfo:
        """Return table `name`'s record: formats, durability, kept options.

        Raises:
            InvalidTableNameError, UnknownTableError.
        """
        self._submission.check_process()
        return self.backend.table_info(name)

    # -- ops ----------------------------------------------------------------------

    def new_op(
        self, table: str, callback: CallbackLike | None = None, **options: Any
    ) -> Op:
        """Return a new `Op` on `table`; set its key and value, then submit it.

        Options are those of every op method (`reply_to`, `durability`,
        `retry`, `wait`, `wait_timeout`).

        Raises:
            InvalidOptionError: for an unknown option or a bad callback.
        """
        return make_op(self._submission, table, callback, options)

    def scan_iter(
        self,
        table: str,
        prefix: Any = None,
        start: Any = None,
        end: Any = None,
        reverse: bool = False,
        page_size: int = 1000,
    ) -> ScanIterator:
        """Stream `(key, value)` pairs in key order, `page_size` at a time.

        Iterate it (`for`) or, in asyncio, `async for` it: each page is one
        scan op (one read transaction), so memory stays flat however large
        the table is. Pairs written while it runs may or may not be seen.

        Raises:
            InvalidInputError: for a bad `page_size` (at once), or bad bounds
                (on the first page).
        """
        if (
            isinstance(page_size, bool)
            or not isinstance(page_size, int)
            or page_size < 1
        ):
            raise InvalidOptionError(
                f"page_size must be an int >= 1, not {page_size!r}"
            )
        return ScanIterator(self, table, prefix, start, end, reverse, page_size)

    def check(self, table: str | None = None) -> dict[str, CheckResult]:
        """Verify one table (every table, if None) in full; return a result per table.

        Each table's whole B-tree is walked and its record count compared
        with LMDB's own; a damaged table's `CheckResult` says what is wrong
        and the remedy. Runs on the calling thread; the table's writers wait
        while it is walked.

        Raises:
            UnknownTableError: for a table that does not exist.
            StoreClosedError: if the store is closed.
        """
        self._submission.check_open()
        return self.backend.check(table)

    def compact(self, table: str | None = None, timeout: float | None = 300) -> int:
        """Compact one table (or every table) and return the bytes reclaimed.

        Each table is rewritten by its owner without its free pages; tables
        owned by other workers keep serving meanwhile.

        Raises:
            OpTimeoutError: if it takes more than `timeout` seconds.
            UnknownTableError: for a table that does not exist.
            TableBusyError: if another process has the table open.
        """
        check_timeout("timeout", timeout)
        deadline = _deadline(timeout)
        names = [table] if table is not None else self.tables()
        futures = [self.new_op(name).compact() for name in names]
        return sum(future.get(_left(deadline)) for future in futures)

    # -- flush, close, stats -------------------------------------------------------

    def flush(self, timeout: float | None = None) -> None:
        """Wait until every op submitted before this call has finished.

        Finished includes callbacks and retries (a dead-lettered op counts as
        finished). NONE tables are synced to disk before it returns.

        Raises:
            OpTimeoutError: if `timeout` seconds pass first.
            BlockingCallError: on a store thread (in a callback, say), where
                it would wait for itself.
            StoreForkedError: in a child process that inherited the store.
        """
        check_timeout("timeout", timeout)
        self._submission.check_process()
        _refuse_on_store_thread("flush()")
        if not self._inflight.wait_for_submitted(_finite(timeout)):
            raise OpTimeoutError(
                f"flush: {len(self._inflight)} ops still outstanding after {timeout} s"
            )
        self.backend.sync(raise_errors=True)

    def close(self, timeout: float | None = None) -> None:
        """Flush, dead-letter pending retries, stop every actor, close the tables.

        Safe to call twice. `timeout` bounds the whole close (flush, then
        stopping the workers).

        Raises:
            OpTimeoutError: if ops are still running after `timeout` seconds.
                The store goes on closing: it refuses new ops, the running
                ones go on to their ends; call `close()` again to finish.
            BlockingCallError: on a store thread, where it would wait for
                itself.
        """
        check_timeout("timeout", timeout)
        if _forked_from(self):
            # A forked child has none of the workers, and LMDB forbids using
            # the parent's environments: there is nothing it may close.
            self._submission.finish_closing()
            self._closed = True
            return
        _refuse_on_store_thread("close()")
        deadline = _deadline(timeout)
        with self._lock:
            if self._closed:
                return
        self._submission.start_closing()
        # Pending retries and flow stages are dead-lettered now, not waited out.
        self._scheduler.close_pending()
        self.flush(_left(deadline))
        if not self.backend.stop(_left(deadline)):
            raise OpTimeoutError(
                f"close: a worker did not stop within {timeout} s; call close() again"
            )
        self._scheduler.close()
        self.backend.sync(raise_errors=False)
        self._submission.finish_closing()
        self.backend.close()
        with self._lock:
            self._closed = True
        _open_stores.discard(self)
        logger.debug("store %s closed", self.path)

    async def aflush(self, timeout: float | None = None) -> None:
        """`flush()` for asyncio: waits on a worker thread, never blocking the loop."""
        await asyncio.to_thread(self.flush, timeout)

    async def aclose(self, timeout: float | None = None) -> None:
        """`close()` for asyncio: waits on a worker thread, never blocking the loop."""
        await asyncio.to_thread(self.close, timeout)

    async def acompact(self, table: str | None = None) -> int:
        """`compact()` for asyncio: awaits the compactions; returns bytes reclaimed."""
        names = [table] if table is not None else self.tables()
        futures = [self.new_op(name).compact() for name in names]
        return sum([await future for future in futures])

    def stats(self) -> dict[str, Any]:
        """Return per-table counts and sizes, op counters, in-flight ops, latency.

        Latencies (`latency_p50`, `latency_p99`) are seconds from submission
        to completion over the last 10,000 ops.
        """
        self._submission.check_open()
        result = self._inflight.stats()
        result["ops_max"] = self.ops_max
        result["tables"] = self.backend.table_stats()
        return result

    def serialized(self) -> SerializedClient:
        """Return a client whose ops run in submission order, across tables."""
        return SerializedClient(self._submission, self._policies, self)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        if self._closed:
            state = "closed"
        elif self._submission.is_closing:
            state = "closing"
        else:
            state = "open"
        return (
            f"<{type(self).__name__} {self.path!r} {state} threads={self.threads} "
            f"ops_max={self.ops_max}>"
        )


class ScanIterator:
    """The pairs of a table in key order, page by page (see `Store.scan_iter`)."""

    def __init__(
        self,
        store: Store,
        table: str,
        prefix: Any,
        start: Any,
        end: Any,
        reverse: bool,
        page_size: int,
    ) -> None:
        self._store = store
        self._table = table
        self._prefix = prefix
        self._start = start
        self._end = end
        self._reverse = reverse
        self._page_size = page_size

    def _page(self, after: tuple[Any] | None) -> OpFuture[list[tuple[Any, Any]]]:
        """Start the scan of the page after key `after[0]` (the first if None)."""
        start, end = self._start, self._end
        limit = self._page_size
        if after is not None:
            if self._reverse:
                end = after[0]  # exclusive: the last key is not seen again
            else:
                start = after[0]  # inclusive: one more, the first is dropped
                limit += 1
        return self._store.scan(
            self._table,
            prefix=self._prefix,
            start=start,
            end=end,
            limit=limit,
            reverse=self._reverse,
        )

    def _fresh(
        self, pairs: list[tuple[Any, Any]], after: tuple[Any] | None
    ) -> list[tuple[Any, Any]]:
        if (
            after is not None
            and not self._reverse
            and pairs
            and pairs[0][0] == after[0]
        ):
            return pairs[1:]
        return pairs

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        after: tuple[Any] | None = None
        while True:
            pairs = self._fresh(self._page(after).get(), after)
            yield from pairs
            if len(pairs) < self._page_size:
                return
            after = (pairs[-1][0],)

    async def __aiter__(self) -> AsyncIterator[tuple[Any, Any]]:
        after: tuple[Any] | None = None
        while True:
            pairs = self._fresh(await self._page(after), after)
            for pair in pairs:
                yield pair
            if len(pairs) < self._page_size:
                return
            after = (pairs[-1][0],)


def open_store(
    path: str | os.PathLike[str],
    *,
    threads: int = 2,
    ops_max: int = 1024,
    durability: Durability | str = Durability.SYNC,
    retry: RetryPolicy | None = None,
    callback_executor: concurrent.futures.Executor | None = None,
    sync_interval: float = 1.0,
    wait: bool = True,
    wait_timeout: float | None = DEFAULT_WAIT_TIMEOUT,
    dead_letter_hook: DeadLetterHook | None = None,
    initial_map_size: int = DEFAULT_INITIAL_MAP_SIZE,
    max_map_size: int = DEFAULT_MAX_MAP_SIZE,
) -> Store:
    """Open (creating if needed) the store in directory `path` and start its workers.

    Args:
        threads: worker actors; each table is owned by one of them.
        ops_max: most ops outstanding. Past it a submitter waits for a slot
            (up to `wait_timeout` seconds, then `OpsMaxExceededError`); on a
            running event loop's thread the op is parked and admitted in
            order instead, so the loop never blocks; on a store thread, or
            with `wait=False`, it is refused at once.
        durability: default for new tables (`SYNC`: acknowledged once on disk;
            `NONE`: synced within `sync_interval` seconds, on flush and close).
        retry: the store-wide retry policy (tables and ops can narrow it);
            failed ops it retries are dead-lettered when it gives up.
        dead_letter_hook: called with each `retry.DeadLetter` instead of
            writing it to the dead-letter table (if it raises, the table is
            written after all).
        callback_executor: run callbacks after commit on this executor
            instead of inside the op's transaction (they can no longer veto).
        initial_map_size, max_map_size: a table's map starts at the first and
            doubles when full, up to the second (then `StoreFullError`).

    Raises:
        InvalidOptionError: for a bad option (the message says which).
        LmdbError: if the directory cannot be opened.
    """
    # Checked before the directory is created: bad options write nothing.
    check_options(
        threads=threads,
        ops_max=ops_max,
        wait=wait,
        wait_timeout=wait_timeout,
        sync_interval=sync_interval,
        retry=retry,
        dead_letter_hook=dead_letter_hook,
        callback_executor=callback_executor,
    )
    directory = StoreDirectory(
        path,
        durability=Durability.coerce(durability),
        initial_map_size=initial_map_size,
        max_map_size=max_map_size,
    )
    try:
        return Store(
            LocalBackend(directory, threads),
            ops_max=ops_max,
            wait=wait,
            wait_timeout=wait_timeout,
            retry=retry,
            callback_executor=callback_executor,
            sync_interval=sync_interval,
            dead_letter_hook=dead_letter_hook,
        )
    except BaseException:
        directory.close()
        raise


def _finite(timeout: float | None) -> float | None:
    """Return `timeout`, with an infinite one as None (wait for ever)."""
    return None if timeout is None or math.isinf(timeout) else timeout


def _deadline(timeout: float | None) -> float | None:
    timeout = _finite(timeout)
    return None if timeout is None else time.monotonic() + timeout


def _left(deadline: float | None) -> float | None:
    """Return the seconds left before `deadline` (None: no deadline)."""
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def _refuse_on_store_thread(call: str) -> None:
    if on_store_thread():
        raise BlockingCallError(
            f"{call} on a store thread (in a callback, a done-callback or a "
            "flow stage) would wait for itself; call it from your own thread"
        )


# Stores still open at exit are closed (flushed and synced) so that a program
# that forgets close() loses nothing and still exits: the workers are daemons.
# Held strongly: a store nobody refers to any more still has ops to finish.
_open_stores: set[Store] = set()


def _forked_from(store: Store) -> bool:
    """Whether `store` was opened by another process (this is a forked child)."""
    try:
        store._submission.check_process()  # noqa: SLF001 - this module's own class
    except StoreForkedError:
        return True
    return False


def _forget_stores_in_forked_child() -> None:
    # fork() copies no worker thread and LMDB environments must not be used
    # after fork(): the child's copies refuse every op (StoreForkedError), and
    # the child starts with no open stores, so it may open the same store
    # itself (the documented remedy) and does not try to close the parent's
    # at exit.
    for store in list(_open_stores):
        store._submission.finish_closing()  # noqa: SLF001 - this module's own class
    _open_stores.clear()


os.register_at_fork(after_in_child=_forget_stores_in_forked_child)


@atexit.register
def _close_open_stores() -> None:
    for store in list(_open_stores):
        try:
            store.close(timeout=30)
        except Exception:
            logger.error("closing %r at exit failed", store, exc_info=True)
