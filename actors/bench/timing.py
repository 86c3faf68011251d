"""Timing: ops per second of a run, and latency samples with their percentiles."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

from actors.bench.window import Pending

__all__ = ["percentile", "rate", "round_trips"]


def rate(count: int, run: Callable[[], object]) -> float:
    """Return `count` divided by the seconds `run()` takes (ops per second).

    Garbage is collected first, so one workload's garbage is not paid by the next.
    """
    gc.collect()
    start = time.perf_counter()
    run()
    return count / (time.perf_counter() - start)


def round_trips(
    count: int, request: Callable[[int], Pending], *, timeout: float = 10.0
) -> list[float]:
    """Return the seconds of `count` requests made one at a time, sorted."""
    gc.collect()
    samples = []
    for i in range(count):
        start = time.perf_counter()
        request(i).get(timeout=timeout)
        samples.append(time.perf_counter() - start)
    return sorted(samples)


def percentile(samples: list[float], fraction: float) -> float:
    """Return the `fraction` (0..1) percentile of sorted `samples` (nearest rank).

    Raises:
        ValueError: if `samples` is empty.
    """
    if not samples:
        raise ValueError("no samples")
    index = min(len(samples) - 1, int(len(samples) * fraction))
    return samples[index]
