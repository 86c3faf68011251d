"""Tests for storage/_headroom.py: SYNC tables keep zeros past their last page."""

from __future__ import annotations

import errno
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from actorstore.storage import Durability, StoreDirectory
from actorstore.storage._group_commit import write_limit
from actorstore.storage._headroom import CHUNK
from actorstore.storage._table import Table

MIB = 1 << 20
WAIT = 10.0


def fill(directory: StoreDirectory, name: str, start: int, count: int) -> None:
    """Upsert records `start` .. `start + count - 1` (1 kB each), 100 per batch."""
    session = directory.session(name)
    for first in range(start, start + count, 100):
        last = min(start + count, first + 100)
        session.batch([("upsert", b"k%06d" % i, value(i)) for i in range(first, last)])


def value(index: int) -> bytes:
    return b"%06d" % index * 166


def zeros_past_the_used_pages(table: Table) -> bool:
    with open(os.path.join(table.path, "data.mdb"), "rb") as data:
        data.seek(table.used_size())
        tail = data.read()
    return tail == bytes(len(tail))


def another_thread_can_write(directory: StoreDirectory, name: str) -> bool:
    """Whether a session on another thread gets LMDB's writer lock and writes."""
    wrote = threading.Event()

    def write_elsewhere() -> None:
        directory.session(name).upsert(b"elsewhere", b"2")
        wrote.set()

    threading.Thread(target=write_elsewhere, daemon=True).start()
    return wrote.wait(WAIT)


@pytest.fixture
def directory(store_path: Path) -> Iterator[StoreDirectory]:
    directory = StoreDirectory(store_path, initial_map_size=64 * MIB)
    for durability in Durability:
        directory.create_table(
            durability.value,
            key_format="bytes",
            value_format="bytes",
            durability=durability,
        )
    yield directory
    directory.close()


def test_before_each_write_a_sync_table_has_room_for_its_size_up_to_a_chunk(
    directory: StoreDirectory,
) -> None:
    table = directory.table("sync")
    session = directory.session("sync")
    for total in (1, 100, 1_000, 4_000):  # the last tops up several times
        fill(directory, "sync", 0, total)
        used = table.used_size()

        session.upsert(b"probe", b"x")  # one small commit: room is topped up first

        # Topped up to as much as the table uses (at most a chunk) once less
        # than a quarter of that was left.
        room = table.file_size() - used
        assert min(CHUNK, used) // 4 <= room <= min(CHUNK, used)
        assert zeros_past_the_used_pages(table)


def test_a_tiny_sync_table_stays_tiny(directory: StoreDirectory) -> None:
    directory.session("sync").upsert(b"one", b"record")
    table = directory.table("sync")
    assert table.file_size() <= 2 * table.used_size() < 64 * 1024


def test_a_none_table_has_no_headroom(directory: StoreDirectory) -> None:
    fill(directory, "none", 0, 2_000)
    directory.table("none").sync()
    assert directory.table("none").file_size() == directory.table("none").used_size()


def test_commits_bigger_than_the_room_and_a_reopen_keep_every_record(
    directory: StoreDirectory, store_path: Path
) -> None:
    fill(directory, "sync", 0, 3_000)
    big = [("upsert", b"big%03d" % i, bytes([i]) * 30_000) for i in range(100)]
    directory.session("sync").batch(big)  # 3 MB in one commit: past any room
    directory.close()

    reopened = StoreDirectory(store_path, initial_map_size=MIB)
    try:
        session = reopened.session("sync")
        assert session.count() == 3_100
        assert session.search(b"k002999") == value(2_999)
        assert session.search(b"big099") == bytes([99]) * 30_000
        fill(reopened, "sync", 3_000, 2_000)  # and it goes on after reopening
        assert session.count() == 5_100
        assert zeros_past_the_used_pages(reopened.table("sync"))
    finally:
        reopened.close()


def test_headroom_never_goes_past_the_map(store_path: Path) -> None:
    directory = StoreDirectory(store_path, initial_map_size=MIB, max_map_size=MIB)
    try:
        directory.create_table("tiny", key_format="bytes", value_format="bytes")
        table = directory.table("tiny")
        # Writes other than removes stop at the write limit: past half of
        # it, room would cross it.
        fill(directory, "tiny", 0, 450)
        assert table.used_size() > write_limit(MIB) // 2
        assert table.file_size() == table.stats()["map_size"] == write_limit(MIB)
    finally:
        directory.close()


def test_compaction_counts_free_pages_not_headroom(directory: StoreDirectory) -> None:
    table = directory.table("sync")
    fill(directory, "sync", 0, 2_000)
    used = table.used_size()
    assert table.file_size() > used  # there is headroom to drop

    reclaimed = table.compact()

    assert reclaimed == used - table.file_size()
    assert table.file_size() == table.used_size()
    fill(directory, "sync", 2_000, 100)
    assert table.file_size() > table.used_size()  # writes bring the room back


def test_a_disk_too_full_for_headroom_fails_no_write(
    directory: StoreDirectory,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def full(fd: int, data: bytes, offset: int) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as patch, caplog.at_level(logging.WARNING):
        patch.setattr("actorstore.storage._headroom.os.pwrite", full)
        fill(directory, "sync", 0, 500)

    assert directory.session("sync").count() == 500
    assert "No space left" in caplog.text
    # Tried once more per chunk of pages used, not at every commit.
    assert 1 <= caplog.text.count("no headroom") <= 2
    table = directory.table("sync")
    assert table.file_size() == table.used_size()


def test_any_error_while_keeping_headroom_fails_no_write_and_frees_the_writer(
    directory: StoreDirectory,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    table = directory.table("sync")
    # A path os.stat() refuses with ValueError, not OSError.
    monkeypatch.setattr(table._headroom, "data_file", "data\0.mdb")
    with caplog.at_level(logging.WARNING, logger="actorstore.storage._headroom"):
        directory.session("sync").upsert(b"a", b"1")
    assert "ValueError" in caplog.text

    # LMDB's writer lock was released: another thread's session can write.
    assert another_thread_can_write(directory, "sync")
    assert directory.session("sync").count() == 2


def test_a_base_exception_while_keeping_headroom_aborts_the_transaction(
    directory: StoreDirectory, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Stop(BaseException):
        pass

    def stop(env: object) -> None:
        raise Stop

    table = directory.table("sync")
    monkeypatch.setattr(table._headroom, "keep", stop)
    with pytest.raises(Stop):
        directory.session("sync").upsert(b"a", b"1")
    monkeypatch.undo()

    # The write transaction was aborted: another thread's session can write.
    assert another_thread_can_write(directory, "sync")
    assert directory.session("sync").count() == 1
