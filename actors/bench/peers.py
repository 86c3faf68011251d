"""Peers: other embedded stores run on the same JSON workload, when installed.

stdlib `sqlite3` always runs; `rocksdict` (RocksDB), `diskcache` and
`aiosqlite` run when they import (`pip install "actorstore[peers]"`), and are
reported as not installed otherwise. Each peer does the codec work its user
would (JSON text or bytes in, `json.loads` out) and is measured on the four
rows of the peer table:

- `write`: one op per commit, not fsynced per op (sqlite3 and diskcache
  `synchronous=NORMAL` in WAL mode, RocksDB without `sync`);
- `durable_write`: one commit and one fsync per op (`synchronous=FULL`,
  RocksDB `WriteOptions.sync`), one at a time except aiosqlite, which keeps
  `window` in flight;
- `point_read`: one lookup by key per op;
- `batch_1000`: `batch_size` writes in one transaction (`executemany`,
  a `WriteBatch`, `Cache.transact()`).
"""

from __future__ import annotations

import abc
import asyncio
import gc
import importlib
import json
import os
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from actorstore.bench.engines import AIOSQLITE, DISKCACHE, ROCKSDB, SQLITE3
from actorstore.bench.timing import rate, unsynced_rates
from actorstore.bench.window import async_sliding_window
from actorstore.bench.workload import Workload

__all__ = [
    "PEERS",
    "AioSqlitePeer",
    "DiskCachePeer",
    "Peer",
    "RocksDBPeer",
    "Sqlite3Peer",
    "measure_peers",
]

_UPSERT = "INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)"
_SELECT = "SELECT v FROM kv WHERE k = ?"
_CREATE = "CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v TEXT NOT NULL)"


class Peer(abc.ABC):
    """One peer engine: its name, the module it needs, and its workloads."""

    name: ClassVar[str]
    """The engine name its figures are filed under."""
    module: ClassVar[str]
    """The module it imports; if that fails, the peer is not installed."""

    def missing(self) -> str | None:
        """Return why the peer cannot run (`"not installed"`), or None if it can."""
        try:
            importlib.import_module(self.module)
        except ImportError:
            return "not installed"
        return None

    @abc.abstractmethod
    def measure(self, workload: Workload, root: str) -> dict[str, float]:
        """Return ops/s of `write`, `durable_write`, `point_read`, `batch_1000`."""


