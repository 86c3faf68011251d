"""The benchmark runs at tiny sizes and reports every figure; no timing asserts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from actors.bench import format_report, run_bench
from actors.cli import main


def test_run_bench_reports_every_workload_and_ratio(tmp_path: Path) -> None:
    result = run_bench(
        ops=1000, sync_ops=5, path=str(tmp_path), memory_ops=200, in_flight=50
    )
    expected = {
        "raw_put_txn_per_op",
        "raw_put_fsync_per_op",
        "raw_get_txn_per_op",
        "raw_put_1000_per_txn",
        "actor_put_pipelined",
        "actor_get_pipelined",
        "store_none_upsert_pipelined",
        "store_sync_upsert_1_in_flight",
        "store_sync_upsert_8_in_flight",
        "store_sync_upsert_64_in_flight",
        "store_sync_upsert_512_in_flight",
        "store_search_pipelined",
        "store_batch_1000",
        "store_none_upsert_1_tables",
        "store_none_upsert_2_tables",
        "store_none_upsert_4_tables",
    }
    assert set(result.throughput) == expected
    assert all(value > 0 for value in result.throughput.values())
    assert set(result.latency) == {
        "store_round_trip_p50",
        "store_round_trip_p99",
        "actor_ask_p50",
    }
    assert len(result.ratios) == 9
    assert set(result.memory) == {
        "rss_after_first_tenth",
        "rss_after_all",
        "rss_growth",
        "bytes_per_in_flight_op",
    }
    report = format_report(result)
    assert "ratios and limits (target):" in report
    assert "none_upsert_vs_raw_put (>= 0.40)" in report


def test_bench_command_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["bench", "--ops", "1000", "--sync-ops", "5", "--dir", str(tmp_path), "--json"]
    )
    figures = json.loads(capsys.readouterr().out)
    assert code == 0
    assert set(figures) == {"ops", "throughput", "latency", "ratios", "memory"}
    assert figures["ops"] == 1000


def test_bench_plot_writes_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from actors.bench import plot

    result = run_bench(
        ops=1000, sync_ops=5, path=str(tmp_path), memory_ops=200, in_flight=50
    )
    target = tmp_path / "bench.png"
    plot(result, str(target))
    assert target.read_bytes().startswith(b"\x89PNG")
