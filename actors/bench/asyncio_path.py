"""asyncio against threads: the same store in the same run, three ways and a stall.

On a default store (`ops_max` 1024, so gathered ops past it are parked)
with a NONE table, each workload runs once as a thread would and once as a
coroutine would, back to back:

- upserts: a sliding window of `asyncio_window` futures (`get()` on the
  oldest) against `await asyncio.gather(*(store.upsert(...) ...))`;
- searches, the same two ways;
- one op at a time: `store.upsert(...).get()` in a loop against
  `await store.upsert(...)` in a loop.

And how long the loop stalls: a watchdog task sleeping 1 ms at a time
records how late it wakes while `asyncio_ops` upserts are submitted and
gathered, next to how long asyncio's own gather of as many trivial
coroutines takes.
"""

from __future__ import annotations

import asyncio
import functools
import os
import time
from collections.abc import Callable, Coroutine
from typing import Any

from actorstore import Durability, OpFuture, open_store
from actorstore.bench.timing import rate
from actorstore.bench.window import sliding_window
from actorstore.bench.workload import Workload

__all__ = ["measure_asyncio"]

TABLE = "bench_asyncio"
TICK = 0.001
"""Seconds the watchdog sleeps between looks at the clock."""


def measure_asyncio(workload: Workload, root: str) -> dict[str, float]:
    """Return the asyncio figures of one round, made in `root`.

    Throughput in ops/s: `window_upsert`, `gather_upsert`, `window_search`,
    `gather_search`, `get_one_upsert`, `await_one_upsert`. Seconds:
    `loop_stall` (the watchdog's longest wait past its tick while the
    upserts are gathered) and `own_gather` (asyncio's own gather of as many
    coroutines that return at once).
    """
    count, one, window = (
        workload.asyncio_ops,
        workload.asyncio_one_ops,
        workload.asyncio_window,
    )
    figures: dict[str, float] = {}
    with open_store(os.path.join(root, "asyncio")) as store:
        store.create_table(
            TABLE, key_format="str", value_format="json", durability=Durability.NONE
        )
        store.count(TABLE).get(timeout=60)  # opens the table before timing

        def upsert(i: int) -> OpFuture[None]:
            return store.upsert(TABLE, *workload.record(i))

        def search(i: int) -> OpFuture[Any]:
            return store.search(TABLE, workload.record(i % count)[0])

        submits: dict[str, Callable[[int], OpFuture[Any]]] = {
            "upsert": upsert,
            "search": search,
        }
        for name, submit in submits.items():
            store.flush(timeout=60)
            figures[f"window_{name}"] = rate(
                count, functools.partial(sliding_window, count, window, submit)
            )
            store.flush(timeout=60)
            figures[f"gather_{name}"] = rate(
                count, functools.partial(_run, _gather, count, submit)
            )
        store.flush(timeout=60)
        figures["get_one_upsert"] = rate(
            one, lambda: [upsert(i).get(timeout=60) for i in range(one)]
        )
        figures["await_one_upsert"] = rate(
            one, functools.partial(_run, _one, one, upsert)
        )
        store.flush(timeout=60)
        figures["loop_stall"] = asyncio.run(_stall(_gather(count, upsert)))
    figures["own_gather"] = asyncio.run(_own_gather(count))
    return figures


def _run(
    main: Callable[[int, Callable[[int], OpFuture[Any]]], Coroutine[Any, Any, None]],
    count: int,
    submit: Callable[[int], OpFuture[Any]],
) -> None:
    asyncio.run(main(count, submit))


async def _gather(count: int, submit: Callable[[int], OpFuture[Any]]) -> None:
    await asyncio.gather(*(submit(i) for i in range(count)))


async def _one(count: int, submit: Callable[[int], OpFuture[Any]]) -> None:
    for i in range(count):
        await submit(i)


async def _stall(work: Coroutine[Any, Any, None]) -> float:
    """Run `work` beside a watchdog; return the watchdog's longest lateness."""
    lateness: list[float] = [0.0]

    async def watchdog() -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(TICK)
            lateness.append(time.perf_counter() - start - TICK)

    dog = asyncio.create_task(watchdog())
    await asyncio.sleep(TICK)  # the watchdog is waiting
    await work
    await asyncio.sleep(2 * TICK)  # it wakes once more: the last stall counts
    dog.cancel()
    return max(lateness)


async def _own_gather(count: int) -> float:
    """Return the seconds asyncio's own gather of `count` coroutines takes."""

    async def at_once() -> None:
        return None

    start = time.perf_counter()
    await asyncio.gather(*(at_once() for _ in range(count)))
    return time.perf_counter() - start
