"""Plot: durable throughput versus ops in flight, as a PNG (needs matplotlib)."""

from __future__ import annotations

from actorstore.bench.engines import ACTORSTORE, RAW_LMDB
from actorstore.bench.result import BenchResult

__all__ = ["plot"]


def plot(result: BenchResult, path: str) -> None:
    """Draw SYNC upsert throughput versus ops in flight into the PNG `path`.

    Raises:
        ImportError: if matplotlib is missing (`pip install "actorstore[plot]"`).
    """
    import matplotlib  # optional: only `bench --plot` needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    workload = result.workload
    store = result.throughput[ACTORSTORE]
    raw = result.throughput[RAW_LMDB]
    windows = list(workload.sync_windows)
    sync = [store[workload.durable_name(window)] for window in windows]
    figure, axes = plt.subplots(figsize=(7, 4.5))
    axes.plot(windows, sync, marker="o", label="actorstore SYNC upsert")
    axes.axhline(
        store["write"],
        color="tab:green",
        linestyle="--",
        label=f"actorstore NONE upsert ({workload.window} in flight)",
    )
    axes.axhline(
        raw["durable_write"],
        color="tab:red",
        linestyle=":",
        label="raw py-lmdb, fsync per commit",
    )
    axes.axhline(
        raw["write"],
        color="tab:gray",
        linestyle=":",
        label="raw py-lmdb, txn per put (no sync)",
    )
    axes.set_xscale("log", base=2)
    axes.set_yscale("log")
    axes.set_xlabel("ops in flight")
    axes.set_ylabel("ops/s (JSON records)")
    axes.set_title("Durable throughput grows with concurrency (group commit)")
    axes.legend(fontsize="small")
    axes.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
