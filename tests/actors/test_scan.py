"""Tests for actors/_scan.py: a table streamed page by page, on a mock transport."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from actorstore import InvalidOptionError, Store
from actorstore._transports.mock import MockTransport
from actorstore.storage import OpType
from tests.actors.helpers import ManualTimer


@pytest.fixture
def parts() -> Iterator[tuple[Store, MockTransport]]:
    transport = MockTransport()
    store = Store(transport, scheduler=ManualTimer())
    store.create_table("t", key_format="int")
    for key in range(25):
        store.upsert("t", key, key * 10)
    yield store, transport
    store.close()


def scans(transport: MockTransport) -> int:
    return sum(record.type is OpType.SCAN for record in transport.put_records)


def test_every_pair_comes_once_in_key_order_one_page_per_scan(
    parts: tuple[Store, MockTransport],
) -> None:
    store, transport = parts

    pairs = list(store.scan_iter("t", page_size=10))

    assert pairs == [(key, key * 10) for key in range(25)]
    assert scans(transport) == 3


def test_reverse_and_bounds_page_the_same_way(
    parts: tuple[Store, MockTransport],
) -> None:
    store, _ = parts

    pairs = list(store.scan_iter("t", start=5, end=20, reverse=True, page_size=4))

    assert [key for key, _ in pairs] == list(range(19, 4, -1))


def test_async_for_yields_the_same_pairs(parts: tuple[Store, MockTransport]) -> None:
    store, _ = parts

    async def collect() -> list[tuple[int, int]]:
        return [pair async for pair in store.scan_iter("t", page_size=7)]

    assert asyncio.run(collect()) == list(store.scan_iter("t", page_size=7))


@pytest.mark.parametrize("size", [0, -1, 1.5, True, "10"])
def test_a_bad_page_size_is_refused_at_once(
    parts: tuple[Store, MockTransport], size: object
) -> None:
    store, transport = parts
    before = len(transport.put_records)

    with pytest.raises(InvalidOptionError, match="page_size"):
        store.scan_iter("t", page_size=size)  # type: ignore[arg-type]
    assert len(transport.put_records) == before
