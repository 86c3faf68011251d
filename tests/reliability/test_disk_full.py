"""A full disk is a `DiskFullError`, never a signal and never "Input/output error".

LMDB maps its lock file (and reads its data file through a map): a write
into a page of a sparse file that a full tmpfs cannot back kills the process
with SIGBUS. So every scenario runs in a child process on a small tmpfs
mounted for the test, and asserts the child was not killed by a signal.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from actorstore.storage import StoreDirectory

REPO_ROOT = Path(__file__).resolve().parents[2]
DISK_SIZE = 4 << 20
CHILD_WAIT = 60.0

CHILD = """
import sys
from actorstore import storage
step, path = sys.argv[1], sys.argv[2]
try:
    with storage.StoreDirectory(path, initial_map_size=1 << 20) as store:
        session = store.session("t") if step != "create" else None
        if step == "open":
            print("count", session.count(), flush=True)
        elif step == "write":
            session.upsert("big", "x" * 300_000)
            print("wrote", flush=True)
        elif step == "stats":
            print("records", store.stats()["t"]["records"], flush=True)
        elif step == "create":
            store.create_table("new")
            store.session("new").upsert("k", 1)
            print("created", flush=True)
except storage.StoreError as exc:
    print("error", type(exc).__name__, exc, flush=True)
"""


@pytest.fixture
def disk(mount_tmpfs: Callable[[str], Path]) -> Path:
    """A 4 MiB tmpfs for the test (skips where mounting is not allowed)."""
    return mount_tmpfs(str(DISK_SIZE))


def fill(disk: Path) -> Path:
    """Write a file until `disk` has no space left; return the file."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for size in (1 << 16, 1 << 12, 1):
            block = b"\xff" * size
            while True:
                try:
                    os.write(fd, block)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC
                    break
    finally:
        os.close(fd)
    return filler


def run(step: str, path: Path) -> str:
    """Run `step` on the store at `path` in a child; return what it printed.

    Fails if the child died by a signal (SIGBUS) or raised something other
    than a `StoreError`.
    """
    done = subprocess.run(
        [sys.executable, "-c", CHILD, step, str(path)],
        capture_output=True,
        env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)),
        timeout=CHILD_WAIT,
        check=False,
    )
    assert done.returncode >= 0, (
        f"{step}: the child died by signal {-done.returncode}: "
        f"{done.stderr.decode(errors='replace')}"
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout.decode().strip()


def make_store(path: Path) -> None:
    with StoreDirectory(path, initial_map_size=1 << 20) as store:
        store.create_table("t")
        store.session("t").upsert("a", 1)


@pytest.mark.timeout(120)
def test_opening_a_table_without_its_lock_file_on_a_full_disk(disk: Path) -> None:
    # A table restored from a backup of its data file only: LMDB creates the
    # lock file and writes into its map, which a full tmpfs cannot back.
    path = disk / "store"
    make_store(path)
    (path / "tables" / "t" / "lock.mdb").unlink()
    filler = fill(disk)
    answer = run("open", path)
    assert answer.startswith("error DiskFullError"), answer
    assert "free space" in answer
    filler.unlink()
    assert run("open", path) == "count 1"


@pytest.mark.timeout(120)
def test_a_new_store_on_a_full_disk(disk: Path) -> None:
    path = disk / "store"
    path.mkdir()
    fill(disk)
    answer = run("create", path)
    assert answer.startswith("error DiskFullError"), answer


@pytest.mark.timeout(120)
def test_a_write_on_a_full_disk_fails_and_works_once_space_is_freed(
    disk: Path,
) -> None:
    path = disk / "store"
    make_store(path)
    filler = fill(disk)
    answer = run("write", path)
    assert answer.startswith("error DiskFullError"), answer
    assert "free space" in answer
    assert "Input/output error" not in answer
    assert run("stats", path) == "records 1"
    assert run("open", path) == "count 1"
    filler.unlink()
    assert run("write", path) == "wrote"
    assert run("stats", path) == "records 2"
