"""The shape of the code: no import cycles, imports point down, pinned public names."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("storage", "retry", "actors")
"""The layers, bottom up: each folder of the repository that installs."""
PACKAGE_OF = {
    "storage": "actorstore.storage",
    "retry": "actorstore.retry",
    "actors": "actorstore",
}
"""The import name each folder installs as (pyproject's package-dir)."""
PACKAGES = tuple(PACKAGE_OF[folder] for folder in FOLDERS)


def _layer(module: str) -> int:
    """Return 0 for the storage layer, 1 for retry, 2 for actors."""
    for index, folder in enumerate(FOLDERS[:2]):
        package = PACKAGE_OF[folder]
        if module == package or module.startswith(package + "."):
            return index
    return 2


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([PACKAGE_OF[parts[0]], *parts[1:]])


def _modules() -> dict[str, Path]:
    return {
        _module_name(path): path
        for folder in FOLDERS
        for path in sorted((ROOT / folder).rglob("*.py"))
    }


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Every project module `name` imports, `TYPE_CHECKING` blocks and function
    bodies included; a name imported from a package counts as its module when
    it is one."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets = [f"{node.module}.{alias.name}" for alias in node.names]
            targets.append(node.module)
        else:
            continue
        for target in targets:
            if target in known and target != name:
                found.add(target)
    # A package's __init__ re-exports: importing from it depends on it alone.
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def test_no_two_modules_import_each_other_not_even_for_type_checking() -> None:
    graph = _graph()
    # Packages' __init__ modules import their own modules by design; a module
    # importing its own package's __init__ would close a loop through it.
    cycles: list[list[str]] = []
    visiting: list[str] = []
    done: set[str] = set()

    def visit(module: str) -> None:
        if module in visiting:
            cycles.append([*visiting[visiting.index(module) :], module])
            return
        if module in done:
            return
        visiting.append(module)
        for target in sorted(graph[module]):
            visit(target)
        visiting.pop()
        done.add(module)

    for module in sorted(graph):
        visit(module)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_imports_point_down_storage_then_retry_then_actors() -> None:
    upward = [
        f"{module} imports {target}"
        for module, targets in _graph().items()
        for target in targets
        if _layer(target) > _layer(module)
    ]
    assert not upward


def test_only_the_cluster_imports_ray_and_nothing_imports_the_bench_eagerly() -> None:
    for name, path in _modules().items():
        tree = ast.parse(path.read_text())
        top_level = [
            node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)
        ]
        imported = {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        } | {
            node.module.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module
        }
        if not name.startswith("actorstore.cluster"):
            assert "ray" not in imported, f"{name} imports ray"
        if not name.startswith("actorstore.bench"):
            eager = {
                node.module
                for node in top_level
                if isinstance(node, ast.ImportFrom) and node.module
            }
            assert not any(m.startswith("actorstore.bench") for m in eager), name


PUBLIC_NAMES = {
    "actorstore.storage": [
        "CheckResult",
        "Durability",
        "InvalidTableNameError",
        "KeyExistsError",
        "LmdbError",
        "NotFoundError",
        "OpType",
        "StoreClosedError",
        "StoreDirectory",
        "StoreError",
        "StoreFullError",
        "TableInfo",
        "TransientError",
        "register_codec",
    ],
    "actorstore.retry": [
        "AsyncCallback",
        "AttemptState",
        "Callback",
        "DeadLetter",
        "DeadLetterTable",
        "Flow",
        "Next",
        "RetriesExhaustedError",
        "RetryAttempt",
        "RetryCallback",
        "RetryHost",
        "RetryPolicy",
    ],
    "actorstore": [
        "BlockingCallError",
        "Durability",
        "Op",
        "OpCompleted",
        "OpFuture",
        "OpType",
        "OpsMaxExceededError",
        "Store",
        "open_store",
    ],
}


