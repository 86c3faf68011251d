"""Local owners: the pykka actors that own a store's tables, and their mailboxes.

`Mailbox` holds one owner's queued ops (a deque; the owner is rung only
when idle), `TableOwner` is the pykka actor that runs each table's queued
ops as one group (storage's `run_group`: one transaction, one commit) and
reports to the store's `OwnerReports`, and `LocalOwners` assigns each table
an owner.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pykka

import actorstore._metrics as _metrics
from actorstore._threads import mark_owner_thread
from actorstore.storage import Durability, StoreClosedError, StoreDirectory
from actorstore.storage._requests import Outcome
from actorstore.storage._session import TableSession

if TYPE_CHECKING:
    from actorstore._record import OpRecord as Op
    from actorstore._transports.base import OwnerReports

__all__ = ["LocalOwners", "Mailbox", "TableOwner"]

logger = logging.getLogger(__name__)

DRAIN = "drain"
"""The one message a TableOwner gets: take ops from its mailbox and run them."""

MAX_GROUP = 512
"""Most ops one group (one top-level transaction) takes."""


class Mailbox:
    """The ops waiting for one owner; a pykka message rings only on the first one.

    Ops go into a deque rather than one pykka message each: the owner takes
    them in bulk, and a submitter only `tell`s the owner when it is idle.
    """

    def __init__(self) -> None:
        self._ops: deque[Op] = deque()
        self._lock = threading.Lock()
        self._scheduled = False
        self._closed = False
        # One token per op of a table queued or running: appends and pops of
        # a deque are atomic, so neither side takes a lock for it.
        self._pending: dict[str, deque[None]] = {}
        self.ref: pykka.ActorRef[Any] | None = None

    def put(self, op: Op) -> None:
        """Queue `op` and wake the owner if it is idle.

        Raises:
            StoreClosedError: if the owner has stopped (the op is not queued).
        """
        # Lock-free while the owner is busy: deque appends are atomic, and
        # take() re-checks the queue after it marks the owner idle, so an op
        # appended meanwhile is either taken or finds the flag cleared.
        tokens = self._pending.get(op.table)
        if tokens is None:
            tokens = self._pending.setdefault(op.table, deque())
        tokens.append(None)
        self._ops.append(op)
        if self._closed:
            try:
                self._ops.remove(op)
            except ValueError:
                return  # the closing owner took it (and its token): it fails it
            self.done(op.table, 1)
            raise StoreClosedError("store")
        if self._scheduled:
            return
        with self._lock:
            if self._scheduled:
                return
            self._scheduled = True
        assert self.ref is not None
        try:
            self.ref.tell(DRAIN)
        except pykka.ActorDeadError:
            with self._lock:
                self._scheduled = False
                try:
                    self._ops.remove(op)
                except ValueError:
                    return  # the stopping owner took it and fails it itself
            self.done(op.table, 1)
            raise StoreClosedError("store") from None

    def pending(self, table: str) -> bool:
        """Return whether an op of `table` is queued here or still running."""
        return bool(self._pending.get(table))

    def done(self, table: str, count: int) -> None:
        """Count `count` ops of `table` as no longer queued nor running."""
        tokens = self._pending[table]
        for _ in range(count):
            tokens.pop()

    def take(self, limit: int) -> list[Op]:
        """Return up to `limit` queued ops; when none are left, mark the owner idle."""
        with self._lock:
            if not self._queued_else_idle():
                return []
            ops = self._ops
            # popleft(), not list() + clear(): put() appends without the lock.
            return [ops.popleft() for _ in range(min(len(ops), limit))]

    def queued_else_idle(self) -> bool:
        """Return whether ops are queued; if none are, mark the owner idle."""
        with self._lock:
            return self._queued_else_idle()

    def _queued_else_idle(self) -> bool:
        # The caller holds the lock; put() does not take it while scheduled.
        if self._ops:
            return True
        self._scheduled = False
        if not self._ops:  # a put() may have appended before the flag cleared
            return False
        self._scheduled = True
        return True

    def close(self) -> list[Op]:
        """Refuse further ops; return the ones still queued (never to run)."""
        with self._lock:
            self._closed = True
            ops = self._ops
            left = [ops.popleft() for _ in range(len(ops))]
        for op in left:
            self.done(op.table, 1)
        return left

    def __len__(self) -> int:
        return len(self._ops)


class TableOwner(pykka.ThreadingActor):
    """Own the sessions of some tables and run their ops, one group per table.

    A drain takes what is queued (up to `MAX_GROUP` ops) and runs it, then
    takes again until nothing is queued or pykka has another message, such
    as a stop (so a busy owner is not rung once per batch). A batch is split
    by table keeping each table's order, and each table's ops run as one
    group: one top-level write transaction, one child transaction per op
    (with its callback inside it, when callbacks run in transactions; plain
    ops of a group without such callbacks need none, see
    `storage.group_commit`). Only
    after the group's commit (and, for a SYNC op on a NONE table, a sync) are
    the ops handed to `OwnerReports.finish_group`, which acknowledges them.
    Nothing an op does can raise out of the handler, so the actor never dies
    of an op.
    """

    use_daemon_thread = True

    def __init__(
        self,
        mailbox: Mailbox,
        directory: StoreDirectory,
        reports: OwnerReports,
        *,
        callbacks_in_txn: bool,
        on_dirty: Callable[[str], None],
    ) -> None:
        super().__init__()
        self._mailbox = mailbox
        self._directory = directory
        self._reports = reports
        self._callbacks_in_txn = callbacks_in_txn
        self._on_dirty = on_dirty
        self._sessions: dict[str, TableSession] = {}

    def on_start(self) -> None:
        """Mark this thread as an owner's: blocking on the store here deadlocks."""
        mark_owner_thread()

    def on_receive(self, message: Any) -> None:
        """Run batches of queued ops until none is left or another message waits."""
        if message != DRAIN:
            logger.error("%s got an unknown message %r", self, message)
            return
        while True:
            batch = self._mailbox.take(MAX_GROUP)  # none left: the owner is idle
            if not batch:
                return
            self._run_batch(batch)
            if not self.actor_inbox.empty():
                # A stop (or another message) waits: pykka handles it first.
                self._ring_if_queued()
                return

    def _ring_if_queued(self) -> None:
        """Ring this owner again if ops are queued, else mark it idle."""
        if self._mailbox.queued_else_idle():
            self.actor_ref.tell(DRAIN)

    def _run_batch(self, batch: list[Op]) -> None:
        by_table: dict[str, list[Op]] = {}
        for op in batch:
            same_table = by_table.get(op.table)
            if same_table is None:
                by_table[op.table] = [op]
            else:
                same_table.append(op)
        for table, ops in by_table.items():
            outcomes = self._run_group(table, ops)  # never raises
            try:
                # Each op is handed over once, here: its retry or callback
                # may still be running when the next group starts.
                self._reports.finish_group(ops, outcomes)
            except BaseException:  # a bug: dying would strand every queued op
                logger.critical(
                    "handing over a group of %d ops on %s failed; they may never end",
                    len(ops),
                    table,
                    exc_info=True,
                )

    def _run_group(self, name: str, ops: list[Op]) -> list[Outcome]:
        """Run `ops` (all on table `name`) as one group; return their outcomes.

        Never raises: whatever an op or the table does becomes the ops' outcome.
        """
        started = time.perf_counter()
        took = None
        try:
            session = self._session(name)
            if self._callbacks_in_txn:
                before_commit = self._reports.before_commit
                requests = [
                    (op.operation, before_commit(op) if op.callback else None)
                    for op in ops
                ]
            else:
                requests = [(op.operation, None) for op in ops]
            numbers = self._reports.session.numbers(name, ops)
            outcomes = session.run_group(requests, numbers)  # type: ignore[arg-type]
            self._reports.session.answered(name, numbers, outcomes)
            session.make_durable(
                [op.operation for op in ops],
                [op.durability is Durability.SYNC for op in ops],
                outcomes,
                lambda: self._on_dirty(name),
            )
            took = time.perf_counter() - started
        except BaseException as exc:
            logger.debug("group of %d ops on %s failed", len(ops), name, exc_info=True)
            outcomes = [Outcome(error=exc) for _ in ops]
        try:
            # Committed (or failed): a read submitted from now on sees them.
            self._mailbox.done(name, len(ops))
        except BaseException:  # the outcomes above stand
            # Reads of the table then keep going through this owner (slower,
            # still in order); the ops' outcomes are true, so they stand.
            logger.error(
                "counting %d ops of %s as done failed", len(ops), name, exc_info=True
            )
        if took is not None and (_metrics.recording or _metrics.poll()):
            ran = (op.operation for op in ops)
            _metrics.group_ran(name, len(ops), ran, took)
        return outcomes

    def _session(self, name: str) -> TableSession:
        session = self._sessions.get(name)
        if session is None or session.is_closed:
            session = self._directory.session(name, internal=True)
            self._sessions[name] = session
        return session

    def on_stop(self) -> None:
        """Fail whatever is still queued: the store is closing."""
        left = self._mailbox.close()
        if left:
            error = StoreClosedError("store")
            self._reports.finish_group(left, [Outcome(error=error) for _ in left])


