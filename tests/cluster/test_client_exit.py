"""A client process as a user runs one: it exits without close(), sees a node die.

Each test runs a second driver in a subprocess (`connect_store` starts its
Ray connection itself, as a user's script does) against the package's
simulated cluster.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import ray

from actorstore.cluster import ClusterStore, connect_store
from tests.cluster.harness import WAIT, LabelledCluster, wait_for, wait_until_serving

LAST_WORD = """
import atexit

def last_word():  # registered first, so it runs after every other exit hook
    import ray
    print("ray initialized at exit:", ray.is_initialized(), flush=True)

atexit.register(last_word)
"""


def client(
    cluster: LabelledCluster, tmp_path: Path, body: str
) -> subprocess.Popen[str]:
    """Start a client script: connect_store, then `body` (with `store`, `table`)."""
    code = f"""{LAST_WORD}
import sys
from actorstore.cluster import connect_store
store = connect_store({cluster.address!r}, nodes={cluster.paths!r},
                      namespace={cluster.namespace!r},
                      spool_path={str(tmp_path / "client-spool.jsonl")!r})
{body}
"""
    return subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cluster.env(),
    )


def test_a_client_that_exits_without_close_only_disconnects(
    cluster: LabelledCluster, tmp_path: Path, table_name: str
) -> None:
    body = f"""
store.create_table({table_name!r}, node="b")
store.upsert({table_name!r}, "k", 1)  # not waited for: the exit finishes it
print("submitted", flush=True)
"""
    out, err = client(cluster, tmp_path, body).communicate(timeout=4 * WAIT)

    # Ray was not touched after it disconnected at exit (a flush or sync
    # then would have started a new local Ray session, with its processes).
    assert "ray initialized at exit: False" in out, (out, err[-2000:])
    assert "Ray instance" not in err, err[-2000:]
    store = connect_store(nodes=cluster.paths, namespace=cluster.namespace)
    try:
        assert store.search(table_name, "k").get(WAIT) == 1
    finally:
        store.close(WAIT)


def serving(owner: Any) -> bool:
    try:
        ray.get(owner.location.remote(), timeout=WAIT)
    except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
        return False
    return True


def test_a_dead_node_s_raylet_log_does_not_reach_the_client_s_terminal(
    cluster: LabelledCluster, tmp_path: Path, table_name: str
) -> None:
    body = f"""
store.create_table({table_name!r}, node="b")
store.upsert({table_name!r}, "k", 1).get(60)
print("ready", flush=True)
sys.stdin.readline()  # node b died meanwhile, and came back
print("after:", store.upsert({table_name!r}, "after", 2).get(120), flush=True)
store.close()
"""
    process = client(cluster, tmp_path, body)
    assert process.stdout is not None and process.stdin is not None
    assert process.stdout.readline().strip() == "ready"
    watcher: ClusterStore = connect_store(
        nodes=cluster.paths, namespace=cluster.namespace
    )
    try:
        owner = watcher._transport.owner("b")
        cluster.kill("b")
        wait_for(lambda: not serving(owner), "node b's owner to be gone")
        cluster.restore("b")
        wait_until_serving(owner, timeout=3 * WAIT)
    finally:
        watcher.close(WAIT)
    process.stdin.write("go\n")
    process.stdin.flush()
    out, err = process.communicate(timeout=6 * WAIT)

    assert "after: None" in out, (out, err[-2000:])
    for noise in ("Raylet is terminated", "state-dump", "(raylet)"):
        assert noise not in out + err, (out + err)[-3000:]
