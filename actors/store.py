"""Store: the application's handle on an actorstore; every op returns a future."""

from __future__ import annotations

import atexit
import concurrent.futures
import contextlib
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

import pykka

from actors.errors import (
    BlockingCallError,
    OpSubmittedError,
    OpTimeoutError,
    StoreForkedError,
)
from actors.futures import OpFuture
from actors.inflight import InFlight
from actors.messages import OpCompleted
from actors.methods import OpMethods, OpOptions
from actors.op import Op
from actors.options import (
    check_options,
    check_policy,
    check_timeout,
    check_wait,
)
from actors.retrying import Retrier, call_exception
from actors.serialized import SerializedClient
from actors.threads import on_store_thread
from actors.worker import Mailbox, TableOwner
from retry import (
    DEAD_LETTER_TABLE,
    Callback,
    CallbackLike,
    DeadLetter,
    DeadLetterHook,
    DeadLetters,
    RetryCallback,
    RetryPolicy,
    Scheduler,
    as_callback,
)
from storage import (
    DEFAULT_INITIAL_MAP_SIZE,
    DEFAULT_MAX_MAP_SIZE,
    Durability,
    InvalidOptionError,
    OpType,
    Outcome,
    StoreClosedError,
    StoreDirectory,
    TableInfo,
    build_operation,
)

__all__ = ["Store", "open_store"]

logger = logging.getLogger(__name__)


