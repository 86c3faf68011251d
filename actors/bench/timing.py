"""Timing: ops per second of a run, and latency samples with their percentiles."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from actorstore.bench.window import Pending

if TYPE_CHECKING:
    from actorstore.bench.workload import Workload

__all__ = ["medians", "percentile", "rate", "round_trips", "unsynced_rates"]


def rate(count: int, run: Callable[[], object]) -> float:
    """Return `count` divided by the seconds `run()` takes (ops per second).

    Garbage is collected first, so one workload's garbage is not paid by the next.
    """
    gc.collect()
    start = time.perf_counter()
    run()
    return count / (time.perf_counter() - start)


def medians(rounds: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Return, for each figure of the first round, its median over `rounds`.

    Raises:
        ValueError: if `rounds` is empty.
    """
    if not rounds:
        raise ValueError("no rounds")
    return {
        name: statistics.median(figures[name] for figures in rounds)
        for name in rounds[0]
    }


def unsynced_rates(
    workload: Workload,
    *,
    write: Callable[[], object],
    point_read: Callable[[], object],
    batch_1000: Callable[[], object],
) -> dict[str, float]:
    """Time the three workloads not fsynced per op, in this order; return ops/s.

    `write` and `point_read` each go through `workload.records`, `batch_1000`
    through its batches.
    """
    count = len(workload.records)
    return {
        "write": rate(count, write),
        "point_read": rate(count, point_read),
        "batch_1000": rate(workload.batches * workload.batch_size, batch_1000),
    }


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
