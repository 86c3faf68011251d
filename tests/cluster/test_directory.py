"""DirectoryOwner: durable placements by rendezvous hashing or pin, and dead letters."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest
import ray

from actorstore.cluster._placement import rendezvous_label
from actorstore.cluster._placement_owner import (
    DIRECTORY_DIR,
    DirectoryOwner,
    directory_label,
    find_directory_owner,
)
from actorstore.cluster._wire import wire_op
from actorstore.retry import DEAD_LETTER_TABLE
from actorstore.storage import InvalidOptionError, StoreError, TableExistsError
from tests.cluster.harness import WAIT, LabelledCluster, call, wait_until_serving

LABELS = ["a", "b"]


def test_the_directory_lives_on_the_first_label_in_its_own_store(
    cluster: LabelledCluster, directory_owner: Any
) -> None:
    where = ray.get(directory_owner.location.remote(), timeout=WAIT)
    assert directory_label(cluster.paths) == "a"
    assert where["node_id"] == cluster.node_id("a")
    assert where["path"] == str(Path(cluster.paths["a"]) / DIRECTORY_DIR)
    found = find_directory_owner(namespace=cluster.namespace)
    assert found._actor_id == directory_owner._actor_id


def test_a_new_table_goes_where_rendezvous_hashing_says_and_stays(
    directory_owner: Any, table_name: str
) -> None:
    label = ray.get(directory_owner.place.remote(table_name, LABELS), timeout=WAIT)
    assert label == rendezvous_label(table_name, LABELS)
    # Placed: other labels now (a node added or gone) do not move it.
    other = [x for x in LABELS if x != label] + ["c"]
    moved = ray.get(directory_owner.place.remote(table_name, other), timeout=WAIT)
    assert moved == label
    placement = ray.get(directory_owner.placement.remote(), timeout=WAIT)
    assert placement[table_name] == label


def test_a_pinned_table_goes_to_its_node_and_cannot_be_pinned_elsewhere(
    directory_owner: Any, table_name: str
) -> None:
    pinned = next(x for x in LABELS if x != rendezvous_label(table_name, LABELS))
    place = directory_owner.place.remote
    assert ray.get(place(table_name, LABELS, pinned), timeout=WAIT) == pinned
    assert ray.get(place(table_name, LABELS), timeout=WAIT) == pinned
    assert ray.get(place(table_name, LABELS, pinned), timeout=WAIT) == pinned
    other = next(x for x in LABELS if x != pinned)
    with pytest.raises(TableExistsError, match=f"lives on node '{pinned}'"):
        ray.get(place(table_name, LABELS, other), timeout=WAIT)


@pytest.mark.parametrize(
    ("table", "labels", "node", "error"),
    [
        ("t", LABELS, "c", "node 'c' is not one of the nodes"),
        ("t", [], None, "no node to place"),
        ("t", ["a/b"], None, "invalid node label"),
        ("bad/name", LABELS, None, "invalid table name"),
        ("__placement__", LABELS, None, "reserved for internal tables"),
    ],
)
def test_bad_placements_are_refused(
    directory_owner: Any,
    table: str,
    labels: list[str],
    node: str | None,
    error: str,
) -> None:
    with pytest.raises(StoreError, match=error):
        ray.get(directory_owner.place.remote(table, labels, node), timeout=WAIT)


def test_placements_survive_a_restart_of_the_directory_owner(
    directory_owner: Any, table_name: str
) -> None:
    label = ray.get(directory_owner.place.remote(table_name, LABELS), timeout=WAIT)
    before = ray.get(directory_owner.location.remote(), timeout=WAIT)
    # A crash, not ray.kill(): that returns before the process is gone.
    os.kill(before["pid"], signal.SIGKILL)
    after = wait_until_serving(directory_owner)
    assert after["pid"] != before["pid"]
    assert ray.get(directory_owner.placement.remote(), timeout=WAIT)[table_name] == (
        label
    )


def test_the_dead_letter_table_is_served_like_any_table(directory_owner: Any) -> None:
    letter = {"id": 7, "op_type": "insert", "table": "t", "error": {}}
    wrote, listed = call(
        directory_owner,
        [
            (DEAD_LETTER_TABLE, [wire_op("upsert", 7, letter)], [True]),
            (DEAD_LETTER_TABLE, [wire_op("scan")], [False]),
        ],
    )
    assert wrote[0].ok
    assert (7, letter) in listed[0].result


def test_placing_in_process_needs_no_ray(tmp_path: Path) -> None:
    owner = DirectoryOwner("a", str(tmp_path))
    try:
        assert owner.place("users", ["b", "a"]) == rendezvous_label("users", ["a", "b"])
        assert owner.placement() == {"users": rendezvous_label("users", ["a", "b"])}
        with pytest.raises(InvalidOptionError):
            owner.place("orders", ["a"], node="b")
    finally:
        owner.close()
