"""A damaged table file is a `StoreCorruptedError`, never a crash.

Reading a damaged LMDB file can kill the process (SIGBUS past the end of a
truncated file, SIGSEGV on garbage pages), so every open of a damaged table
runs in a child process, which must end normally.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from storage import StoreDirectory

REPO_ROOT = Path(__file__).resolve().parents[2]
CHILD_WAIT = 60.0
RECORDS = 3000

READER = """
import sys
import storage
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
