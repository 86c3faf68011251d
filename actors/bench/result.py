"""BenchResult: every figure of one bench run, and the checks derived from them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from actorstore.bench.targets import TARGETS, Check, evaluate
from actorstore.bench.workload import Workload

__all__ = ["MIN_ROUNDS_TO_JUDGE", "BenchResult"]

MIN_ROUNDS_TO_JUDGE = 3
"""Fewer rounds than this and a figure is one short run's noise (10-30% on a
busy machine): the targets are shown, never enforced."""


@dataclass
class BenchResult:
    """The figures of one run, by engine; checks are computed from them on demand.

    Attributes:
        workload: the sizes the run used.
        throughput: ops/s by engine (`"actorstore"`, `"raw-lmdb"`, …), then
            by workload (`"write"`, `"durable_write"`, …).
        latency: seconds by engine, then by figure (`"upsert_p50"`, …).
        memory: the store's memory figures (bytes).
        asyncio: the asyncio workloads' figures and their thread forms' (see
            `asyncio_path.measure_asyncio`), the medians of the rounds.
        peers_run: whether the peers were asked for.
        missing: why a peer was not measured (`"not installed"`), by name.
        rounds: each round's own figures of the engines that run in rounds
            (by engine, then `"throughput"`/`"latency"`, then by figure);
            their figures above are the medians of these.
    """

    workload: Workload
    throughput: dict[str, dict[str, float]]
    latency: dict[str, dict[str, float]]
    memory: dict[str, float]
    asyncio: dict[str, float] = field(default_factory=dict)
    peers_run: bool = False
    missing: dict[str, str] = field(default_factory=dict)
    rounds: list[dict[str, dict[str, dict[str, float]]]] = field(default_factory=list)

    def figures(self) -> dict[str, float]:
        """Return every figure by its flat name (`throughput.actorstore.write`)."""
        flat: dict[str, float] = {}
        for kind, by_engine in (
            ("throughput", self.throughput),
            ("latency", self.latency),
        ):
            for engine, figures in by_engine.items():
                for name, value in figures.items():
                    flat[f"{kind}.{engine}.{name}"] = value
        for name, value in self.memory.items():
            flat[f"memory.{name}"] = value
        for name, value in self.asyncio.items():
            flat[f"asyncio.{name}"] = value
        return flat

    @property
    def checks(self) -> list[Check]:
        """Every target checked against this run's figures."""
        return evaluate(self.figures(), TARGETS)

    @property
    def missed(self) -> list[Check]:
        """The required targets that were measured and not met."""
        return [check for check in self.checks if check.missed]

    @property
    def judged(self) -> bool:
        """Whether the run is long enough to hold the store to its targets."""
        return self.workload.rounds >= MIN_ROUNDS_TO_JUDGE

    @property
    def not_judged_because(self) -> str | None:
        """Why a missed target does not fail this run (None if it does)."""
        if self.judged:
            return None
        rounds = self.workload.rounds
        return (
            f"{rounds} round{'' if rounds == 1 else 's'} is too short to judge a "
            f"target (each figure needs the median of {MIN_ROUNDS_TO_JUDGE} "
            "rounds to be more than noise): the ratios are shown, not enforced; "
            f"run without --quick, or with --rounds {MIN_ROUNDS_TO_JUDGE}"
        )

    def to_json(self) -> dict[str, Any]:
        """Return every figure, and every check with its target, as a JSON-able dict."""
        return {
            "workload": self.workload.settings(),
            "throughput": self.throughput,
            "latency": self.latency,
            "memory": self.memory,
            "asyncio": self.asyncio,
            "peers": {"run": self.peers_run, "missing": self.missing},
            "rounds": self.rounds,
            "targets": [check.to_json() for check in self.checks],
            "targets_met": not self.missed,
            "judged": self.judged,
            "not_judged_because": self.not_judged_because,
        }
