"""The retry layer and its tests stand alone: no pykka, nothing above `retry`.

DESIGN.md: `retry` talks to its host through `RetryHost`, "so its tests run
without pykka". The layer installs as `actorstore.retry`, and importing it
runs the `actorstore` facade (a package's parent is imported first), which
loads pykka; so what these checks keep true is what the layer and its tests
themselves import, read from their source: imports inside functions count.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
ALLOWED = ("actorstore.retry", "actorstore.storage")
"""The project packages the retry layer and its tests may import."""


def imported_names(path: Path) -> list[str]:
    """Return every module name `path` imports, `from X import name` as X.name."""
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names += [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def above_retry(name: str) -> bool:
    """Say whether importing `name` reaches above the retry layer."""
    if name.split(".")[0] == "pykka":
        return True
    if name.split(".")[0] != "actorstore":
        return False
    return not any(name == p or name.startswith(p + ".") for p in ALLOWED)


def test_the_checks_see_imports() -> None:
    names = imported_names(HERE / "test_flows.py")
    assert any(name.startswith("actorstore.retry") for name in names)
    assert above_retry("actorstore.Store")
    assert above_retry("pykka.ThreadingActor")
    assert not above_retry("actorstore.retry.Flow")


def test_the_retry_layer_imports_no_pykka_and_nothing_above() -> None:
    found = [
        f"{path.name} imports {name}"
        for path in sorted((ROOT / "retry").glob("*.py"))
        for name in imported_names(path)
        if above_retry(name)
    ]
    assert not found


def test_no_test_module_here_imports_a_package_above_retry() -> None:
    found = [
        f"{path.name} imports {name}"
        for path in sorted(HERE.glob("*.py"))
        for name in imported_names(path)
        if above_retry(name)
    ]
    assert not found
