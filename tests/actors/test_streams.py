"""scan_iter streams a table page by page; the asyncio forms never block the loop."""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import actorstore
from actorstore import Store
from actorstore.storage import InvalidOptionError

WAIT = 10.0


@pytest.fixture
def numbers(make_store: Callable[..., Store]) -> Store:
    """A store with table `n`: int keys 0..2499, values {"i": key}."""
    store = make_store()
    store.create_table("n", key_format="int", value_format="json")
    for start in range(0, 2500, 500):
        writes = [("upsert", i, {"i": i}) for i in range(start, start + 500)]
        store.batch("n", writes).get(WAIT)
    return store


@pytest.mark.parametrize("page_size", [1, 7, 100, 2500, 5000])
def test_scan_iter_yields_every_pair_once_in_order(
    numbers: Store, page_size: int
) -> None:
    pairs = list(numbers.scan_iter("n", page_size=page_size))
    assert pairs == [(i, {"i": i}) for i in range(2500)]


@pytest.mark.parametrize("page_size", [1, 3, 64])
def test_scan_iter_takes_bounds_and_reverse_like_scan(
    numbers: Store, page_size: int
) -> None:
    forward = numbers.scan_iter("n", start=10, end=200, page_size=page_size)
    assert [k for k, _ in forward] == list(range(10, 200))
    backward = numbers.scan_iter(
        "n", start=10, end=200, reverse=True, page_size=page_size
    )
    assert [k for k, _ in backward] == list(range(199, 9, -1))
    assert list(numbers.scan_iter("n", start=3000, page_size=page_size)) == []


def test_scan_iter_takes_a_prefix(make_store: Callable[..., Store]) -> None:
    store = make_store()
    store.create_table("w", value_format="int")
    for word in ["apple", "apricot", "banana", "apex", "ap"]:
        store.upsert("w", word, len(word)).get(WAIT)
    assert [k for k, _ in store.scan_iter("w", prefix="ap", page_size=2)] == [
        "ap",
        "apex",
        "apple",
        "apricot",
    ]


def test_scan_iter_refuses_a_bad_page_size_at_once(numbers: Store) -> None:
    for bad in (0, -1, 1.5, True, "10"):
        with pytest.raises(InvalidOptionError, match="page_size"):
            numbers.scan_iter("n", page_size=bad)  # type: ignore[arg-type]


def test_scan_iter_is_an_async_iterator_too(numbers: Store) -> None:
    async def collect() -> list[Any]:
        return [key async for key, _ in numbers.scan_iter("n", page_size=300)]

    assert asyncio.run(collect()) == list(range(2500))


def test_scan_iter_memory_stays_flat_in_the_table_s_size(
    make_store: Callable[..., Store],
) -> None:
    store = make_store()
    store.create_table("big", key_format="int", value_format="str")
    value = "x" * 1000
    for start in range(0, 20_000, 1000):
        store.batch(
            "big", [("upsert", i, value) for i in range(start, start + 1000)]
        ).get(WAIT)

    def peak_while_streaming(rows: int) -> int:
        tracemalloc.start()
        try:
            seen = 0
            for _ in store.scan_iter("big", end=rows, page_size=100):
                seen += 1
            assert seen == rows
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = peak_while_streaming(1000), peak_while_streaming(20_000)
    # 20 times the rows, about the same peak: one page (100 rows) at a time.
    assert large < 2 * small + 200_000, (small, large)


def test_the_store_is_an_async_context_manager_that_never_blocks_the_loop(
    tmp_path: Path,
) -> None:
    """A SYNC write storm, flushed, compacted and closed, with a watchdog on
    the loop: every wait is async, so the loop keeps its beat."""

    async def scenario() -> dict[str, Any]:
        lags: list[float] = []
        stop = asyncio.Event()

        async def watchdog() -> None:
            # A 1 ms beat: the storm is over in a few ms when ops are
            # gathered without a Task each, and the beat must still be seen.
            while not stop.is_set():
                started = time.monotonic()
                await asyncio.sleep(0.001)
                lags.append(time.monotonic() - started - 0.001)

        dog = asyncio.create_task(watchdog())
        async with actorstore.open_store(tmp_path / "s") as store:
            store.create_table("t", durability="sync")
            futures = [store.upsert("t", f"k{i}", {"i": i}) for i in range(2000)]
            await asyncio.gather(*futures)
            await store.aflush()
            reclaimed = await store.acompact("t")
            count = await store.count("t")
        closed = store.is_closed
        stop.set()
        await dog
        return {"lags": lags, "count": count, "reclaimed": reclaimed, "closed": closed}

    result = asyncio.run(scenario())
    assert result["count"] == 2000
    assert result["reclaimed"] >= 0
    assert result["closed"]
    assert len(result["lags"]) >= 3  # the watchdog ran while it all happened
    # A correctness bound, not a performance target: a blocked loop would
    # stall for the whole storm, flush, compaction or close.
    assert max(result["lags"]) < 0.5, max(result["lags"])
