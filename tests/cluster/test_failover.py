"""A node killed with calls in flight, its owner back on a new node with the same label.

Records what Ray reports for each failure, and that every write an owner
acknowledged is there when it comes back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import ray

from actorstore.cluster._errors import (
    OutcomeUnknownError,
    OwnerUnavailableError,
    translate_call_error,
)
from actorstore.cluster._owner_actors import start_owner
from actorstore.cluster._wire import wire_op
from actorstore.storage._requests import Outcome
from tests.cluster.harness import (
    WAIT,
    HeldNodeOwner,
    LabelledCluster,
    call,
    wait_for,
    wait_until_serving,
)


def group(table: str, prefix: str, n: int, *, sync: bool = False) -> Any:
    ops = [wire_op("upsert", f"{prefix}{i}", i) for i in range(n)]
    return (table, ops, [sync] * n)


def present(handle: Any, table: str, prefix: str, n: int) -> list[bool]:
    """Return, for each key `prefix<i>`, whether the owner finds it."""
    keys = [wire_op("exists", f"{prefix}{i}") for i in range(n)]
    (outcomes,) = call(handle, [(table, keys, [False] * n)])
    return [o.result for o in outcomes]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def failure(ref: Any) -> BaseException:
    with pytest.raises(ray.exceptions.RayActorError) as failed:
        ray.get(ref, timeout=WAIT)
    return failed.value


def test_a_node_killed_mid_call_keeps_every_acknowledged_write(
    cluster: LabelledCluster, tmp_path: Path
) -> None:
    path = str(Path(cluster.paths["b"]).parent / "held-b")
    owner = start_owner(HeldNodeOwner, "held-b", "b", path, namespace=cluster.namespace)
    ray.get(owner.create_table.remote("sync"), timeout=WAIT)
    ray.get(owner.create_table.remote("lazy", durability="none"), timeout=WAIT)
    acknowledged = call(
        owner, [group("sync", "acked", 300), group("lazy", "acked", 50, sync=True)]
    )
    assert acknowledged == [[Outcome()] * 300, [Outcome()] * 50]
    before = ray.get(owner.location.remote(), timeout=WAIT)
    entered = tmp_path / "entered"
    held = owner.run_then_hold.remote([group("sync", "held", 10)], str(entered))
    queued = owner.run.remote([group("sync", "queued", 10)])  # sent, behind `held`
    wait_for(entered.exists, "the held call")
    cluster.kill("b")
    wait_for(lambda: not _alive(before["pid"]), "the owner's process to end")

    # Sent before the kill: Ray cannot say whether they ran (`held` did).
    for ref in (held, queued):
        error = failure(ref)
        assert isinstance(error, ray.exceptions.ActorUnavailableError), error
        assert isinstance(translate_call_error(error, label="b"), OutcomeUnknownError)

    # Sent while Ray knows the owner is restarting: failed on this side.
    error = failure(owner.run.remote([group("sync", "outage", 1)]))
    assert isinstance(error, ray.exceptions.ActorUnavailableError), error
    assert "The actor is restarting." in str(error)
    assert isinstance(translate_call_error(error, label="b"), OwnerUnavailableError)

    cluster.restore("b")
    where = wait_until_serving(owner)
    assert where["node_id"] == cluster.node_id("b") != before["node_id"]
    assert where["path"] == path
    assert all(present(owner, "sync", "acked", 300))
    assert all(present(owner, "lazy", "acked", 50))
    assert all(present(owner, "sync", "held", 10))  # committed, never acknowledged
    assert not any(present(owner, "sync", "queued", 10))
    assert not any(present(owner, "sync", "outage", 1))
    ray.kill(owner)


SECOND_DRIVER = """
import json, logging, sys
import ray
from actorstore.cluster._owner_actors import find_node_owner
from actorstore.cluster._placement_owner import find_directory_owner
from actorstore.cluster._wire import wire_op
address, namespace, table = sys.argv[1:]
ray.init(address=address, namespace=namespace, logging_level=logging.ERROR,
         log_to_driver=False)
label = ray.get(find_directory_owner(namespace=namespace).placement.remote())[table]
owner = find_node_owner(label, namespace=namespace)
ops = [wire_op("search", "first0"), wire_op("upsert", "second", 2)]
((results, errors),) = ray.get(owner.run.remote([(table, ops, [False, False])]))
print(json.dumps({"label": label, "results": results, "errors": len(errors)}))
"""


def test_a_second_driver_finds_the_owners_by_name_and_sees_the_same_data(
    cluster: LabelledCluster,
    directory_owner: Any,
    node_owners: dict[str, Any],
    table_name: str,
) -> None:
    label = ray.get(
        directory_owner.place.remote(table_name, cluster.labels), timeout=WAIT
    )
    owner = node_owners[label]
    ray.get(owner.create_table.remote(table_name), timeout=WAIT)
    call(owner, [group(table_name, "first", 1)])
    second = subprocess.run(
        [
            sys.executable,
            "-c",
            SECOND_DRIVER,
            cluster.address,
            cluster.namespace,
            table_name,
        ],
        capture_output=True,
        text=True,
        timeout=WAIT,
        env=cluster.env(),
        check=False,
    )
    assert second.returncode == 0, second.stderr[-2000:]
    seen = json.loads(second.stdout.strip().splitlines()[-1])
    assert seen == {"label": label, "results": [0, None], "errors": 0}
    ((outcome,),) = call(owner, [(table_name, [wire_op("search", "second")], [False])])
    assert outcome.result == 2
