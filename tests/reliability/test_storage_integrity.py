"""A damaged table file is a `StoreCorruptedError`, never a crash.

Reading a damaged LMDB file can kill the process (SIGBUS past the end of a
truncated file, SIGSEGV on garbage pages), so every open of a damaged table
runs in a child process, which must end normally.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from actorstore.storage import StoreDirectory
from tests.reliability.conftest import Child

REPO_ROOT = Path(__file__).resolve().parents[2]
CHILD_WAIT = 60.0
RECORDS = 3000

READER = """
import sys
from actorstore import storage
try:
    with storage.StoreDirectory(sys.argv[1]) as store:
        session = store.session("t")
        print("count", session.count(), flush=True)
        pairs = session.scan()
        print("scanned", len(pairs), flush=True)
except storage.StoreError as exc:
    print("error", type(exc).__name__, exc, flush=True)
"""


def run(code: str, *args: str) -> str:
    """Run `code` in a child; return its output. Fail if a signal killed it."""
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)),
        timeout=CHILD_WAIT,
        check=False,
    )
    assert done.returncode >= 0, (
        f"the child died by signal {-done.returncode}; it printed "
        f"{done.stdout.decode()!r}"
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout.decode().strip()


def make_table(path: Path, durability: str = "sync") -> Path:
    """Create table `t` with `RECORDS` records; return its data file."""
    with StoreDirectory(path) as store:
        store.create_table("t", durability=durability)
        store.session("t").batch(
            [
                ("upsert", f"k{i:05d}", {"i": i, "pad": "p" * 300})
                for i in range(RECORDS)
            ]
        )
    return path / "tables" / "t" / "data.mdb"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("keep", [0.5, 0.1], ids=["half", "a-tenth"])
def test_a_truncated_data_file_is_refused_at_open(
    store_path: Path, keep: float
) -> None:
    data = make_table(store_path)
    size = data.stat().st_size
    os.truncate(data, int(size * keep) // 4096 * 4096)
    answer = run(READER, str(store_path))
    assert answer.startswith("error StoreCorruptedError table 't' is damaged"), answer
    assert "the file was truncated" in answer
    assert "restore its directory" in answer
    assert "remove that directory" in answer


@pytest.mark.timeout(120)
def test_a_data_file_shorter_than_its_meta_pages_is_refused(store_path: Path) -> None:
    data = make_table(store_path)
    os.truncate(data, 5000)
    answer = run(READER, str(store_path))
    assert answer.startswith("error StoreCorruptedError table 't' is damaged"), answer


@pytest.mark.timeout(120)
def test_removing_a_damaged_tables_directory_lets_it_reopen_empty(
    store_path: Path,
) -> None:
    data = make_table(store_path)
    os.truncate(data, data.stat().st_size // 2)
    for entry in data.parent.iterdir():  # the remedy the error names
        if entry.is_dir():
            for inner in entry.iterdir():
                inner.unlink()
            entry.rmdir()
        else:
            entry.unlink()
    data.parent.rmdir()
    assert run(READER, str(store_path)) == "count 0\nscanned 0"


# -- NONE tables after an unclean shutdown ---------------------------------------

HOLDER = """
import signal, sys
from actorstore.storage import StoreDirectory
store = StoreDirectory(sys.argv[1])
session = store.session("t")
session.upsert("last", {"i": -1})
print("open", flush=True)
signal.pause()  # killed here, with the table open
"""

CHECKER = """
import sys
from actorstore import storage
with storage.StoreDirectory(sys.argv[1]) as store:
    print("count", store.session("t").count(), flush=True)
    result = store.check()["t"]
    print("check", result.ok, result.records, result.problem, flush=True)
"""


def damage_a_page(data: Path) -> None:
    """Write garbage over one page in the middle of the data file."""
    pages = data.stat().st_size // 4096
    garbage = random.Random(1234).randbytes(4096)
    with data.open("r+b") as file:
        file.seek(pages * 2 // 5 * 4096)
        file.write(garbage)


def die_with_the_table_open(spawn_child: Callable[..., Child], path: Path) -> int:
    """Open table `t` in a child, kill it there; return the child's pid."""
    child = spawn_child(HOLDER, str(path))
    child.expect("open")
    assert child.kill() == -9
    return child.proc.pid


@pytest.mark.timeout(120)
def test_a_none_table_damaged_before_an_unclean_shutdown_is_refused(
    spawn_child: Callable[..., Child], store_path: Path
) -> None:
    data = make_table(store_path, durability="none")
    pid = die_with_the_table_open(spawn_child, store_path)
    damage_a_page(data)  # what a torn write at a power loss could leave
    for _ in range(2):  # refused again: the damage is still there
        answer = run(READER, str(store_path))
        assert answer.startswith(
            f"error StoreCorruptedError table 't' is damaged: after an unclean "
            f"shutdown (process {pid} died with it open), its file fails "
            "verification: "
        ), answer
        assert "restore its directory" in answer


