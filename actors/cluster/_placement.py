"""Rendezvous (highest random weight) hashing: which node a new table goes to.

Every label gets a weight for the table from a stable hash of
`(label, table)`, and the heaviest label wins. The choice depends only on
the table name and the set of labels, so every client computes the same
one; adding a label moves only the tables that it now wins, and removing
one moves only its own. Placements are then made durable by the directory
owner, so a table never moves when the labels change later.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from actorstore.cluster._names import validate_label
from actorstore.storage import InvalidOptionError

__all__ = ["rendezvous_label", "rendezvous_weight"]


def rendezvous_weight(label: str, table: str) -> int:
    """Return `label`'s weight for `table`: 64 bits of a stable hash of both."""
    # blake2b, not hash(): str hashes are salted per process (PYTHONHASHSEED).
    digest = hashlib.blake2b(
        f"{label}\x00{table}".encode(), digest_size=8, person=b"actorstore"
    ).digest()
    return int.from_bytes(digest, "big")


def rendezvous_label(table: str, labels: Iterable[str]) -> str:
    """Return the label, among `labels`, that table `table` is placed on.

    Ties (astronomically unlikely) go to the smallest label, so the answer
    never depends on the order of `labels`.

    Raises:
        InvalidOptionError: if `labels` is empty or holds an invalid label.
    """
    candidates = {validate_label(label) for label in labels}
    if not candidates:
        raise InvalidOptionError(
            f"no node to place table {table!r} on; give at least one label"
        )
    return max(sorted(candidates), key=lambda label: rendezvous_weight(label, table))
