"""InFlight: the ops outstanding in a store, bounded by `ops_max`."""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from actors.errors import OpsMaxExceededError
from actors.threads import on_store_thread

if TYPE_CHECKING:
    from actors.op import Op

__all__ = ["InFlight"]

_LATENCY_SAMPLES = 10_000


class InFlight:
    """Track outstanding ops: bound them, let `flush()` wait for them, count them.

    An op is outstanding from submission until its future is done, retries
    and callbacks included.
    """

    def __init__(self, ops_max: int) -> None:
        self.ops_max = ops_max
        # The hot paths take the bare lock (cheaper than the Condition's
        # Python-level __enter__); waiters wait on a Condition over the same lock.
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._ops: dict[int, Op] = {}
        self._slots = 0  # held by ops whose future is not done yet
        self._seq = itertools.count(1)
        self._last_seq = 0
        self._waiters = 0
        self.counts = {
            "completed": 0,
            "failed": 0,
            "retried": 0,
            "dead_lettered": 0,
        }
        self.latencies: deque[float] = deque(maxlen=_LATENCY_SAMPLES)

    def add(
        self,
        op: Op,
        wait: bool,
        timeout: float | None,
        force: bool = False,
        slot: bool = True,
    ) -> None:
        """Count `op` as outstanding, waiting for a slot only if `wait`.

        `force` admits it even past `ops_max` (internal ops, such as dead
        letters, must never be refused); `slot=False` tracks it for flush()
        only (a flow's run, which holds no slot of its own).

        Raises:
            OpsMaxExceededError: if no slot is free (after `timeout`, if
                waiting); at once on a store thread, where waiting could
                deadlock.
        """
        with self._lock:
            if self._slots >= self.ops_max and not force:
                if not wait or on_store_thread():
                    raise OpsMaxExceededError(ops_max=self.ops_max)
                deadline = None if timeout is None else time.monotonic() + timeout
                self._waiters += 1
                try:
                    while self._slots >= self.ops_max:
                        left = None if deadline is None else deadline - time.monotonic()
                        if left is not None and left <= 0:
                            raise OpsMaxExceededError(
                                ops_max=self.ops_max, timeout=timeout
                            )
                        self._cond.wait(left)
                finally:
                    self._waiters -= 1
            op.seq = self._last_seq = next(self._seq)
            op.submitted_at = time.perf_counter()
            self._ops[op.seq] = op
            if slot:
                self._slots += 1
                op.holds_slot = True

    def release(self, ops: list[Op]) -> None:
        """Free the slots of `ops` (their futures are about to complete)."""
        with self._lock:
            self._free_slots(ops)
            if self._waiters:
                self._cond.notify_all()

    def remove(self, ops: list[Op], *, failed: bool) -> None:
        """Count `ops` as finished (flush stops waiting for them); free their slots."""
        now = time.perf_counter()
        self.latencies.extend([now - op.submitted_at for op in ops])
        with self._lock:
            self._free_slots(ops)
            pop = self._ops.pop
            removed = 0
            for op in ops:
                if pop(op.seq, None) is not None:
                    removed += 1
            self.counts["failed" if failed else "completed"] += removed
            if self._waiters:
                self._cond.notify_all()

    def _free_slots(self, ops: list[Op]) -> None:
        """Free the slots `ops` still hold; the caller holds the lock."""
        for op in ops:
            if op.holds_slot:
                op.holds_slot = False
                self._slots -= 1

    def count(self, name: str) -> None:
        """Add one to counter `name` (retried, dead_lettered)."""
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
            result: dict[str, Any] = {"submitted": self._last_seq, **self.counts}
            result["in_flight"] = len(self._ops)
        result["latency_p50"] = _percentile(samples, 0.50)
        result["latency_p99"] = _percentile(samples, 0.99)
        return result


def _percentile(samples: list[float], q: float) -> float | None:
    if not samples:
        return None
    return samples[min(len(samples) - 1, int(q * len(samples)))]
