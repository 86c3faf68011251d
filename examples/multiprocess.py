"""Multiprocess: several processes share one store directory.

Usage: python examples/multiprocess.py [STORE_DIR]   (default: a temp directory)

LMDB lets several processes use one environment, so several processes can
use one store directory at once. Each child (started with multiprocessing's
"spawn" context) opens the store itself with `actorstore.open_store(path)`,
creates the shared table if it is not there yet, writes its own keys and
closes the store. The parent opens the store only once the children have
finished, and checks that every key is present.

A `Store` (its actors, threads and LMDB handles) belongs to the process that
opened it: never pass one to another process; pass the path instead.
"""

from __future__ import annotations

import multiprocessing
import sys
import tempfile

import actorstore

TABLE = "events"
PROCESSES = 4
KEYS_PER_PROCESS = 250


def write_keys(path: str, worker: int) -> None:
    """Run in a child process: open the store, write this worker's keys, close."""
    with actorstore.open_store(path, threads=2) as store:
        store.create_table(TABLE, exist_ok=True)
        futures = [
            store.upsert(TABLE, f"w{worker}-{i:04d}", {"worker": worker, "i": i})
            for i in range(KEYS_PER_PROCESS)
        ]
        for future in futures:
            future.get(timeout=30)


def main(path: str) -> None:
    context = multiprocessing.get_context("spawn")
    children = [
        context.Process(target=write_keys, args=(path, worker), name=f"writer-{worker}")
        for worker in range(PROCESSES)
    ]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=60)
        print(f"{child.name} exited with code {child.exitcode}")
    if any(child.exitcode != 0 for child in children):
        raise SystemExit("a writer process failed")

    with actorstore.open_store(path) as store:
        records = store.scan(TABLE).get(timeout=10)
        keys = {key for key, _ in records}
        expected = {
            f"w{worker}-{i:04d}"
            for worker in range(PROCESSES)
            for i in range(KEYS_PER_PROCESS)
        }
        print(f"parent sees {len(records)} records from {PROCESSES} processes")
        for worker in range(PROCESSES):
            mine = sum(1 for key in keys if key.startswith(f"w{worker}-"))
            print(f"  writer-{worker}: {mine} keys")
        print("all keys present:", keys == expected)
        if keys != expected:
            raise SystemExit(f"missing keys: {sorted(expected - keys)[:5]} ...")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(sys.argv[1])
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(tmp)
