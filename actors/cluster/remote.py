"""The remote transport's mailboxes: one per Ray owner, and the routing over them.

One Ray call costs about as much as a few hundred local ops, so a call
carries a group, not an op: each `RemoteMailbox` keeps one call in flight
and merges every op queued meanwhile into the next call (up to
`MAX_CALL`), grouped by table in submission order. One ObjectRef answers a
whole call; its outcomes go to the store's `OwnerReports` on one reporter
thread (a store thread, never one of Ray's), as a local owner's would.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from actorstore._threads import mark_owner_thread
from actorstore.cluster.errors import translate_call_error
from actorstore.cluster.wire import Group, GroupAnswer, outcomes_of, wire_op
from actorstore.errors import OutcomeUnknownError, OwnerLostError
from actorstore.storage import Durability, OpType, StoreClosedError, StoreError
from actorstore.storage._requests import Outcome

if TYPE_CHECKING:
    from actorstore._record import OpRecord as Op
    from actorstore._transports.base import OwnerReports

__all__ = ["IDEMPOTENT", "MAX_CALL", "RemoteMailbox", "RemoteOwners"]

logger = logging.getLogger(__name__)

MAX_CALL = 512
"""Most ops one call to an owner carries."""

IDEMPOTENT = frozenset(
    {OpType.UPSERT, OpType.SEARCH, OpType.EXISTS, OpType.COUNT, OpType.SCAN}
)
"""Op types that are safe to run again when their owner died mid-call."""


class RemoteMailbox:
    """The mailbox of one remote owner: one call in flight, the rest queued.

    Never blocks a submitter: `put` queues, and sends a call only when none
    is in flight. Every op it took ends: with its outcome, or with the error
    its call failed with (`OwnerUnavailableError`: nothing ran;
    `OutcomeUnknownError`/`OwnerLostError`: the owner died after the call
    was sent).
    """

    def __init__(
        self,
        label: str,
        owner: Any,
        reports: OwnerReports,
        report: Callable[..., object],
    ) -> None:
        self.label = label
        self._owner = owner
        self._reports = reports
        self._report = report
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._queue: deque[Op] = deque()
        self._pending: dict[str, int] = {}
        self._calling = False
        self._closed = False
        self.calls = 0
        """Calls sent so far (how well ops are carried in groups)."""

    def put(self, op: Op) -> None:
        """Queue `op`; send a call if none is in flight.

        Raises:
            StoreClosedError: if the store is closing its owners.
        """
        with self._lock:
            if self._closed:
                raise StoreClosedError("store", table=op.table)
            self._queue.append(op)
            self._pending[op.table] = self._pending.get(op.table, 0) + 1
            if self._calling:
                return
            self._calling = True
            ops = self._take()
        self._send(ops)

    def pending(self, table: str) -> bool:
        """Return whether an op of `table` is queued here or in a call."""
        return self._pending.get(table, 0) > 0

    def close(self) -> list[Op]:
        """Refuse further ops; return the queued ones (never sent)."""
        with self._lock:
            self._closed = True
            left = list(self._queue)
            self._queue.clear()
            self._forget(left)
        return left

    def wait_idle(self, timeout: float | None) -> bool:
        """Wait until no call is in flight; False if `timeout` passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while self._calling:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def _take(self) -> list[Op]:
        # The caller holds the lock.
        queue = self._queue
        return [queue.popleft() for _ in range(min(len(queue), MAX_CALL))]

    def _forget(self, ops: list[Op]) -> None:
        # The caller holds the lock.
        for op in ops:
            left = self._pending[op.table] - 1
            if left:
                self._pending[op.table] = left
            else:
                del self._pending[op.table]

    def _send(self, ops: list[Op]) -> None:
        """Send `ops` as one call; its outcomes come back through `_ended`."""
        groups, places = _grouped(ops)
        self.calls += 1
        try:
            future = self._owner.run.remote(groups).future()
        except BaseException as exc:  # noqa: BLE001 - the call's ops end with it
            self._ended(ops, places, None, exc)
            return
        # Attached outside any lock: attaching it can run it at once.
        future.add_done_callback(lambda done: self._ended(ops, places, done, None))

    def _ended(
        self,
        ops: list[Op],
        places: list[tuple[int, int]],
        done: concurrent.futures.Future[list[GroupAnswer]] | None,
        error: BaseException | None,
    ) -> None:
        """Take a call's answer; send the next call; report the ops' outcomes."""
        outcomes: list[Outcome]
        try:
            if error is None and done is not None:
                answers = [outcomes_of(answer) for answer in done.result()]
                outcomes = [answers[group][index] for group, index in places]
            else:
                raise error or RuntimeError("a call ended with no answer")
        except BaseException as exc:  # noqa: BLE001 - every op of the call ends
            outcomes = [
                Outcome(error=self._call_failed(exc, op.type in IDEMPOTENT))
                for op in ops
            ]
        with self._lock:
            self._forget(ops)
            following = self._take() if self._queue and not self._closed else []
            if not following:
                self._calling = False
                self._idle.notify_all()
        if following:
            self._send(following)
        self._report(self._reports.finish_group, ops, outcomes)

    def _call_failed(self, error: BaseException, idempotent: bool) -> BaseException:
        """Return one op's error for a call that failed with `error`.

        A failure that is not the owner's (a lost object, a short answer)
        leaves the op's fate unknown all the same: it is said so, never
        handed on as is (each op gets its own error object).
        """
        translated = translate_call_error(
            error, label=self.label, idempotent=idempotent
        )
        if isinstance(translated, StoreError):
            return translated
        kind = OwnerLostError if idempotent else OutcomeUnknownError
        unknown = kind(label=self.label, reason=f"{type(error).__name__}: {error}")
        unknown.__cause__ = error
        return unknown


