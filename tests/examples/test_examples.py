"""Every example program runs on a real store and prints what it should."""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def exact(*lines: str) -> list[str]:
    """Return patterns matching each of `lines` exactly, as a whole line."""
    return [re.escape(line) for line in lines]


def styles_lines(style: str, *, reports_exists: bool) -> list[str]:
    removed = f"{style}: removed norma" + ("; exists: False" if reports_exists else "")
    return exact(
        f"{style}: wrote norma",
        f"{style}: updated norma",
        f"{style}: read {{'name': 'Norma', 'age': 32}}",
        removed,
        f"{style}: closed: True",
    )


SECONDS = r"\d+\.\d{3} s"

# Each example, and patterns that must each match a whole line of its output.
EXPECTED: dict[str, list[str]] = {
    "three_styles": [
        *styles_lines("futures", reports_exists=True),
        *styles_lines("callbacks", reports_exists=False),
        *styles_lines("async", reports_exists=True),
    ],
    "async_ops": [
        *(rf"Id \d+ got record: key{i} : value{i}" for i in range(15)),
        *exact(
            "Searched for 15 keys",
            "outstanding: 20 of ops_max=20",
            "one more op with wait=False is refused: OpsMaxExceededError",
            "released: 15 queued exists() true",
            "closed: True",
        ),
    ],
    "file_updates": [
        *exact("wrote 1000 JSON lines to a temporary file"),
        rf"synchronous loop: 1000 records in {SECONDS}",
        rf"window of 64: 1000 records in {SECONDS}",
        rf"callbacks \+ flush: 1000 records in {SECONDS} \(1000 callbacks, 0 errors\)",
        *exact(
            "sample: {'id': 'user00042', 'name': 'User 42', 'visits': 0}",
            "temporary file removed: True",
        ),
    ],
    "retry_dead_letter": [
        *exact("backoff after attempts 1, 2, 3: [0.01, 0.02, 0.04]"),
        r"  order-1: attempt 3 failed at +[\d.]+ ms: StoreBusyError",
        r"  order-1: audited at +[\d.]+ ms, committed",
        r".*actorstore\._executor: op \d+: attempt 1 failed; retry in 0\.010 s",
        r".*actorstore\._executor: op \d+: attempt 3 failed; retry in 0\.040 s",
        *exact("order-1 written: {'qty': 1}"),
        r"  order-2: attempt 4 failed at +[\d.]+ ms: StoreBusyError",
        *exact("  order-2: giving up after 4 attempts"),
        r".*op \d+ upsert on table orders dead-lettered after 4 attempts.*",
        r"order-2 failed: RetriesExhaustedError: gave up after 4 attempts: "
        r"StoreBusyError: .*",
        *exact("order-2 exists: False"),
        r"dead letter \d+: upsert orders/order-2 = \{'qty': 2\}, 4 attempts, "
        r"last error StoreBusyError",
        r"replayed: \{\d+: True\}",
        *exact(
            "order-2 written: {'qty': 2}",
            "dead letters left: []",
            "service calls: 8",
        ),
    ],
    "staged_flow": exact(
        "  update1Prepare: read alice",
        "  update3Commit: write alice = {'balance': 125, 'version': 1}",
        "flow result: alice balance 125 (version 1)",
        "  update2Compose attempt 1: service busy (transient)",
        "  update2Compose attempt 2: service busy (transient)",
        "  update2Compose attempt 3: ok",
        "flow result: alice balance 135 (version 2)",
        "compose ran 3 times",
        "alice: {'balance': 135, 'version': 2}",
        "journal alice:000001: {'account': 'alice', 'amount': 25, 'balance': 125}",
        "journal alice:000002: {'account': 'alice', 'amount': 10, 'balance': 135}",
        "dead letters: []",
    ),
    "actor_app": [
        *exact(
            "finished with 1 error(s)",
            "search 'dune': {'title': 'Dune', 'year': 1965}",
            "search 'emma': {'title': 'Emma', 'year': 1815}",
            "search 'ubik': {'title': 'Ubik', 'year': 1969}",
        ),
        r"search 'nope' \(op \d+\) failed: NotFoundError",
        *exact("records in store: 3", "actors alive: False", "store closed: True"),
    ],
    "concurrent_asyncio": [
        rf"gather: 2000 upserts awaited together in {SECONDS}",
        rf"batch: 2000 writes in one transaction in {SECONDS}",
        rf"loop: 2000 single writes awaited one by one in {SECONDS}",
        r"the batch took \d+% of the loop's time",
        *exact(
            "batched and looped tables hold the same records: True",
            "event loop stayed responsive: True",
            "closed: True",
        ),
    ],
    "multiprocess": [
        *exact(*(f"writer-{n} exited with code 0" for n in range(4))),
        *exact("parent sees 1000 records from 4 processes"),
        *exact(*(f"  writer-{n}: 250 keys" for n in range(4))),
        *exact("all keys present: True"),
    ],
}


def run_example(name: str, store_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py"), str(store_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
    )


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_runs_and_reports(name: str, tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    result = run_example(name, store_dir)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    missing = [
        pattern
        for pattern in EXPECTED[name]
        if not any(re.fullmatch(pattern, line) for line in lines)
    ]
    assert not missing, f"lines not printed: {missing}\n--- stdout:\n{result.stdout}"
    # The store really lives in the directory given on the command line.
    assert (store_dir / "tables").is_dir(), sorted(p.name for p in store_dir.iterdir())


def test_every_example_is_tested() -> None:
    names = {path.stem for path in EXAMPLES.glob("*.py")} - {"quickstart", "cluster"}
    assert names == set(EXPECTED)


@pytest.mark.skipif(
    importlib.util.find_spec("ray") is None,
    reason="ray is not installed; pip install -e '.[cluster]' to run the cluster "
    "example",
)
def test_the_cluster_example_loses_a_node_and_gets_it_back() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "cluster.py")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    for pattern in [
        re.escape("placement: {'orders': 'a', 'stock': 'b'}"),
        re.escape("orders: 1000, widget stock: 7"),
        "node a killed",
        re.escape("node b still serves: widget stock 7"),
        re.escape("node a back (a new node, the same label)"),
        r"the write to a waited \d+\.\d s and landed",
        "orders after the restart: 1001",
        "closed",
    ]:
        assert any(re.fullmatch(pattern, line) for line in lines), (
            f"not printed: {pattern}\n--- stdout:\n{result.stdout}"
        )


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_docstring_says_what_and_how(name: str) -> None:
    source = (EXAMPLES / f"{name}.py").read_text()
    docstring = ast.get_docstring(ast.parse(source))
    assert docstring is not None
    assert f"Usage: python examples/{name}.py [STORE_DIR]" in docstring
