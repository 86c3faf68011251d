"""Every Python snippet in README.md runs, in order, in a fresh directory."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def readme_snippets() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def test_readme_has_snippets() -> None:
    assert len(readme_snippets()) >= 2


def test_readme_snippets_run(tmp_path: Path) -> None:
    program = "\n".join(readme_snippets())
    result = subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert "already exists" in result.stdout
    assert "{'n': 2}" in result.stdout
