"""Replies a dead `reply_to` actor could not take: one warning per actor, with a count.

An op whose `reply_to` actor is dead keeps its result in its future; the
store says so once per actor and burst, not once per op (500 ops replying
to one dead actor were 500 warnings). The first undelivered reply to an
actor opens a window of `WINDOW` seconds on the store's timer; the replies
to it until the window closes, the store flushes or it closes are counted,
and then told in one warning.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from actorstore._timer import Timer

__all__ = ["WINDOW", "DeadReplies"]

logger = logging.getLogger(__name__)

WINDOW = 1.0
"""Seconds the replies to a dead actor are counted before they are told."""


class _Undelivered:
    __slots__ = ("actor", "count", "first_op", "last_op")

    def __init__(self, actor: str, op_id: int) -> None:
        self.actor = actor
        self.count = 1
        self.first_op = op_id
        self.last_op = op_id


class DeadReplies:
    """Count replies that dead `reply_to` actors could not take; warn once per
    actor and window. Thread-safe; never raises into its caller."""

    def __init__(self, scheduler: Timer) -> None:
        self._scheduler = scheduler
        self._lock = threading.Lock()
        self._pending: dict[str, _Undelivered] = {}

    def note(self, op_id: int, actor: Any) -> None:
        """Count op `op_id`'s reply, which `actor` (a dead pykka ActorRef) did
        not take; the first of a window schedules the warning."""
        key = str(getattr(actor, "actor_urn", None) or id(actor))
        with self._lock:
            undelivered = self._pending.get(key)
            if undelivered is not None:
                undelivered.count += 1
                undelivered.last_op = op_id
                return
            self._pending[key] = _Undelivered(str(actor), op_id)
        try:
            # At close (on_close), the count so far is told at once.
            self._scheduler.call_later(
                WINDOW, self._tell, key, on_close=lambda: self._tell(key)
            )
        except Exception:  # noqa: BLE001 - a closed timer: tell it now
            self._tell(key)

    def tell_all(self) -> None:
        """Warn now of every reply counted and not yet told (at flush)."""
        with self._lock:
            keys = list(self._pending)
        for key in keys:
            self._tell(key)

    def _tell(self, key: str) -> None:
        with self._lock:
            undelivered = self._pending.pop(key, None)
        if undelivered is None:
            return  # told already (a flush came first)
        count = undelivered.count
        ops = (
            f"op {undelivered.first_op}"
            if count == 1
            else f"ops {undelivered.first_op} to {undelivered.last_op}"
        )
        logger.warning(
            "reply_to actor %s is dead: %d %s (%s) could not be delivered; "
            "the results stay in the ops' futures",
            undelivered.actor,
            count,
            "reply" if count == 1 else "replies",
            ops,
        )
