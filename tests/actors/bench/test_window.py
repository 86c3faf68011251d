"""Sliding windows keep exactly W requests in flight (fake futures, no timing)."""

from __future__ import annotations

import asyncio
import collections

import pytest

from actorstore.bench import async_sliding_window, sliding_window


class Recorder:
    """Fake requests that count how many are outstanding when each is made."""

    def __init__(self) -> None:
        self.outstanding = 0
        self.most = 0
        self.before_submit: list[int] = []
        self.collected: list[int] = []

    def submit(self, i: int) -> FakeFuture:
        self.before_submit.append(self.outstanding)
        self.outstanding += 1
        self.most = max(self.most, self.outstanding)
        return FakeFuture(self, i)


class FakeFuture:
    """Completes when waited for, as a future whose result is ready by then."""

    def __init__(self, recorder: Recorder, number: int) -> None:
        self.recorder = recorder
        self.number = number
        self.timeout: float | None = None

    def get(self, *, timeout: float | None = None) -> int:
        self.timeout = timeout
        self.recorder.outstanding -= 1
        self.recorder.collected.append(self.number)
        return self.number


@pytest.mark.parametrize("window", [1, 8, 64, 512])
def test_sliding_window_keeps_exactly_w_in_flight(window: int) -> None:
    recorder = Recorder()

    sliding_window(1000, window, recorder.submit)

    assert recorder.most == window
    # Filling the window, then each new request replaces the oldest one:
    # W - 1 are outstanding when it is made, so W are in flight after.
    assert recorder.before_submit[:window] == list(range(window))
    assert set(recorder.before_submit[window:]) == {window - 1}
    assert recorder.collected == list(range(1000))
    assert recorder.outstanding == 0


def test_sliding_window_smaller_than_the_window_submits_all_then_waits() -> None:
    recorder = Recorder()

    sliding_window(5, 64, recorder.submit)

    assert recorder.before_submit == [0, 1, 2, 3, 4]
    assert recorder.collected == [0, 1, 2, 3, 4]


def test_sliding_window_refuses_an_empty_window() -> None:
    with pytest.raises(ValueError, match="window must be >= 1"):
        sliding_window(10, 0, Recorder().submit)


def test_sliding_window_passes_its_timeout_to_each_wait() -> None:
    futures: list[FakeFuture] = []
    recorder = Recorder()

    def submit(i: int) -> FakeFuture:
        futures.append(recorder.submit(i))
        return futures[-1]

    sliding_window(3, 2, submit, timeout=7.0)

    assert [future.timeout for future in futures] == [7.0, 7.0, 7.0]


@pytest.mark.parametrize("window", [1, 8, 64])
def test_async_sliding_window_keeps_exactly_w_in_flight(window: int) -> None:
    recorder = Recorder()

    async def run() -> None:
        queue: collections.deque[tuple[int, asyncio.Future[int]]] = collections.deque()

        def submit(i: int) -> asyncio.Future[int]:
            recorder.before_submit.append(recorder.outstanding)
            recorder.outstanding += 1
            recorder.most = max(recorder.most, recorder.outstanding)
            future = asyncio.get_running_loop().create_future()
            queue.append((i, future))
            return future

        async def serve() -> None:
            """Answer one request per turn of the loop, oldest first."""
            while len(recorder.collected) < 300:
                await asyncio.sleep(0)
                if queue:
                    i, future = queue.popleft()
                    recorder.outstanding -= 1
                    recorder.collected.append(i)
                    future.set_result(i)

        server = asyncio.ensure_future(serve())
        await async_sliding_window(300, window, submit)
        await server

    asyncio.run(run())

    assert recorder.most == window
    assert set(recorder.before_submit[window:]) == {window - 1}
    assert recorder.outstanding == 0
    assert recorder.collected == list(range(300))
