"""Tests for storage/_catalog.py: the durable record of each table's settings."""

from __future__ import annotations

from pathlib import Path

import lmdb
import pytest

from actorstore.storage import Durability, LmdbError, StoreClosedError, TableInfo
from actorstore.storage._catalog import Catalog


def add_users(catalog: Catalog, durability: Durability = Durability.SYNC) -> TableInfo:
    return catalog.add(
        "users", key_format="str", value_format="json", durability=durability
    )


def test_a_new_catalog_is_empty(tmp_path: Path) -> None:
    catalog = Catalog(str(tmp_path / "catalog"))
    try:
        assert catalog.names() == []
        assert catalog.get("users") is None
    finally:
        catalog.close()


def test_add_records_a_table(tmp_path: Path) -> None:
    catalog = Catalog(str(tmp_path / "catalog"))
    try:
        info = add_users(catalog, Durability.NONE)
        assert (info.name, info.key_format, info.value_format) == (
            "users",
            "str",
            "json",
        )
        assert info.durability is Durability.NONE
        assert info.created_at > 0
        assert catalog.get("users") == info
        catalog.add(
            "a", key_format="int", value_format="bytes", durability=Durability.SYNC
        )
        assert catalog.names() == ["a", "users"]
    finally:
        catalog.close()


def test_add_of_a_recorded_table_returns_the_first_record(tmp_path: Path) -> None:
    catalog = Catalog(str(tmp_path / "catalog"))
    try:
        first = add_users(catalog)
        again = catalog.add(
            "users", key_format="int", value_format="bytes", durability=Durability.NONE
        )
        assert again == first
        assert catalog.get("users") == first
    finally:
        catalog.close()


def test_records_survive_reopening(tmp_path: Path) -> None:
    path = str(tmp_path / "catalog")
    catalog = Catalog(path)
    info = add_users(catalog, Durability.NONE)
    catalog.close()
    reopened = Catalog(path)
    try:
        assert reopened.names() == ["users"]
        assert reopened.get("users") == info
        reopened.refresh()
        assert reopened.get("users") == info
    finally:
        reopened.close()


def test_close_twice_is_safe_and_add_after_close_raises(tmp_path: Path) -> None:
    catalog = Catalog(str(tmp_path / "catalog"))
    catalog.close()
    catalog.close()
    catalog.refresh()
    with pytest.raises(StoreClosedError, match="the catalog is closed"):
        add_users(catalog)


def test_a_damaged_catalog_is_reported(tmp_path: Path) -> None:
    path = str(tmp_path / "catalog")
    Catalog(path).close()
    env = lmdb.open(path, map_size=1 << 20)
    with env.begin(write=True) as txn:
        txn.put(b"users", b"{not json")
    env.close()
    with pytest.raises(LmdbError, match="the store's catalog is damaged"):
        Catalog(path)


def test_table_info_round_trips_through_json() -> None:
    info = TableInfo("t", "int", "json", Durability.NONE, 12.5)
    data = info.to_json()
    assert b'"durability": "none"' in data
    assert TableInfo.from_json(data) == info
