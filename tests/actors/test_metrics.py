"""actors/_metrics.py: the store's metrics, read with the SDK's in-memory reader.

The global meter provider can be set once per process: this module sets an
SDK provider with an `InMemoryMetricReader` the first time it needs one, and
each test reads the points of its own tables and store. What happens without
an SDK, or without opentelemetry at all, runs in a child process.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import actorstore
import actorstore._metrics as metrics
from actorstore import RetryPolicy, Store
from actorstore.storage import KeyExistsError, StoreBusyError

pytest.importorskip("opentelemetry.sdk.metrics", reason="the SDK is not installed")

from opentelemetry import metrics as otel
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

ROOT = Path(__file__).resolve().parents[2]
WAIT = 10.0
_READER: list[InMemoryMetricReader] = []


@pytest.fixture
def reader() -> InMemoryMetricReader:
    """Return the reader of the process's SDK provider (set on first use)."""
    if not _READER:
        _READER.append(InMemoryMetricReader())
        otel.set_meter_provider(MeterProvider(metric_readers=[_READER[0]]))
        metrics._polled_at = float("-inf")  # look now, not within a second
    assert metrics.poll()
    return _READER[0]


def points(reader: InMemoryMetricReader, name: str, **wanted: str) -> list[Any]:
    """Return the data points of metric `name` whose attributes include `wanted`."""
    data = reader.get_metrics_data()
    found = []
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            if scope.scope.name != metrics.SYSTEM:
                continue
            for metric in scope.metrics:
                if metric.name != name:
                    continue
                found += [
                    point
                    for point in metric.data.data_points
                    if all(point.attributes.get(k) == v for k, v in wanted.items())
                ]
    return found


def op_points(
    reader: InMemoryMetricReader, table: str, op: str, **more: str
) -> list[Any]:
    return points(
        reader,
        "db.client.operation.duration",
        **{
            "db.system.name": "actorstore",
            "db.operation.name": op,
            "db.collection.name": table,
            **more,
        },
    )


@pytest.fixture
def store(make_store: Callable[..., Store], reader: InMemoryMetricReader) -> Store:
    return make_store()


def test_ops_are_measured_per_group_with_the_semantic_convention_s_names(
    store: Store, reader: InMemoryMetricReader
) -> None:
    store.create_table("durations")
    futures = [store.upsert("durations", f"k{i}", {"i": i}) for i in range(300)]
    for future in futures:
        future.get(WAIT)
    store.batch("durations", [("upsert", "b", 1), ("remove", "k0")]).get(WAIT)
    for i in range(64):  # one read at once in 16 is timed
        assert store.search("durations", f"k{i + 1}").get(WAIT) == {"i": i + 1}
    with pytest.raises(KeyExistsError):
        store.insert("durations", "k1", {}).get(WAIT)
    store.flush(WAIT)

    (upserts,) = op_points(reader, "durations", "upsert")
    assert 1 <= upserts.count <= 300  # one measurement per group, not per op
    assert 0 < upserts.sum / upserts.count < WAIT
    (batch,) = op_points(reader, "durations", "batch")
    assert batch.count == 1  # a batch is one operation
    (searches,) = op_points(reader, "durations", "search")
    assert searches.count >= 1  # reads at once: measured at the collection
    (failed,) = op_points(
        reader, "durations", "insert", **{"error.type": "KeyExistsError"}
    )
    assert failed.count == 1
    assert "error.type" not in upserts.attributes

    (sizes,) = points(
        reader, "actorstore.group.size", **{"db.collection.name": "durations"}
    )
    assert sizes.sum == 300 + 1 + 1  # every write-op, the failed insert included
    (commits,) = points(
        reader, "actorstore.commit.duration", **{"db.collection.name": "durations"}
    )
    assert commits.count == sizes.count and commits.sum > 0


def test_retries_and_dead_letters_are_counted(
    store: Store, reader: InMemoryMetricReader
) -> None:
    store.create_table("retried")

    def busy(error: BaseException | None, result: object) -> None:
        if error is None:
            raise StoreBusyError("busy")

    policy = RetryPolicy(max_attempts=3, initial_wait=0.001)
    before = sum(p.value for p in points(reader, "actorstore.retries"))
    with pytest.raises(actorstore.RetriesExhaustedError):
        store.upsert("retried", "k", 1, callback=busy, retry=policy).get(WAIT)
    (retries,) = points(reader, "actorstore.retries", **{"db.operation.name": "upsert"})
    assert retries.value - before == 2
    (letters,) = points(
        reader,
        "actorstore.dead_letters",
        **{"db.collection.name": "retried", "db.operation.name": "upsert"},
    )
    assert letters.value == 1
    (ended,) = op_points(
        reader, "retried", "upsert", **{"error.type": "RetriesExhaustedError"}
    )
    assert ended.count == 1


