"""Concurrent asyncio: many ops awaited together; one batch versus a loop.

Usage: python examples/concurrent_asyncio.py [STORE_DIR]   (default: a temp dir)

As the Geode async Python client recommends:

1. 2000 upserts submitted at once and awaited together with
   `asyncio.gather`: each is its own transaction, and the table's owner
   commits them in groups, so many share one fsync;
2. the same number of writes as one `store.batch(...)` (one transaction, all
   or nothing) versus a loop that awaits one single write at a time (one
   durable commit per round trip).

Meanwhile a heartbeat task ticks on the event loop: awaiting an op never
blocks the loop.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time

import actorstore

WRITES = 2000


async def heartbeat(ticks: list[int]) -> None:
    while True:
        await asyncio.sleep(0.001)
        ticks[0] += 1


async def run(store: actorstore.Store) -> None:
    for table in ("gathered", "batched", "looped"):
        store.create_table(table, exist_ok=True)
    ticks = [0]
    beat = asyncio.create_task(heartbeat(ticks))

    start = time.perf_counter()
    await asyncio.gather(
        *(store.upsert("gathered", f"k{i:05d}", {"n": i}) for i in range(WRITES))
    )
    elapsed = time.perf_counter() - start
    count = await store.count("gathered")
    print(f"gather: {count} upserts awaited together in {elapsed:.3f} s")

    start = time.perf_counter()
    applied = await store.batch(
        "batched", [("upsert", f"k{i:05d}", {"n": i}) for i in range(WRITES)]
    )
    batch_time = time.perf_counter() - start
    print(f"batch: {applied} writes in one transaction in {batch_time:.3f} s")

    start = time.perf_counter()
    for i in range(WRITES):
        await store.upsert("looped", f"k{i:05d}", {"n": i})
    loop_time = time.perf_counter() - start
    count = await store.count("looped")
    print(f"loop: {count} single writes awaited one by one in {loop_time:.3f} s")
    print(f"the batch took {100 * batch_time / loop_time:.0f}% of the loop's time")

    same = await store.scan("batched") == await store.scan("looped")
    print("batched and looped tables hold the same records:", same)
    beat.cancel()
    print("event loop stayed responsive:", ticks[0] > 0)


def main(path: str) -> None:
    with actorstore.open_store(path, threads=2, ops_max=4096) as store:
        asyncio.run(run(store))
    print("closed:", store.is_closed)


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(sys.argv[1])
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(tmp)
