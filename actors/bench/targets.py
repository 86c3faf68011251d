"""Targets: the ratios the store is held to, computed from a run's figures.

A target names figures by their flat names (`throughput.actorstore.write`,
`latency.pykka-actor.ask_p50`, `memory.rss_after_all`; see
`BenchResult.figures()`), so every ratio is computed from figures that the
run reports. A target whose figures were not measured (a peer not installed,
peers not asked for) is not checked. An *aim* (`required=False`) is shown
with its outcome but never fails a run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from actorstore.bench.engines import (
    ACTORSTORE,
    ACTORSTORE_CLUSTER,
    HAND_ACTOR,
    PEER_ENGINES,
    RAW_LMDB,
    ROCKSDB,
    SQLITE3,
    throughput_figure,
)

__all__ = [
    "ASYNCIO_TARGETS",
    "CLUSTER_TARGETS",
    "PEER_TARGETS",
    "STORE_TARGETS",
    "TARGETS",
    "Check",
    "Target",
    "evaluate",
]


@dataclass(frozen=True)
class Target:
    """`numerator / max(denominators)` must be at least (or at most) `bound`.

    With no denominators the numerator itself is held to `bound`. Among the
    denominators, those not measured are left out (so "the best peer" is the
    best of those installed).
    """

    name: str
    description: str
    numerator: str
    denominators: tuple[str, ...]
    bound: float
    at_most: bool = False
    required: bool = True

    @property
    def condition(self) -> str:
        """The bound as text: `>= 0.7`, `<= 1.5`."""
        return f"{'<=' if self.at_most else '>='} {self.bound:g}"

    def value(self, figures: Mapping[str, float]) -> float | None:
        """Return the ratio (or the figure) from `figures`, None if not measured."""
        numerator = figures.get(self.numerator)
        if numerator is None:
            return None
        if not self.denominators:
            return numerator
        measured = [figures[name] for name in self.denominators if name in figures]
        if not measured or max(measured) <= 0:
            return None
        return numerator / max(measured)

    def met_by(self, value: float) -> bool:
        """Tell whether `value` meets the bound."""
        return value <= self.bound if self.at_most else value >= self.bound


@dataclass(frozen=True)
class Check:
    """A target checked against one run: its value and whether it passed."""

    target: Target
    value: float | None

    @property
    def passed(self) -> bool | None:
        """True or False, or None when the figures were not measured."""
        return None if self.value is None else self.target.met_by(self.value)

    @property
    def missed(self) -> bool:
        """Whether a required target was measured and not met."""
        return self.target.required and self.passed is False

    def to_json(self) -> dict[str, Any]:
        """Return the check as a JSON-able dict."""
        target = self.target
        return {
            "name": target.name,
            "description": target.description,
            "value": self.value,
            "condition": target.condition,
            "bound": target.bound,
            "at_most": target.at_most,
            "numerator": target.numerator,
            "denominators": list(target.denominators),
            "required": target.required,
            "passed": self.passed,
        }


_STORE, _RAW, _engine = ACTORSTORE, RAW_LMDB, throughput_figure

STORE_TARGETS: tuple[Target, ...] = (
    Target(
        "none_upsert_vs_raw_put",
        "NONE upsert, sliding window / raw put (txn per put, JSON encoding)",
        _engine(_STORE, "write"),
        (_engine(_RAW, "write"),),
        0.70,
    ),
    Target(
        "sync_upsert_vs_raw_fsync_put",
        "SYNC upsert, 64 in flight / raw put with an fsync per commit",
        _engine(_STORE, "durable_write"),
        (_engine(_RAW, "durable_write"),),
        18,
    ),
    Target(
        "sync_upsert_vs_none_upsert",
        "SYNC upsert, 64 in flight / own NONE upsert",
        _engine(_STORE, "durable_write"),
        (_engine(_STORE, "write"),),
        0.6,
    ),
    Target(
        "search_vs_raw_get",
        "search, sliding window / raw get (txn per get, JSON decoding)",
        _engine(_STORE, "point_read"),
        (_engine(_RAW, "point_read"),),
        0.60,
    ),
    Target(
        "batch_vs_raw_batch",
        "batch of 1000 / raw 1000 puts per txn (JSON encoding)",
        _engine(_STORE, "batch_1000"),
        (_engine(_RAW, "batch_1000"),),
        0.90,
    ),
    Target(
        "round_trip_p50_vs_pykka_ask",
        "single upsert round trip p50 / bare pykka ask of the same put",
        f"latency.{ACTORSTORE}.upsert_p50",
        (f"latency.{HAND_ACTOR}.ask_p50",),
        1.5,
        at_most=True,
    ),
    Target(
        "rss_growth",
        "RSS after all memory ops / after the first tenth",
        "memory.rss_after_all",
        ("memory.rss_after_first_tenth",),
        1.10,
        at_most=True,
    ),
    Target(
        "bytes_per_in_flight_op",
        "bytes per in-flight op (Python heap)",
        "memory.bytes_per_in_flight_op",
        (),
        1024,
        at_most=True,
    ),
)
"""The store against raw py-lmdb, the hand-written actor and itself."""

ASYNCIO_TARGETS: tuple[Target, ...] = (
    Target(
        "asyncio_gather_upsert_vs_window",
        "asyncio: gather of upserts / a thread's sliding window of them",
        "asyncio.gather_upsert",
        ("asyncio.window_upsert",),
        0.75,
    ),
    Target(
        "asyncio_gather_search_vs_window",
        "asyncio: gather of searches / a thread's sliding window of them",
        "asyncio.gather_search",
        ("asyncio.window_search",),
        0.75,
    ),
    Target(
        "asyncio_await_vs_get",
        "asyncio: one upsert at a time, await / get()",
        "asyncio.await_one_upsert",
        ("asyncio.get_one_upsert",),
        0.9,
    ),
    Target(
        "asyncio_loop_stall_vs_own_gather",
        "asyncio: longest loop stall gathering upserts / its own gather",
        "asyncio.loop_stall",
        ("asyncio.own_gather",),
        3,
        at_most=True,
    ),
)
"""asyncio against threads on the same store in the same run."""

PEER_TARGETS: tuple[Target, ...] = (
    Target(
        "durable_write_vs_best_peer",
        "durable write, 64 in flight / the best peer's durable write",
        _engine(_STORE, "durable_write"),
        tuple(_engine(peer, "durable_write") for peer in PEER_ENGINES),
        10,
    ),
    Target(
        "point_read_vs_sqlite3",
        "point read / sqlite3 SELECT by primary key",
        _engine(_STORE, "point_read"),
        (_engine(SQLITE3, "point_read"),),
        1.0,
    ),
    Target(
        "point_read_vs_rocksdb",
        "point read / RocksDB get",
        _engine(_STORE, "point_read"),
        (_engine(ROCKSDB, "point_read"),),
        1.0,
        required=False,
    ),
    Target(
        "batch_vs_sqlite3_executemany",
        "batch of 1000 / sqlite3 executemany in one txn",
        _engine(_STORE, "batch_1000"),
        (_engine(SQLITE3, "batch_1000"),),
        1.0,
    ),
    Target(
        "write_vs_sqlite3",
        "non-durable write / sqlite3 WAL synchronous=NORMAL",
        _engine(_STORE, "write"),
        (_engine(SQLITE3, "write"),),
        1.5,
    ),
)
"""The store against the peers (checked when peers ran)."""

CLUSTER_TARGETS: tuple[Target, ...] = (
    Target(
        "cluster_sync_512_vs_local",
        "SYNC upsert to one remote table, 512 in flight / the local store's",
        _engine(ACTORSTORE_CLUSTER, "durable_write_w512"),
        (_engine(_STORE, "durable_write_w512"),),
        0.5,
    ),
)
"""The store on a simulated cluster against the local store (with --cluster)."""

TARGETS: tuple[Target, ...] = (
    STORE_TARGETS + ASYNCIO_TARGETS + PEER_TARGETS + CLUSTER_TARGETS
)
"""Every target, store targets first."""


def evaluate(
    figures: Mapping[str, float], targets: Iterable[Target] = TARGETS
) -> list[Check]:
    """Check every target against `figures`; return the checks in order."""
    return [Check(target, target.value(figures)) for target in targets]