def test_in_flight_and_table_sizes_are_read_when_the_sdk_collects(
    store: Store, reader: InMemoryMetricReader
) -> None:
    store.create_table("sized")
    store.upsert("sized", "k", {"v": "x" * 5000}).get(WAIT)
    held, release = threading.Event(), threading.Event()

    def hold(error: BaseException | None, result: object) -> None:
        held.set()
        release.wait(WAIT)

    future = store.upsert("sized", "h", 1, callback=hold)
    try:
        assert held.wait(WAIT)
        (in_flight,) = points(
            reader, "actorstore.ops.in_flight", **{"db.namespace": store.path}
        )
        assert in_flight.value == 1
    finally:
        release.set()
    future.get(WAIT)
    store.flush(WAIT)
    (in_flight,) = points(
        reader, "actorstore.ops.in_flight", **{"db.namespace": store.path}
    )
    assert in_flight.value == 0
    (size,) = points(
        reader,
        "actorstore.table.size",
        **{"db.namespace": store.path, "db.collection.name": "sized"},
    )
    table = store._transport.directory.table("sized")
    assert size.value == table.used_size() > 5000


def test_a_closed_store_is_no_longer_reported(
    make_store: Callable[..., Store], reader: InMemoryMetricReader
) -> None:
    store = make_store()
    points(reader, "actorstore.ops.in_flight", **{"db.namespace": store.path})
    store.close()
    assert (
        points(reader, "actorstore.ops.in_flight", **{"db.namespace": store.path}) == []
    )


def _run_child(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), str(tmp_path / "store")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )


def test_without_opentelemetry_nothing_is_imported_nor_recorded(tmp_path: Path) -> None:
    done = _run_child(
        """
        import importlib.abc, sys

        class Hide(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path, target=None):
                if name.split(".")[0] == "opentelemetry":
                    raise ImportError(name)

        sys.meta_path.insert(0, Hide())
        import actorstore
        import actorstore._metrics as metrics

        with actorstore.open_store(sys.argv[1]) as store:
            store.create_table("t")
            store.upsert("t", "k", 1).get(5)
            assert store.search("t", "k").get(5) == 1
        assert metrics.otel is None and not metrics.poll()
        assert not metrics.recording
        assert not [m for m in sys.modules if m.startswith("opentelemetry")]
        print("ok")
        """,
        tmp_path,
    )
    assert done.stdout.strip() == "ok", done.stderr


def test_with_the_api_alone_nothing_is_recorded(tmp_path: Path) -> None:
    done = _run_child(
        """
        import sys
        import actorstore
        import actorstore._metrics as metrics

        with actorstore.open_store(sys.argv[1]) as store:
            store.create_table("t")
            store.upsert("t", "k", 1).get(5)
            store.search("t", "k").get(5)
        assert metrics.otel is not None
        assert not metrics.recording and metrics._instruments is None
        print("ok")
        """,
        tmp_path,
    )
    assert done.stdout.strip() == "ok", done.stderr


def test_a_provider_set_after_the_store_opened_is_seen_by_the_next_groups(
    tmp_path: Path,
) -> None:
    done = _run_child(
        """
        import sys
        import actorstore
        import actorstore._metrics as metrics
        from opentelemetry import metrics as otel
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader

        with actorstore.open_store(sys.argv[1]) as store:
            store.create_table("t")
            store.upsert("t", "k", 1).get(5)
            assert not metrics.recording
            reader = InMemoryMetricReader()
            otel.set_meter_provider(MeterProvider(metric_readers=[reader]))
            metrics.POLL_INTERVAL = 0.0  # the next group looks
            store.upsert("t", "k", 2).get(5)
            assert metrics.recording
            store.upsert("t", "k", 3).get(5)
        names = {
            m.name
            for r in reader.get_metrics_data().resource_metrics
            for s in r.scope_metrics
            for m in s.metrics
        }
        assert "db.client.operation.duration" in names, names
        print("ok")
        """,
        tmp_path,
    )
    assert done.stdout.strip() == "ok", done.stderr
