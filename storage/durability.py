"""Durability: when a committed op is on disk."""

from __future__ import annotations

import enum

from actorstore.storage.errors import InvalidOptionError

__all__ = ["Durability"]


class Durability(enum.Enum):
    """How a table (or one op) makes its commits durable.

    `SYNC`: LMDB's full sync; an op is acknowledged only once it is on disk.
    A crash of the process or of the machine loses nothing acknowledged.

    `NONE`: LMDB's NOSYNC; an op is acknowledged after commit, before it is
    on disk, and the file is synced later (on flush, close and within the
    store's sync interval). What that risks:

    - A crash of the process loses nothing: committed data is in the
      operating system's cache, which outlives the process.
    - A power loss (or a kernel crash) loses every op acknowledged since the
      last sync: up to the sync interval's worth of writes.
    - Worse, as LMDB documents for NOSYNC, the disk may have written some
      pages of the last commits and not others, in any order: the file can
      then hold a B-tree whose pages do not agree, which LMDB may serve as
      wrong answers or crash on.

    So after an unclean shutdown (a process died with the table open), the
    next process to open a NONE table alone walks its whole file first and
    raises `StoreCorruptedError` instead of serving a damaged table (see
    `storage.integrity`); that walk reads the whole table, once. Restore the
    table from a backup then, or remove its directory if its data is
    disposable. `StoreDirectory.check()` runs the same walk on demand. Use
    NONE only for data you can rebuild or afford to lose.
    """

    SYNC = "sync"
    NONE = "none"

    @classmethod
    def coerce(cls, value: object) -> Durability:
        """Return `value` as a Durability, accepting the enum or its name/value.

        Raises:
            InvalidOptionError: for anything else.
        """
        if isinstance(value, Durability):
            return value
        if isinstance(value, str):
            for member in cls:
                if value.lower() in (member.value, member.name.lower()):
                    return member
        raise InvalidOptionError(
            f"unknown durability {value!r}; use Durability.SYNC or Durability.NONE"
        )
