"""Tests for storage/durability.py: naming a durability."""

from __future__ import annotations

import pytest

from actorstore.storage import Durability, InvalidOptionError


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Durability.SYNC, Durability.SYNC),
        (Durability.NONE, Durability.NONE),
        ("sync", Durability.SYNC),
        ("SYNC", Durability.SYNC),
        ("none", Durability.NONE),
        ("None", Durability.NONE),
    ],
)
def test_coerce_accepts_the_enum_its_names_and_values(
    value: object, expected: Durability
) -> None:
    assert Durability.coerce(value) is expected


@pytest.mark.parametrize("value", ["fast", "", None, 0, True, ["sync"]])
def test_coerce_refuses_anything_else(value: object) -> None:
    with pytest.raises(
        InvalidOptionError, match=r"unknown durability .*; use Durability\.SYNC or"
    ):
        Durability.coerce(value)
