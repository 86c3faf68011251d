"""InFlight: the ops outstanding in a store, bounded by `ops_max`."""

from __future__ import annotations

import itertools
import logging
import math
import threading
import time

# In asyncio's __all__: the running loop or None, without raising.
from asyncio import _get_running_loop
from collections import deque
from typing import TYPE_CHECKING, Any

from actorstore._threads import on_store_thread
from actorstore.errors import OpsMaxExceededError

if TYPE_CHECKING:
    from actorstore._record import OpRecord as Op

__all__ = ["InFlight"]

logger = logging.getLogger(__name__)

_LATENCY_SAMPLES = 10_000
_READ_SAMPLING = 16
"""One plain read at once in this many has its latency sampled (they are
alike, and timing each would cost it a tenth of its time)."""


class InFlight:
    """Track outstanding ops: bound them, let `flush()` wait for them, count them.

    An op is outstanding from submission until its future is done, retries
    and callbacks included. Each holds one of `ops_max` slots; past that a
    submitter waits for a slot, or on a running event loop's thread (which
    must never block) the op is parked: `release` and `remove` return the
    parked ops they gave a slot to, in order, and whoever called them queues
    those, then calls `admitted`.
    """

    def __init__(self, ops_max: int) -> None:
        self.ops_max = ops_max
        # The hot paths take the bare lock (cheaper than the Condition's
        # Python-level __enter__); waiters wait on a Condition over the same lock.
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._ops: dict[int, Op] = {}
        self._slots = 0  # held by ops whose future is not done yet
        self.parked: deque[Op] = deque()
        self.admitting = 0
        """Ops taken from `parked` and not yet queued: like parked ones, they
        keep later ops (and reads at once) behind them."""
        """Ops waiting for a slot without blocking (submitted on an event loop)."""
        self._seq = itertools.count(1)
        self._last_seq = 0
        self._waiters = 0
        self.counts = {
            "completed": 0,
            "failed": 0,
            "retried": 0,
            "dead_lettered": 0,
            "read_at_once": 0,
            "callback_failed": 0,
        }
        self.latencies: deque[float] = deque(maxlen=_LATENCY_SAMPLES)
        # Plain reads at once are counted apart, without the lock: next() on
        # an itertools.count is atomic. stats() reads the tally with a next()
        # of its own, so it subtracts the ones it took.
        self._plain_reads = itertools.count(1)
        self._tally_reads = 0

    def add(
        self, op: Op, *, wait: bool, timeout: float | None, internal: bool = False
    ) -> bool:
        """Count `op` as outstanding with a slot; return False if it was parked.

        `internal` ops (dead letters) are admitted even past `ops_max`: they
        must never be refused. Past `ops_max`, with `wait` false it refuses
        at once; on a running event loop's thread it parks the op (see
        `admit`); on a store thread (where waiting could deadlock) it
        refuses at once; else it waits up to `timeout` seconds (None: for
        ever) for a slot.

        Raises:
            OpsMaxExceededError: if no slot is free and it may not wait, or
                `timeout` passed first.
        """
        # Whether this thread runs a loop is asked outside the lock, which
        # owners freeing slots wait for; before it when ops are parked already
        # (then this one most likely is too: one lock, not two).
        on_loop = _on_running_loop() if wait and self.parked else None
        with self._lock:
            if internal or (
                self._slots < self.ops_max and not self.parked and not self.admitting
            ):
                self._register(op, slot=True)
                return True
            if not wait:
                raise OpsMaxExceededError(ops_max=self.ops_max)
            if on_loop:
                self._register(op, slot=False)
                self.parked.append(op)
                return False
        if on_loop is None:
            on_loop = _on_running_loop()
        # Parking never blocks: a loop's thread parks even if it is a store
        # thread, where waiting could deadlock.
        if not on_loop and on_store_thread():
            raise OpsMaxExceededError(ops_max=self.ops_max)
        with self._lock:
            if self._slots < self.ops_max and not self.parked and not self.admitting:
                self._register(op, slot=True)
                return True
            if on_loop:
                self._register(op, slot=False)
                self.parked.append(op)
                return False
            if timeout is not None and math.isinf(timeout):
                timeout = None  # Condition.wait() refuses an infinite timeout
            deadline = None if timeout is None else time.monotonic() + timeout
            self._waiters += 1
            try:
                while self._slots >= self.ops_max or self.admitting:
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        raise OpsMaxExceededError(ops_max=self.ops_max, timeout=timeout)
                    self._cond.wait(left)
            finally:
                self._waiters -= 1
            self._register(op, slot=True)
            return True

    def track(self, op: Op) -> None:
        """Count `op` as outstanding for `flush()` only (a flow's run: no slot)."""
        with self._lock:
            self._register(op, slot=False)

    def _register(self, op: Op, *, slot: bool) -> None:
        # The caller holds the lock.
        op.seq = self._last_seq = next(self._seq)
        op.submitted_at = time.monotonic()
        self._ops[op.seq] = op
        if slot:
            self._slots += 1
            op.holds_slot = True

    def oldest(self) -> int:
        """Return the seq of the oldest op outstanding (the next seq if none):
        every op numbered below it has finished (exactly once's mark)."""
        with self._lock:
            for seq in self._ops:
                return seq
            return self._last_seq + 1

    def next_seq(self) -> int:
        """Return a new seq, above every one taken so far (an op's new number)."""
        with self._lock:
            return next(self._seq)

    def release(self, ops: list[Op]) -> list[Op]:
        """Free the slots of `ops` (their futures are about to complete).

        Return the parked ops given a slot so, in order: the caller queues
        them, then calls `admitted`.
        """
        with self._lock:
            admitted = self._free_slots(ops)
            if self._waiters:
                self._cond.notify_all()
        return admitted

    def remove(self, ops: list[Op], *, failed: bool) -> list[Op]:
        """Count `ops` as finished (flush stops waiting for them); free their slots.

        Return the parked ops given a slot so, as `release` does.
        """
        now = time.monotonic()
        self.latencies.extend([now - op.submitted_at for op in ops])
        with self._lock:
            admitted = self._free_slots(ops)
            pop = self._ops.pop
            finished = 0
            for op in ops:
                # seq 0: a read that ran at once, never tracked.
                if op.seq == 0 or pop(op.seq, None) is not None:
                    finished += 1
            self.counts["failed" if failed else "completed"] += finished
            if self._waiters:
                self._cond.notify_all()
        return admitted

    def admitted(self, count: int) -> None:
        """Count `count` ops given a slot as queued: until then they hold back
        later ops and reads at once, as parked ones do."""
        with self._lock:
            self.admitting -= count
            if self._waiters:
                self._cond.notify_all()

    def _free_slots(self, ops: list[Op]) -> list[Op]:
        """Free the slots `ops` still hold, give them to parked ops in order, and
        return the ops admitted so; the caller holds the lock."""
        for op in ops:
            if op.holds_slot:
                op.holds_slot = False
                self._slots -= 1
        admitted: list[Op] = []
        parked = self.parked
        while parked and self._slots < self.ops_max:
            op = parked.popleft()
            op.holds_slot = True
            self._slots += 1
            admitted.append(op)
        self.admitting += len(admitted)
        return admitted

    def read_at_once(self, started: float) -> float | None:
        """Count a plain read that ran at once and succeeded (it began at
        `started`); its latency is sampled, one read in `_READ_SAMPLING`:
        return it when it was, else None."""
        if next(self._plain_reads) % _READ_SAMPLING:
            return None
        latency = time.monotonic() - started
        self.latencies.append(latency)
        return latency

    def count(self, name: str) -> None:
        """Add one to counter `name` (retried, dead_lettered, read_at_once, ...)."""
        with self._lock:
            self.counts[name] += 1

    def wait_for_submitted(self, timeout: float | None) -> bool:
        """Wait until every op submitted so far has finished; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            target = self._last_seq
            self._waiters += 1
            try:
                while self._ops and next(iter(self._ops)) <= target:
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        return False
                    self._cond.wait(left)
            finally:
                self._waiters -= 1
        return True

    def snapshot(self) -> list[Op]:
        """Return the outstanding ops, oldest first."""
        with self._cond:
            return list(self._ops.values())

    def __len__(self) -> int:
        return len(self._ops)

    def stats(self) -> dict[str, Any]:
        """Return the counters, the in-flight count and latency percentiles."""
        samples = sorted(self.latencies)
        with self._cond:
            result: dict[str, Any] = dict(self.counts)
            self._tally_reads += 1
            plain_reads = next(self._plain_reads) - self._tally_reads
            result["read_at_once"] += plain_reads
            result["completed"] += plain_reads
            # Plain reads at once never took a sequence number; the other
            # reads at once (failed, or replying to an actor) did.
            result["submitted"] = self._last_seq + plain_reads
            result["in_flight"] = len(self._ops)
            result["parked"] = len(self.parked)
        result["latency_p50"] = _percentile(samples, 0.50)
        result["latency_p99"] = _percentile(samples, 0.99)
        return result


def _percentile(samples: list[float], q: float) -> float | None:
    if not samples:
        return None
    return samples[min(len(samples) - 1, int(q * len(samples)))]


def _on_running_loop() -> bool:
    """Return whether the calling thread is running an asyncio event loop."""
    return _get_running_loop() is not None
