"""Security: names stay inside the store, files honour the umask, data stays data."""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lmdb
import pytest

import actorstore
from actorstore import Store
from actorstore.retry import DEAD_LETTER_TABLE, RetriesExhaustedError, RetryPolicy
from actorstore.storage import InvalidTableNameError, NotFoundError, StoreBusyError

WAIT = 10.0
REPO_ROOT = Path(__file__).resolve().parents[2]

TRAVERSAL_NAMES = [
    "..",
    "../escape",
    "../../escape",
    "/tmp/escape",
    "/escape",
    "a/../../escape",
    "./escape",
    ".escape",
    "escape/..",
    "..\\escape",
    "~",
    "~root",
    "%2e%2e",
    "esc\x00ape",
    "a\nb",
    " escape",
    "escape\u2215x",  # DIVISION SLASH, looks like '/'
    "\u2025",  # TWO DOT LEADER, looks like '..'
    "\uff45\uff53\uff43",  # FULLWIDTH 'esc': not ASCII letters
    "tables",  # allowed: a plain name, stays in <store>/tables/tables
    "catalog",
    "x..y",
    "a.b-c_d",
]
ALLOWED = {"tables", "catalog", "x..y", "a.b-c_d"}


def tree(path: Path) -> set[str]:
    """Return every path under `path`, relative to it."""
    return {str(p.relative_to(path)) for p in path.rglob("*")}


def uses_of(store: Store, name: str) -> list[Callable[[], object]]:
    """Return calls that use table `name`: each could create a path from it."""
    return [
        lambda: store.create_table(name),
        lambda: store.upsert(name, "k", {"v": 1}).get(timeout=WAIT),
        lambda: store.search(name, "k").get(timeout=WAIT),
        lambda: store.compact(name, timeout=WAIT),
        lambda: store.new_op(name).count().get(timeout=WAIT),
    ]


def test_table_names_and_paths_stay_inside_the_store(
    make_store: Callable[..., Store], tmp_path: Path, store_path: Path
) -> None:
    outside = tmp_path.parent
    siblings = set(os.listdir(outside))
    store = make_store()
    store.create_table("docs")
    for name in TRAVERSAL_NAMES:
        for attempt in uses_of(store, name):
            if name in ALLOWED:
                with contextlib.suppress(NotFoundError):  # search of an absent key
                    attempt()
            else:
                with pytest.raises(InvalidTableNameError):
                    attempt()

    assert set(os.listdir(outside)) == siblings, "something was created beside tmp_path"
    assert set(os.listdir(tmp_path)) == {"store"}
    real_store = os.path.realpath(store_path)
    for path in store_path.rglob("*"):
        assert not path.is_symlink(), path
        assert os.path.realpath(path).startswith(real_store + os.sep), path
    # A table's directory appears when the table is first opened.
    table_dirs = set(os.listdir(store_path / "tables"))
    assert ALLOWED <= table_dirs <= {"docs", DEAD_LETTER_TABLE, *ALLOWED}
    assert set(store.tables()) == {"docs", *ALLOWED}
    assert set(os.listdir(store_path)) == {"tables", "catalog"}


# Creates a store under a given umask and exercises every path that creates a
# file or directory: tables, writes, map growth, compaction, dead letters.
UMASK_CHILD = """
import os, sys
os.umask(int(sys.argv[2], 8))
import actorstore
from actorstore import retry
from actorstore import storage

def fail(error, result):
    if error is None:
        raise storage.StoreBusyError("injected")

store = actorstore.open_store(sys.argv[1], initial_map_size=1 << 16,
                          retry=retry.RetryPolicy(max_attempts=1))
store.create_table("docs")
store.create_table("fast", durability="none")
for i in range(300):
    store.upsert("docs", f"k{i}", {"pad": "x" * 1000}).get(timeout=10)
    store.upsert("fast", f"k{i}", i).get(timeout=10)
store.batch("docs", [("remove", f"k{i}") for i in range(250)]).get(timeout=10)
store.compact("docs", timeout=30)
try:
    store.upsert("docs", "dead", 1, callback=fail).get(timeout=10)
except retry.RetriesExhaustedError:
    pass
store.close()
print("ok", flush=True)
"""


