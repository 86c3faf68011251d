"""connect_store(): the Store API with table owners on the nodes of a real cluster.

The package's simulated cluster has nodes labelled `a` (which also holds
the directory: placements and dead letters) and `b`. Each test uses tables
of its own; a test that kills a node gets it back before the next one.
"""

from __future__ import annotations

import asyncio
import collections
import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ray

import actorstore
from actorstore import retry, storage
from actorstore.cluster import CLUSTER_POLICY, ClusterStore, connect_store
from tests.cluster.harness import (
    WAIT,
    LabelledCluster,
    wait_for,
    wait_until_serving,
)

ONE_TRY = retry.RetryPolicy(max_attempts=1)


def serving(owner: Any) -> bool:
    """Whether `owner` answers now (a dead one fails within about a second)."""
    try:
        ray.get(owner.location.remote(), timeout=WAIT)
    except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
        return False
    return True


@pytest.fixture
def store(cluster: LabelledCluster, tmp_path: Path) -> Iterator[ClusterStore]:
    """A client store on the cluster; closed (not the owners) in teardown."""
    client = connect_store(
        nodes=cluster.paths,
        namespace=cluster.namespace,
        spool_path=tmp_path / "spool.jsonl",
    )
    yield client
    client.close(timeout=3 * WAIT)


def test_tables_live_on_the_node_of_their_label(
    store: ClusterStore, cluster: LabelledCluster, table_name: str
) -> None:
    store.create_table(f"{table_name}-on-b", node="b")

    assert store.placement()[f"{table_name}-on-b"] == "b"
    where = ray.get(store._transport.owner("b").location.remote(), timeout=WAIT)
    assert where["node_id"] == cluster.node_id("b")
    with pytest.raises(storage.TableExistsError, match="lives on node 'b'"):
        store.create_table(f"{table_name}-on-b", node="a", exist_ok=True)


def test_a_table_without_node_goes_where_rendezvous_hashing_puts_it(
    store: ClusterStore, table_name: str
) -> None:
    names = [f"{table_name[:50]}-{i}" for i in range(6)]
    for name in names:
        store.create_table(name)

    placed = store.placement()
    expected = {
        name: actorstore.cluster._placement.rendezvous_label(name, "ab")
        for name in names
    }
    assert {name: placed[name] for name in names} == expected


def test_the_op_methods_work_on_a_remote_table(
    store: ClusterStore, table_name: str
) -> None:
    store.create_table(table_name, node="b")

    assert store.upsert(table_name, "a", {"n": 1}).get(WAIT) is None
    assert store.insert(table_name, "b", {"n": 2}).get(WAIT) is None
    with pytest.raises(storage.KeyExistsError, match="already exists"):
        store.insert(table_name, "b", {}).get(WAIT)
    assert store.update(table_name, "b", {"n": 3}).get(WAIT) is None
    assert store.search(table_name, "b").get(WAIT) == {"n": 3}
    assert store.exists(table_name, "c").get(WAIT) is False
    assert store.batch(table_name, [("upsert", "c", 4), ("remove", "a")]).get(WAIT) == 2
    assert store.count(table_name).get(WAIT) == 2
    assert store.scan(table_name, reverse=True).get(WAIT) == [("c", 4), ("b", {"n": 3})]
    with pytest.raises(storage.NotFoundError):
        store.remove(table_name, "a").get(WAIT)
    op = store.new_op(table_name)
    op.key = "c"
    assert op.search().get(WAIT) == 4
    assert op.value == 4


def test_bad_input_is_refused_on_the_callers_thread(
    store: ClusterStore, table_name: str
) -> None:
    store.create_table(table_name, node="a", key_format="int")
    store.upsert(table_name, 1, 1).get(WAIT)
    (mailbox,) = [m for m in store._transport.router.mailboxes() if m.label == "a"]
    calls = mailbox.calls

    with pytest.raises(storage.InvalidKeyError):
        store.upsert(table_name, "not an int", 1)
    with pytest.raises(storage.EncodeError):
        store.upsert(table_name, 2, object())
    assert mailbox.calls == calls  # nothing crossed the wire


