"""LazySync: NONE tables written since their last sync are synced on the timer."""

from __future__ import annotations

import contextlib
import logging
import math
import threading
from typing import TYPE_CHECKING

from actorstore.storage import StoreClosedError

if TYPE_CHECKING:
    from actorstore._timer import Timer
    from actorstore.storage import StoreDirectory

__all__ = ["LazySync"]

logger = logging.getLogger(__name__)


class LazySync:
    """Sync each written NONE table within `interval` seconds, and on demand.

    Owners call `dirty(name)` after a NONE table's group commits; the store's
    timer syncs those tables every `interval` seconds (an infinite interval
    syncs only on `flush()` and `close()`).
    """

    def __init__(
        self, directory: StoreDirectory, scheduler: Timer, interval: float
    ) -> None:
        self._directory = directory
        self._scheduler = scheduler
        self._interval = interval
        self._dirty: set[str] = set()
        self._lock = threading.Lock()
        self._stopped = False
        if math.isfinite(interval):
            scheduler.call_later(interval, self._tick)

    def dirty(self, name: str) -> None:
        """Note that table `name` has commits not yet synced."""
        self._dirty.add(name)

    def _tick(self) -> None:
        self.sync(raise_errors=False)
        if not self._stopped:
            # The scheduler refuses once closed: the store is closing.
            with contextlib.suppress(RuntimeError):
                self._scheduler.call_later(self._interval, self._tick)

    def stop(self) -> None:
        """Stop ticking (the store is closing)."""
        self._stopped = True

    def sync(self, *, raise_errors: bool) -> None:
        """Sync the NONE tables written since their last sync.

        A table whose sync fails stays dirty (the next tick or flush tries
        again); the first failure is raised if `raise_errors`, else logged.
        """
        failed: list[tuple[str, Exception]] = []
        # One sync pass at a time, so a flush waits for a tick's pass to end.
        with self._lock:
            while True:
                try:
                    name = self._dirty.pop()
                except KeyError:
                    break
                try:
                    self._directory.table(name, internal=True).sync()
                except StoreClosedError:
                    continue  # dropped, or the store closed: nothing to sync
                except Exception as exc:  # noqa: BLE001 - raised or logged below
                    failed.append((name, exc))
            self._dirty.update(name for name, _ in failed)
        if failed and raise_errors:
            raise failed[0][1]
        for name, problem in failed:
            logger.error("sync of table %s failed: %r", name, problem)
