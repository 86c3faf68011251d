"""`actorstore bench`: flags, JSON, exit codes on missed targets (synthetic runs)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

import actorstore.bench
from actorstore.bench import BenchResult, Workload
from actorstore.cli import main

from .conftest import synthetic_result


class FakeRun:
    """Stands in for `run_bench`: records its arguments, returns a made-up result."""

    def __init__(self, result: BenchResult) -> None:
        self.result = result
        self.calls: list[tuple[Workload, dict[str, Any]]] = []

    def __call__(self, workload: Workload, **options: Any) -> BenchResult:
        self.calls.append((workload, options))
        return self.result


@pytest.fixture
def fake_run(monkeypatch: pytest.MonkeyPatch) -> FakeRun:
    fake = FakeRun(synthetic_result(store_factor=20))
    monkeypatch.setattr(actorstore.bench, "run_bench", fake)
    return fake


def test_a_run_that_meets_every_target_exits_0(
    fake_run: FakeRun, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench"]) == 0
    assert "every measured target met" in capsys.readouterr().out


def test_a_missed_target_exits_3_after_printing_the_figures(
    fake_run: FakeRun, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_run.result = synthetic_result(store_factor=0.5)

    assert main(["bench"]) == 3
    out = capsys.readouterr().out
    assert "| ops/s" in out
    assert "MISSED" in out
    assert "target(s) missed: none_upsert_vs_raw_put" in out


def test_no_targets_reports_missed_targets_but_exits_0(
    fake_run: FakeRun, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_run.result = synthetic_result(store_factor=0.5)

    assert main(["bench", "--no-targets"]) == 0
    assert "MISSED" in capsys.readouterr().out


def test_json_output_parses_and_says_which_targets_passed(
    fake_run: FakeRun, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_run.result = synthetic_result(store_factor=0.5)

    code = main(["bench", "--json"])

    document = json.loads(capsys.readouterr().out)
    assert code == 3
    assert document["targets_met"] is False
    passed = {target["name"]: target["passed"] for target in document["targets"]}
    assert passed["none_upsert_vs_raw_put"] is False
    assert passed["sync_upsert_vs_none_upsert"] is True
    assert passed["point_read_vs_rocksdb"] is None
    assert document["peers"]["missing"] == {"rocksdb": "not installed"}


def test_a_run_too_short_to_judge_shows_missed_targets_exits_0_and_says_why(
    fake_run: FakeRun, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_run.result = synthetic_result(store_factor=0.5)
    fake_run.result.workload = Workload.quick()  # one round

    assert main(["bench", "--quick"]) == 0
    out = capsys.readouterr().out
    assert "MISSED" not in out
    assert "below, not judged" in out
    assert "not judged: 1 round is too short to judge a target" in out
    assert "none_upsert_vs_raw_put" in out

    assert main(["bench", "--quick", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["judged"] is False
    assert "too short" in document["not_judged_because"]
    assert document["targets_met"] is False  # the ratios are all there


def test_flags_make_the_workload(fake_run: FakeRun) -> None:
    main(["bench", "--quick", "--ops", "2000", "--peers", "--dir", "/tmp"])
    main(["bench", "--sync-ops", "7", "--memory-ops", "50", "--rounds", "5"])

    (quick, options), (full, _) = fake_run.calls
    assert quick == Workload.quick().replace(ops=2000)
    assert quick.rounds == 1
    assert options == {"path": "/tmp", "peers": True, "cluster": False}
    assert full == Workload(sync_ops=7, memory_ops=50, rounds=5)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--ops", "999"], "--ops must be >= 1000, not 999"),
        (["--sync-ops", "0"], "--sync-ops must be >= 1, not 0"),
        (["--memory-ops", "9"], "--memory-ops must be >= 10, not 9"),
        (["--rounds", "0"], "--rounds must be >= 1, not 0"),
    ],
)
def test_bad_sizes_exit_2_with_the_flag_named(
    fake_run: FakeRun,
    capsys: pytest.CaptureFixture[str],
    flags: list[str],
    message: str,
) -> None:
    assert main(["bench", *flags]) == 2
    assert message in capsys.readouterr().err
    assert fake_run.calls == []


def test_help_says_targets_are_enforced(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["bench", "--help"])

    help_text = " ".join(capsys.readouterr().out.split())
    assert "Targets are enforced" in help_text
    assert "--no-targets" in help_text


def test_importing_the_cli_imports_no_bench_and_no_peer() -> None:
    probe = (
        "import sys, actorstore, actorstore.cli; "
        "print(sorted(m for m in sys.modules if m.startswith('actorstore.bench') "
        "or m.split('.')[0] in ('sqlite3', 'rocksdict', 'diskcache', 'aiosqlite')))"
    )

    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()

    assert loaded == "[]"