@pytest.mark.timeout(120)
def test_a_none_table_is_verified_once_after_an_unclean_shutdown(
    spawn_child: Callable[..., Child], store_path: Path
) -> None:
    make_table(store_path, durability="none")
    die_with_the_table_open(spawn_child, store_path)
    holders = store_path / "tables" / "t" / "holders"
    assert len(list(holders.iterdir())) == 1
    assert run(READER, str(store_path)) == f"count {RECORDS + 1}\nscanned {RECORDS + 1}"
    assert list(holders.iterdir()) == []  # a clean close leaves no record


@pytest.mark.timeout(120)
@pytest.mark.parametrize("synced", [0, RECORDS], ids=["before-its-first-sync", "later"])
def test_a_none_table_that_lost_its_unsynced_writes_opens_with_a_warning(
    spawn_child: Callable[..., Child], store_path: Path, synced: int
) -> None:
    if synced:
        data = make_table(store_path, durability="none")
    else:
        with StoreDirectory(store_path) as store:
            store.create_table("t", durability="none")
            store.session("t").count()
        data = store_path / "tables" / "t" / "data.mdb"
    on_disk = data.read_bytes()  # what a power loss leaves: the last sync
    pid = die_with_the_table_open(spawn_child, store_path)  # wrote "last"
    data.write_bytes(on_disk)
    logged_reader = "import logging\nlogging.basicConfig()\n" + READER
    done = subprocess.run(
        [sys.executable, "-c", logged_reader, str(store_path)],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)),
        timeout=CHILD_WAIT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    # An intact table without its last writes is what NONE risks: it opens,
    # and says plainly that writes may be gone.
    assert done.stdout.split() == ["count", str(synced), "scanned", str(synced)]
    assert (
        f"table t: process {pid} died with it open; as a NONE table, the writes "
        "it acknowledged since the table's last sync are lost if the machine "
        "lost power too"
    ) in done.stderr


@pytest.mark.timeout(120)
def test_check_finds_damage_that_opening_after_a_clean_shutdown_does_not_look_for(
    store_path: Path,
) -> None:
    data = make_table(store_path, durability="none")
    damage_a_page(data)
    answer = run(CHECKER, str(store_path)).splitlines()
    assert answer[0] == f"count {RECORDS}"
    assert answer[1].startswith(f"check False {RECORDS} "), answer


CHECK_ONLY = """
import sys
from actorstore import storage
with storage.StoreDirectory(sys.argv[1]) as store:
    for name, result in store.check().items():
        print(name, result.ok, result.records, result.problem, flush=True)
"""


@pytest.mark.timeout(120)
def test_check_reports_a_table_too_damaged_to_open(store_path: Path) -> None:
    data = make_table(store_path)
    os.truncate(data, data.stat().st_size // 2 // 4096 * 4096)
    answer = run(CHECK_ONLY, str(store_path))
    assert answer.startswith("t False 0 its data file has "), answer
    assert answer.endswith("(the file was truncated)"), answer


FSYNC_WATCHER = """
import os, sys
from actorstore import storage

synced = []
real_fsync = os.fsync

def watched_fsync(fd):
    real_fsync(fd)
    synced.append(os.readlink(f"/proc/self/fd/{fd}"))

os.fsync = watched_fsync
with storage.StoreDirectory(sys.argv[1]) as store:
    store.create_table("t", durability=sys.argv[2])
    synced.clear()
    session = store.session("t")  # opens the table: its holder record is made
    for path in synced:
        print("synced", path, flush=True)
    print("pid", os.getpid(), flush=True)
    session.upsert("k", 1)  # the first commit the record guards
"""


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
@pytest.mark.parametrize("durability", ["none", "sync"])
def test_a_none_tables_unclean_shutdown_marker_is_on_disk_before_its_first_commit(
    store_path: Path, durability: str
) -> None:
    """The holder record `holders/<pid>` (the marker that makes the next open
    walk a NONE table) and its directory entry are synced before the table
    serves; else a power loss could drop it with the commits it guards."""
    lines = run(FSYNC_WATCHER, str(store_path), durability).splitlines()
    pid = lines[-1].split()[1]
    holders = os.path.realpath(store_path / "tables" / "t" / "holders")
    synced = {line.split(" ", 1)[1] for line in lines if line.startswith("synced ")}
    if durability == "none":
        assert {os.path.join(holders, pid), holders} <= synced, synced
    else:  # a SYNC table needs no walk: opening it syncs no record
        assert os.path.join(holders, pid) not in synced