class Store(OpMethods):
    """An open actorstore: worker actors own the tables and run every op.

    Use `open_store()` to make one. Op methods return an `OpFuture` at once.
    Thread-safe. A context manager: leaving the block closes it.
    """

    def __init__(
        self,
        directory: StoreDirectory,
        *,
        threads: int = 2,
        ops_max: int = 1024,
        wait: bool = False,
        wait_timeout: float | None = None,
        retry: RetryPolicy | None = None,
        callback_executor: concurrent.futures.Executor | None = None,
        sync_interval: float = 1.0,
        dead_letter_hook: DeadLetterHook | None = None,
    ) -> None:
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
        self.directory = directory
        self.path = directory.path
        self.durability = directory.durability
        self.retry = retry
        self.wait = wait
        self.wait_timeout = wait_timeout
        self.callback_executor = callback_executor
        self.sync_interval = sync_interval
        self._inflight = InFlight(ops_max)
        self._lock = threading.Lock()
        self._closed = False
        self._closing = False
        self._opened_by = os.getpid()
        self._owner_of: dict[str, Mailbox] = {}
        self._table_policies: dict[str, RetryPolicy] = {}
        self._dirty: set[str] = set()
        self._sync_lock = threading.Lock()
        self.dead_letter_hook = dead_letter_hook
        self._retrier = Retrier(self)
        self.dead_letters = DeadLetters(self._retrier)
        directory.create_table(
            DEAD_LETTER_TABLE,
            key_format="int",
            value_format="json",
            durability=Durability.SYNC,
            exist_ok=True,
            internal=True,
        )
        self._scheduler = Scheduler(name="StoreScheduler")
        self._mailboxes = [Mailbox() for _ in range(threads)]
        for mailbox in self._mailboxes:
            mailbox.ref = TableOwner.start(
                mailbox,
                directory,
                self._finish,
                self._finish_group,
                callbacks_in_txn=callback_executor is None,
                on_dirty=self._dirty.add,
            )
        self._scheduler.call_later(sync_interval, self._sync_tick)
        _open_stores.add(self)

    # -- configuration ----------------------------------------------------------

    @property
    def ops_max(self) -> int:
        """The most ops outstanding at once."""
        return self._inflight.ops_max

    @property
    def threads(self) -> int:
        """The number of worker actors."""
        return len(self._mailboxes)

    @property
    def is_closed(self) -> bool:
        """Whether `close()` has finished."""
        return self._closed

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

        `retry` sets the table's retry policy for this open store (narrower
        than the store's, wider than an op's).

        Raises:
            InvalidTableNameError, UnknownFormatError, TableExistsError.
            StoreClosedError: if the store is closed.
        """
        self._check_open()
        check_policy(retry)
        info = self.directory.create_table(
            name,
            key_format=key_format,
            value_format=value_format,
            durability=durability,
            exist_ok=exist_ok,
        )
        if retry is not None:
            self._table_policies[name] = retry
        return info

    def tables(self) -> list[str]:
        """Return the names of the store's tables, sorted."""
        self._check_process()
        return self.directory.table_names()

    # -- submitting -------------------------------------------------------------

    def new_op(
        self, table: str, callback: CallbackLike | None = None, **options: Any
    ) -> Op:
        """Return a new `Op` on `table`; set its key and value, then submit it.

        Options are those of every op method (`reply_to`, `durability`,
        `retry`, `wait`, `wait_timeout`).

        Raises:
            InvalidOptionError: for an unknown option or a bad callback.
        """
        if not options:
            return Op(self, table, None if callback is None else as_callback(callback))
        unknown = options.keys() - _OP_OPTIONS
        if unknown:
            raise InvalidOptionError(
                f"unknown op option(s) {sorted(unknown)}; use {sorted(_OP_OPTIONS)}"
            )
        durability = options.get("durability")
        check_policy(options.get("retry"))
        check_wait(options.get("wait"))
        check_timeout("wait_timeout", options.get("wait_timeout"))
        reply_to = options.get("reply_to")
        if reply_to is not None and not isinstance(reply_to, pykka.ActorRef):
            raise InvalidOptionError(
                f"reply_to must be a pykka.ActorRef, not {type(reply_to).__name__}"
            )
        op = Op(self, table, as_callback(callback))
        if reply_to is not None:
            op.reply_to = reply_to
        if durability is not None:
            op.durability = Durability.coerce(durability)
        for name in ("retry", "wait", "wait_timeout"):
            if options.get(name) is not None:
                setattr(op, name, options[name])
        return op

    def _submit(self, op: Op, op_type: OpType) -> OpFuture[Any]:
        self._prepare(op, op_type)
        self._dispatch(op)
        assert op.future is not None
        return op.future

    def _prepare(self, op: Op, op_type: OpType, *, internal: bool = False) -> None:
        """Validate `op`, take a slot for it and give it a future; not yet queued.

        Raises:
            StoreClosedError, OpSubmittedError, OpsMaxExceededError, and any
            bad-input error of the op, all before anything is written.
        """
        if self._closing and (
            not internal or self._closed or self._opened_by != os.getpid()
        ):
            self._check_open()  # internal ops (dead letters) still run while closing
        if op.future is not None:
            raise OpSubmittedError(
                f"op {op.id} was already submitted; use new_op() for another op"
            )
        op.type = op_type
        table = self.directory.table(op.table, internal=internal)
        op.operation = build_operation(table, op_type, op.key, op.value, **op.options)
        wait = self.wait if op.wait is None else op.wait
        timeout = self.wait_timeout if op.wait_timeout is None else op.wait_timeout
        self._inflight.add(op, wait or timeout is not None, timeout, internal)
        op.future = OpFuture(op.id)

    def _policy_for(self, op: Op) -> RetryPolicy | None:
        """Return `op`'s retry policy: its own, else its table's, else the store's."""
        if op.retry is not None:
            return op.retry
        return self._table_policies.get(op.table, self.retry)

    def _may_retry(self, op: Op) -> bool:
        """Whether `op` may be resubmitted later (which would break pipelining)."""
        return self._policy_for(op) is not None or isinstance(
            op.callback, RetryCallback
        )

    def _dispatch(self, op: Op) -> None:
        """Queue a prepared op at its table's owner."""
        mailbox = self._owner_of.get(op.table)
        if mailbox is None:
            mailbox = self._assign_owner(op.table)
        try:
            mailbox.put(op)
        except StoreClosedError as exc:
            self._complete(op, None, exc)

    def _assign_owner(self, table: str) -> Mailbox:
        with self._lock:
            mailbox = self._owner_of.get(table)
            if mailbox is None:
                mailbox = self._mailboxes[len(self._owner_of) % len(self._mailboxes)]
                self._owner_of[table] = mailbox
            return mailbox

    def compact(self, table: str | None = None, timeout: float | None = 300) -> int:
        """Compact one table (or every table) and return the bytes reclaimed.

        Each table is rewritten by its owner without its free pages; tables
        owned by other workers keep serving meanwhile.

        Raises:
            OpTimeoutError: if it takes more than `timeout` seconds.
            UnknownTableError: for a table that does not exist.
        """
        check_timeout("timeout", timeout)
        deadline = _deadline(timeout)
        names = [table] if table is not None else self.tables()
        futures = [self.new_op(name).compact() for name in names]
        return sum(future.get(_left(deadline)) for future in futures)

    # -- finishing (on the owner's thread) ---------------------------------------

    def _finish_group(self, ops: list[Op], outcomes: list[Outcome]) -> None:
        """Acknowledge the ops of a group that has committed; never raises.

        Plain successes (no reply_to, callback already run in the
        transaction) are acknowledged in bulk; every other op one by one.
        """
        plain: list[Op] = []
        results: list[Any] = []
        after_commit = self.callback_executor is not None
        futures: list[OpFuture[Any]] = []
        for op, outcome in zip(ops, outcomes, strict=True):
            if (
                outcome.error is None
                and op.reply_to is None
                and (op.callback is None or not after_commit)
                and op.future is not None
            ):
                op.attempts += 1
                plain.append(op)
                futures.append(op.future)
                results.append(outcome.result)
            else:
                self._finish(op, outcome)
        if not plain:
            return
        try:
            self._inflight.release(plain)
            OpFuture.set_results(futures, results)
        except BaseException as exc:
            logger.error("finishing a group failed", exc_info=True)
            for op in plain:
                self._complete(op, None, exc)
        finally:
            # Even if a done callback raised: these ops are finished.
            self._inflight.remove(plain, failed=False)

    def _finish(self, op: Op, outcome: Outcome) -> None:
        """Acknowledge an op whose group has committed; never raises.

        A failed op goes to its retry handler or policy first; the future is
        completed only with the final outcome.
        """
        try:
            op.attempts += 1
            if outcome.error is not None:
                now = time.time()
                op.first_failed_at = op.first_failed_at or now
                op.last_failed_at = now
                op.last_error = outcome.error
                if self._retrier.handle_failure(op, outcome.error):
                    return
            callback = op.callback
            if callback is not None and self.callback_executor is not None:
                self.callback_executor.submit(
                    self._run_callback_after_commit, op, callback, outcome
                )
                return
            error = outcome.error
            if error is not None and callback is not None:
                error = call_exception(callback, error)
            self._complete(op, outcome.result, error)
        except BaseException as exc:
            logger.error("op %d: finishing failed", op.id, exc_info=True)
            self._complete(op, None, exc)

    def _new_future(self) -> OpFuture[Any]:
        """Return a pending future for a flow's run, which flush() waits for.

        Raises:
            StoreClosedError: if the store is closing or closed.
        """
        self._check_open()
        run = Op(self, "")  # never queued: it only tracks the flow for flush()
        self._inflight.add(run, False, None, force=True, slot=False)
        future: OpFuture[Any] = OpFuture(run.id)

        def finished(done: OpFuture[Any]) -> None:
            self._inflight.remove([run], failed=done.exception(0) is not None)

        future.add_done_callback(finished)
        return future

    # What retry.Flow and the dead-letter API need of a store (see FlowStore).

    def _schedule(
        self, delay: float, fn: Callable[[], object], on_close: Callable[[], object]
    ) -> None:
        self._retrier.schedule(delay, fn, on_close)

    def _park(self, letter: DeadLetter) -> OpFuture[Any]:
        return self._retrier.park(letter)

    def _run_callback_after_commit(
        self, op: Op, callback: Callback, outcome: Outcome
    ) -> None:
        error = outcome.error
        try:
            if error is None and callback.callback(outcome.result) is False:
                logger.debug("op %d: callback returned False after commit", op.id)
        except Exception as exc:  # noqa: BLE001 - the op committed; its future fails
            error = exc
        if outcome.error is not None:
            error = call_exception(callback, outcome.error)
        self._complete(op, outcome.result, error)

    def _complete(self, op: Op, result: Any, error: BaseException | None) -> None:
        """Resolve the op's future, tell its reply_to, free its slot."""
        future = op.future
        if future is None or future.done():
            return
        if error is not None:
            logger.debug("op %d %s failed: %r", op.id, op.type and op.type.value, error)
        if op.reply_to is not None:
            assert op.type is not None  # set when the op was submitted
            message = OpCompleted(
                op.id,
                op.type,
                op.table,
                op.key,
                None if error is not None else result,
                error,
            )
            try:
                op.reply_to.tell(message)
            except pykka.ActorDeadError:
                logger.warning(
                    "op %d: reply_to actor is dead; result kept in future", op.id
                )
        # Free the slot first, so code woken by the future can submit at once;
        # flush() still waits until the future and its callbacks are done.
        self._inflight.release([op])
        try:
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)
        finally:
            # Even if a done callback raised: the op is finished.
            self._inflight.remove([op], failed=error is not None)

    # -- durability ------------------------------------------------------------

    def _sync_tick(self) -> None:
        """Sync NONE tables written since the last tick; runs on the scheduler."""
        self._sync_dirty()
        if not self._closed:
            # The scheduler refuses once closed: the store is closing.
            with contextlib.suppress(RuntimeError):
                self._scheduler.call_later(self.sync_interval, self._sync_tick)

    def _sync_dirty(self, *, raise_errors: bool = False) -> None:
        """Sync the NONE tables written since their last sync.

        A table whose sync fails stays dirty (the next tick or flush tries
        again); the first failure is raised if `raise_errors`, else logged.
        """
        failed: list[tuple[str, Exception]] = []
        # One sync pass at a time, so a flush waits for a tick's pass to end.
        with self._sync_lock:
            while True:
                try:
                    name = self._dirty.pop()
                except KeyError:
                    break
                try:
                    self.directory.table(name, internal=True).sync()
                except StoreClosedError:
                    return
                except Exception as exc:  # noqa: BLE001 - raised or logged below
                    failed.append((name, exc))
            self._dirty.update(name for name, _ in failed)
        if failed and raise_errors:
            raise failed[0][1]
        for name, problem in failed:
            logger.error("sync of table %s failed: %r", name, problem)

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
        self._check_process()
        _refuse_on_store_thread("flush()")
        if not self._inflight.wait_for_submitted(timeout):
            raise OpTimeoutError(
                f"flush: {len(self._inflight)} ops still outstanding after {timeout} s"
            )
        self._sync_dirty(raise_errors=True)

    def close(self, timeout: float | None = None) -> None:
        """Flush, stop every actor and close the tables; safe to call twice.

        `timeout` bounds the whole close (flush, then stopping the workers).

        Raises:
            OpTimeoutError: if ops are still running after `timeout` seconds;
                the store stays open for them; call `close()` again.
            BlockingCallError: on a store thread, where it would wait for
                itself.
        """
        check_timeout("timeout", timeout)
        if self._opened_by != os.getpid():
            # A forked child has none of the workers, and LMDB forbids using
            # the parent's environments: there is nothing it may close.
            self._closing = self._closed = True
            return
        _refuse_on_store_thread("close()")
        deadline = _deadline(timeout)
        with self._lock:
            if self._closed:
                return
            self._closing = True
        self._retrier.close()
        self.flush(_left(deadline))
        for mailbox in self._mailboxes:
            assert mailbox.ref is not None
            try:
                mailbox.ref.stop(block=True, timeout=_left(deadline))
            except pykka.Timeout:
                raise OpTimeoutError(
                    f"close: a worker did not stop within {timeout} s; "
                    "call close() again"
                ) from None
        self._scheduler.close()
        self._sync_dirty()
        self.directory.close()
        with self._lock:
            self._closed = True
        _open_stores.discard(self)
        logger.debug("store %s closed", self.path)

    def stats(self) -> dict[str, Any]:
        """Return per-table counts and sizes, op counters, in-flight ops, latency.

        Latencies (`latency_p50`, `latency_p99`) are seconds from submission
        to completion over the last 10,000 ops.
        """
        self._check_open()
        result = self._inflight.stats()
        result["ops_max"] = self.ops_max
        result["tables"] = self.directory.stats()
        return result

    def _check_open(self) -> None:
        if self._closing or self._closed:
            self._check_process()
            raise StoreClosedError("store")

    def _check_process(self) -> None:
        if self._opened_by != os.getpid():
            raise StoreForkedError(opened_by=self._opened_by)

    def serialized(self) -> SerializedClient:
        """Return a client whose ops run in submission order, across tables."""
        return SerializedClient(self)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return (
            f"<Store {self.path!r} {state} threads={self.threads} "
            f"ops_max={self.ops_max}>"
        )


