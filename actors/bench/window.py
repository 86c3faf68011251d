"""Sliding windows: keep W requests in flight, wait for the oldest, submit the next.

This is how a client with a bounded window of pending results drives a store:
never lock-step bursts of W (which drain to zero in flight between bursts),
always W outstanding until the last ones are collected.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

__all__ = ["Pending", "async_sliding_window", "sliding_window"]


class Pending(Protocol):
    """A request's pending result: an `actors.OpFuture` or a `pykka.Future`."""

    def get(self, *, timeout: float | None = ...) -> Any:
        """Wait for the result and return it (or raise the request's error)."""


def sliding_window(
    count: int,
    window: int,
    submit: Callable[[int], Pending],
    *,
    timeout: float = 60.0,
) -> None:
    """Make requests `submit(0)` … `submit(count - 1)` with `window` in flight.

    Once `window` requests are outstanding, wait for the oldest before
    submitting the next; then wait for the rest, oldest first.

    Raises:
        ValueError: if `window` < 1.
        Whatever a request's `get()` raises (its error, or a timeout).
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, not {window}")
    pending: collections.deque[Pending] = collections.deque()
    for i in range(count):
        if len(pending) == window:
            pending.popleft().get(timeout=timeout)
        pending.append(submit(i))
    while pending:
        pending.popleft().get(timeout=timeout)


async def async_sliding_window(
    count: int, window: int, submit: Callable[[int], Awaitable[Any]]
) -> None:
    """The asyncio form of `sliding_window`: `submit(i)` returns an awaitable.

    Each awaitable becomes a task at once, so `window` of them run concurrently.
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, not {window}")
    pending: collections.deque[asyncio.Future[Any]] = collections.deque()
    for i in range(count):
        if len(pending) == window:
            await pending.popleft()
        pending.append(asyncio.ensure_future(submit(i)))
    while pending:
        await pending.popleft()
