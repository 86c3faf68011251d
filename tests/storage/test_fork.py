"""fork(): the child inherits no open environment and cannot use the parent's."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent(
    """
    import json, os, signal, sys
    from actorstore.storage import StoreDirectory, StoreClosedError

    store = StoreDirectory(sys.argv[1])
    store.create_table("t")
    session = store.session("t")
    session.upsert("before", 1)
    table = store.table("t")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        signal.alarm(10)  # a child stuck on a lock the parent held dies loudly
        found = {}
        for name, call in [("stats", table.stats), ("sync", table.sync)]:
            try:
                call()
                found[name] = "ok"
            except StoreClosedError:
                found[name] = "StoreClosedError"
        own = StoreDirectory(sys.argv[1])  # the documented remedy
        own_session = own.session("t")
        own_session.upsert("from-child", 2)
        found["own_read"] = own_session.search("before")
        own.close()
        os.write(write, json.dumps(found).encode())
        os._exit(0)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    found = json.loads(os.read(read, 4096) or b"{}")
    found["child_signal"] = os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0
    found["parent_sees_child"] = session.search("from-child")
    session.upsert("after", 3)  # the parent's table reopened after fork()
    found["parent_after"] = session.search("after")
    store.close()
    print(json.dumps(found))
    """
)


def test_a_forked_child_refuses_the_parent_s_tables_and_opens_its_own(
    tmp_path: Path,
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "store")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found == {
        "stats": "StoreClosedError",
        "sync": "StoreClosedError",
        "own_read": 1,
        "child_signal": 0,
        "parent_sees_child": 2,
        "parent_after": 3,
    }