def open_store(
    path: str | os.PathLike[str],
    *,
    threads: int = 2,
    ops_max: int = 1024,
    durability: Durability | str = Durability.SYNC,
    retry: RetryPolicy | None = None,
    callback_executor: concurrent.futures.Executor | None = None,
    sync_interval: float = 1.0,
    wait: bool = False,
    wait_timeout: float | None = None,
    dead_letter_hook: DeadLetterHook | None = None,
    initial_map_size: int = DEFAULT_INITIAL_MAP_SIZE,
    max_map_size: int = DEFAULT_MAX_MAP_SIZE,
) -> Store:
    """Open (creating if needed) the store in directory `path` and start its workers.

    Args:
        threads: worker actors; each table is owned by one of them.
        ops_max: most ops outstanding; one more raises `OpsMaxExceededError`
            unless `wait` (or `wait_timeout`) asks to wait for a slot.
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
        StorageError: if the directory cannot be opened.
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
            directory,
            threads=threads,
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


_OP_OPTIONS = frozenset(OpOptions.__annotations__)


def _deadline(timeout: float | None) -> float | None:
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
_open_stores: weakref.WeakSet[Store] = weakref.WeakSet()


def _refuse_in_forked_child() -> None:
    # fork() copies no worker thread and LMDB environments must not be used
    # after fork(), so the child's copy of each store refuses every op.
    for store in list(_open_stores):
        store._closing = True


os.register_at_fork(after_in_child=_refuse_in_forked_child)


@atexit.register
def _close_open_stores() -> None:
    for store in list(_open_stores):
        try:
            store.close(timeout=30)
        except Exception:
            logger.error("closing %r at exit failed", store, exc_info=True)
