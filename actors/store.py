"""Store: the application's handle on an actorstore; every op returns a future.

The facade wires the steps of an op's path and shows them as one object;
each step calls the next, none calls back:

    Store.upsert() ─▶ Submission (check, ops_max slot) ─▶ Transport ─▶ owner
                                                   (local: Mailbox ─▶ TableOwner)
    owner ─▶ OutcomeExecutor: decide() then act (futures, callbacks,
             retries on the timer, dead letters)
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
from collections.abc import Callable
from typing import Any

import actorstore._metrics as _metrics
from actorstore._deadlines import deadline, finite, left
from actorstore._decide import CallbackSite
from actorstore._exactly_once import ClientSession
from actorstore._executor import OutcomeExecutor
from actorstore._inflight import InFlight
from actorstore._lifecycle import Lifecycle, forget, remember
from actorstore._methods import OpMethods
from actorstore._options import (
    check_flag,
    check_options,
    check_policy,
    check_timeout,
)
from actorstore._policies import PolicyChooser
from actorstore._retry_host import StoreRetryHost
from actorstore._scan import ScanIterator
from actorstore._submission import Submission
from actorstore._threads import refuse_on_store_thread
from actorstore._timer import Timer
from actorstore._transports.base import TableSpec, Transport
from actorstore.errors import OpTimeoutError
from actorstore.retry import DeadLetterHook, DeadLetterTable, RetryPolicy, Scheduler
from actorstore.serialized import SerializedClient
from actorstore.storage import (
    BackupResult,
    CheckResult,
    Durability,
    InvalidOptionError,
    TableInfo,
)
from actorstore.storage._session_records import DEFAULT_WINDOW as DEFAULT_OUTCOME_WINDOW
from actorstore.storage._store_directory import (
    check_outcome_window,
)

__all__ = ["DEFAULT_WAIT_TIMEOUT", "Store"]

logger = logging.getLogger(__name__)

DEFAULT_WAIT_TIMEOUT = 60.0
"""Seconds a submitter waits past `ops_max` for a slot by default."""


class Store(OpMethods):
    """An open actorstore: owner actors own the tables and run every op.

    Use `open_store()` to make one. Op methods return an `OpFuture` at once.
    Thread-safe. A context manager (`with`, and `async with`): leaving the
    block closes it.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        ops_max: int = 1024,
        wait: bool = True,
        wait_timeout: float | None = DEFAULT_WAIT_TIMEOUT,
        retry: RetryPolicy | None = None,
        callback_executor: concurrent.futures.Executor | None = None,
        sync_interval: float = 1.0,
        dead_letter_hook: DeadLetterHook | None = None,
        scheduler: Timer | None = None,
        outcome_window: float = DEFAULT_OUTCOME_WINDOW,
    ) -> None:
        """Serve the tables of `transport` (use `open_store()` for a local store).

        `scheduler` is the timer retries wait on (the store makes its own).
        `outcome_window` is how long owners keep its ops' outcomes (exactly
        once): a dead letter carrying its op's number is not replayed past it.
        """
        check_options(
            threads=transport.owners,
            ops_max=ops_max,
            wait=wait,
            wait_timeout=wait_timeout,
            sync_interval=sync_interval,
            retry=retry,
            dead_letter_hook=dead_letter_hook,
            callback_executor=callback_executor,
        )
        self._transport = transport
        self.path = transport.path
        self.durability = transport.durability
        self.sync_interval = sync_interval
        self._lock = threading.Lock()
        self._closed = False
        self._policies = PolicyChooser(retry)
        for name in transport.table_names():
            saved = transport.table_info(name).options.get("retry")
            if saved is not None:
                self._policies.set_table(name, RetryPolicy.from_mapping(saved))
        self._lifecycle = Lifecycle()
        self._inflight = InFlight(ops_max)
        self._scheduler: Timer = scheduler or Scheduler(name="StoreScheduler")
        capabilities = transport.capabilities
        self.session = ClientSession(
            self._inflight,
            window=check_outcome_window(outcome_window),
            record_all=capabilities.answers_can_be_lost,
        )
        """This store's session: it numbers the store's ops (exactly once)."""
        self._executor = OutcomeExecutor(
            self._inflight,
            self._policies,
            self._scheduler,
            transport,
            self._lifecycle,
            site=CallbackSite.IN_TXN
            if capabilities.callbacks_in_txn
            else CallbackSite.AFTER_COMMIT,
            callback_executor=callback_executor,
            dead_letter_hook=dead_letter_hook,
            spool=capabilities.spool,
            session=self.session,
        )
        transport.start(
            self._executor,
            self._scheduler,
            callbacks_in_txn=self._executor.site is CallbackSite.IN_TXN,
            sync_interval=sync_interval,
        )
        self._submission = Submission(
            transport,
            self._inflight,
            self._executor,
            self._lifecycle,
            wait=wait,
            wait_timeout=wait_timeout,
        )
        self._submitter = self._submission
        self._dead_letters = DeadLetterTable(
            StoreRetryHost(self._executor, self._submission, self._lifecycle)
        )
        remember(self._lifecycle, self.close)
        _metrics.watch(self, self.path, self._inflight.__len__, transport.directory)

    # -- configuration ----------------------------------------------------------

    @property
    def ops_max(self) -> int:
        """The most ops outstanding at once."""
        return self._inflight.ops_max

    @property
    def threads(self) -> int:
        """The number of owner actors (local), or of nodes' owners (cluster)."""
        return self._transport.owners

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
        return self._dead_letters

    # -- tables -------------------------------------------------------------------

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
        spec = TableSpec(name, key_format, value_format, durability, exist_ok)
        return self._create_table(spec, retry)

    def _create_table(self, spec: TableSpec, retry: RetryPolicy | None) -> TableInfo:
        self._lifecycle.check_open()
        check_policy(retry)
        check_flag("exist_ok", spec.exist_ok)
        saved = retry.to_mapping() if retry is not None else None
        info = self._transport.create_table(spec)
        if saved is not None and info.options.get("retry") != saved:
            info = self._transport.set_table_options(
                spec.name, {**info.options, "retry": saved}
            )
        if retry is not None:
            self._policies.set_table(spec.name, retry)
        return info

    def tables(self) -> list[str]:
        """Return the names of the store's tables, sorted."""
        self._lifecycle.check_process()
        return self._transport.table_names()

    def table_info(self, name: str) -> TableInfo:
        """Return table `name`'s record: formats, durability, kept options.

        Raises:
            InvalidTableNameError, UnknownTableError.
        """
        self._lifecycle.check_process()
        return self._transport.table_info(name)

    # -- ops ----------------------------------------------------------------------

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
            InvalidInputError: for a bad `page_size` or `reverse` (at once),
                or bad bounds (on the first page).
        """
        if (
            isinstance(page_size, bool)
            or not isinstance(page_size, int)
            or page_size < 1
        ):
            raise InvalidOptionError(
                f"page_size must be an int >= 1, not {page_size!r}"
            )
        check_flag("reverse", reverse)
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
        self._lifecycle.check_open()
        return self._transport.check(table)

    def backup(
        self,
        dest: str | os.PathLike[str],
        *,
        compact: bool = True,
        progress: Callable[[str, int, int], object] | None = None,
    ) -> BackupResult:
        """Write a consistent copy of the store into the new directory `dest`.

        Every table, the catalog and the dead letters are copied, each under
        one read transaction begun after this call, so every op acknowledged
        before it is in the copy; writers keep going meanwhile. The copy is
        fsynced (files, then directories) and opens as a store
        (`open_store(dest)`). `compact` leaves free pages out.
        `progress(table, copied, total)` is called after each table. Runs on
        the calling thread.

        Raises:
            InvalidOptionError: for a `dest` that exists, is inside the store,
                or cannot be created (before anything is written), or a store
                with no directory on this host.
            StoreClosedError: if the store is closed.
            DiskFullError, LmdbError: if the copy fails (nothing is left at
                `dest`).
        """
        self._lifecycle.check_open()
        directory = self._transport.directory
        if directory is None:
            raise InvalidOptionError(
                f"{self!r} keeps no tables on this host: back up the hosts' stores"
            )
        return directory.backup(dest, compact=compact, progress=progress)

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
        until = deadline(timeout)
        names = [table] if table is not None else self.tables()
        futures = [self.new_op(name).compact() for name in names]
        return sum(future.get(left(until)) for future in futures)

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
        self._lifecycle.check_process()
        refuse_on_store_thread("flush()")
        if not self._inflight.wait_for_submitted(finite(timeout)):
            raise OpTimeoutError(
                f"flush: {len(self._inflight)} ops still outstanding after {timeout} s"
            )
        self._executor.dead_replies.tell_all()
        self._transport.sync(raise_errors=True)

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
        if self._lifecycle.forked:
            # A forked child has none of the workers, and LMDB forbids using
            # the parent's environments: there is nothing it may close.
            self._lifecycle.finish_closing()
            self._closed = True
            return
        refuse_on_store_thread("close()")
        until = deadline(timeout)
        with self._lock:
            if self._closed:
                return
        self._lifecycle.start_closing()
        # Pending retries and flow stages are dead-lettered now, not waited out.
        self._scheduler.close_pending()
        self.flush(left(until))
        if not self._transport.stop(left(until)):
            raise OpTimeoutError(
                f"close: a worker did not stop within {timeout} s; call close() again"
            )
        self._scheduler.close()
        self._transport.sync(raise_errors=False)
        self._lifecycle.finish_closing()
        self._transport.close()
        with self._lock:
            self._closed = True
        forget(self._lifecycle)
        _metrics.unwatch(self)
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
        self._lifecycle.check_open()
        result = self._inflight.stats()
        result["ops_max"] = self.ops_max
        result["tables"] = self._transport.table_stats()
        return result

    def serialized(self) -> SerializedClient:
        """Return a client whose ops run in submission order, across tables."""
        return SerializedClient(self._submission, self._executor, self._policies, self)

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
        elif self._lifecycle.closing:
            state = "closing"
        else:
            state = "open"
        return (
            f"<{type(self).__name__} {self.path!r} {state} threads={self.threads} "
            f"ops_max={self.ops_max}>"
        )
