"""Fixtures of the storage tests: real LMDB stores in pytest's `tmp_path`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from actorstore.storage import Durability, StoreDirectory
from actorstore.storage._session import TableSession

SMALL_MAP = 1 << 20
"""A 1 MiB first map, so growth happens after a few writes."""


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    """Return where the store lives: a directory inside `tmp_path`."""
    return tmp_path / "store"


@pytest.fixture
def store(store_path: Path) -> Iterator[StoreDirectory]:
    """Yield an open store with small maps; close it in teardown."""
    directory = StoreDirectory(store_path, initial_map_size=SMALL_MAP)
    try:
        yield directory
    finally:
        directory.close()


@pytest.fixture
def users(store: StoreDirectory) -> TableSession:
    """Return a session on table `users` (str keys, JSON values)."""
    store.create_table("users", key_format="str", value_format="json")
    return store.session("users")


@pytest.fixture
def blobs(store: StoreDirectory) -> TableSession:
    """Return a session on table `blobs` (bytes keys and values)."""
    store.create_table("blobs", key_format="bytes", value_format="bytes")
    return store.session("blobs")


@pytest.fixture
def numbers(store: StoreDirectory) -> TableSession:
    """Return a session on table `numbers` (int keys, str values)."""
    store.create_table("numbers", key_format="int", value_format="str")
    return store.session("numbers")


@pytest.fixture
def lazy(store: StoreDirectory) -> TableSession:
    """Return a session on table `lazy`, a Durability.NONE table."""
    store.create_table("lazy", durability=Durability.NONE)
    return store.session("lazy")
