"""Async ops, WiredTiger style: op handles, a counting callback, ops_max, compact.

Usage: python examples/async_ops.py [STORE_DIR]   (default: a temp directory)

After WiredTiger's ex_async.c: open the store with two worker threads and a
bound on outstanding ops (`ops_max`); insert records through op handles
(`op = store.new_op(table, callback=...)`, set `op.key`/`op.value`, then
`op.insert()`), each with a unique `op.id` and an `op.type`; `flush()`; search
them back through the same counting callback. Then show that one op more
than `ops_max` outstanding is refused at once with `OpsMaxExceededError`
(a callback blocked on an event holds the worker so the slots stay taken),
and finally remove half the records and `compact()` the table.
"""

from __future__ import annotations

import sys
import tempfile
import threading
from typing import Any

import actors
import retry

TABLE = "items"
RECORDS = 200
OPS_MAX = 16
SHOWN = 3


class CountingCallback(retry.Callback):
    """Count successes and failures; ops finish on several workers at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.succeeded = 0
        self.failed = 0
        self.total = 0

    def callback(self, result: Any) -> None:
        with self._lock:
            self.succeeded += 1
            if isinstance(result, dict):
                self.total += result["n"]

    def exception(self, error: BaseException) -> None:
        with self._lock:
            self.failed += 1


class Hold(retry.Callback):
    """Block the worker (inside the op's transaction) until released."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()

    def callback(self, result: Any) -> None:
        self.started.set()
        if not self.release.wait(10):
            raise TimeoutError("nobody released the held op within 10 s")


def insert_and_search(store: actors.Store) -> None:
    counter = CountingCallback()
    ops: list[actors.Op] = []
    for i in range(RECORDS):
        # wait=True: past ops_max, wait for a free slot instead of failing, as
        # ex_async.c retries async_new_op() while it returns EBUSY.
        op = store.new_op(TABLE, callback=counter, wait=True)
        op.key = f"key{i:04d}"
        op.value = {"n": i, "payload": "x" * 2000}
        op.insert()
        ops.append(op)
    for op in ops[:SHOWN]:
        print(f"op {op.id}: {op.type.value if op.type else '?'} {op.key}")
    print(f"... {len(ops)} insert ops, ids {ops[0].id}..{ops[-1].id}")
    store.flush(timeout=30)
    print(f"inserted: {counter.succeeded} succeeded, {counter.failed} failed")

    counter = CountingCallback()
    for i in range(RECORDS):
        op = store.new_op(TABLE, callback=counter, wait=True)
        op.key = f"key{i:04d}"
        op.search()
    store.flush(timeout=30)
    print(
        f"searched: {counter.succeeded} succeeded, {counter.failed} failed, "
        f"sum of n = {counter.total}"
    )


def exceed_ops_max(store: actors.Store) -> None:
    hold = Hold()
    held = store.new_op(TABLE, callback=hold)
    held.key, held.value = "key0000", {"n": 0, "payload": "held"}
    future = held.upsert()
    if not hold.started.wait(5):
        raise TimeoutError("the held op did not start within 5 s")
    # The table's ops run in order, so these queue behind the held one.
    queued = [store.exists(TABLE, f"key{i:04d}") for i in range(OPS_MAX - 1)]
    print(f"outstanding: {store.stats()['in_flight']} of ops_max={store.ops_max}")
    try:
        store.count(TABLE, wait=False)  # WiredTiger's behaviour: refuse at once
    except actors.OpsMaxExceededError as error:
        print(f"one more op refused at once: {type(error).__name__}: {error}")
    else:
        raise AssertionError("ops_max was not enforced")
    finally:
        hold.release.set()
    future.get(timeout=5)
    print(f"held op {held.id} ({held.type.value if held.type else '?'}) committed")
    print(f"released: {sum(f.get(timeout=5) for f in queued)} queued exists() true")
    store.flush(timeout=5)


def remove_and_compact(store: actors.Store) -> None:
    removed = [
        store.remove(TABLE, f"key{i:04d}", wait=True) for i in range(0, RECORDS, 2)
    ]
    for future in removed:
        future.get(timeout=10)
    print(f"removed {len(removed)}; records left: {store.count(TABLE).get(5)}")
    reclaimed = store.compact(TABLE)
    print(f"compacted {TABLE!r}: {reclaimed} bytes reclaimed")


def main(path: str) -> None:
    with actors.open_store(path, threads=2, ops_max=OPS_MAX) as store:
        store.create_table(TABLE, key_format="str", value_format="json", exist_ok=True)
        insert_and_search(store)
        exceed_ops_max(store)
        remove_and_compact(store)
    print(f"closed: {store.is_closed}")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(sys.argv[1])
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(tmp)
