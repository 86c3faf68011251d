"""Several processes on one store: concurrent writers, map growth, fork().

Writers are real processes started with multiprocessing's "spawn" method;
each opens the store itself. The fork test forks the test process itself.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import select
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import actorstore
from actorstore import Store, StoreForkedError

WAIT = 10.0
CHILD_WAIT = 90.0
"""Seconds a child process may take; far above what it takes."""

REPO_ROOT = Path(__file__).resolve().parents[2]


# -- children (module level, so "spawn" can import them by name) ----------------


def write_distinct(
    path: str, worker: int, count: int, barrier: Any, results: Any
) -> None:
    """Open the store, upsert `count` keys of its own, close; report on `results`."""
    try:
        store = actorstore.open_store(path)
        try:
            store.create_table("shared", exist_ok=True)
            barrier.wait(CHILD_WAIT)
            for start in range(0, count, 200):
                futures = [
                    store.upsert("shared", f"w{worker}-{i:05d}", {"w": worker, "i": i})
                    for i in range(start, min(start + 200, count))
                ]
                for future in futures:
                    future.get(timeout=CHILD_WAIT)
        finally:
            store.close(timeout=CHILD_WAIT)
        results.put((worker, "ok", count))
    except BaseException:  # noqa: BLE001 - reported to the parent, which fails
        results.put((worker, "error", traceback.format_exc()))


def grow_map(path: str, count: int, size: int, barrier: Any, results: Any) -> None:
    """Write `count` values of `size` bytes from a 1 MiB map, so it must grow."""
    try:
        store = actorstore.open_store(path, initial_map_size=1 << 20)
        try:
            store.create_table("grow", exist_ok=True)
            barrier.wait(CHILD_WAIT)
            for i in range(count):
                store.upsert("grow", f"big-{i:04d}", "x" * size).get(CHILD_WAIT)
        finally:
            store.close(timeout=CHILD_WAIT)
        results.put(("grower", "ok", count))
    except BaseException:  # noqa: BLE001 - reported to the parent, which fails
        results.put(("grower", "error", traceback.format_exc()))


def write_small(path: str, worker: int, count: int, barrier: Any, results: Any) -> None:
    """Write small records one at a time while another process grows the map."""
    try:
        store = actorstore.open_store(path, initial_map_size=1 << 20)
        try:
            store.create_table("grow", exist_ok=True)
            barrier.wait(CHILD_WAIT)
            for i in range(count):
                store.upsert("grow", f"small-{worker}-{i:05d}", {"i": i}).get(
                    CHILD_WAIT
                )
        finally:
            store.close(timeout=CHILD_WAIT)
        results.put((worker, "ok", count))
    except BaseException:  # noqa: BLE001 - reported to the parent, which fails
        results.put((worker, "error", traceback.format_exc()))


def run_children(targets: list[tuple[Callable[..., None], tuple[Any, ...]]]) -> None:
    """Start every target in its own spawned process, together; fail on any error.

    Each target gets a shared barrier and a result queue as its last two
    arguments, so all of them write at the same time.
    """
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(len(targets))
    results = ctx.Queue()
    processes = [
        ctx.Process(target=target, args=(*args, barrier, results), daemon=True)
        for target, args in targets
    ]
    for process in processes:
        process.start()
    try:
        reports = [results.get(timeout=CHILD_WAIT) for _ in processes]
        failures = [report for report in reports if report[1] != "ok"]
        assert not failures, "\n".join(
            f"child {who}:\n{why}" for who, _, why in failures
        )
        for process in processes:
            process.join(CHILD_WAIT)
            assert process.exitcode == 0, f"{process} exited with {process.exitcode}"
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
                process.join(WAIT)
        results.close()
        results.join_thread()


# -- tests --------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_four_processes_write_concurrently(store_path: Path) -> None:
    workers, count = 4, 2000
    run_children(
        [
            (write_distinct, (str(store_path), worker, count))
            for worker in range(workers)
        ]
    )
    with actorstore.open_store(store_path) as store:
        assert store.count("shared").get(timeout=WAIT) == workers * count
        stored = dict(store.scan("shared").get(timeout=WAIT))
        expected = {
            f"w{worker}-{i:05d}": {"w": worker, "i": i}
            for worker in range(workers)
            for i in range(count)
        }
        assert stored == expected
        assert store.dead_letters.list(timeout=WAIT) == []


@pytest.mark.timeout(120)
def test_writers_absorb_another_process_growing_the_map(store_path: Path) -> None:
    big_count, big_size = 60, 100_000  # ~6 MB: the 1 MiB map doubles three times
    small_workers, small_count = 2, 1000
    run_children(
        [
            (grow_map, (str(store_path), big_count, big_size)),
            *(
                (write_small, (str(store_path), worker, small_count))
                for worker in range(small_workers)
            ),
        ]
    )
    with actorstore.open_store(store_path, initial_map_size=1 << 20) as store:
        total = big_count + small_workers * small_count
        assert store.count("grow").get(timeout=WAIT) == total
        bigs = store.scan("grow", prefix="big-").get(timeout=WAIT)
        assert [key for key, _ in bigs] == [f"big-{i:04d}" for i in range(big_count)]
        assert all(value == "x" * big_size for _, value in bigs)
        smalls = dict(store.scan("grow", prefix="small-").get(timeout=WAIT))
        assert smalls == {
            f"small-{worker}-{i:05d}": {"i": i}
            for worker in range(small_workers)
            for i in range(small_count)
        }
        stats = store.stats()["tables"]["grow"]
        assert stats["map_size"] > 1 << 20
        # Each writer topped up the SYNC table's headroom as the data grew,
        # and no top-up wrote over another process's pages (checked above).
        assert stats["file_size"] > stats["used_size"]


def fork_and_report(probe: Callable[[], list[list[str]]]) -> list[list[str]]:
    """Fork; run `probe` in the child and return what it reported as JSON.

    The child leaves with `os._exit`, so no test machinery runs twice.
    """
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        try:
            os.close(read_fd)
            try:
                report = probe()
            except BaseException:  # noqa: BLE001 - reported to the parent
                report = [["probe", "crashed", traceback.format_exc()]]
            os.write(write_fd, json.dumps(report).encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    data = b""
    deadline = time.monotonic() + WAIT
    try:
        while True:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([read_fd], [], [], max(left, 0))
            if not ready:
                os.kill(pid, signal.SIGKILL)
                pytest.fail(f"the forked child reported nothing in {WAIT} s")
            chunk = os.read(read_fd, 65536)
            if not chunk:
                break
            data += chunk
    finally:
        os.close(read_fd)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return list(json.loads(data))


def attempt(name: str, fn: Callable[[], object]) -> list[str]:
    """Return `[name, error type, message]` for what `fn()` raised (or "no error")."""
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - reported to the parent as data
        return [name, type(exc).__name__, str(exc)]
    return [name, "no error", ""]


def check_parent_store(store: Store) -> None:
    """The parent's store still reads and writes after the child's refusals."""
    assert store.search("forked", "before").get(timeout=WAIT) == {"n": 1}
    store.upsert("forked", "after", {"n": 2}).get(timeout=WAIT)
    assert store.search("forked", "after").get(timeout=WAIT) == {"n": 2}
    assert not store.exists("forked", "child").get(timeout=WAIT)
    assert store.count("forked").get(timeout=WAIT) == 2
    store.flush(timeout=WAIT)


def test_store_used_after_fork_raises_store_forked_error(
    make_store: Callable[..., Store],
) -> None:
    store = make_store()
    store.create_table("forked")
    store.upsert("forked", "before", {"n": 1}).get(timeout=WAIT)

    def probe() -> list[list[str]]:
        return [
            attempt("upsert", lambda: store.upsert("forked", "child", {"n": 0})),
            attempt("search", lambda: store.search("forked", "before")),
            attempt("new_op", lambda: store.new_op("forked").count()),
            attempt("create_table", lambda: store.create_table("child")),
            attempt("compact", lambda: store.compact("forked", timeout=2)),
            attempt("stats", store.stats),
            attempt("flush", lambda: store.flush(timeout=2)),
            attempt("tables", store.tables),
            attempt("close", lambda: store.close(timeout=2)),
            attempt("upsert after close", lambda: store.count("forked")),
        ]

    report = {name: (kind, message) for name, kind, message in fork_and_report(probe)}
    assert report.pop("close") == ("no error", "")
    for name, (kind, message) in report.items():
        assert kind == StoreForkedError.__name__, (name, kind, message)
        assert f"opened by process {os.getpid()}" in message, (name, message)
        assert "after fork()" in message, (name, message)
    check_parent_store(store)
    store.close(timeout=WAIT)
    with actorstore.open_store(store.path) as reopened:
        assert dict(reopened.scan("forked").get(timeout=WAIT)) == {
            "before": {"n": 1},
            "after": {"n": 2},
        }


def test_dead_letters_used_after_fork_raise_store_forked_error(
    make_store: Callable[..., Store],
) -> None:
    store = make_store()
    store.create_table("forked")
    store.upsert("forked", "before", {"n": 1}).get(timeout=WAIT)

    def probe() -> list[list[str]]:
        return [
            attempt("dead_letters.list", lambda: store.dead_letters.list(timeout=1)),
            attempt("dead_letters.purge", lambda: store.dead_letters.purge(timeout=1)),
        ]

    for name, kind, message in fork_and_report(probe):
        assert kind == StoreForkedError.__name__, (name, kind, message)
    check_parent_store(store)


# The child leaves normally here (atexit hooks, interpreter teardown closing
# its copies of the LMDB environments): the parent must not notice.
FORK_EXIT_CHILD = """
import os, sys
import actorstore

store = actorstore.open_store(sys.argv[1])
store.create_table("forked")
store.upsert("forked", "before", {"n": 1}).get(timeout=10)
pid = os.fork()
if pid == 0:
    try:
        store.upsert("forked", "child", {"n": 0})
    except actorstore.StoreForkedError:
        sys.exit(0)
    sys.exit(3)
_, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0, status
for i in range(200):
    store.upsert("forked", f"after-{i}", {"n": i}).get(timeout=10)
assert store.count("forked").get(timeout=10) == 201
store.close()
print("ok", flush=True)
"""


def test_forked_child_exiting_normally_leaves_parent_store_intact(
    store_path: Path, tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", FORK_EXIT_CHILD, str(store_path)],
        env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "ok\n"
    with actorstore.open_store(store_path) as store:
        stored = dict(store.scan("forked").get(timeout=WAIT))
        assert stored == {
            "before": {"n": 1},
            **{f"after-{i}": {"n": i} for i in range(200)},
        }