@pytest.mark.parametrize(
    ("umask", "forbidden"),
    [
        pytest.param(0o000, stat.S_IWOTH, id="umask-000-never-world-writable"),
        pytest.param(
            0o022,
            stat.S_IWGRP | stat.S_IWOTH,
            id="umask-022-not-group-or-world-writable",
        ),
        pytest.param(0o077, 0o077, id="umask-077-private"),
    ],
)
def test_store_files_follow_the_umask_and_are_never_world_writable(
    store_path: Path, tmp_path: Path, umask: int, forbidden: int
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", UMASK_CHILD, str(store_path), oct(umask)],
        env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "ok\n"
    paths = [store_path, *store_path.rglob("*")]
    assert any(p.name == "data.mdb" for p in paths)
    bad = {
        str(p.relative_to(tmp_path)): oct(stat.S_IMODE(p.stat().st_mode))
        for p in paths
        if p.stat().st_mode & forbidden
    }
    assert not bad, f"under umask {umask:03o}, modes with bits {forbidden:03o}: {bad}"


PWNED = "PWNED"


def hostile_values(tmp_path: Path) -> list[Any]:
    """Values that would run code if anything unpickled, eval'd or imported them."""
    target = tmp_path / PWNED
    command = f"touch {target}"
    return [
        {"__reduce__": ["os.system", [command]]},
        f"__import__('os').system('{command}')",
        {"py/object": "os.system", "py/reduce": [{"py/function": "os.system"}]},
        f"!!python/object/apply:os.system ['{command}']",
        {"$type": "System.Diagnostics.Process", "__class__": "subprocess.Popen"},
        ["{{7*7}}", "${jndi:ldap://x}", "'; DROP TABLE docs; --"],
    ]


class Exploit:
    """Pickling this makes bytes that run a command when unpickled."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (self.command,))


def test_values_round_trip_as_data_and_nothing_runs(
    make_store: Callable[..., Store], tmp_path: Path
) -> None:
    store = make_store()
    store.create_table("docs", key_format="str", value_format="json")
    store.create_table("blobs", key_format="str", value_format="bytes")
    values = hostile_values(tmp_path)
    for index, value in enumerate(values):
        store.upsert("docs", f"v{index}", value).get(timeout=WAIT)
    payload = pickle.dumps(Exploit(f"touch {tmp_path / PWNED}"))
    store.upsert("blobs", "pickle", payload).get(timeout=WAIT)
    hostile_key = "__import__('os').system('touch PWNED')"
    store.upsert("docs", hostile_key, {"__reduce__": "x"}).get(timeout=WAIT)
    store.close(timeout=WAIT)

    with actorstore.open_store(store.path) as reopened:
        for index, value in enumerate(values):
            assert reopened.search("docs", f"v{index}").get(timeout=WAIT) == value
        assert reopened.search("blobs", "pickle").get(timeout=WAIT) == payload
        assert reopened.search("docs", hostile_key).get(timeout=WAIT) == {
            "__reduce__": "x"
        }
        assert dict(reopened.scan("docs").get(timeout=WAIT))[hostile_key]
    assert not (tmp_path / PWNED).exists()
    assert not (Path.cwd() / PWNED).exists()


def test_dead_letters_are_json_data_never_executed(
    make_store: Callable[..., Store], tmp_path: Path, store_path: Path
) -> None:
    def always_busy(error: BaseException | None, result: Any) -> None:
        if error is None:
            raise StoreBusyError("injected")

    store = make_store(
        retry=RetryPolicy(max_attempts=2, initial_wait=0.001, max_wait=0.01)
    )
    store.create_table("docs", key_format="str", value_format="json")
    store.create_table("blobs", key_format="str", value_format="bytes")
    values = hostile_values(tmp_path)
    futures = [
        store.upsert("docs", f"v{index}", value, callback=always_busy)
        for index, value in enumerate(values)
    ]
    payload = pickle.dumps(Exploit(f"touch {tmp_path / PWNED}"))
    futures.append(store.upsert("blobs", "pickle", payload, callback=always_busy))
    for future in futures:
        with pytest.raises(RetriesExhaustedError):
            future.get(timeout=WAIT)

    letters = store.dead_letters.list(timeout=WAIT)
    assert len(letters) == len(values) + 1
    by_key = {letter.key: letter for letter in letters}
    for index, value in enumerate(values):
        assert by_key[f"v{index}"].value == value
    assert isinstance(by_key["pickle"].value, str)  # bytes are kept as their repr
    assert by_key["pickle"].value_bytes == payload
    # Replaying writes the values back as data; nothing runs.
    outcomes = store.dead_letters.replay(timeout=WAIT)
    assert set(outcomes.values()) == {None}
    for index, value in enumerate(values):
        assert store.search("docs", f"v{index}").get(timeout=WAIT) == value
    assert store.search("blobs", "pickle").get(timeout=WAIT) == payload
    # Park them once more, to read them raw.
    for index, value in enumerate(values):
        future = store.update("docs", f"v{index}", value, callback=always_busy)
        with pytest.raises(RetriesExhaustedError):
            future.get(timeout=WAIT)
    store.close(timeout=WAIT)

    env = lmdb.open(
        str(store_path / "tables" / DEAD_LETTER_TABLE),
        readonly=True,
        lock=False,
        subdir=True,
        max_dbs=0,
    )
    try:
        with env.begin() as txn:
            raw = [(bytes(k), bytes(v)) for k, v in txn.cursor()]
    finally:
        env.close()
    assert len(raw) == len(values)
    for key, data in raw:
        assert len(key) == 8  # an order-preserving int id
        assert not data.startswith(b"\x80"), "a dead letter looks pickled"
        record = json.loads(data)
        assert record["table"] == "docs"
        assert record["op_type"] == "update"
        assert record["value"] in values
        assert record["error"]["type"] == "StoreBusyError"
    assert not (tmp_path / PWNED).exists()
    assert not (Path.cwd() / PWNED).exists()
