"""Tests for storage/_lmdb.py: LMDB errors become store errors; the resize gate."""

from __future__ import annotations

import errno
import threading
from pathlib import Path

import lmdb
import pytest

from actorstore.storage import (
    DiskFullError,
    LmdbError,
    StoreBusyError,
    StoreClosedError,
    StoreCorruptedError,
    StoreError,
    StoreFullError,
)
from actorstore.storage._lmdb import (
    ResizeGate,
    directory_size,
    open_environment,
    translate,
)


@pytest.mark.parametrize(
    ("error", "expected", "match"),
    [
        (lmdb.ReadersFullError("x"), StoreBusyError, "readers table is full"),
        (lmdb.MapResizedError("x"), StoreBusyError, "another process grew the map"),
        (lmdb.ReadonlyError("x"), LmdbError, "the store is read-only"),
        (lmdb.DiskError("x"), DiskFullError, "is full (or over quota); free space"),
        (OSError(errno.ENOSPC, "full"), DiskFullError, "free space on it"),
        (OSError(errno.EDQUOT, "quota"), DiskFullError, "free space on it"),
        (lmdb.Error("mdb_txn_commit: Disk quota exceeded"), DiskFullError, "full"),
        (OSError("x"), LmdbError, "op failed: x"),
        (lmdb.CorruptedError("x"), StoreCorruptedError, "is damaged"),
        (lmdb.PageNotFoundError("x"), StoreCorruptedError, "is damaged"),
        (lmdb.Error("Attempt to operate on closed object"), StoreClosedError, "closed"),
    ],
)
def test_translate(
    error: BaseException, expected: type[StoreError], match: str
) -> None:
    translated = translate(error, what="op failed", table="t")
    assert type(translated) is expected
    assert translated.table == "t"
    assert match in str(translated)


def test_translate_passes_store_errors_through() -> None:
    error = StoreFullError(table="t", max_map_size=1 << 20)
    assert translate(error, what="x") is error


def test_open_environment_of_a_file_is_a_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_text("")
    with pytest.raises(LmdbError, match="cannot open"):
        open_environment(str(path), sync=True, map_size=1 << 20)


def test_open_environment_creates_and_sizes(tmp_path: Path) -> None:
    env = open_environment(str(tmp_path / "env"), sync=False, map_size=1 << 20)
    try:
        assert env.info()["map_size"] == 1 << 20
        assert env.flags()["sync"] is False
    finally:
        env.close()
    assert directory_size(str(tmp_path / "env")) > 0


def test_the_gate_lets_shared_holders_in_together() -> None:
    gate = ResizeGate()
    with gate.shared(), gate.shared():
        assert gate.active == 2
    assert gate.active == 0


def test_exclusive_waits_for_shared_holders_to_leave() -> None:
    gate = ResizeGate()
    order: list[str] = []
    started = threading.Event()

    def resize() -> None:
        started.set()
        with gate.exclusive():
            order.append("exclusive")

    gate.enter()
    worker = threading.Thread(target=resize)
    worker.start()
    assert started.wait(5)
    order.append("shared")
    gate.leave()
    worker.join(5)
    assert not worker.is_alive()
    assert order == ["shared", "exclusive"]
    with gate.shared():
        assert gate.active == 1


def test_a_holder_arriving_during_a_resize_enters_after_it() -> None:
    gate = ResizeGate()
    assert gate.acquire_exclusive(timeout=5)
    started, entered = threading.Event(), threading.Event()

    def read() -> None:
        started.set()
        gate.enter()
        entered.set()

    reader = threading.Thread(target=read)
    reader.start()
    assert started.wait(5)
    # A correct gate keeps the reader out for as long as the resize runs;
    # this bounded look can only miss a broken gate, never fail a right one.
    assert not entered.wait(0.2)
    gate.release_exclusive()
    assert entered.wait(5)
    reader.join(5)
    assert gate.active == 1
    gate.leave()
    assert gate.active == 0


def test_many_holders_and_resizes_never_overlap() -> None:
    gate = ResizeGate()
    inside = [0]  # holders that entered and have not left
    count = threading.Lock()
    overlaps: list[int] = []
    stop = threading.Event()

    def hold() -> None:
        while not stop.is_set():
            with gate.shared():
                with count:
                    inside[0] += 1
                with count:
                    inside[0] -= 1

    def resize() -> None:
        for _ in range(200):
            with gate.exclusive(), count:
                overlaps.append(inside[0])

    holders = [threading.Thread(target=hold) for _ in range(4)]
    for holder in holders:
        holder.start()
    resizer = threading.Thread(target=resize)
    resizer.start()
    resizer.join(30)
    stop.set()
    for holder in holders:
        holder.join(5)
    assert not resizer.is_alive()
    assert overlaps == [0] * 200
    assert gate.active == 0
