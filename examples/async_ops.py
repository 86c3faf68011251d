"""Async ops, WiredTiger style: one AsyncCallback serves every op handle.

Usage: python examples/async_ops.py [STORE_DIR]   (default: a temp directory)

A port of WiredTiger's ex_async.c (its "AsyncKeys" example): open the store
with two worker threads and at most 20 outstanding ops; insert 15 records
through op handles (`op = store.new_op(table, callback=keys)`, set `op.key`
and `op.value`, then `op.insert()`), all reporting to one `AsyncCallback`
whose `notify(op, error, result)` reads the op handle itself; `flush()`;
compact the table; search the 15 keys back (after a search, `op.value`
holds the record found) and print each as the seed does; `flush()`. Then
show WiredTiger's own refusal past `ops_max` (`wait=False`), where by
default a submitter would wait for a slot.
"""

from __future__ import annotations

import sys
import tempfile
import threading
from typing import Any

import actorstore

TABLE = "async"
MAX_KEYS = 15
OPS_MAX = 20


class AsyncKeys(actorstore.AsyncCallback):
    """ex_async.c's ASYNC_KEYS: count the records that searches found."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.num_keys = 0
        self.errors = 0

    def notify(
        self, op: actorstore.Op, error: BaseException | None, result: Any
    ) -> None:
        if error is not None:
            with self._lock:
                self.errors += 1
            print(f"ID {op.id} error: {type(error).__name__}: {error}", file=sys.stderr)
            return
        if op.type is actorstore.OpType.SEARCH:
            with self._lock:
                self.num_keys += 1
            print(f"Id {op.id} got record: {op.key} : {op.value}")


class Hold(actorstore.AsyncCallback):
    """Hold the table's owner (inside the op's transaction) until released."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()

    def notify(
        self, op: actorstore.Op, error: BaseException | None, result: Any
    ) -> None:
        self.started.set()
        if not self.release.wait(10):
            raise TimeoutError("nobody released the held op within 10 s")


def async_keys(store: actorstore.Store) -> None:
    keys = AsyncKeys()
    for i in range(MAX_KEYS):
        # Past ops_max this waits for a slot, as ex_async.c retries
        # async_new_op() while it returns EBUSY.
        op = store.new_op(TABLE, callback=keys)
        op.key, op.value = f"key{i}", f"value{i}"
        op.insert()
    store.flush()  # conn->async_flush(): wait for every outstanding op

    op = store.new_op(TABLE, callback=keys)
    op.compact()  # compact the table asynchronously

    for i in range(MAX_KEYS):
        op = store.new_op(TABLE, callback=keys)
        op.key = f"key{i}"
        op.search()
    store.flush()
    print(f"Searched for {keys.num_keys} keys")


def refuse_past_ops_max(store: actorstore.Store) -> None:
    hold = Hold()
    held = store.new_op(TABLE, callback=hold)
    held.key, held.value = "held", "value"
    future = held.upsert()
    if not hold.started.wait(5):
        raise TimeoutError("the held op did not start within 5 s")
    # The table's ops run in order, so these queue behind the held one.
    queued = [store.exists(TABLE, f"key{i}") for i in range(OPS_MAX - 1)]
    print(f"outstanding: {store.stats()['in_flight']} of ops_max={store.ops_max}")
    try:
        store.count(TABLE, wait=False)  # WiredTiger's behaviour: refuse at once
    except actorstore.OpsMaxExceededError as error:
        print(f"one more op with wait=False is refused: {type(error).__name__}")
    else:
        raise AssertionError("ops_max was not enforced")
    finally:
        hold.release.set()
    future.get(timeout=5)
    print(f"released: {sum(f.get(timeout=5) for f in queued)} queued exists() true")


def main(path: str) -> None:
    with actorstore.open_store(path, threads=2, ops_max=OPS_MAX) as store:
        store.create_table(TABLE, key_format="str", value_format="str", exist_ok=True)
        async_keys(store)
        refuse_past_ops_max(store)
    print(f"closed: {store.is_closed}")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(sys.argv[1])
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(tmp)
