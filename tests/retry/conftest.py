"""Fixtures of the retry tests: a fake `retry.RetryHost`, no store at all.

The fakes themselves are in fakes.py; nothing here needs LMDB, pykka or a
worker thread.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from actorstore.retry import Scheduler

from .fakes import TIMER, FakeHost, FakeStore


@pytest.fixture
def scheduler() -> Iterator[Scheduler]:
    """Yield the fake host's timer; closed in teardown, so its thread never
    outlives the test."""
    scheduler = Scheduler(name=TIMER)
    yield scheduler
    scheduler.close()


@pytest.fixture
def host(scheduler: Scheduler) -> FakeHost:
    """Return a fake `RetryHost` with no policy of its own."""
    return FakeHost(scheduler)


@pytest.fixture
def store(host: FakeHost) -> FakeStore:
    """Return a fake store over `host`, completing every request at once."""
    return FakeStore(host)
