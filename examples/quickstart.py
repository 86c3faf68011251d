"""Quickstart: write, update, read, remove and close, on a real store.

Usage: python examples/quickstart.py [STORE_DIR]   (default: a temp directory)

Shows the three result styles on one record: a future's get(), a callback
fn(error, result), and asyncio await; then durable group commit: 1000 SYNC
upserts in flight at once, each its own transaction, acknowledged only once
on disk.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import threading
import time

import actorstore


def main(path: str) -> None:
    with actorstore.open_store(path, threads=2, ops_max=1024) as store:
        store.create_table(
            "users", key_format="str", value_format="json", exist_ok=True
        )

        # Futures: every op returns at once; get() waits for its outcome.
        store.upsert("users", "norma", {"name": "Norma", "age": 31}).get(timeout=5)
        store.update("users", "norma", {"name": "Norma", "age": 32}).get(timeout=5)
        print("read:", store.search("users", "norma").get(timeout=5))

        # Callbacks: fn(error, result), run inside the op's transaction.
        done = threading.Event()

        def on_read(error: BaseException | None, result: object) -> None:
            print("callback:", result if error is None else f"error {error!r}")
            done.set()

        store.search("users", "norma", callback=on_read)
        done.wait(5)

        # asyncio: await any op; the event loop is never blocked.
        async def read_async() -> object:
            return await store.search("users", "norma")

        print("await:", asyncio.run(read_async()))

        # Errors are the op's own, from the actorstore.StoreError tree.
        try:
            store.insert("users", "norma", {"name": "again"}).get(timeout=5)
        except actorstore.KeyExistsError as error:
            print("insert refused:", error)

        # Durable group commit: many ops in flight share one fsync.
        start = time.perf_counter()
        futures = [store.upsert("users", f"user{i:04d}", {"n": i}) for i in range(1000)]
        for future in futures:
            future.get(timeout=30)
        elapsed = time.perf_counter() - start
        print(f"1000 durable upserts in {elapsed:.3f} s ({1000 / elapsed:,.0f} ops/s)")

        store.remove("users", "norma").get(timeout=5)
        print("exists after remove:", store.exists("users", "norma").get(timeout=5))
        print("records:", store.count("users").get(timeout=5))
    print("closed:", store.is_closed)


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(sys.argv[1])
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(tmp)