def _isort_key(name: str) -> tuple[int, str]:
    kind = 0 if name.isupper() else 1 if name[0].isupper() else 2
    return kind, name


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_exports_a_sorted_all_with_the_design_s_names(
    package: str,
) -> None:
    module = importlib.import_module(package)
    exported = module.__all__
    # ruff's RUF022 order: CONSTANTS, then Classes, then functions.
    assert exported == sorted(exported, key=_isort_key)
    assert len(set(exported)) == len(exported)
    for name in exported:
        assert hasattr(module, name), f"{package}.{name} is in __all__ but missing"
    missing = set(PUBLIC_NAMES[package]) - set(exported)
    assert not missing, f"{package} no longer exports {sorted(missing)}"


PLUMBING = {
    "actorstore.storage": [
        "BeforeCommit",
        "Catalog",
        "HasCodecs",
        "Outcome",
        "Table",
        "TableCodecs",
        "TableRequest",
        "TableSession",
        "build_request",
    ],
    "actorstore.retry": [
        "FunctionCallback",
        "as_callback",
        "give_up_error",
        "handling",
        "on_timer_thread",
        "park_then",
    ],
}
"""What only the layer above calls: it lives in private modules, imported by
module path (`from actorstore.storage._requests import build_request`)."""


@pytest.mark.parametrize("package", sorted(PLUMBING))
def test_plumbing_is_not_exported_by_its_package(package: str) -> None:
    module = importlib.import_module(package)
    exported = [name for name in PLUMBING[package] if hasattr(module, name)]
    assert not exported, f"{package} exports plumbing: {exported}"


def test_every_module_declares_its_all() -> None:
    missing = [
        name
        for name, path in _modules().items()
        if path.name != "__main__.py"
        and not any(
            isinstance(node, ast.Assign)
            and any(
                isinstance(target, ast.Name) and target.id == "__all__"
                for target in node.targets
            )
            for node in ast.parse(path.read_text()).body
        )
    ]
    assert not missing


def test_no_module_imports_another_module_s_private_name() -> None:
    """A private module (`_requests`) may be imported by path; a private name
    (`_codecs`) stays inside its module (ruff's SLF001 sees only attributes)."""
    found = [
        f"{name}: from {node.module} import {alias.name}"
        for name, path in _modules().items()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom)
        and node.module
        and node.module.startswith("actorstore")
        for alias in node.names
        if alias.name.startswith("_") and not alias.name.startswith("__")
    ]
    assert not found


def test_actors_optype_is_the_one_op_vocabulary() -> None:
    import actorstore
    from actorstore import storage

    assert actorstore.OpType is storage.OpType
    assert [t.value for t in storage.OpType] == [
        "insert",
        "update",
        "upsert",
        "remove",
        "search",
        "exists",
        "count",
        "scan",
        "batch",
        "compact",
    ]


def test_nothing_imports_a_folder_by_its_own_name() -> None:
    """The repository root is on pytest's path, so `import storage` would load
    a second copy of the layer, whose classes are not the installed ones
    (a `StoreError` of one is not caught as the other's)."""
    found = []
    for folder in ("actors", "storage", "retry", "tests", "examples"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module] if node.level == 0 else []
                else:
                    continue
                found += [
                    f"{path.relative_to(ROOT)}: {name}"
                    for name in names
                    if name.split(".")[0] in FOLDERS
                ]
    assert not found


def test_the_install_maps_each_folder_to_its_package() -> None:
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]
    mapping = config["setuptools"]["package-dir"]
    assert mapping == {package: folder for folder, package in PACKAGE_OF.items()}
    packages = set(config["setuptools"]["packages"])
    assert all(name.startswith("actorstore") for name in packages)
    for name in PACKAGES:
        module = importlib.import_module(name)
        assert module.__file__ is not None
        assert Path(module.__file__).parent.name in FOLDERS
        assert (Path(module.__file__).parent / "py.typed").exists()
