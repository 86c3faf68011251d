"""Headroom: zeros written ahead of a SYNC table's last page, so commits only overwrite.

LMDB appends pages to its data file as the data grows. On a SYNC table every
commit ends with an fsync, and a commit that made the file longer makes that
fsync also commit the new file size to the file system's journal: on ext4
that costs about a third more per commit. Pages written over blocks already
on disk change no metadata. So a SYNC table keeps between `LOW_WATER` and
`CHUNK` bytes of written zeros past its last used page.

Safe because it runs inside a write transaction (LMDB's writer lock is held,
so no process writes the file meanwhile) before any op of the transaction
has run, and LMDB never reads a page past the last one its newest commit
uses: the zeros are only ever overwritten. A crash leaves a longer file that
LMDB opens as before.
"""

from __future__ import annotations

import logging
import os

import lmdb

__all__ = ["CHUNK", "LOW_WATER", "Headroom"]

logger = logging.getLogger(__name__)

CHUNK = 1 << 20
"""Bytes of zeros written at a time, past the last used page."""

LOW_WATER = 256 << 10
"""Fewer zeroed bytes than this past the last used page start a new chunk."""


class Headroom:
    """Keep zeroed space past the last used page of one table's data file."""

    def __init__(self, data_file: str, page_size: int) -> None:
        self.data_file = data_file
        self.page_size = page_size
        self._end = 0  # the file's length when last looked at or extended
        self._retry_at = 0  # after a failure: the used bytes to try again at

    def keep(self, env: lmdb.Environment) -> None:
        """Write a chunk of zeros past the last used page if too few are left.

        Call it inside a write transaction of `env`, before anything is
        written in it. Never extends the file past the map size. Best effort:
        if the zeros cannot be written (a full disk, say), it logs a warning
        and the commit goes on without headroom (LMDB reports a full disk
        itself when it needs the space); it tries again after another
        `CHUNK` bytes of pages are in use.
        """
        info = env.info()
        used = (info["last_pgno"] + 1) * self.page_size
        if self._end - used >= LOW_WATER or used < self._retry_at:
            return
        try:
            # Another process, or a compaction, may have changed the file.
            self._end = os.stat(self.data_file).st_size
            if self._end - used >= LOW_WATER:
                return
            start = max(self._end, used)
            end = min(start + CHUNK, int(info["map_size"]))
            if end <= start:
                return
            fd = os.open(self.data_file, os.O_WRONLY)
            try:
                written = os.pwrite(fd, bytes(end - start), start)
            finally:
                os.close(fd)
            self._end = start + written
        except OSError as exc:
            # Try again only once another chunk's worth of pages is in use.
            self._retry_at = used + CHUNK
            logger.warning(
                "no headroom for %s (tried again after %d more bytes): %s",
                self.data_file,
                CHUNK,
                exc,
            )
