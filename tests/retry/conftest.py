"""Fixtures of the retry tests: real stores in pytest's `tmp_path`, real threads."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from actors import Store


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    """Return where the store lives: a directory inside `tmp_path`."""
    return tmp_path / "s"


@pytest.fixture
def store(make_store: Callable[..., Store]) -> Store:
    """Return an open store (2 workers) with table `docs` (str keys, JSON values).

    It is closed in teardown, so no actor outlives its test.
    """
    store = make_store(threads=2)
    store.create_table("docs", key_format="str", value_format="json")
    return store
