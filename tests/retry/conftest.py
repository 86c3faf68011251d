"""Fixtures of the retry tests: real stores in pytest's `tmp_path`, real threads."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import actors
from actors import OpTimeoutError, Store
from storage import StoreClosedError

CLOSE_WAIT = 2.0
"""Seconds teardown lets a store close before failing the ops that never ended."""


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    """Return where the store lives: a directory inside `tmp_path`."""
    return tmp_path / "s"


@pytest.fixture
def make_store(store_path: Path) -> Iterator[Callable[..., Store]]:
    """Return `make_store(**options)`: open a store at `store_path`.

    Every store it opened is closed in teardown (closing twice is safe), so a
    test may close and reopen the same directory.
    """
    opened: list[Store] = []

    def make_store(**options: Any) -> Store:
        store = actors.open_store(store_path, **options)
        opened.append(store)
        return store

    yield make_store
    for store in reversed(opened):
        close_or_abandon(store)


def close_or_abandon(store: Store) -> None:
    """Close `store`; if ops never end (a bug a test reports), fail them first.

    Otherwise a hung op would hold close() here and again at exit (atexit).
    """
    try:
        store.close(timeout=CLOSE_WAIT)
    except OpTimeoutError:
        stuck = store._inflight.snapshot()
        for op in stuck:
            store._complete(op, None, StoreClosedError("store"))
        store.close(timeout=CLOSE_WAIT)
        warnings.warn(
            f"{store!r} could not close: {len(stuck)} ops never ended; "
            "failed them in teardown",
            stacklevel=1,
        )


@pytest.fixture
def store(make_store: Callable[..., Store]) -> Store:
    """Return an open store (2 workers) with table `docs` (str keys, JSON values).

    It is closed in teardown, so no actor outlives its test.
    """
    store = make_store(threads=2)
    store.create_table("docs", key_format="str", value_format="json")
    return store
