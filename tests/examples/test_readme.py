"""Every Python snippet in README.md runs as written, alone, in a fresh directory.

Each snippet is complete with its imports (`import actorstore` is all it
needs), so a reader can paste any one of them into a file and run it. The
snippets run against the installed package, with nothing of the repository
on the path.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def readme_snippets() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def run_snippet(code: str, where: Path) -> subprocess.CompletedProcess[str]:
    """Run `code` in `where` with the installed package and no project paths."""
    where.mkdir()
    return subprocess.run(
        [sys.executable, "-I", "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=where,
        env={"PATH": "/usr/bin:/bin"},
        check=False,
    )


def test_readme_has_snippets() -> None:
    assert len(readme_snippets()) >= 4


@pytest.mark.parametrize("index", range(len(readme_snippets())))
def test_each_readme_snippet_runs_alone(index: int, tmp_path: Path) -> None:
    snippet = readme_snippets()[index]
    assert re.search(r"^import actorstore$", snippet, re.M), "it must import actorstore"
    result = run_snippet(snippet, tmp_path / "alone")
    assert result.returncode == 0, result.stderr


def test_the_tour_and_the_flow_print_what_their_comments_say(tmp_path: Path) -> None:
    printed = "".join(
        run_snippet(snippet, tmp_path / f"s{i}").stdout
        for i, snippet in enumerate(readme_snippets())
    )
    assert "already exists" in printed
    assert "{'n': 2}" in printed


def test_the_snippets_import_only_actorstore() -> None:
    for snippet in readme_snippets():
        for line in re.findall(r"^\s*(?:import|from) .*$", snippet, re.M):
            assert "actorstore" in line or line.strip() == "import asyncio", line


def test_the_asyncio_snippets_never_hold_their_loop_past_asyncio_s_warning(
    tmp_path: Path,
) -> None:
    """In debug mode (`python -X dev`) asyncio logs "Executing <Task ...> took
    0.954 seconds" for a callback that holds the loop past 0.1 s: submitting
    and gathering the snippet's 5,000 upserts must not."""
    snippets = [s for s in readme_snippets() if "asyncio.gather" in s]
    assert snippets
    for index, snippet in enumerate(snippets):
        where = tmp_path / f"dev{index}"
        where.mkdir()
        result = subprocess.run(
            [sys.executable, "-I", "-X", "dev", "-c", snippet],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=where,
            env={"PATH": "/usr/bin:/bin"},
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert not re.search(r"Executing .* took [\d.]+ seconds", result.stderr), (
            result.stderr
        )
