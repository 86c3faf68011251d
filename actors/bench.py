"""The benchmark: the store against raw py-lmdb and a hand-written actor, one run.

`actorstore bench` (or `python -m actors bench`) prints ops/s per workload and
the ratios the targets are stated in; `run_bench()` returns the same figures.
"""

from __future__ import annotations

import collections
import functools
import gc
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import lmdb
import pykka

from actors.futures import OpFuture
from actors.store import Store, open_store
from storage import Durability

__all__ = ["BenchResult", "format_report", "run_bench"]

VALUE = b"v" * 100


@dataclass
class BenchResult:
    """Every figure of one run: ops/s by workload, latencies, and ratios."""

    ops: int
    throughput: dict[str, float]
    latency: dict[str, float]
    ratios: dict[str, float]
    memory: dict[str, float]

    def to_json(self) -> dict[str, Any]:
        """Return the result as a JSON-able dict."""
        return {
            "ops": self.ops,
            "throughput": self.throughput,
            "latency": self.latency,
            "ratios": self.ratios,
            "memory": self.memory,
        }


def _key(i: int) -> bytes:
    return b"key%08d" % i


def _rate(ops: int, fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return ops / (time.perf_counter() - start)


def _raw_env(path: str, *, sync: bool) -> lmdb.Environment:
    return lmdb.open(path, map_size=1 << 30, sync=sync, metasync=sync, max_dbs=0)


def _raw_lmdb(root: str, ops: int, sync_ops: int) -> dict[str, float]:
    """The floor: py-lmdb with no actors, no futures, no codecs."""
    results: dict[str, float] = {}
    env = _raw_env(os.path.join(root, "raw-nosync"), sync=False)

    def put_each() -> None:
        for i in range(ops):
            with env.begin(write=True) as txn:
                txn.put(_key(i), VALUE)

    def get_each() -> None:
        for i in range(ops):
            with env.begin() as txn:
                txn.get(_key(i))

    def put_1000_per_txn() -> None:
        for start in range(0, ops, 1000):
            with env.begin(write=True) as txn:
                for i in range(start, min(ops, start + 1000)):
                    txn.put(_key(i), VALUE)

    results["raw_put_txn_per_op"] = _rate(ops, put_each)
    results["raw_get_txn_per_op"] = _rate(ops, get_each)
    results["raw_put_1000_per_txn"] = _rate(ops, put_1000_per_txn)
    env.close()
    env = _raw_env(os.path.join(root, "raw-sync"), sync=True)

    def put_fsync_each() -> None:
        for i in range(sync_ops):
            with env.begin(write=True) as txn:
                txn.put(_key(i), VALUE)

    results["raw_put_fsync_per_op"] = _rate(sync_ops, put_fsync_each)
    env.close()
    return results


class _HandWrittenActor(pykka.ThreadingActor):
    """What a user would write without actorstore: an actor wrapping py-lmdb."""

    use_daemon_thread = True

    def __init__(self, path: str) -> None:
        super().__init__()
        self.env = _raw_env(path, sync=False)

    def put(self, key: bytes, value: bytes) -> None:
        with self.env.begin(write=True) as txn:
            txn.put(key, value)

    def get(self, key: bytes) -> bytes | None:
        with self.env.begin() as txn:
            return txn.get(key)

    def on_stop(self) -> None:
        self.env.close()


def _windowed(ops: int, window: int, submit: Callable[[int], Any]) -> None:
    """Keep `window` requests in flight, as a client with a pending window would."""
    pending: collections.deque[Any] = collections.deque()
    for i in range(ops):
        if len(pending) >= window:
            pending.popleft().get(timeout=60)
        pending.append(submit(i))
    for future in pending:
        future.get(timeout=60)


def _round_trips(count: int, request: Callable[[int], Any]) -> list[float]:
    """Return the seconds of `count` requests made one at a time, sorted."""
    samples = []
    for i in range(count):
        start = time.perf_counter()
        request(i).get(timeout=10)
        samples.append(time.perf_counter() - start)
    return sorted(samples)


def _hand_written(root: str, ops: int) -> dict[str, float]:
    ref = _HandWrittenActor.start(os.path.join(root, "actor"))
    proxy = ref.proxy()
    try:
        put = _rate(
            ops, lambda: _windowed(ops, 64, lambda i: proxy.put(_key(i), VALUE))
        )
        get = _rate(ops, lambda: _windowed(ops, 64, lambda i: proxy.get(_key(i))))
        samples = _round_trips(min(ops, 2000), lambda i: proxy.get(_key(i)))
    finally:
        ref.stop()
    return {
        "actor_put_pipelined": put,
        "actor_get_pipelined": get,
        "actor_ask_p50": samples[len(samples) // 2],
    }


def _store(
    root: str, ops: int, sync_ops: int
) -> tuple[dict[str, float], dict[str, float]]:
    results: dict[str, float] = {}
    latency: dict[str, float] = {}
    with open_store(os.path.join(root, "store"), ops_max=4096) as store:
        store.create_table(
            "none", key_format="bytes", value_format="bytes", durability=Durability.NONE
        )
        store.create_table(
            "sync", key_format="bytes", value_format="bytes", durability=Durability.SYNC
        )
        _warm_up(store, ["none", "sync"])

        def upsert_to(names: list[str]) -> Callable[[int], OpFuture[None]]:
            return lambda i: store.upsert(names[i % len(names)], _key(i), VALUE)

        results["store_none_upsert_pipelined"] = _rate(
            ops,
            lambda: _windowed(ops, 64, lambda i: store.upsert("none", _key(i), VALUE)),
        )
        for window in (1, 8, 64, 512):
            count = sync_ops if window == 1 else min(ops, sync_ops * window)
            results[f"store_sync_upsert_{window}_in_flight"] = _rate(
                count, functools.partial(_windowed, count, window, upsert_to(["sync"]))
            )
        results["store_search_pipelined"] = _rate(
            ops, lambda: _windowed(ops, 64, lambda i: store.search("none", _key(i)))
        )
        writes = [("upsert", _key(i), VALUE) for i in range(1000)]
        batches = max(1, ops // 1000)
        results["store_batch_1000"] = _rate(
            batches * 1000,
            lambda: [
                store.batch("none", writes).get(timeout=60) for _ in range(batches)
            ],
        )
        samples = _round_trips(min(ops, 2000), lambda i: store.search("none", _key(i)))
        latency["store_round_trip_p50"] = samples[len(samples) // 2]
        latency["store_round_trip_p99"] = samples[int(len(samples) * 0.99)]
        for tables in (1, 2, 4):
            names = [f"spread{tables}_{t}" for t in range(tables)]
            for name in names:
                store.create_table(
                    name,
                    key_format="bytes",
                    value_format="bytes",
                    durability=Durability.NONE,
                )
            _warm_up(store, names)
            results[f"store_none_upsert_{tables}_tables"] = _rate(
                ops, functools.partial(_windowed, ops, 64, upsert_to(names))
            )
    return results, latency


def _warm_up(store: Store, tables: list[str]) -> None:
    """Open each table's environment and its owner's session before timing."""
    for name in tables:
        store.count(name).get(timeout=60)


def _rss() -> int:
    """Return this process's resident set size in bytes (Linux), else 0."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _memory(root: str, memory_ops: int, in_flight: int) -> dict[str, float]:
    """RSS after 10% and after all of `memory_ops` upserts, and per in-flight op.

    The upserts cycle over 10,000 keys, so the data (whose mapped pages count
    in RSS) stays the same size and growth means memory the store holds on to.
    """
    keys = [_key(i) for i in range(10_000)]
    with open_store(os.path.join(root, "memory"), ops_max=in_flight + 64) as store:
        store.create_table(
            "m", key_format="bytes", value_format="bytes", durability=Durability.NONE
        )

        def upserts(count: int) -> None:
            _windowed(count, 64, lambda i: store.upsert("m", keys[i % 10_000], VALUE))

        first = max(1, memory_ops // 10)
        upserts(first)
        gc.collect()
        rss_first = _rss()
        upserts(memory_ops - first)
        gc.collect()
        rss_all = _rss()
        # Hold the owner inside a callback so submitted ops stay in flight.
        entered, release = threading.Event(), threading.Event()

        def hold(error: BaseException | None, result: object) -> None:
            entered.set()
            release.wait(60)

        held = store.upsert("m", keys[0], VALUE, callback=hold)
        entered.wait(60)
        gc.collect()
        before = _rss()
        pending = [store.upsert("m", keys[i % 10_000], VALUE) for i in range(in_flight)]
        per_op = (_rss() - before) / in_flight
        release.set()
        held.get(timeout=60)
        for future in pending:
            future.get(timeout=60)
    return {
        "rss_after_first_tenth": rss_first,
        "rss_after_all": rss_all,
        "rss_growth": rss_all / rss_first if rss_first else 0.0,
        "bytes_per_in_flight_op": per_op,
    }


def run_bench(
    ops: int = 50_000,
    sync_ops: int = 300,
    path: str | None = None,
    memory_ops: int = 1_000_000,
    in_flight: int = 20_000,
) -> BenchResult:
    """Run every workload and return every figure and ratio.

    Args:
        ops: operations per throughput workload.
        sync_ops: operations for the one-fsync-per-op workloads.
        path: where to make the temporary stores (default: the temp dir).
        memory_ops: upserts for the memory-growth check (RSS after the first
            tenth versus after all).
        in_flight: ops held in flight to measure memory per in-flight op.
    """
    with tempfile.TemporaryDirectory(dir=path) as root:
        throughput = _raw_lmdb(root, ops, sync_ops)
        hand = _hand_written(root, ops)
        throughput["actor_put_pipelined"] = hand["actor_put_pipelined"]
        throughput["actor_get_pipelined"] = hand["actor_get_pipelined"]
        store, latency = _store(root, ops, sync_ops)
        throughput.update(store)
        memory = _memory(root, memory_ops, in_flight)
    latency["actor_ask_p50"] = hand["actor_ask_p50"]
    t = throughput
    ratios = {
        "none_upsert_vs_raw_put (>= 0.40)": t["store_none_upsert_pipelined"]
        / t["raw_put_txn_per_op"],
        "sync64_upsert_vs_raw_fsync_put (>= 15)": t["store_sync_upsert_64_in_flight"]
        / t["raw_put_fsync_per_op"],
        "sync64_vs_none_upsert (>= 0.6)": t["store_sync_upsert_64_in_flight"]
        / t["store_none_upsert_pipelined"],
        "search_vs_raw_get (>= 0.10)": t["store_search_pipelined"]
        / t["raw_get_txn_per_op"],
        "search_vs_hand_written_actor (>= 2)": t["store_search_pipelined"]
        / t["actor_get_pipelined"],
        "batch_vs_raw_1000_per_txn (>= 0.5)": t["store_batch_1000"]
        / t["raw_put_1000_per_txn"],
        "round_trip_p50_vs_pykka_ask (<= 1.5)": latency["store_round_trip_p50"]
        / latency["actor_ask_p50"],
        "rss_after_all_vs_first_tenth (<= 1.10)": memory["rss_growth"],
        "bytes_per_in_flight_op (<= 2048)": memory["bytes_per_in_flight_op"],
    }
    return BenchResult(ops, throughput, latency, ratios, memory)


def format_report(result: BenchResult) -> str:
    """Return the result as a readable table."""
    lines = [
        f"actorstore bench ({result.ops} ops per workload)",
        "",
        "throughput (ops/s):",
    ]
    lines += [
        f"  {name:42} {value:>12,.0f}" for name, value in result.throughput.items()
    ]
    lines += ["", "latency (ms):"]
    lines += [
        f"  {name:42} {value * 1000:>12.3f}" for name, value in result.latency.items()
    ]
    lines += ["", "memory (bytes):"]
    lines += [
        f"  {name:42} {value:>12,.0f}"
        for name, value in result.memory.items()
        if name != "rss_growth"
    ]
    lines += ["", "ratios and limits (target):"]
    lines += [f"  {name:42} {value:>12.2f}" for name, value in result.ratios.items()]
    return "\n".join(lines)


def plot(result: BenchResult, path: str) -> None:
    """Draw SYNC upsert throughput versus ops in flight into the PNG `path`.

    Raises:
        ImportError: if matplotlib is missing (`pip install "actorstore[plot]"`).
    """
    import matplotlib  # optional: only `bench --plot` needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    windows = [1, 8, 64, 512]
    sync = [result.throughput[f"store_sync_upsert_{w}_in_flight"] for w in windows]
    figure, axes = plt.subplots(figsize=(7, 4.5))
    axes.plot(windows, sync, marker="o", label="actorstore SYNC upsert")
    axes.axhline(
        result.throughput["store_none_upsert_pipelined"],
        color="tab:green",
        linestyle="--",
        label="actorstore NONE upsert (64)",
    )
    axes.axhline(
        result.throughput["raw_put_fsync_per_op"],
        color="tab:red",
        linestyle=":",
        label="raw py-lmdb, fsync per put",
    )
    axes.axhline(
        result.throughput["raw_put_txn_per_op"],
        color="tab:gray",
        linestyle=":",
        label="raw py-lmdb, txn per put (no sync)",
    )
    axes.set_xscale("log", base=2)
    axes.set_yscale("log")
    axes.set_xlabel("ops in flight")
    axes.set_ylabel("ops/s")
    axes.set_title("Durable throughput grows with concurrency (group commit)")
    axes.legend(fontsize="small")
    axes.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
