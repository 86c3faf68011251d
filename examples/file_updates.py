"""File updates: load a JSON-lines file three ways and time each.

Usage: python examples/file_updates.py [STORE_DIR]   (default: a temp directory)

After the file-processing example of the MongoDB async driver guide: write a
small temporary file of JSON lines, then load it into the store

1. synchronously: one op at a time, `.get()` after each (one durable commit
   per record);
2. with a bounded window of pending results: a `collections.deque` of at
   most 64 futures, waiting on the oldest when it is full;
3. with callbacks: a thread-safe counting callback per op, then `flush()`.

Each way loads its own table, and prints its time and its record count.
The windowed and callback loads keep many ops in flight, so the table's
owner commits them in groups: one fsync for many records.
"""

from __future__ import annotations

import collections
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Any

import actorstore

RECORDS = 1000
WINDOW = 64


def write_file(path: str) -> None:
    with open(path, "w", encoding="utf-8") as file:
        for i in range(RECORDS):
            record = {"id": f"user{i:05d}", "name": f"User {i}", "visits": i % 7}
            file.write(json.dumps(record) + "\n")


def read_records(path: str) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as file:
        for line in file:
            yield json.loads(line)


def load_synchronously(store: actorstore.Store, path: str) -> None:
    for record in read_records(path):
        store.upsert("sync_loop", record["id"], record).get(timeout=5)


def load_with_window(store: actorstore.Store, path: str) -> None:
    pending: collections.deque[actorstore.OpFuture[None]] = collections.deque()
    for record in read_records(path):
        if len(pending) >= WINDOW:
            pending.popleft().get(timeout=5)
        pending.append(store.upsert("window", record["id"], record))
    while pending:
        pending.popleft().get(timeout=5)


class Counter(actorstore.Callback):
    """Count outcomes; callbacks run on the workers, so guard with a lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.succeeded = 0
        self.failed = 0

    def callback(self, result: Any) -> None:
        with self._lock:
            self.succeeded += 1

    def exception(self, error: BaseException) -> None:
        with self._lock:
            self.failed += 1


def load_with_callbacks(store: actorstore.Store, path: str) -> Counter:
    counter = Counter()
    for record in read_records(path):
        # wait=True: if ops_max ops are outstanding, wait for a slot.
        store.upsert("callbacks", record["id"], record, callback=counter, wait=True)
    store.flush(timeout=30)
    return counter


def main(path: str) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        source = os.path.join(scratch, "updates.jsonl")
        write_file(source)
        print(f"wrote {RECORDS} JSON lines to a temporary file")
        with actorstore.open_store(path, threads=2, ops_max=1024) as store:
            for table in ("sync_loop", "window", "callbacks"):
                store.create_table(table, exist_ok=True)

            start = time.perf_counter()
            load_synchronously(store, source)
            elapsed = time.perf_counter() - start
            count = store.count("sync_loop").get(timeout=5)
            print(f"synchronous loop: {count} records in {elapsed:.3f} s")

            start = time.perf_counter()
            load_with_window(store, source)
            elapsed = time.perf_counter() - start
            count = store.count("window").get(timeout=5)
            print(f"window of {WINDOW}: {count} records in {elapsed:.3f} s")

            start = time.perf_counter()
            counter = load_with_callbacks(store, source)
            elapsed = time.perf_counter() - start
            count = store.count("callbacks").get(timeout=5)
            print(
                f"callbacks + flush: {count} records in {elapsed:.3f} s "
                f"({counter.succeeded} callbacks, {counter.failed} errors)"
            )
            print("sample:", store.search("window", "user00042").get(timeout=5))
    print("temporary file removed:", not os.path.exists(source))


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(sys.argv[1])
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(tmp)