def test_callbacks_run_on_the_client_after_commit(
    store: ClusterStore, table_name: str
) -> None:
    store.create_table(table_name, node="b")
    seen: list[tuple[str, Any]] = []
    done = threading.Event()

    def callback(error: BaseException | None, result: Any) -> None:
        seen.append((threading.current_thread().name, error or result))
        done.set()

    store.upsert(table_name, "k", 1).get(WAIT)
    store.search(table_name, "k", callback=callback)
    assert done.wait(WAIT)
    ((thread, result),) = seen
    assert result == 1
    assert thread.startswith("ClusterReports")


def test_many_ops_go_in_few_calls_and_await_works(
    store: ClusterStore, table_name: str
) -> None:
    store.create_table(table_name, node="a", durability="sync")

    async def write_all() -> int:
        await asyncio.gather(
            *(store.upsert(table_name, f"k{i}", i) for i in range(3000))
        )
        return await store.count(table_name)

    assert store.exists(table_name, "none").get(WAIT) is False
    (mailbox,) = [m for m in store._transport.router.mailboxes() if m.label == "a"]
    calls = mailbox.calls
    assert asyncio.run(write_all()) == 3000
    # One call carries a group (up to 512 ops), not an op.
    assert mailbox.calls - calls < 3000 / 8


def test_a_table_s_ops_apply_in_submission_order_across_calls(
    store: ClusterStore, table_name: str
) -> None:
    store.create_table(table_name, node="a", durability="none")
    assert store.count(table_name).get(WAIT) == 0  # the owner's mailbox is made
    (mailbox,) = [m for m in store._transport.router.mailboxes() if m.label == "a"]
    calls = mailbox.calls
    window: collections.deque[actorstore.OpFuture[Any]] = collections.deque()
    reads = []
    for i in range(4000):
        if len(window) == 512:
            window.popleft().get(WAIT)
        window.append(store.upsert(table_name, f"k{i % 7}", i))
        if i % 50 == 0:  # a read right after a write sees it
            reads.append((i, store.search(table_name, f"k{i % 7}")))
    for future in window:
        future.get(WAIT)
    assert mailbox.calls - calls > 3  # the ops crossed in several calls
    assert [(i, read.get(WAIT)) for i, read in reads] == [(i, i) for i, _ in reads]
    last = {f"k{j}": max(i for i in range(4000) if i % 7 == j) for j in range(7)}
    assert dict(store.scan(table_name).get(WAIT)) == last


def test_stats_flush_and_close(store: ClusterStore, table_name: str) -> None:
    store.create_table(table_name, node="b", durability="none")
    for i in range(100):
        store.upsert(table_name, f"k{i}", i)
    store.flush(WAIT)

    tables = store.stats()["tables"]
    assert tables[table_name]["records"] == 100
    assert tables[table_name]["node"] == "b"
    assert store.check(table_name)[table_name].ok

    store.close(3 * WAIT)
    assert store.is_closed
    with pytest.raises(storage.StoreClosedError):
        store.upsert(table_name, "late", 0)


def test_a_second_driver_finds_the_same_owners_and_tables(
    store: ClusterStore, cluster: LabelledCluster, table_name: str
) -> None:
    store.create_table(table_name, node="b")
    store.upsert(table_name, "from-first", {"n": 1}).get(WAIT)
    code = f"""
import json, ray
from actorstore.cluster import connect_store
ray.init(address={cluster.address!r}, namespace={cluster.namespace!r},
         log_to_driver=False)
store = connect_store(nodes={cluster.paths!r}, namespace={cluster.namespace!r},
                      spool_path={str(Path(cluster.temp_root) / "spool2")!r})
found = store.search({table_name!r}, "from-first").get(30)
store.upsert({table_name!r}, "from-second", 2).get(30)
print(json.dumps({{"found": found, "placement": store.placement()[{table_name!r}]}}))
store.close()
"""
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env=cluster.env(),
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer == {"found": {"n": 1}, "placement": "b"}
    assert store.search(table_name, "from-second").get(WAIT) == 2


