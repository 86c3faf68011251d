"""Tests for storage/_store_directory.py: a store on disk, its catalog and tables."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from actorstore.storage import (
    CheckResult,
    Durability,
    InvalidOptionError,
    InvalidTableNameError,
    LmdbError,
    StoreClosedError,
    StoreDirectory,
    TableExistsError,
    UnknownFormatError,
    UnknownTableError,
)
from actorstore.storage._session import TableSession
from actorstore.storage._store_directory import DEFAULT_INITIAL_MAP_SIZE

BAD_NAMES: list[object] = [
    "..",
    "../x",
    "../../escape",
    "/abs",
    "/tmp/abs",
    "a/b",
    "",
    "a\x00b",
    "x" * 65,
    ".hidden",
    "_internal",
    None,
    5,
    b"users",
    ["users"],
]


def tree(path: Path) -> set[str]:
    """Return every path under `path`, relative to it."""
    return {
        os.path.relpath(os.path.join(root, name), path)
        for root, dirs, files in os.walk(path)
        for name in dirs + files
    }


# -- creating and reopening ------------------------------------------------------


def test_reopen_finds_tables_with_formats_and_durability(store_path: Path) -> None:
    with StoreDirectory(store_path) as store:
        store.create_table("users")
        store.create_table(
            "counts", key_format="int", value_format="bytes", durability="none"
        )
        store.session("users").upsert("k", {"v": 1})
        store.session("counts").upsert(7, b"seven")
    with StoreDirectory(store_path) as store:
        assert store.table_names() == ["counts", "users"]
        users, counts = store.table_info("users"), store.table_info("counts")
        assert (users.key_format, users.value_format) == ("str", "json")
        assert users.durability is Durability.SYNC
        assert (counts.key_format, counts.value_format) == ("int", "bytes")
        assert counts.durability is Durability.NONE
        assert store.table("counts").durability is Durability.NONE
        assert store.session("users").search("k") == {"v": 1}
        assert store.session("counts").search(7) == b"seven"


def test_a_table_lives_in_its_own_directory(
    store: StoreDirectory, store_path: Path
) -> None:
    store.create_table("users")
    table = store.table("users")
    assert table.path == str(store_path / "tables" / "users")
    assert os.path.isfile(os.path.join(table.path, "data.mdb"))


def test_the_store_durability_is_the_default_of_its_tables(store_path: Path) -> None:
    with StoreDirectory(store_path, durability=Durability.NONE) as store:
        assert store.create_table("lazy").durability is Durability.NONE
        info = store.create_table("safe", durability=Durability.SYNC)
        assert info.durability is Durability.SYNC


def test_a_none_table_opens_with_sync_off(store: StoreDirectory) -> None:
    store.create_table("lazy", durability=Durability.NONE)
    store.create_table("safe")
    lazy, safe = store.table("lazy")._env.flags(), store.table("safe")._env.flags()
    assert (lazy["sync"], lazy["metasync"]) == (False, False)
    assert (safe["sync"], safe["metasync"]) == (True, True)


def test_a_none_table_reopens_with_sync_off(store_path: Path) -> None:
    with StoreDirectory(store_path) as store:
        store.create_table("lazy", durability="NONE")
    with StoreDirectory(store_path) as store:
        assert store.table("lazy")._env.flags()["sync"] is False


def test_create_table_returns_its_record(store: StoreDirectory) -> None:
    info = store.create_table("users", key_format="bytes", value_format="int")
    assert (info.name, info.key_format, info.value_format) == ("users", "bytes", "int")
    assert store.table_info("users") == info


def test_create_table_twice_raises_unless_exist_ok(store: StoreDirectory) -> None:
    first = store.create_table("users")
    with pytest.raises(
        TableExistsError, match="table 'users' already exists; pass exist_ok=True"
    ):
        store.create_table("users")
    assert store.create_table("users", exist_ok=True) == first


def test_create_table_with_other_formats_raises_even_with_exist_ok(
    store: StoreDirectory,
) -> None:
    store.create_table("users", key_format="str", value_format="json")
    with pytest.raises(
        TableExistsError,
        match="exists with key_format='str', value_format='json', not 'int', 'json'",
    ):
        store.create_table("users", key_format="int", exist_ok=True)
    with pytest.raises(TableExistsError, match="not 'str', 'bytes'"):
        store.create_table("users", value_format="bytes", exist_ok=True)
    assert store.table_info("users").key_format == "str"


def test_create_table_with_exist_ok_keeps_the_recorded_durability(
    store: StoreDirectory,
) -> None:
    store.create_table("users", durability=Durability.NONE)
    info = store.create_table("users", durability=Durability.SYNC, exist_ok=True)
    assert info.durability is Durability.NONE


@pytest.mark.parametrize("formats", [{"key_format": "msgpack"}, {"value_format": 3}])
def test_create_table_refuses_an_unknown_format(
    store: StoreDirectory, formats: dict[str, object]
) -> None:
    with pytest.raises(UnknownFormatError, match="unknown format"):
        store.create_table("users", **formats)  # type: ignore[arg-type]
    assert store.table_names() == []


def test_create_table_refuses_an_unknown_durability(store: StoreDirectory) -> None:
    with pytest.raises(InvalidOptionError, match="unknown durability 'fast'"):
        store.create_table("users", durability="fast")
    assert store.table_names() == []


# -- table names -----------------------------------------------------------------


@pytest.mark.parametrize("name", BAD_NAMES)
def test_a_bad_table_name_is_refused_and_creates_nothing(
    tmp_path: Path, store: StoreDirectory, store_path: Path, name: object
) -> None:
    before = tree(tmp_path)
    with pytest.raises(InvalidTableNameError, match="invalid table name"):
        store.create_table(name)  # type: ignore[arg-type]
    with pytest.raises(InvalidTableNameError, match="invalid table name"):
        store.table(name)  # type: ignore[arg-type]
    with pytest.raises(InvalidTableNameError, match="invalid table name"):
        store.session(name)  # type: ignore[arg-type]
    assert tree(tmp_path) == before
    assert os.listdir(store_path / "tables") == []
    assert store.table_names(internal=True) == []
    assert store.open_tables() == []


def test_a_bad_table_name_is_refused_even_with_exist_ok(store: StoreDirectory) -> None:
    with pytest.raises(InvalidTableNameError, match=r"'\.\./x'"):
        store.create_table("../x", exist_ok=True)


def test_internal_tables_need_internal_and_are_hidden(store: StoreDirectory) -> None:
    store.create_table("users")
    store.create_table("__dead_letters__", internal=True)
    with pytest.raises(InvalidTableNameError, match="reserved for internal tables"):
        store.table("__dead_letters__")
    session = store.session("__dead_letters__", internal=True)
    session.upsert("1", {"error": "x"})
    assert store.table_names() == ["users"]
    assert store.table_names(internal=True) == ["__dead_letters__", "users"]
    assert store.stats()["__dead_letters__"]["records"] == 1


# -- bad stores --------------------------------------------------------------------


def test_a_store_path_that_is_a_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_text("not a store")
    with pytest.raises(InvalidOptionError, match="is a file, not a directory"):
        StoreDirectory(path)
    assert path.read_text() == "not a store"


def test_a_store_path_below_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(LmdbError, match="cannot create store directory"):
        StoreDirectory(tmp_path / "file" / "store")


@pytest.mark.parametrize(
    ("sizes", "match"),
    [
        ({"initial_map_size": 1 << 20, "max_map_size": 1 << 19}, "larger than max"),
        ({"initial_map_size": 4096}, "initial_map_size must be an int of at least"),
        ({"max_map_size": True}, "max_map_size must be an int"),
        ({"initial_map_size": 1.5e6}, "not 1500000.0"),
    ],
)
def test_bad_map_sizes_are_refused(
    store_path: Path, sizes: dict[str, object], match: str
) -> None:
    with pytest.raises(InvalidOptionError, match=match):
        StoreDirectory(store_path, **sizes)  # type: ignore[arg-type]
    assert not store_path.exists()


def test_an_unknown_durability_is_refused(store_path: Path) -> None:
    with pytest.raises(InvalidOptionError, match=r"use Durability\.SYNC or"):
        StoreDirectory(store_path, durability="eventually")


def test_opening_a_store_twice_in_one_process_is_refused(
    store: StoreDirectory, store_path: Path
) -> None:
    with pytest.raises(LmdbError, match="already open in this process"):
        StoreDirectory(store_path)


def test_defaults(store_path: Path) -> None:
    with StoreDirectory(store_path) as store:
        assert store.initial_map_size == DEFAULT_INITIAL_MAP_SIZE
        assert store.durability is Durability.SYNC
        assert store.path == str(store_path)
        assert repr(store) == f"<StoreDirectory {str(store_path)!r}>"


# -- tables and sessions -------------------------------------------------------------


@pytest.mark.parametrize("name", ["nope", "__nope__"])
def test_an_unknown_table_is_refused(store: StoreDirectory, name: str) -> None:
    match = f"table {name!r} does not exist; create it with create_table"
    with pytest.raises(UnknownTableError, match=match) as info:
        store.table(name, internal=True)
    assert info.value.table == name
    with pytest.raises(UnknownTableError, match=match):
        store.session(name, internal=True)
    with pytest.raises(UnknownTableError, match=match):
        store.table_info(name)
    assert not os.path.exists(os.path.join(store.path, "tables", name))


def test_table_is_opened_once_and_sessions_are_new(store: StoreDirectory) -> None:
    store.create_table("users")
    assert store.table("users") is store.table("users")
    first, second = store.session("users"), store.session("users")
    assert isinstance(first, TableSession)
    assert first is not second
    assert first.table is second.table
    assert store.open_tables() == [store.table("users")]


def test_stats_cover_every_table(store: StoreDirectory) -> None:
    store.create_table("a")
    store.create_table("b", key_format="int")
    store.session("a").upsert("k", 1)
    stats = store.stats()
    assert sorted(stats) == ["a", "b"]
    assert stats["a"]["records"] == 1
    assert stats["b"]["records"] == 0
    assert stats["b"]["key_format"] == "int"


def test_sync_flushes_every_open_table(store: StoreDirectory) -> None:
    store.create_table("a", durability=Durability.NONE)
    store.session("a").upsert("k", 1)
    store.sync()


# -- closing -----------------------------------------------------------------------


def test_close_twice_is_safe(store: StoreDirectory) -> None:
    store.create_table("users")
    table = store.table("users")
    store.close()
    store.close()
    assert store.is_closed
    assert table.is_closed


def test_a_closed_store_refuses_everything(store: StoreDirectory) -> None:
    store.create_table("users")
    store.table("users")
    store.close()
    with pytest.raises(StoreClosedError, match="the store is closed; open it again"):
        store.create_table("other")
    with pytest.raises(StoreClosedError, match="the store is closed"):
        store.table("users")
    with pytest.raises(StoreClosedError, match="the store is closed"):
        store.session("users")
    with pytest.raises(StoreClosedError, match="the store is closed"):
        store.table("never_opened")


def test_the_context_manager_closes_the_store(store_path: Path) -> None:
    with StoreDirectory(store_path) as store:
        store.create_table("users")
        table = store.table("users")
    assert store.is_closed
    assert table.is_closed
    with StoreDirectory(store_path) as again:
        assert again.table_names() == ["users"]


# -- check -------------------------------------------------------------------------


def test_check_of_a_sound_store_reports_every_table(store: StoreDirectory) -> None:
    store.create_table("users")
    store.create_table("lazy", durability="none")
    store.create_table("__hidden__", internal=True)
    store.session("users").batch([("upsert", f"k{i}", i) for i in range(500)])
    store.session("lazy").upsert("k", 1)
    assert store.check() == {
        "__hidden__": CheckResult(ok=True, records=0),
        "lazy": CheckResult(ok=True, records=1),
        "users": CheckResult(ok=True, records=500),
    }
    assert store.check("users") == {"users": CheckResult(ok=True, records=500)}


def test_check_leaves_the_table_writable(
    store: StoreDirectory,
) -> None:
    store.create_table("users")
    session = store.session("users")
    session.upsert("a", 1)
    assert store.check("users")["users"].ok
    session.upsert("b", 2)
    assert session.count() == 2


def test_check_of_an_unknown_table_is_refused(store: StoreDirectory) -> None:
    with pytest.raises(UnknownTableError):
        store.check("nope")
    with pytest.raises(InvalidTableNameError):
        store.check("../x")


def test_check_of_a_closed_store_is_refused(store: StoreDirectory) -> None:
    store.close()
    with pytest.raises(StoreClosedError):
        store.check()


# -- creating is durable -------------------------------------------------------------


@pytest.fixture
def fsynced(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the path of everything passed to os.fsync (which still runs)."""
    paths: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        paths.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return paths


