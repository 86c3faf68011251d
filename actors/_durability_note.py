"""An op asking for `Durability.NONE` on a SYNC table is synced anyway: say so once.

A SYNC table opens with LMDB's full sync, so each of its commits is on disk
before it counts, whatever an op asks; asking for NONE there is stronger
than asked (nothing is lost) but not the speed asked for. The store tells
it once, with a logger warning, rather than on every such op.
"""

from __future__ import annotations

import logging
from typing import Any

from actorstore.storage import Durability

__all__ = ["NoneOnSyncNote"]

logger = logging.getLogger(__name__)


class NoneOnSyncNote:
    """Warn, once per store, of an op asking for NONE on a SYNC table."""

    def __init__(self) -> None:
        self._told = False

    def check(self, op_id: int, table: Any) -> None:
        """Warn if `table` (an op's table, asked for NONE) is SYNC, unless told."""
        if self._told or getattr(table, "durability", None) is not Durability.SYNC:
            return
        self._told = True  # a race may tell it twice: harmless
        logger.warning(
            "op %d asks for durability NONE on table %s, a SYNC table: it is "
            "synced anyway (a SYNC table syncs every commit; create the table "
            "with durability NONE for unsynced writes). Said once per store.",
            op_id,
            getattr(table, "name", "?"),
        )
