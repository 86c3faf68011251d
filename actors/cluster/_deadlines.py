"""Deadlines of remote calls: a call its owner has not answered in time ends.

Ray keeps a call to an actor pending while the actor's node is gone and
Ray has not yet noticed (its default health checks take half a minute and
more), and indefinitely when the actor restarts on a node that never comes
back. A call therefore gets a deadline of its own: when it passes, the
call's ops end as if their owner had died mid-call (their outcome is
unknown), and their retries (each op keeps its number: see
`actors._exactly_once`) are answered from the owner's records if the
first call did commit. One thread watches every deadline of a client.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

__all__ = ["CallDeadlines"]

logger = logging.getLogger(__name__)


class CallDeadlines:
    """Run a function when a call's deadline passes, unless it was cancelled.

    Thread-safe. Its thread ("ClusterDeadlines", a daemon) starts with the
    first deadline and waits on a condition, never polling.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._heap: list[tuple[float, int, Callable[[], object]]] = []
        self._cancelled: set[int] = set()
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def watch(self, seconds: float, expired: Callable[[], object]) -> int:
        """Call `expired()` in `seconds` unless `cancel()` is called with the id
        this returns first."""
        with self._lock:
            ident = next(self._ids)
            entry = (time.monotonic() + seconds, ident, expired)
            heapq.heappush(self._heap, entry)
            if self._thread is None and not self._stopped:
                self._thread = threading.Thread(
                    target=self._run, name="ClusterDeadlines", daemon=True
                )
                self._thread.start()
            elif self._heap[0] is entry:
                # Earlier than what the thread waits for: wake it. Otherwise
                # it need not wake (a wake-up per call would cost every call).
                self._changed.notify()
        return ident

    def cancel(self, ident: int) -> None:
        """Forget deadline `ident` (its call was answered in time)."""
        with self._lock:
            self._cancelled.add(ident)

    def stop(self) -> None:
        """End the thread; deadlines still pending never fire."""
        with self._lock:
            self._stopped = True
            self._changed.notify()

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._stopped:
                    while self._heap and self._heap[0][1] in self._cancelled:
                        self._cancelled.discard(heapq.heappop(self._heap)[1])
                    if not self._heap:
                        self._changed.wait()
                        continue
                    left = self._heap[0][0] - time.monotonic()
                    if left <= 0:
                        break
                    self._changed.wait(left)
                if self._stopped:
                    return
                _, _, expired = heapq.heappop(self._heap)
            try:
                expired()
            except BaseException:  # a bug: the other deadlines still fire
                logger.error("ending a call past its deadline failed", exc_info=True)
