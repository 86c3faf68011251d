"""DirectoryOwner: the named actor that keeps a cluster's placements and dead letters.

It is a `NodeOwner` of its own small store (`<node path>/_cluster`, on the
node of the first label in sorted order unless told otherwise), whose
internal tables are `__placement__` (table name -> label) and the
cluster's `__dead_letters__`. Dead letters are written and read with the
same `run` calls as any table; `place` decides where a new table lives.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from actorstore.cluster._names import DIRECTORY_OWNER_NAME, NAMESPACE, validate_label
from actorstore.cluster._node import NodeOwner, portable_errors
from actorstore.cluster._owner_actors import START_TIMEOUT, find_owner, start_owner
from actorstore.cluster._placement import rendezvous_label
from actorstore.retry import DEAD_LETTER_TABLE
from actorstore.storage import (
    Durability,
    InvalidOptionError,
    NotFoundError,
    TableExistsError,
    validate_table_name,
)

__all__ = [
    "DIRECTORY_DIR",
    "PLACEMENT_TABLE",
    "DirectoryOwner",
    "directory_label",
    "find_directory_owner",
    "start_directory_owner",
]

PLACEMENT_TABLE = "__placement__"
"""The internal, SYNC table mapping each table's name to its node's label."""

DIRECTORY_DIR = "_cluster"
"""The directory owner's store, inside the store path of its node."""

_TABLES = ((PLACEMENT_TABLE, "str", "str"), (DEAD_LETTER_TABLE, "int", "json"))
"""The directory's internal tables and their key and value formats."""


class DirectoryOwner(NodeOwner):
    """Keep where each table lives, durably, and the cluster's dead letters."""

    def __init__(self, label: str, path: str, **store_options: Any) -> None:
        """Open (or create) the directory's store at `path` on this node.

        Raises:
            InvalidOptionError: for a bad label, path or size.
            LmdbError: if the directory cannot be opened.
        """
        super().__init__(label, path, **store_options)
        for name, key_format, value_format in _TABLES:
            self._directory.create_table(
                name,
                key_format=key_format,
                value_format=value_format,
                durability=Durability.SYNC,
                exist_ok=True,
                internal=True,
            )

    @portable_errors
    def place(self, table: str, labels: Iterable[str], node: str | None = None) -> str:
        """Return the label table `table` lives on, placing it if it is new.

        A new table goes to `node` when given (pinned), else to the label
        rendezvous hashing picks among `labels`; the choice is on disk
        before this returns. A placed table stays where it is whatever
        `labels` says now.

        Raises:
            InvalidTableNameError: for a name that is not allowed.
            InvalidOptionError: for an invalid label, no labels, or a
                `node` that is not one of `labels`.
            TableExistsError: if `node` is given and the table lives elsewhere.
        """
        validate_table_name(table)
        candidates = sorted({validate_label(label) for label in labels})
        if node is not None and node not in candidates:
            raise InvalidOptionError(
                f"table {table!r}: node {node!r} is not one of the nodes "
                f"{candidates}; add it to nodes= or pick another"
            )
        session = self._session(PLACEMENT_TABLE)
        try:
            placed: str = session.search(table)
        except NotFoundError:
            label = node if node is not None else rendezvous_label(table, candidates)
            session.insert(table, label)
            return label
        if node is not None and node != placed:
            raise TableExistsError(
                f"table {table!r} lives on node {placed!r}, not {node!r}; "
                f"use node={placed!r} or leave node= out",
                table=table,
            )
        return placed

    @portable_errors
    def placement(self) -> dict[str, str]:
        """Return every placed table's label, by table name."""
        return dict(self._session(PLACEMENT_TABLE).scan())


def directory_label(nodes: Mapping[str, str]) -> str:
    """Return the label whose node holds the directory: the first, sorted.

    Raises:
        InvalidOptionError: if `nodes` is empty.
    """
    if not nodes:
        raise InvalidOptionError("nodes= is empty; give at least one label: path")
    return min(nodes)


def start_directory_owner(
    nodes: Mapping[str, str],
    *,
    label: str | None = None,
    namespace: str = NAMESPACE,
    timeout: float = START_TIMEOUT,
) -> Any:
    """Start (or find) the directory owner; return its handle.

    It lives on node `label` (default: the first of `nodes`, sorted) in
    `<that node's path>/_cluster`, so every client given the same `nodes`
    finds the same one.

    Raises:
        InvalidOptionError: for an unknown label or a relative path.
        OwnerUnavailableError: if it did not answer within `timeout`.
    """
    if label is None:
        label = directory_label(nodes)
    if label not in nodes:
        raise InvalidOptionError(
            f"directory label {label!r} is not one of the nodes {sorted(nodes)}"
        )
    return start_owner(
        DirectoryOwner,
        DIRECTORY_OWNER_NAME,
        label,
        os.path.join(nodes[label], DIRECTORY_DIR),
        namespace=namespace,
        timeout=timeout,
    )


def find_directory_owner(*, namespace: str = NAMESPACE) -> Any:
    """Return the handle of the running directory owner.

    Raises:
        OwnerUnavailableError: if none was started in `namespace`.
    """
    return find_owner(DIRECTORY_OWNER_NAME, "directory", namespace=namespace)
