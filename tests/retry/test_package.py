"""The retry package and its tests stand alone: no pykka, nothing above `retry`.

DESIGN.md: `retry` talks to its host through `retry.RetryHost`, "so its tests
run without pykka". These checks keep that true for the package and for
every test module here, conftest included.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
ALLOWED = {"retry", "storage"}
"""The project packages the retry package and its tests may import."""

PROBE = """
import importlib, importlib.machinery, importlib.util, json, pkgutil, sys
import retry

names = ["retry"] + [f"retry.{m.name}" for m in pkgutil.iter_modules(retry.__path__)]
# The test modules, as a package of their own (for `from .conftest import`).
spec = importlib.machinery.ModuleSpec("retry_tests", None, is_package=True)
package = importlib.util.module_from_spec(spec)
package.__path__ = [sys.argv[1]]
sys.modules["retry_tests"] = package
names += [f"retry_tests.{name}" for name in sys.argv[2:]]
for name in names:
    importlib.import_module(name)
print(json.dumps({"imported": names, "modules": sorted(sys.modules)}))
"""


def project_packages() -> set[str]:
    """Return the names of the project's top-level packages."""
    return {path.parent.name for path in ROOT.glob("*/__init__.py")}


def test_project_packages_are_found() -> None:
    assert project_packages() > ALLOWED


def test_importing_retry_and_its_tests_loads_no_pykka_and_nothing_above() -> None:
    tests = sorted(path.stem for path in HERE.glob("*.py"))
    assert "conftest" in tests
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, str(HERE), *tests],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr
    found = json.loads(probe.stdout)
    assert "retry.flows" in found["imported"]
    assert "retry_tests.test_flows" in found["imported"]
    modules = set(found["modules"])
    assert "pykka" not in modules
    loaded = {name.split(".")[0] for name in modules} & project_packages()
    assert loaded == ALLOWED


def test_no_test_module_here_imports_a_package_above_retry() -> None:
    # Also catches imports inside functions, which the probe never runs.
    above = project_packages() - ALLOWED
    for path in sorted(HERE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top not in above | {"pykka"}, f"{path.name} imports {name}"
