"""LetterSpool: dead letters kept on the client while the directory is out of reach.

A letter the cluster's dead-letter table cannot take is appended, fsynced,
to a local JSON-lines file; the file is forwarded to the directory owner in
one call at the next flush, and trimmed of what was forwarded.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from typing import Any

from actorstore.cluster._calls import DIRECTORY_CALLS, call
from actorstore.cluster._wire import outcomes_of, wire_op
from actorstore.retry import DEAD_LETTER_TABLE, DeadLetter
from actorstore.storage import StoreError

__all__ = ["LetterSpool"]

logger = logging.getLogger(__name__)


class LetterSpool:
    """The local spool file of a cluster client's dead letters."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()

    def keep(self, letter: DeadLetter) -> str:
        """Append `letter` to the local spool file; it is forwarded later.

        Raises:
            StorageError: (an OSError, translated) if the file cannot be written.
        """
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        line = json.dumps(letter.to_json(), sort_keys=True) + "\n"
        with self._lock, open(self.path, "a", encoding="utf-8") as spool:
            spool.write(line)
            spool.flush()
            os.fsync(spool.fileno())
        return self.path

    def forward(self, directory_owner: Any) -> None:
        """Write the spooled dead letters to the directory, in one call.

        The lock is held only to read and to trim the file, never across the
        call: letters spooled meanwhile stay for the next round, and so do
        all of them if the directory is still out of reach.
        """
        with self._lock:
            try:
                with open(self.path, "rb") as spool:
                    taken = spool.read()
            except FileNotFoundError:
                return
        records = [json.loads(line) for line in taken.splitlines() if line.strip()]
        if records:
            ops = [wire_op("upsert", record["id"], record) for record in records]
            try:
                answer = call(
                    directory_owner.run,
                    [(DEAD_LETTER_TABLE, ops, [True] * len(ops))],
                    label=DIRECTORY_CALLS,
                )
            except StoreError:
                return  # still out of reach: kept for the next round
            failed = [o.error for o in outcomes_of(answer[0]) if o.error is not None]
            if failed:
                logger.error("spooled dead letters not forwarded: %r", failed[0])
                return
        with self._lock:
            with open(self.path, "rb") as spool:
                now = spool.read()
            left = now[len(taken) :]  # spooled while this round ran
            if left:
                tmp = self.path + ".tmp"
                with open(tmp, "wb") as spool:
                    spool.write(left)
                    spool.flush()
                    os.fsync(spool.fileno())
                os.replace(tmp, self.path)
            else:
                os.remove(self.path)
        logger.info("forwarded %d spooled dead letters", len(records))
