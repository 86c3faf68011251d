"""Fixtures of the store-level retry tests (retries, flows, dead letters,
callbacks, attempts): the `retry` package's own tests run on a fake host in
tests/retry; these run it inside a real store."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from actorstore import Store


@pytest.fixture
def store(make_store: Callable[..., Store]) -> Store:
    """Return an open store (2 workers) with table `docs` (str keys, JSON values)."""
    store = make_store(threads=2)
    store.create_table("docs", key_format="str", value_format="json")
    return store
