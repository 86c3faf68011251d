"""storage._backup: a consistent, durable copy of a live store directory."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from actorstore.storage import (
    BackupResult,
    DiskFullError,
    Durability,
    InvalidOptionError,
    StoreClosedError,
    StoreDirectory,
)


def _fill(store: StoreDirectory) -> None:
    store.create_table("users")
    store.create_table("lazy", key_format="int", durability=Durability.NONE)
    store.create_table("__internal__", key_format="int", internal=True)
    users = store.session("users")
    for i in range(300):
        users.upsert(f"u{i:03}", {"i": i})
    for i in range(0, 300, 3):
        users.remove(f"u{i:03}")  # free pages for compaction to leave out
    store.session("lazy").batch([("upsert", i, {"n": i}) for i in range(50)])
    store.session("__internal__", internal=True).upsert(7, {"letter": 7})


def test_the_copy_is_a_store_with_every_table_record_and_format(
    store: StoreDirectory, tmp_path: Path
) -> None:
    _fill(store)
    result = store.backup(tmp_path / "copy")
    assert isinstance(result, BackupResult)
    assert result.path == str(tmp_path / "copy")
    assert result.tables == ("__internal__", "lazy", "users")
    assert result.records == 200 + 50 + 1
    assert result.bytes > 0
    assert result.seconds >= 0
    with StoreDirectory(tmp_path / "copy") as copy:
        assert copy.table_names(internal=True) == list(result.tables)
        assert copy.table_info("lazy").durability is Durability.NONE
        assert copy.table_info("lazy").key_format == "int"
        assert dict(copy.session("users").scan()) == dict(store.session("users").scan())
        assert copy.session("lazy").search(49) == {"n": 49}
        assert copy.session("__internal__", internal=True).search(7) == {"letter": 7}
        assert all(check.ok for check in copy.check().values())
    assert not [p for p in os.listdir(tmp_path) if ".partial-" in p]


def test_compact_leaves_free_pages_out_and_a_plain_copy_keeps_them(
    store: StoreDirectory, tmp_path: Path
) -> None:
    _fill(store)
    compacted = store.backup(tmp_path / "compacted")
    plain = store.backup(tmp_path / "plain", compact=False)
    assert plain.records == compacted.records
    assert plain.bytes >= compacted.bytes
    with StoreDirectory(tmp_path / "plain") as copy:
        assert copy.session("users").count() == 200
        assert all(check.ok for check in copy.check().values())


def test_every_commit_made_before_the_call_is_in_the_copy_while_a_writer_goes_on(
    store: StoreDirectory, tmp_path: Path
) -> None:
    store.create_table("counter", key_format="int")
    committed = 0
    stop = threading.Event()
    going = threading.Event()

    def write() -> None:
        nonlocal committed
        session = store.session("counter")
        while not stop.is_set():
            session.upsert(committed, {"n": committed})
            committed += 1
            going.set()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert going.wait(10)
        before = committed  # every key below this had committed
        result = store.backup(tmp_path / "copy")
        after = committed
    finally:
        stop.set()
        writer.join(10)
    assert after > before, "the writer was held up by the backup"
    with StoreDirectory(tmp_path / "copy") as copy:
        keys = [key for key, _ in copy.session("counter").scan()]
    assert keys == list(range(len(keys)))  # one consistent point, no gaps
    assert before <= len(keys) <= after
    assert result.records == len(keys)


def test_each_table_is_reported_as_it_is_copied(
    store: StoreDirectory, tmp_path: Path
) -> None:
    _fill(store)
    seen: list[tuple[str, int, int]] = []
    store.backup(tmp_path / "copy", progress=lambda *args: seen.append(args))
    assert seen == [("__internal__", 1, 3), ("lazy", 2, 3), ("users", 3, 3)]


def test_the_copy_s_files_have_the_store_s_modes(
    store: StoreDirectory, tmp_path: Path
) -> None:
    _fill(store)
    os.chmod(Path(store.path) / "tables" / "users" / "data.mdb", 0o600)
    store.backup(tmp_path / "copy")
    copied = tmp_path / "copy" / "tables" / "users" / "data.mdb"
    assert stat.S_IMODE(copied.stat().st_mode) == 0o600


def test_a_destination_that_exists_is_refused(
    store: StoreDirectory, tmp_path: Path
) -> None:
    (tmp_path / "taken").mkdir()
    with pytest.raises(InvalidOptionError, match="already exists"):
        store.backup(tmp_path / "taken")
    assert os.listdir(tmp_path / "taken") == []


def test_a_destination_inside_the_store_is_refused(store: StoreDirectory) -> None:
    with pytest.raises(InvalidOptionError, match="inside the store"):
        store.backup(Path(store.path) / "backups" / "today")
    assert not (Path(store.path) / "backups").exists()


def test_a_destination_that_cannot_be_created_is_refused(
    store: StoreDirectory, tmp_path: Path
) -> None:
    (tmp_path / "a-file").write_text("")
    with pytest.raises(InvalidOptionError, match="not a writable directory"):
        store.backup(tmp_path / "a-file" / "copy")
    with pytest.raises(InvalidOptionError, match="NUL"):
        store.backup("bad\x00path")


def test_missing_parents_are_created(store: StoreDirectory, tmp_path: Path) -> None:
    _fill(store)
    result = store.backup(tmp_path / "a" / "b" / "copy")
    assert result.records == 251
    assert (tmp_path / "a" / "b" / "copy" / "catalog" / "data.mdb").exists()


def test_a_closed_store_is_refused(store: StoreDirectory, tmp_path: Path) -> None:
    store.close()
    with pytest.raises(StoreClosedError):
        store.backup(tmp_path / "copy")


def test_compact_must_be_a_bool(store: StoreDirectory, tmp_path: Path) -> None:
    with pytest.raises(InvalidOptionError, match="compact"):
        store.backup(tmp_path / "copy", compact="yes")  # type: ignore[arg-type]


def test_a_full_disk_leaves_no_copy_behind(
    store: StoreDirectory, mount_tmpfs: object
) -> None:
    store.create_table("big", key_format="int", value_format="bytes")
    store.session("big").batch([("upsert", i, os.urandom(4096)) for i in range(600)])
    disk = mount_tmpfs("1m")  # type: ignore[operator]
    with pytest.raises(DiskFullError):
        store.backup(disk / "copy")
    assert os.listdir(disk) == []
