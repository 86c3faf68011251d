"""ClusterStore.backup: each node's tables copied to a directory on that node.

The package's simulated cluster runs every node on this machine, so each
node's copy (`dest/<label>`) can be opened here to see what it holds.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import actorstore
from actorstore.cluster import ClusterStore, connect_store
from actorstore.storage import InvalidOptionError, StoreDirectory
from tests.cluster.harness import WAIT, LabelledCluster


@pytest.fixture
def store(cluster: LabelledCluster, tmp_path: Path) -> Iterator[ClusterStore]:
    client = connect_store(
        nodes=cluster.paths,
        namespace=cluster.namespace,
        spool_path=tmp_path / "spool.jsonl",
    )
    yield client
    client.close(timeout=3 * WAIT)


def _park(store: ClusterStore, table: str) -> int:
    state = actorstore.AttemptState()
    state.failed(actorstore.StoreBusyError("busy"))
    letter = actorstore.DeadLetter.new(
        op_type="upsert", table=table, key="k", value=1, state=state
    )
    store.dead_letters.park(letter).get(WAIT)
    return letter.id


def test_each_node_s_tables_and_the_directory_are_copied_on_their_nodes(
    store: ClusterStore, cluster: LabelledCluster, table_name: str, tmp_path: Path
) -> None:
    on_a, on_b = f"{table_name[:60]}-a", f"{table_name[:60]}-b"
    store.create_table(on_a, node="a")
    store.create_table(on_b, node="b", durability="none")
    for i in range(50):
        store.upsert(on_a, f"k{i}", {"i": i})
        store.upsert(on_b, f"k{i}", {"i": i})
    store.flush(WAIT)
    letter_id = _park(store, on_a)
    stop = threading.Event()
    written = [0]

    def write() -> None:  # writers keep going while the nodes copy
        while not stop.is_set():
            store.upsert(on_b, f"late{written[0]}", 0).get(WAIT)
            written[0] += 1

    writer = threading.Thread(target=write)
    writer.start()
    seen: list[tuple[str, int, int]] = []
    try:
        result = store.backup(
            tmp_path / "backup", progress=lambda *args: seen.append(args)
        )
    finally:
        stop.set()
        writer.join(WAIT)

    dest = str(tmp_path / "backup")
    assert result.path == dest
    assert dict(result.nodes) == {"a": f"{dest}/a", "b": f"{dest}/b"}
    assert sorted(label for label, _, _ in seen) == ["a", "b"]
    assert {on_a, on_b, actorstore.DEAD_LETTER_TABLE} <= set(result.tables)
    with StoreDirectory(result.nodes["a"]) as copy:
        assert copy.session(on_a).count() == 50
        assert all(check.ok for check in copy.check().values())
        assert on_b not in copy.table_names()
    with StoreDirectory(result.nodes["b"]) as copy:
        assert copy.session(on_b).count() >= 50
        assert copy.table_info(on_b).durability.value == "none"
    with StoreDirectory(os.path.join(result.nodes["a"], "_cluster")) as directory:
        placements = dict(directory.session("__placement__", internal=True).scan())
        assert placements[on_a] == "a" and placements[on_b] == "b"
        letters = directory.session(actorstore.DEAD_LETTER_TABLE, internal=True)
        assert letters.exists(letter_id)


def test_a_destination_that_is_not_absolute_or_exists_is_refused(
    store: ClusterStore, tmp_path: Path
) -> None:
    with pytest.raises(InvalidOptionError, match="absolute"):
        store.backup("relative/backup")
    (tmp_path / "taken" / "b").mkdir(parents=True)
    with pytest.raises(InvalidOptionError, match="already exists"):
        store.backup(tmp_path / "taken")
