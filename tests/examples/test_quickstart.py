"""The quickstart example runs on a real store and says what it did."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quickstart_runs_and_reports(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py"), str(tmp_path / "s")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "read: {'name': 'Norma', 'age': 32}" in out
    assert "callback: {'name': 'Norma', 'age': 32}" in out
    assert "await: {'name': 'Norma', 'age': 32}" in out
    assert "insert refused: table 'users': key 'norma' already exists" in out
    assert "1000 durable upserts" in out
    assert "exists after remove: False" in out
    assert "records: 1000" in out
    assert "closed: True" in out
