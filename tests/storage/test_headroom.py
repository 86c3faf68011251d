"""Tests for storage/headroom.py: SYNC tables keep zeros past their last page."""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage import Durability, StoreDirectory
from storage.headroom import CHUNK, LOW_WATER

MIB = 1 << 20


def used_bytes(directory: StoreDirectory, name: str) -> int:
    return directory.table(name).used_size()


def fill(directory: StoreDirectory, name: str, count: int, size: int = 1000) -> None:
    session = directory.session(name)
    for start in range(0, count, 100):
        session.batch(
            [
                ("upsert", b"k%06d" % i, b"%06d" % i * (size // 6))
                for i in range(start, min(count, start + 100))
            ]
        )


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


def test_a_sync_table_keeps_zeroed_room_past_its_last_page(
    directory: StoreDirectory,
) -> None:
    table = directory.table("sync")
    for count in (1, 2_000, 6_000):  # the last crosses several chunks
        fill(directory, "sync", count)
        used = used_bytes(directory, "sync")
        assert LOW_WATER <= table.file_size() - used <= LOW_WATER + CHUNK
        with open(os.path.join(table.path, "data.mdb"), "rb") as data:
            data.seek(used)
            assert data.read() == bytes(table.file_size() - used)


def test_a_none_table_has_no_headroom(directory: StoreDirectory) -> None:
    fill(directory, "none", 2_000)
    directory.table("none").sync()
    assert directory.table("none").file_size() == used_bytes(directory, "none")


def test_data_written_over_the_headroom_reads_back_after_reopening(
    directory: StoreDirectory, store_path: Path
) -> None:
    fill(directory, "sync", 6_000)
    directory.close()

    reopened = StoreDirectory(store_path, initial_map_size=1 * MIB)
    try:
        session = reopened.session("sync")
        assert session.count() == 6_000
        assert session.search(b"k005999") == b"005999" * 166
        fill(reopened, "sync", 8_000)  # and it keeps writing after reopening
        assert session.count() == 8_000
    finally:
        reopened.close()


def test_headroom_never_goes_past_the_map(store_path: Path) -> None:
    directory = StoreDirectory(store_path, initial_map_size=MIB, max_map_size=MIB)
    try:
        directory.create_table("tiny", key_format="bytes", value_format="bytes")
        fill(directory, "tiny", 300)
        assert directory.table("tiny").file_size() <= MIB
    finally:
        directory.close()


def test_compaction_drops_the_headroom_and_writes_make_it_again(
    directory: StoreDirectory,
) -> None:
    table = directory.table("sync")
    fill(directory, "sync", 2_000)
    before = table.file_size()

    reclaimed = table.compact()

    assert table.file_size() == before - reclaimed == used_bytes(directory, "sync")
    fill(directory, "sync", 2_100)
    assert table.file_size() - used_bytes(directory, "sync") >= LOW_WATER


def test_a_disk_too_full_for_headroom_fails_no_write(
    directory: StoreDirectory,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def full(fd: int, data: bytes, offset: int) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("storage.headroom.os.pwrite", full)
    with caplog.at_level(logging.WARNING, logger="storage.headroom"):
        fill(directory, "sync", 500)

    assert directory.session("sync").count() == 500
    assert "No space left" in caplog.text
    # Tried once more per chunk of pages used, not at every commit.
    assert 1 <= caplog.text.count("no headroom") <= 2
    assert directory.table("sync").file_size() == used_bytes(directory, "sync")
