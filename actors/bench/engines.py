"""Engines: the names the bench files each engine's figures under, and their titles."""

from __future__ import annotations

__all__ = [
    "ACTORSTORE",
    "ACTORSTORE_CLUSTER",
    "AIOSQLITE",
    "DISKCACHE",
    "HAND_ACTOR",
    "LATENCY_TITLES",
    "PEER_ENGINES",
    "RAW_LMDB",
    "ROCKSDB",
    "ROWS",
    "SQLITE3",
    "TITLES",
    "throughput_figure",
]

ACTORSTORE = "actorstore"
ACTORSTORE_CLUSTER = "actorstore-cluster"
RAW_LMDB = "raw-lmdb"
ROCKSDB = "rocksdb"
SQLITE3 = "sqlite3"
DISKCACHE = "diskcache"
AIOSQLITE = "aiosqlite"
HAND_ACTOR = "pykka-actor"

PEER_ENGINES: tuple[str, ...] = (ROCKSDB, SQLITE3, DISKCACHE, AIOSQLITE)
"""The peers, which run only when asked for (and installed)."""

TITLES: dict[str, str] = {
    ACTORSTORE: "actorstore",
    RAW_LMDB: "raw py-lmdb",
    ROCKSDB: "RocksDB",
    SQLITE3: "sqlite3 WAL",
    DISKCACHE: "diskcache",
    AIOSQLITE: "aiosqlite",
    HAND_ACTOR: "hand-written pykka actor",
}
"""Column headings of the engine table, in column order."""

LATENCY_TITLES: dict[str, str] = {
    **TITLES,
    ACTORSTORE_CLUSTER: "actorstore on a cluster",
}
"""How each engine is named beside its latencies (the cluster has no column)."""

ROWS: dict[str, str] = {
    "write": "write (not fsynced per op)",
    "durable_write": "durable write, {window} in flight",
    "point_read": "point read",
    "batch_1000": "batch of {batch_size}",
}
"""The workloads every engine is measured on, with their row titles."""


def throughput_figure(engine: str, workload: str) -> str:
    """Return the flat name of `engine`'s ops/s on `workload`."""
    return f"throughput.{engine}.{workload}"
