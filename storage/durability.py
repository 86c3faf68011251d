"""Durability: when a committed op is on disk."""

from __future__ import annotations

import enum

from storage.errors import InvalidOptionError

__all__ = ["Durability"]


class Durability(enum.Enum):
    """How a table (or one op) makes its commits durable.

    `SYNC`: LMDB's full sync; an op is acknowledged only once it is on disk.
    `NONE`: LMDB's NOSYNC; an op is acknowledged after commit and the file is
    synced later (on flush, close and within the store's sync interval). A
    process crash loses nothing committed; a power loss can lose recent ops
    and, as LMDB documents, may damage the file on filesystems that reorder
    writes.
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