def _grouped(ops: list[Op]) -> tuple[list[Group], list[tuple[int, int]]]:
    """Return the call's groups (one per table, in order) and each op's place."""
    groups: list[Group] = []
    index_of: dict[str, int] = {}
    places: list[tuple[int, int]] = []
    for op in ops:
        group = index_of.get(op.table)
        if group is None:
            group = index_of[op.table] = len(groups)
            groups.append((op.table, [], []))
        _, wire_ops, sync = groups[group]
        assert isinstance(wire_ops, list) and isinstance(sync, list)
        places.append((group, len(wire_ops)))
        # The op was checked with the table's codecs at submission; its raw
        # arguments cross (plain tuples pickle far faster than operations).
        assert op.type is not None
        wire_ops.append(wire_op(op.type, op.key, op.value, **op.options))
        sync.append(op.durability is Durability.SYNC)
    return groups, places


class RemoteOwners:
    """The mailboxes of a cluster store: each table's owner is its node's."""

    def __init__(
        self,
        owner_of: Callable[[str], tuple[str, Any]],
        reports: OwnerReports,
    ) -> None:
        """Route each table to `owner_of(table)`: its node's label and owner.

        Outcomes are reported on one thread of the store's own (marked as
        a store thread): Ray's threads never run the store's callbacks.
        """
        self._owner_of = owner_of
        self._reports = reports
        self._lock = threading.Lock()
        self._by_table: dict[str, RemoteMailbox] = {}
        self._by_label: dict[str, RemoteMailbox] = {}
        self._reporter = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="ClusterReports", initializer=mark_owner_thread
        )

    def dispatcher_for(self, table: str) -> RemoteMailbox:
        """Return the mailbox of `table`'s owner."""
        mailbox = self._by_table.get(table)
        if mailbox is not None:
            return mailbox
        label, owner = self._owner_of(table)
        with self._lock:
            mailbox = self._by_label.get(label)
            if mailbox is None:
                mailbox = RemoteMailbox(label, owner, self._reports, self._report)
                self._by_label[label] = mailbox
            self._by_table[table] = mailbox
        return mailbox

    def _report(self, fn: Callable[..., object], *args: Any) -> None:
        try:
            self._reporter.submit(fn, *args)
        except RuntimeError:  # shut down: report here rather than lose them
            fn(*args)

    def mailboxes(self) -> list[RemoteMailbox]:
        """Return the mailboxes made so far."""
        with self._lock:
            return list(self._by_label.values())

    def stop(self, timeout: float | None) -> bool:
        """Refuse new ops, fail the queued ones, and wait for calls in flight.

        Returns False if a call was still in flight after `timeout` seconds
        (its ops still end, when its owner answers or is found dead).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        for mailbox in self.mailboxes():
            left = mailbox.close()
            if left:
                error = StoreClosedError("store")
                self._report(
                    self._reports.finish_group, left, [Outcome(error=error)] * len(left)
                )
        idle = all(
            mailbox.wait_idle(
                None if deadline is None else max(0.0, deadline - time.monotonic())
            )
            for mailbox in self.mailboxes()
        )
        if idle:
            self._reporter.shutdown(wait=True)
        return idle