class Sqlite3Peer(Peer):
    """stdlib sqlite3 in WAL mode, autocommit: each statement its own transaction."""

    name = SQLITE3
    module = "sqlite3"

    @staticmethod
    def _connect(path: str, synchronous: str) -> sqlite3.Connection:
        connection = sqlite3.connect(path, isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(f"PRAGMA synchronous={synchronous}")
        connection.execute(_CREATE)
        return connection

    def measure(self, workload: Workload, root: str) -> dict[str, float]:
        """Time sqlite3's four workloads (see the module docstring)."""
        records = workload.records
        db = self._connect(os.path.join(root, "sqlite3.db"), "NORMAL")
        try:

            def write() -> None:
                for key, value in records:
                    db.execute(_UPSERT, (key, json.dumps(value)))

            def read() -> None:
                for key, _ in records:
                    json.loads(db.execute(_SELECT, (key,)).fetchone()[0])

            def batches() -> None:
                for number in range(workload.batches):
                    db.execute("BEGIN")
                    db.executemany(
                        _UPSERT,
                        ((k, json.dumps(v)) for k, v in workload.batch(number)),
                    )
                    db.execute("COMMIT")

            figures = unsynced_rates(
                workload, write=write, point_read=read, batch_1000=batches
            )
        finally:
            db.close()
        db = self._connect(os.path.join(root, "sqlite3-full.db"), "FULL")
        try:

            def durable_write() -> None:
                for i in range(workload.sync_ops):
                    key, value = workload.record(i)
                    db.execute(_UPSERT, (key, json.dumps(value)))

            figures["durable_write"] = rate(workload.sync_ops, durable_write)
        finally:
            db.close()
        return figures


class RocksDBPeer(Peer):
    """RocksDB through `rocksdict.Rdict` in raw (bytes) mode."""

    name = ROCKSDB
    module = "rocksdict"

    def measure(self, workload: Workload, root: str) -> dict[str, float]:
        """Time RocksDB's four workloads (see the module docstring)."""
        import rocksdict

        records = workload.records
        db = rocksdict.Rdict(
            os.path.join(root, "rocksdb"), rocksdict.Options(raw_mode=True)
        )
        try:

            def write() -> None:
                for key, value in records:
                    db.put(key.encode(), json.dumps(value).encode())

            def read() -> None:
                for key, _ in records:
                    json.loads(db[key.encode()] or b"")  # b"" fails: a miss

            def batches() -> None:
                for number in range(workload.batches):
                    batch = rocksdict.WriteBatch(raw_mode=True)
                    for key, value in workload.batch(number):
                        batch.put(key.encode(), json.dumps(value).encode())
                    db.write(batch)

            def durable_write() -> None:
                sync = rocksdict.WriteOptions()
                sync.sync = True
                for i in range(workload.sync_ops):
                    key, value = workload.record(i)
                    db.put(key.encode(), json.dumps(value).encode(), sync)

            figures = unsynced_rates(
                workload, write=write, point_read=read, batch_1000=batches
            )
            figures["durable_write"] = rate(workload.sync_ops, durable_write)
        finally:
            db.close()
        return figures


class DiskCachePeer(Peer):
    """`diskcache.Cache` (sqlite in WAL mode underneath) with JSON text values."""

    name = DISKCACHE
    module = "diskcache"

    def measure(self, workload: Workload, root: str) -> dict[str, float]:
        """Time diskcache's four workloads (see the module docstring)."""
        import diskcache

        records = workload.records
        cache = diskcache.Cache(os.path.join(root, "diskcache"), sqlite_synchronous=1)
        try:

            def write() -> None:
                for key, value in records:
                    cache.set(key, json.dumps(value))

            def read() -> None:
                for key, _ in records:
                    json.loads(cache.get(key))

            def batches() -> None:
                for number in range(workload.batches):
                    with cache.transact():
                        for key, value in workload.batch(number):
                            cache.set(key, json.dumps(value))

            figures = unsynced_rates(
                workload, write=write, point_read=read, batch_1000=batches
            )
        finally:
            cache.close()
        cache = diskcache.Cache(
            os.path.join(root, "diskcache-full"), sqlite_synchronous=2
        )
        try:

            def durable_write() -> None:
                for i in range(workload.sync_ops):
                    key, value = workload.record(i)
                    cache.set(key, json.dumps(value))

            figures["durable_write"] = rate(workload.sync_ops, durable_write)
        finally:
            cache.close()
        return figures


class AioSqlitePeer(Peer):
    """aiosqlite on asyncio: sqlite3 on its own thread, `window` requests in flight."""

    name = AIOSQLITE
    module = "aiosqlite"

    def measure(self, workload: Workload, root: str) -> dict[str, float]:
        """Time aiosqlite's four workloads (see the module docstring)."""
        return asyncio.run(self._measure(workload, root))

    async def _measure(self, workload: Workload, root: str) -> dict[str, float]:
        import aiosqlite

        async def connect(path: str, synchronous: str) -> Any:
            db = await aiosqlite.connect(path, isolation_level=None)
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute(f"PRAGMA synchronous={synchronous}")
            await db.execute(_CREATE)
            return db

        async def timed(count: int, run: Callable[[], Awaitable[object]]) -> float:
            gc.collect()
            loop = asyncio.get_running_loop()
            start = loop.time()
            await run()
            return count / (loop.time() - start)

        records = workload.records
        window = workload.window
        figures: dict[str, float] = {}
        db = await connect(os.path.join(root, "aiosqlite.db"), "NORMAL")
        try:

            async def put(i: int) -> None:
                key, value = workload.record(i)
                await db.execute(_UPSERT, (key, json.dumps(value)))

            async def get(i: int) -> None:
                async with db.execute(_SELECT, (records[i][0],)) as cursor:
                    row = await cursor.fetchone()
                json.loads(row[0])

            async def batches() -> None:
                for number in range(workload.batches):
                    await db.execute("BEGIN")
                    await db.executemany(
                        _UPSERT,
                        [(k, json.dumps(v)) for k, v in workload.batch(number)],
                    )
                    await db.execute("COMMIT")

            count = len(records)
            figures["write"] = await timed(
                count, lambda: async_sliding_window(count, window, put)
            )
            figures["point_read"] = await timed(
                count, lambda: async_sliding_window(count, window, get)
            )
            figures["batch_1000"] = await timed(
                workload.batches * workload.batch_size, batches
            )
        finally:
            await db.close()
        db = await connect(os.path.join(root, "aiosqlite-full.db"), "FULL")
        try:
            count = workload.sync_ops
            figures["durable_write"] = await timed(
                count, lambda: async_sliding_window(count, window, put)
            )
        finally:
            await db.close()
        return figures


PEERS: tuple[Peer, ...] = (
    RocksDBPeer(),
    Sqlite3Peer(),
    DiskCachePeer(),
    AioSqlitePeer(),
)
"""Every peer, in the order of the peer table's columns."""


def measure_peers(
    workload: Workload, root: str, peers: tuple[Peer, ...] = PEERS
) -> tuple[dict[str, dict[str, float]], dict[str, str]]:
    """Run the peers that can; return their ops/s by name, and why others cannot."""
    throughput: dict[str, dict[str, float]] = {}
    missing: dict[str, str] = {}
    for peer in peers:
        reason = peer.missing()
        if reason is not None:
            missing[peer.name] = reason
            continue
        where = os.path.join(root, f"peer-{peer.name}")
        os.makedirs(where)
        throughput[peer.name] = peer.measure(workload, where)
    return throughput, missing
