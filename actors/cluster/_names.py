"""Names in a cluster: node labels, their Ray resources, and the owners' actor names.

A node that may own tables is started with the custom resource
`actorstore-<label>`; owners are placed by that resource, never by a node
id (a node that comes back gets a new id but keeps its label).
"""

from __future__ import annotations

import re

from actorstore.storage import InvalidOptionError

__all__ = [
    "DIRECTORY_OWNER_NAME",
    "NAMESPACE",
    "label_resource",
    "node_owner_name",
    "validate_label",
]

NAMESPACE = "actorstore"
"""The Ray namespace owners are named in unless a caller picks another."""

DIRECTORY_OWNER_NAME = "actorstore-directory"
"""The Ray actor name of the directory owner (placement map, dead letters)."""

_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def validate_label(label: object) -> str:
    """Return `label` if it can name a node (and so a Ray resource).

    Raises:
        InvalidOptionError: for anything but 1 to 64 letters, digits, `_` or
            `-`, starting with a letter or digit.
    """
    if not isinstance(label, str) or not _LABEL.fullmatch(label):
        raise InvalidOptionError(
            f"invalid node label {label!r}: use 1 to 64 letters, digits, '_' or "
            "'-', starting with a letter or digit (e.g. 'a', 'disk-2')"
        )
    return label


def label_resource(label: str) -> str:
    """Return the custom Ray resource a node with `label` is started with."""
    return f"actorstore-{validate_label(label)}"


def node_owner_name(label: str) -> str:
    """Return the Ray actor name of the owner of the tables on node `label`."""
    return f"actorstore-node-{validate_label(label)}"
