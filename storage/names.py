"""Table names: plain names that can never reach outside the store directory."""

from __future__ import annotations

import re

from actorstore.storage.errors import InvalidTableNameError

__all__ = ["MAX_TABLE_NAME_LENGTH", "validate_table_name"]

MAX_TABLE_NAME_LENGTH = 64
_ALLOWED = re.compile(r"[A-Za-z0-9_.\-]+")


def validate_table_name(name: object, *, internal: bool = False) -> str:
    """Return `name` if it is a valid table name.

    Names use letters, digits, `_`, `-` and `.`, at most 64 characters, and do
    not start with `.` (no `..`, no hidden files) or `_` (reserved for internal
    tables such as `__dead_letters__`, which only `internal=True` allows).

    Raises:
        InvalidTableNameError: with the reason the name was refused.
    """
    if not isinstance(name, str):
        raise InvalidTableNameError(name, f"expected str, got {type(name).__name__}")
    if not name:
        raise InvalidTableNameError(name, "it is empty")
    if len(name) > MAX_TABLE_NAME_LENGTH:
        raise InvalidTableNameError(
            name, f"it has {len(name)} characters, more than {MAX_TABLE_NAME_LENGTH}"
        )
    if not _ALLOWED.fullmatch(name):
        raise InvalidTableNameError(name, "it contains a character that is not allowed")
    if name.startswith("."):
        raise InvalidTableNameError(name, "it starts with '.'")
    if name.startswith("_") and not internal:
        raise InvalidTableNameError(
            name, "names starting with '_' are reserved for internal tables"
        )
    return name
