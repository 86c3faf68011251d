"""The hand-written actor baseline: a pykka actor wrapping py-lmdb, as a user writes it.

Its proxy calls (`put`, `get`) are the pipelined baseline, and a bare
`ActorRef.ask()` of the same put is the round-trip baseline of the store's
single op.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pykka

from actorstore.bench.raw import open_raw_env
from actorstore.bench.timing import percentile, rate, round_trips
from actorstore.bench.window import sliding_window
from actorstore.bench.workload import Workload

__all__ = ["HandWrittenActor", "measure_hand_actor"]


class HandWrittenActor(pykka.ThreadingActor):
    """An actor owning one LMDB environment: a put or a get per transaction."""

    use_daemon_thread = True

    def __init__(self, path: str, *, sync: bool) -> None:
        super().__init__()
        self.env = open_raw_env(path, sync=sync)

    def put(self, key: str, value: Any) -> None:
        """Write `value` as JSON under `key` in one transaction."""
        with self.env.begin(write=True) as txn:
            txn.put(key.encode(), json.dumps(value).encode())

    def get(self, key: str) -> Any:
        """Return the JSON value under `key` (None if absent)."""
        with self.env.begin() as txn:
            data = txn.get(key.encode())
        return None if data is None else json.loads(data)

    def on_receive(self, message: Any) -> Any:
        """Answer a bare ask: `("put", key, value)` or `("get", key)`."""
        if message[0] == "put":
            return self.put(message[1], message[2])
        return self.get(message[1])

    def on_stop(self) -> None:
        """Close the environment."""
        self.env.close()


def measure_hand_actor(
    workload: Workload, root: str
) -> tuple[dict[str, float], dict[str, float]]:
    """Return the hand-written actor's ops/s and its bare-ask latencies (seconds).

    Throughput: `write` and `point_read` through its proxy with `window` in
    flight, and `durable_write` (an fsync per put) likewise on a second actor.
    Latency: `ask_p50`/`ask_p99` of bare `ask(("put", key, value))` calls made
    one at a time.
    """
    records = workload.records
    window = workload.window
    throughput: dict[str, float] = {}
    latency: dict[str, float] = {}
    ref = HandWrittenActor.start(os.path.join(root, "actor"), sync=False)
    try:
        proxy = ref.proxy()
        throughput["write"] = rate(
            len(records),
            lambda: sliding_window(
                len(records), window, lambda i: proxy.put(*records[i])
            ),
        )
        throughput["point_read"] = rate(
            len(records),
            lambda: sliding_window(
                len(records), window, lambda i: proxy.get(records[i][0])
            ),
        )
        samples = round_trips(
            workload.latency_samples,
            lambda i: ref.ask(("put", *workload.record(i)), block=False),
        )
        latency["ask_p50"] = percentile(samples, 0.50)
        latency["ask_p99"] = percentile(samples, 0.99)
    finally:
        ref.stop()
    ref = HandWrittenActor.start(os.path.join(root, "actor-sync"), sync=True)
    try:
        proxy = ref.proxy()
        count = workload.sync_ops
        throughput["durable_write"] = rate(
            count,
            lambda: sliding_window(
                count, window, lambda i: proxy.put(*workload.record(i))
            ),
        )
    finally:
        ref.stop()
    return throughput, latency
