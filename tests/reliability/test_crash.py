"""Crash safety: a writer killed with SIGKILL loses nothing it acknowledged.

Each child is a real `python -c` process writing through `actorstore.open_store`;
the parent kills it at a seeded random moment, then opens the same store and
checks it.
"""

from __future__ import annotations

import contextlib
import random
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import actorstore
from actorstore import Store

if TYPE_CHECKING:
    from tests.reliability.conftest import Child

WAIT = 10.0

ROUNDS = 5
SEED = 20240611

# Streams upserts with the durability given; prints each key once its future's
# get() returned. A small window of outstanding ops lets group commit work, as
# real callers do.
UPSERT_CHILD = """
import collections, sys
import actorstore

path, tag, durability = sys.argv[1], sys.argv[2], sys.argv[3]
store = actorstore.open_store(path, durability=durability)
store.create_table("acks", key_format="str", value_format="json", exist_ok=True)
window = collections.deque()
i = 0
while True:
    key = f"{tag}-{i:06d}"
    window.append((key, store.upsert("acks", key, {"tag": tag, "i": i})))
    i += 1
    if len(window) >= 16:
        key, future = window.popleft()
        future.get(timeout=30)
        print(key, flush=True)
"""

FILL = 8000
KEEP_EVERY = 10
"""The compact child keeps keys whose number is a multiple of this."""

# Fills a table with ~8 MB, deletes 90% of it, then compacts it.
COMPACT_CHILD = f"""
import sys
import actorstore

store = actorstore.open_store(sys.argv[1])
store.create_table("big", key_format="str", value_format="json", exist_ok=True)
pad = "x" * 1000
for start in range(0, {FILL}, 500):
    writes = [("upsert", f"k{{i:05d}}", {{"i": i, "pad": pad}})
              for i in range(start, start + 500)]
    store.batch("big", writes).get(timeout=30)
removes = [("remove", f"k{{i:05d}}") for i in range({FILL}) if i % {KEEP_EVERY}]
store.batch("big", removes).get(timeout=30)
print("compacting", flush=True)
reclaimed = store.compact("big", timeout=60)
print(f"compacted {{reclaimed}}", flush=True)
store.close()
print("closed", flush=True)
"""


def read_acks(child: Child, count: int) -> list[str]:
    """Return the first `count` keys the child acknowledged."""
    acked: list[str] = []
    while len(acked) < count:
        line = child.readline(timeout=30)
        assert line is not None, (
            f"child ended after {len(acked)} acks, before it was killed{child.why()}"
        )
        acked.append(line)
    return acked


def check_store_works(store: Store, table: str) -> None:
    """Write, read and remove a fresh record in `table`."""
    store.upsert(table, "after-crash", {"ok": True}).get(timeout=WAIT)
    assert store.search(table, "after-crash").get(timeout=WAIT) == {"ok": True}
    store.remove(table, "after-crash").get(timeout=WAIT)
    assert not store.exists(table, "after-crash").get(timeout=WAIT)


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "durability",
    [
        "sync",
        # NONE acknowledges after commit, before fsync: a process crash must
        # still lose nothing (the page cache survives the process).
        "none",
    ],
)
def test_acknowledged_upserts_survive_sigkill(
    spawn_child: Callable[..., Child], store_path: Path, durability: str
) -> None:
    rng = random.Random(SEED)
    acknowledged: dict[str, int] = {}
    for round_ in range(ROUNDS):
        target = rng.randint(50, 400)
        child = spawn_child(UPSERT_CHILD, str(store_path), f"r{round_}", durability)
        acked = read_acks(child, target)
        returncode = child.kill()
        assert returncode == -9, f"child was not killed by SIGKILL{child.why()}"
        acknowledged.update((key, int(key.rsplit("-", 1)[1])) for key in acked)

        with actorstore.open_store(store_path) as store:
            stored = dict(store.scan("acks").get(timeout=WAIT))
            missing = sorted(acknowledged.keys() - stored.keys())
            assert not missing, (
                f"round {round_}: {len(missing)} acknowledged keys lost after "
                f"SIGKILL, e.g. {missing[:5]}"
            )
            for key, number in acknowledged.items():
                tag = key.rsplit("-", 1)[0]
                assert stored[key] == {"tag": tag, "i": number}
            assert store.count("acks").get(timeout=WAIT) == len(stored)
            assert store.dead_letters.list(timeout=WAIT) == []
            check_store_works(store, "acks")


@pytest.mark.timeout(120)
def test_kill_during_compact_leaves_old_or_new_file(
    spawn_child: Callable[..., Child], tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    # Compacting ~8 MB takes some 10-20 ms here: kill right away, then at
    # seeded random moments across it, and once after it finished.
    delays = [0.0, *(rng.uniform(0.0, 0.02) for _ in range(8)), None]
    survivors = {f"k{i:05d}": i for i in range(0, FILL, KEEP_EVERY)}
    for round_, delay in enumerate(delays):
        path = tmp_path / f"store{round_}"
        child = spawn_child(COMPACT_CHILD, str(path))
        child.expect("compacting", timeout=60)
        if delay is None:
            child.expect("closed", timeout=60)
        elif delay > 0:
            # Waiting on the process with a timeout picks the moment to kill.
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.proc.wait(timeout=delay)
        child.kill()

        with actorstore.open_store(path) as store:
            where = f"round {round_} (killed {delay} s after 'compacting')"
            assert store.count("big").get(timeout=WAIT) == len(survivors), where
            stored = dict(store.scan("big").get(timeout=WAIT))
            assert stored.keys() == survivors.keys(), where
            for key, number in survivors.items():
                assert stored[key] == {"i": number, "pad": "x" * 1000}, where
            assert store.search("big", "k00000").get(timeout=WAIT)["i"] == 0
            check_store_works(store, "big")
            store.upsert("big", "k00001", {"i": 1}).get(timeout=WAIT)
            store.compact("big", timeout=WAIT)
            assert store.count("big").get(timeout=WAIT) == len(survivors) + 1, where
        assert not (path / "tables" / "big" / "compact.tmp").exists()
