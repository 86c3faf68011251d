"""Tests for storage/names.py: a valid name never reaches outside its directory."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actorstore.storage import (
    MAX_TABLE_NAME_LENGTH,
    InvalidInputError,
    InvalidTableNameError,
    validate_table_name,
)

BAD_NAMES: list[tuple[object, str]] = [
    ("", "empty"),
    ("..", "starts with '.'"),
    (".", "starts with '.'"),
    ("../x", "not allowed"),
    ("/abs", "not allowed"),
    ("a/b", "not allowed"),
    ("a\\b", "not allowed"),
    ("a\x00b", "not allowed"),
    ("a b", "not allowed"),
    ("a\n", "not allowed"),
    ("naïve", "not allowed"),
    ("x" * (MAX_TABLE_NAME_LENGTH + 1), "65 characters, more than 64"),
    (".hidden", "starts with '.'"),
    ("_internal", "reserved for internal tables"),
    ("__dead_letters__", "reserved for internal tables"),
    (None, "expected str, got NoneType"),
    (5, "expected str, got int"),
    (b"users", "expected str, got bytes"),
    (["users"], "expected str, got list"),
]


@pytest.mark.parametrize(
    "name",
    ["users", "a", "A-b_c.d", "0", "v1.2", "x" * MAX_TABLE_NAME_LENGTH, "a..b"],
)
def test_plain_names_are_returned_unchanged(name: str) -> None:
    assert validate_table_name(name) == name


@pytest.mark.parametrize(("name", "reason"), BAD_NAMES)
def test_bad_names_are_refused_with_the_reason(name: object, reason: str) -> None:
    with pytest.raises(InvalidTableNameError) as info:
        validate_table_name(name)
    message = str(info.value)
    assert reason in message
    assert "use 1 to 64 letters, digits" in message
    assert info.value.name == name


def test_invalid_table_name_error_is_bad_input() -> None:
    with pytest.raises(InvalidInputError):
        validate_table_name("a/b")
    with pytest.raises(ValueError, match="invalid table name"):
        validate_table_name("a/b")


def test_internal_allows_a_leading_underscore_only() -> None:
    assert validate_table_name("__dead_letters__", internal=True) == "__dead_letters__"
    for name in (".hidden", "..", "a/b", "_a/b", ""):
        with pytest.raises(InvalidTableNameError):
            validate_table_name(name, internal=True)


def test_max_table_name_length_is_64() -> None:
    assert MAX_TABLE_NAME_LENGTH == 64


@given(st.text(max_size=80) | st.text(alphabet="._-/a\\\x00", max_size=8))
def test_every_accepted_name_is_one_plain_path_component(name: str) -> None:
    try:
        validate_table_name(name, internal=True)
    except InvalidTableNameError:
        return
    base = os.path.join(os.sep, "store", "tables")
    joined = os.path.normpath(os.path.join(base, name))
    assert os.path.dirname(joined) == base
    assert os.path.basename(joined) == name
    assert name not in (".", "..")
    assert 1 <= len(name) <= MAX_TABLE_NAME_LENGTH
