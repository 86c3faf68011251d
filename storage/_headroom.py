"""Headroom: zeros written past a SYNC table's last page, so commits overwrite.

LMDB appends pages to its data file as the data grows. On a SYNC table every
commit ends with an fsync, and a commit that made the file longer makes that
fsync also commit the new length to the file system's journal: on ext4 that
costs about a third more per commit. Pages written over blocks already on
disk change no metadata. So before each write transaction of a SYNC table
runs, `Headroom.keep()` makes sure that zeros lie past the last used page:
as many bytes as the table uses, up to `CHUNK` (so a small table stays
small), topped up once less than a quarter of that is left. The commit that
follows a top-up pays for writing the zeros once; the commits after it only
overwrite, until a commit needs more pages than the headroom holds.

Why it is safe: `keep()` runs inside a write transaction, before anything is
written in it, so LMDB's writer lock is held (no process writes the file
meanwhile) and no page of the transaction is on disk yet. LMDB never reads
a page past the last one its newest commit uses. And the zeros only ever go
past the current end of the file, never over a byte already in it. A crash
leaves a longer file that LMDB opens as before.
"""

from __future__ import annotations

import logging
import os

import lmdb

__all__ = ["CHUNK", "Headroom"]

logger = logging.getLogger(__name__)

CHUNK = 1 << 20
"""The most zeros kept past the last used page, in bytes."""


class Headroom:
    """Keep zeroed space past the last used page of one table's data file."""

    def __init__(self, data_file: str, page_size: int) -> None:
        self.data_file = data_file
        self.page_size = page_size
        self._end = 0  # the file's length when last looked at or extended
        self._retry_at = 0  # after a failure: the used bytes to try again at

    def keep(self, env: lmdb.Environment) -> None:
        """Top up the zeros past the last used page of `env` if they run low.

        Call it inside a write transaction of `env`, before anything is
        written in it. Never extends the file past the map size. Best effort:
        if the zeros cannot be written (a full disk, say), it logs a warning
        and the commit goes on without headroom (LMDB reports a full disk
        itself when it needs the space); it tries again once another `CHUNK`
        of pages is in use.
        """
        used = 0
        try:
            info = env.info()
            used = (int(info["last_pgno"]) + 1) * self.page_size
            room = min(CHUNK, used)
            if self._end - used >= room // 4 or used < self._retry_at:
                return
            # Another process, or a compaction, may have changed the file.
            self._end = os.stat(self.data_file).st_size
            if self._end - used >= room // 4:
                return
            start = max(self._end, used)
            end = min(used + room, int(info["map_size"]))
            if end <= start:  # at the map's end: look again once more is used
                self._retry_at = used + self.page_size
                return
            fd = os.open(self.data_file, os.O_WRONLY)
            try:
                written = os.pwrite(fd, bytes(end - start), start)
            finally:
                os.close(fd)
            self._end = start + written
        except Exception as exc:  # noqa: BLE001 - best effort, logged: no op fails
            self._retry_at = max(used, self._end) + CHUNK
            logger.warning(
                "no headroom for %s (will try again once %d bytes are used): %r",
                self.data_file,
                self._retry_at,
                exc,
            )
