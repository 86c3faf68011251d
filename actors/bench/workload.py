"""Workload: the keys, values and sizes that every engine of a bench run uses."""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any

__all__ = ["Record", "Workload"]

Record = tuple[str, dict[str, Any]]


@dataclass(frozen=True)
class Workload:
    """The sizes of one bench run, and its records: str keys, small JSON dicts.

    Every engine (actorstore, raw py-lmdb, the hand-written actor, the peers)
    writes and reads the same records in the same counts, so their figures
    compare. Engines that pay one fsync per op write `sync_ops` of them; the
    store writes `sync_ops * window` at each window of in-flight durable ops
    (at most `ops`), so every durable workload makes a similar number of fsyncs.

    Attributes:
        ops: ops per throughput workload (writes, reads, ops in batches).
        sync_ops: ops for the one-fsync-per-op workloads.
        window: ops kept in flight by the sliding-window workloads.
        sync_windows: the windows at which durable upserts are measured.
        batch_size: writes per batch transaction.
        latency_samples: single ops timed one at a time for the percentiles.
        memory_ops: upserts of the memory-growth check (RSS after a tenth of
            them versus after all).
        in_flight: ops held in flight to measure the bytes each one holds.
        rounds: how many times the store's and raw py-lmdb's workloads run,
            taking turns; each of their figures is the median of its rounds
            (a single run of a fraction of a second moves by 10-30% with
            whatever else the machine does).
        asyncio_ops: ops each asyncio workload gathers (and its thread form
            keeps `asyncio_window` of in flight).
        asyncio_one_ops: ops of the one-at-a-time asyncio workload.
        asyncio_window: the thread form's window (a default store's `ops_max`).
    """

    ops: int = 50_000
    sync_ops: int = 300
    window: int = 64
    sync_windows: tuple[int, ...] = (1, 8, 64, 512)
    batch_size: int = 1000
    latency_samples: int = 2000
    memory_ops: int = 1_000_000
    in_flight: int = 20_000
    rounds: int = 3
    asyncio_ops: int = 20_000
    asyncio_one_ops: int = 3_000
    asyncio_window: int = 1024

    def __post_init__(self) -> None:
        sizes = {
            "ops": self.ops,
            "sync_ops": self.sync_ops,
            "window": self.window,
            "batch_size": self.batch_size,
            "latency_samples": self.latency_samples,
            "in_flight": self.in_flight,
            "rounds": self.rounds,
            "asyncio_ops": self.asyncio_ops,
            "asyncio_one_ops": self.asyncio_one_ops,
            "asyncio_window": self.asyncio_window,
        }
        for name, size in sizes.items():
            if size < 1:
                raise ValueError(f"Workload.{name} must be >= 1, not {size}")
        if self.memory_ops < 10:
            raise ValueError(
                f"Workload.memory_ops must be >= 10, not {self.memory_ops}"
            )
        if not self.sync_windows or min(self.sync_windows) < 1:
            raise ValueError("Workload.sync_windows must be windows >= 1")

    @classmethod
    def quick(cls) -> Workload:
        """Return a run about ten times smaller than the default (for a quick look)."""
        return cls(
            ops=5_000,
            sync_ops=50,
            latency_samples=500,
            memory_ops=100_000,
            in_flight=2_000,
            rounds=1,
            asyncio_ops=5_000,
            asyncio_one_ops=500,
        )

    def replace(self, **sizes: Any) -> Workload:
        """Return a copy with `sizes` changed (`None` values are ignored)."""
        return dataclasses.replace(
            self, **{name: size for name, size in sizes.items() if size is not None}
        )

    @staticmethod
    def key(i: int) -> str:
        """Return the key of record `i`."""
        return f"user{i:08d}"

    @staticmethod
    def value(i: int) -> dict[str, Any]:
        """Return the value of record `i`: a small JSON-able dict."""
        return {"name": f"user{i}", "age": i % 90, "tags": ["a", "b"]}

    @functools.cached_property
    def records(self) -> list[Record]:
        """The `ops` records, built once so that building them is never timed."""
        return [(self.key(i), self.value(i)) for i in range(self.ops)]

    def record(self, i: int) -> Record:
        """Return record `i`, cycling over the `ops` records."""
        return self.records[i % self.ops]

    def durable_ops(self, window: int) -> int:
        """Return how many durable ops to time with `window` ops in flight."""
        return min(self.ops, self.sync_ops * window) if window > 1 else self.sync_ops

    def durable_name(self, window: int) -> str:
        """Return the store's figure for durable upserts with `window` in flight.

        `durable_write` at the workload's `window` (a row of the engine table),
        `durable_write_w<window>` at the others.
        """
        return "durable_write" if window == self.window else f"durable_write_w{window}"

    @property
    def batches(self) -> int:
        """The batches of `batch_size` writes in the batch workload (at least 1)."""
        return max(1, self.ops // self.batch_size)

    def batch(self, number: int) -> list[Record]:
        """Return the records of batch `number`."""
        start = number * self.batch_size
        return [self.record(i) for i in range(start, start + self.batch_size)]

    def settings(self) -> dict[str, Any]:
        """Return the sizes as a JSON-able dict."""
        return {
            field.name: getattr(self, field.name) for field in dataclasses.fields(self)
        }