def test_a_killed_node_ends_every_op_and_keeps_what_it_acknowledged(
    store: ClusterStore, cluster: LabelledCluster, table_name: str, tmp_path: Path
) -> None:
    on_a, on_b = f"{table_name[:60]}-a", f"{table_name[:60]}-b"
    store.create_table(on_a, node="a", durability="sync")
    store.create_table(on_b, node="b")
    acknowledged = [store.upsert(on_a, f"k{i}", i) for i in range(500)]
    for future in acknowledged:
        future.get(WAIT)

    cluster.kill("a")
    owner_a = store._transport.owner("a")
    wait_for(lambda: not serving(owner_a), "the owner of node a to be gone")
    # The other node keeps serving.
    assert store.upsert(on_b, "still", 1).get(WAIT) is None
    assert store.search(on_b, "still").get(WAIT) == 1
    # While `a` is down: idempotent upserts wait and retry (the default
    # policy rides out a restart); inserts allowed one try end at once, each
    # with the store's account of what happened to it.
    retried = [store.upsert(on_a, f"late{i}", i) for i in range(50)]
    tried_once = [store.insert(on_a, f"new{i}", i, retry=ONE_TRY) for i in range(5)]
    ends = collections.Counter(
        type(future.exception(3 * WAIT)).__name__ for future in tried_once
    )
    assert set(ends) <= {"RetriesExhaustedError", "OutcomeUnknownError"}, ends
    for future in tried_once:
        error = future.exception(0)
        if isinstance(error, retry.RetriesExhaustedError):
            # Each says where its letter is: the spool while the directory
            # is unreachable, else the dead-letter table.
            assert error.written
            assert re.search(
                r"\((see store\.dead_letters|kept by the local spool .+)\)$",
                str(error),
            ), str(error)
    cluster.restore("a")
    wait_until_serving(owner_a, timeout=3 * WAIT)
    wait_until_serving(store._transport.directory_owner, timeout=3 * WAIT)

    assert [future.exception(6 * WAIT) for future in retried] == [None] * 50
    for i in range(500):
        assert store.search(on_a, f"k{i}").get(WAIT) == i
    # The inserts given up on are dead letters: spooled while the directory
    # (on node `a`) was down, forwarded by the next flush.
    store.flush(3 * WAIT)
    letters = [
        letter for letter in store.dead_letters.list(WAIT) if letter.table == on_a
    ]
    assert sorted(letter.key for letter in letters) == [f"new{i}" for i in range(5)]
    assert not (tmp_path / "spool.jsonl").exists()  # forwarded, then removed
    store.flush(3 * WAIT)  # and not forwarded twice
    assert len([x for x in store.dead_letters.list(WAIT) if x.table == on_a]) == 5


def test_errors_cross_with_their_fields(store: ClusterStore, table_name: str) -> None:
    store.create_table(table_name, node="a")
    store.upsert(table_name, "k", 1).get(WAIT)
    error = store.insert(table_name, "k", 2).exception(WAIT)
    assert isinstance(error, storage.KeyExistsError)
    assert (error.table, error.key) == (table_name, "k")


def test_connect_store_refuses_bad_nodes(cluster: LabelledCluster) -> None:
    with pytest.raises(storage.InvalidOptionError, match="not absolute"):
        connect_store(nodes={"a": "relative/path"}, namespace=cluster.namespace)
    with pytest.raises(storage.InvalidOptionError, match="invalid node label"):
        connect_store(nodes={"no spaces": "/tmp/x"}, namespace=cluster.namespace)
    with pytest.raises(storage.InvalidOptionError, match="needs nodes="):
        connect_store(namespace=cluster.namespace)


def test_the_default_policy_rides_out_a_restart() -> None:
    delays = [CLUSTER_POLICY.delay(n) for n in range(1, CLUSTER_POLICY.max_attempts)]
    assert sum(delays) > 15
