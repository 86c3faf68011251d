"""One tiny real run: every figure present and positive, ratios from the figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from actorstore.bench import (
    PEERS,
    BenchResult,
    Workload,
    format_report,
    plot,
    run_bench,
)
from actorstore.bench.targets import CLUSTER_TARGETS
from actorstore.bench.timing import medians

from .conftest import ROWS, TINY


def test_every_engine_reports_every_row(tiny_run: BenchResult) -> None:
    installed = {peer.name for peer in PEERS if peer.missing() is None}

    assert set(tiny_run.throughput) == {"actorstore", "raw-lmdb", "pykka-actor"} | (
        installed
    )
    assert "sqlite3" in installed
    for engine, figures in tiny_run.throughput.items():
        expected = set(ROWS) - ({"batch_1000"} if engine == "pykka-actor" else set())
        assert expected <= set(figures), engine
        assert all(value > 0 for value in figures.values()), engine


def test_the_store_reports_every_window_latency_and_memory(
    tiny_run: BenchResult,
) -> None:
    assert {"durable_write_w1", "durable_write_w8", "durable_write_w512"} <= set(
        tiny_run.throughput["actorstore"]
    )
    assert {engine: set(figures) for engine, figures in tiny_run.latency.items()} == {
        "actorstore": {"upsert_p50", "upsert_p99", "search_p50", "search_p99"},
        "pykka-actor": {"ask_p50", "ask_p99"},
    }
    latencies = [v for figures in tiny_run.latency.values() for v in figures.values()]
    assert all(value > 0 for value in latencies)
    assert set(tiny_run.memory) == {
        "rss_after_first_tenth",
        "rss_after_all",
        "bytes_per_in_flight_op",
    }
    assert all(value > 0 for value in tiny_run.memory.values())


def test_each_ratio_is_computed_from_the_reported_figures(
    tiny_run: BenchResult,
) -> None:
    figures = tiny_run.figures()
    checks = {check.target.name: check for check in tiny_run.checks}
    store = tiny_run.throughput["actorstore"]
    raw = tiny_run.throughput["raw-lmdb"]

    assert checks["none_upsert_vs_raw_put"].value == store["write"] / raw["write"]
    assert checks["search_vs_raw_get"].value == (
        store["point_read"] / raw["point_read"]
    )
    assert checks["round_trip_p50_vs_pykka_ask"].value == (
        figures["latency.actorstore.upsert_p50"]
        / figures["latency.pykka-actor.ask_p50"]
    )
    best_peer = max(
        tiny_run.throughput[name]["durable_write"]
        for name in ("rocksdb", "sqlite3", "diskcache", "aiosqlite")
        if name in tiny_run.throughput
    )
    assert checks["durable_write_vs_best_peer"].value == (
        store["durable_write"] / best_peer
    )
    required = [  # (the cluster's are measured with --cluster only)
        check
        for check in tiny_run.checks
        if check.target.required and check.target not in CLUSTER_TARGETS
    ]
    assert all(check.value is not None for check in required)


def test_json_carries_every_figure_and_check(tiny_run: BenchResult) -> None:
    document = json.loads(json.dumps(tiny_run.to_json()))

    assert set(document) == {
        "workload",
        "throughput",
        "latency",
        "memory",
        "asyncio",
        "peers",
        "rounds",
        "targets",
        "targets_met",
        "judged",
        "not_judged_because",
    }
    assert document["workload"]["ops"] == TINY.ops
    assert document["asyncio"] == tiny_run.asyncio
    assert document["throughput"] == tiny_run.throughput
    assert document["peers"]["run"] is True
    assert len(document["targets"]) == len(tiny_run.checks)
    target = document["targets"][0]
    assert set(target) >= {"name", "value", "condition", "required", "passed"}
    assert document["targets_met"] == (not tiny_run.missed)


def test_the_report_shows_the_engine_table_and_each_target(
    tiny_run: BenchResult,
) -> None:
    report = format_report(tiny_run)

    assert "| ops/s " in report
    for title in ("actorstore", "raw py-lmdb", "sqlite3 WAL", "hand-written pykka"):
        assert title in report
    for row in ("write (not fsynced per op)", "durable write, 64 in flight"):
        assert row in report
    assert "point read" in report
    assert "batch of 100 " in report
    assert "the median of 2 rounds, run in turns; the others: one run" in report
    for check in tiny_run.checks:
        assert check.target.description in report


def test_plot_writes_a_png(tiny_run: BenchResult, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    target = tmp_path / "bench.png"

    plot(tiny_run, str(target))

    assert target.read_bytes().startswith(b"\x89PNG")


def test_the_figures_of_the_engines_run_in_rounds_are_their_rounds_medians(
    tiny_run: BenchResult,
) -> None:
    assert len(tiny_run.rounds) == TINY.rounds == 2
    for engine, kind, figures in (
        ("actorstore", "throughput", tiny_run.throughput["actorstore"]),
        ("actorstore", "latency", tiny_run.latency["actorstore"]),
        ("raw-lmdb", "throughput", tiny_run.throughput["raw-lmdb"]),
    ):
        for name, value in figures.items():
            each = [one[engine][kind][name] for one in tiny_run.rounds]
            assert value == pytest.approx(sum(each) / 2), (engine, name)
    assert json.loads(json.dumps(tiny_run.to_json()))["rounds"] == tiny_run.rounds


def test_the_asyncio_workloads_run_beside_their_thread_forms(
    tiny_run: BenchResult,
) -> None:
    assert set(tiny_run.asyncio) == {
        "window_upsert",
        "gather_upsert",
        "window_search",
        "gather_search",
        "get_one_upsert",
        "await_one_upsert",
        "loop_stall",
        "own_gather",
    }
    assert all(value >= 0 for value in tiny_run.asyncio.values())
    assert tiny_run.asyncio["own_gather"] > 0
    checks = {check.target.name: check for check in tiny_run.checks}
    for name in (
        "asyncio_gather_upsert_vs_window",
        "asyncio_gather_search_vs_window",
        "asyncio_await_vs_get",
        "asyncio_loop_stall_vs_own_gather",
    ):
        assert checks[name].value is not None, name
    for name, value in tiny_run.asyncio.items():
        each = [one["asyncio"]["figures"][name] for one in tiny_run.rounds]
        assert value == pytest.approx(sum(each) / 2), name
    assert "asyncio against threads" in format_report(tiny_run)
    assert not tiny_run.judged  # two rounds: shown, not enforced


def test_three_rounds_run_and_leave_nothing_behind(tmp_path: Path) -> None:
    result = run_bench(TINY.replace(rounds=3), path=str(tmp_path))

    assert len(result.rounds) == 3
    assert result.to_json()["workload"]["rounds"] == 3
    assert all(value > 0 for value in result.throughput["actorstore"].values())
    assert list(tmp_path.iterdir()) == []  # the temporary directory is gone


@pytest.mark.parametrize(
    ("rounds", "expected"),
    [
        ([{"a": 3.0, "b": 1.0}], {"a": 3.0, "b": 1.0}),
        ([{"a": 3.0}, {"a": 1.0}, {"a": 2.0}], {"a": 2.0}),
        ([{"a": 4.0}, {"a": 1.0}], {"a": 2.5}),
    ],
)
def test_medians_takes_each_figure_s_median(
    rounds: list[dict[str, float]], expected: dict[str, float]
) -> None:
    assert medians(rounds) == expected


def test_medians_of_no_rounds_is_an_error() -> None:
    with pytest.raises(ValueError, match="no rounds"):
        medians([])


def test_a_workload_needs_a_round() -> None:
    with pytest.raises(ValueError, match=r"Workload\.rounds must be >= 1, not 0"):
        Workload(rounds=0)
