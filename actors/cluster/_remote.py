"""The remote transport's mailboxes: one per Ray owner, and the routing over them.

One Ray call costs about as much as a few hundred local ops, so a call
carries a group, not an op: each `RemoteMailbox` keeps one call in flight
and merges every op queued meanwhile into the next call (up to
`MAX_CALL`), grouped by table in submission order, each group with its
ops' numbers (exactly once: `actors._exactly_once`). One ObjectRef answers
a whole call; its outcomes go to the store's `OwnerReports` on one
reporter thread (a store thread, never one of Ray's), as a local owner's
would. A call not answered by its deadline ends as if its owner had died
mid-call (`actors.cluster.deadlines`).
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ray

from actorstore._threads import mark_owner_thread
from actorstore.cluster._deadlines import CallDeadlines
from actorstore.cluster._errors import translate_call_error
from actorstore.cluster._wire import Group, GroupAnswer, outcomes_of, wire_op
from actorstore.errors import OutcomeUnknownError, OwnerLostError
from actorstore.storage import Durability, OpType, StoreClosedError, StoreError
from actorstore.storage._requests import Outcome

if TYPE_CHECKING:
    from actorstore._record import OpRecord as Op
    from actorstore._transports.base import OwnerReports
    from actorstore.storage._op_numbers import OpNumbers

__all__ = [
    "CALL_DEADLINE_MARGIN",
    "COMPACT_DEADLINE",
    "MAX_CALL",
    "NOT_RESENT",
    "RemoteMailbox",
    "RemoteOwners",
]

logger = logging.getLogger(__name__)

MAX_CALL = 512
"""Most ops one call to an owner carries."""

NOT_RESENT = frozenset({OpType.COMPACT})
"""Op types not sent again when their owner died mid-call: a compaction runs
in no transaction, so no record answers it. Every other op is (its owner
answers it from its session's records if it did commit)."""

CALL_DEADLINE_MARGIN = 5.0
"""Seconds a call may take past the slowest call its owner answered so far,
by default: then it ends as if its owner had died (`call_timeout=` fixes it)."""

COMPACT_DEADLINE = 600.0
"""The least deadline of a call that carries a compaction (a big table's takes
minutes)."""


class _Call:
    """One call in flight: its ops, where each op's outcome is in the answer,
    each group's numbers; it ends once (answered, failed or past its deadline)."""

    __slots__ = ("deadline", "ended", "numbers", "ops", "places", "sent_at", "tables")

    def __init__(
        self,
        ops: list[Op],
        places: list[tuple[int, int]],
        tables: list[str],
        numbers: list[OpNumbers | None],
    ) -> None:
        self.ops = ops
        self.places = places
        self.tables = tables
        self.numbers = numbers
        self.sent_at = time.monotonic()
        self.deadline: int | None = None
        self.ended = False


class RemoteMailbox:
    """The mailbox of one remote owner: one call in flight, the rest queued.

    Never blocks a submitter: `put` queues, and sends a call only when none
    is in flight. Every op it took ends: with its outcome, or with the error
    its call failed with (`OwnerUnavailableError`: nothing ran;
    `OwnerLostError`: the owner died after the call was sent, or did not
    answer by the call's deadline, and the op may be sent again with its
    number; `OutcomeUnknownError` for a compaction).

    A call's deadline is `call_timeout` seconds, or by default
    `CALL_DEADLINE_MARGIN` past the slowest call this owner answered.
    """

    def __init__(
        self,
        label: str,
        owner: Any,
        reports: OwnerReports,
        report: Callable[..., object],
        deadlines: CallDeadlines | None = None,
        call_timeout: float | None = None,
    ) -> None:
        self.label = label
        self._owner = owner
        self._reports = reports
        self._report = report
        self._deadlines = deadlines or CallDeadlines()
        self._call_timeout = call_timeout
        self.slowest = 0.0
        """Seconds the slowest call answered so far took."""
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

    def deadline(self, ops: list[Op]) -> float:
        """Return the seconds a call carrying `ops` may take."""
        seconds = (
            self._call_timeout
            if self._call_timeout is not None
            else self.slowest + CALL_DEADLINE_MARGIN
        )
        if any(op.type is OpType.COMPACT for op in ops):
            seconds = max(seconds, COMPACT_DEADLINE)
        return seconds

    def _send(self, ops: list[Op]) -> None:
        """Send `ops` as one call; its outcomes come back through `_ended`."""
        session = self._reports.session
        groups, places, by_table = _grouped(ops)
        numbers = [session.numbers(table, by_table[table]) for table, *_ in groups]
        numbered: list[Group] = [
            (table, wire_ops, sync, None if n is None else n.to_wire())
            for (table, wire_ops, sync), n in zip(groups, numbers, strict=True)
        ]
        call = _Call(ops, places, [table for table, *_ in groups], numbers)
        self.calls += 1
        try:
            if not ray.is_initialized():  # touching Ray would start a session
                raise StoreClosedError("store's connection to Ray")
            future = self._owner.run.remote(numbered).future()
        except BaseException as exc:  # noqa: BLE001 - the call's ops end with it
            self._ended(call, None, exc)
            return
        call.deadline = self._deadlines.watch(
            self.deadline(ops), lambda: self._ended(call, None, _PastDeadline(call))
        )
        # Attached outside any lock: attaching it can run it at once.
        future.add_done_callback(lambda done: self._ended(call, done, None))

    def _ended(
        self,
        call: _Call,
        done: concurrent.futures.Future[list[GroupAnswer]] | None,
        error: BaseException | None,
    ) -> None:
        """Take a call's answer (or failure); send the next call; report the ops'
        outcomes. Only the first of its answer and its deadline counts."""
        if done is not None and error is None and done.exception() is None:
            self.slowest = max(self.slowest, time.monotonic() - call.sent_at)
        with self._lock:
            if call.ended:
                return  # answered after its deadline: its ops ended already
            call.ended = True
        if call.deadline is not None and not isinstance(error, _PastDeadline):
            self._deadlines.cancel(call.deadline)
        ops = call.ops
        outcomes: list[Outcome]
        try:
            if error is None and done is not None:
                answers = [outcomes_of(answer) for answer in done.result()]
                outcomes = [answers[group][index] for group, index in call.places]
                session = self._reports.session
                for table, numbers, answer in zip(
                    call.tables, call.numbers, answers, strict=True
                ):
                    session.answered(table, numbers, answer)
            else:
                raise error or RuntimeError("a call ended with no answer")
        except BaseException as exc:  # noqa: BLE001 - every op of the call ends
            outcomes = [
                Outcome(error=self._call_failed(exc, op.type not in NOT_RESENT))
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

    def _call_failed(self, error: BaseException, resent: bool) -> BaseException:
        """Return one op's error for a call that failed with `error`.

        A failure that is not the owner's (a lost object, a short answer, a
        deadline) leaves the op's fate unknown all the same: it is said so,
        never handed on as is (each op gets its own error object). An op
        that may be `resent` (it keeps its number) gets `OwnerLostError`,
        which policies retry.
        """
        translated = translate_call_error(error, label=self.label, idempotent=resent)
        if isinstance(translated, StoreError):
            return translated
        kind = OwnerLostError if resent else OutcomeUnknownError
        reason = (
            str(error)
            if isinstance(error, _PastDeadline)
            else f"{type(error).__name__}: {error}"
        )
        unknown = kind(label=self.label, reason=reason)
        unknown.__cause__ = error
        return unknown


class _PastDeadline(Exception):
    """A call was not answered by its deadline (it may still run, or have run)."""

    def __init__(self, call: _Call) -> None:
        super().__init__(
            f"no answer within {time.monotonic() - call.sent_at:.1f} s "
            "(its node may be down)"
        )


def _grouped(
    ops: list[Op],
) -> tuple[
    list[tuple[str, list[Any], list[bool]]], list[tuple[int, int]], dict[str, list[Op]]
]:
    """Return the call's groups (one per table, in order), each op's place, and
    each table's ops."""
    groups: list[tuple[str, list[Any], list[bool]]] = []
    index_of: dict[str, int] = {}
    places: list[tuple[int, int]] = []
    by_table: dict[str, list[Op]] = {}
    for op in ops:
        group = index_of.get(op.table)
        if group is None:
            group = index_of[op.table] = len(groups)
            groups.append((op.table, [], []))
            by_table[op.table] = []
        _, wire_ops, sync = groups[group]
        places.append((group, len(wire_ops)))
        by_table[op.table].append(op)
        # The op was checked with the table's codecs at submission; its raw
        # arguments cross (plain tuples pickle far faster than operations).
        assert op.type is not None
        wire_ops.append(wire_op(op.type, op.key, op.value, **op.options))
        sync.append(op.durability is Durability.SYNC)
    return groups, places, by_table


class RemoteOwners:
    """The mailboxes of a cluster store: each table's owner is its node's."""

    def __init__(
        self,
        owner_of: Callable[[str], tuple[str, Any]],
        reports: OwnerReports,
        *,
        call_timeout: float | None = None,
    ) -> None:
        """Route each table to `owner_of(table)`: its node's label and owner.

        Outcomes are reported on one thread of the store's own (marked as
        a store thread): Ray's threads never run the store's callbacks.
        Each call gets a deadline (`RemoteMailbox`): `call_timeout` seconds,
        or by default a margin past the slowest call its owner answered.
        """
        self._owner_of = owner_of
        self._reports = reports
        self._deadlines = CallDeadlines()
        self._call_timeout = call_timeout
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
                mailbox = RemoteMailbox(
                    label,
                    owner,
                    self._reports,
                    self._report,
                    self._deadlines,
                    self._call_timeout,
                )
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
            self._deadlines.stop()
        return idle