def test_creating_a_store_syncs_its_files_and_directories(
    tmp_path: Path, fsynced: list[str]
) -> None:
    path = tmp_path / "a" / "store"
    StoreDirectory(path).close()
    for synced in (
        tmp_path,  # holds the new directory "a"
        tmp_path / "a",
        path,  # holds "tables" and "catalog"
        path / "catalog",  # holds the catalog's data file
        path / "catalog" / "data.mdb",
    ):
        assert str(synced) in fsynced, f"{synced} was not synced"


def test_creating_a_table_syncs_its_file_and_directories(
    store_path: Path, fsynced: list[str]
) -> None:
    with StoreDirectory(store_path) as store:
        fsynced.clear()
        store.create_table("users")
        store.session("users").upsert("k", 1)
    for synced in (
        store_path / "tables",
        store_path / "tables" / "users",
        store_path / "tables" / "users" / "data.mdb",
    ):
        assert str(synced) in fsynced, f"{synced} was not synced"


def test_reopening_a_store_syncs_nothing_new(
    store_path: Path, fsynced: list[str]
) -> None:
    with StoreDirectory(store_path) as store:
        store.create_table("users")
        store.session("users").upsert("k", 1)
    fsynced.clear()
    with StoreDirectory(store_path) as store:
        store.session("users").upsert("k", 2)
    assert fsynced == []