class LocalOwners:
    """`threads` owner actors, tables assigned to them round-robin.

    The owners are kept out of pykka's global registry: they are the
    store's, and an application's `pykka.ActorRegistry.stop_all()` must not
    stop them behind the store's back.
    """

    def __init__(
        self,
        threads: int,
        directory: StoreDirectory,
        reports: OwnerReports,
        *,
        callbacks_in_txn: bool,
        on_dirty: Callable[[str], None],
    ) -> None:
        self._lock = threading.Lock()
        self._owner_of: dict[str, Mailbox] = {}
        self.mailboxes = [Mailbox() for _ in range(threads)]
        for mailbox in self.mailboxes:
            ref = TableOwner.start(
                mailbox,
                directory,
                reports,
                callbacks_in_txn=callbacks_in_txn,
                on_dirty=on_dirty,
            )
            pykka.ActorRegistry.unregister(ref)
            mailbox.ref = ref

    def mailbox_for(self, table: str) -> Mailbox:
        """Return the mailbox of `table`'s owner, assigning one on first use."""
        mailbox = self._owner_of.get(table)
        if mailbox is not None:
            return mailbox
        with self._lock:
            mailbox = self._owner_of.get(table)
            if mailbox is None:
                mailbox = self.mailboxes[len(self._owner_of) % len(self.mailboxes)]
                self._owner_of[table] = mailbox
            return mailbox

    def stop(self, timeout: float | None) -> bool:
        """Stop every owner (queued ops fail); False if one did not stop in time."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for mailbox in self.mailboxes:
            assert mailbox.ref is not None
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                mailbox.ref.stop(block=True, timeout=left)
            except pykka.Timeout:
                return False
            except pykka.ActorDeadError:
                pass  # already stopped
        return True
