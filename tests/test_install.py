"""The built wheel installs as one package, `actorstore`, beside PyPI's namesakes.

PyPI has packages named `retry`, `storage` and `actors`; `retry` is common in
real environments. The wheel must install nothing at those top-level names,
so installing or uninstalling actorstore never touches another
distribution's files, and a user's `mypy --strict` finds the package and its
types (`py.typed`).
"""

from __future__ import annotations

import base64
import hashlib
import site as site_module
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.timeout(300)

NAMESAKE = '''"""A stand-in for PyPI's `retry` decorator library."""


def retry(*args, **kwargs):
    """Return a decorator, as the real package's `retry` does."""
    return lambda fn: fn
'''

USER_SCRIPT = """import actorstore
from actorstore.cluster import connect_store


def main(path: str) -> int:
    with actorstore.open_store(path) as store:
        store.create_table("t", exist_ok=True)
        future: actorstore.OpFuture[int] = store.count("t")
        return future.get(timeout=5)


print(main, connect_store)
"""


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return f"{name},sha256={digest.decode()},{len(data)}"


def make_namesake_wheel(where: Path) -> Path:
    """Write a wheel of a distribution named `retry` with a top-level `retry`."""
    files = {
        "retry/__init__.py": NAMESAKE.encode(),
        "retry-0.9.2.dist-info/METADATA": (
            b"Metadata-Version: 2.1\nName: retry\nVersion: 0.9.2\n"
        ),
        "retry-0.9.2.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\n"
            b"Tag: py3-none-any\n"
        ),
    }
    record = [_record_line(name, data) for name, data in files.items()]
    record.append("retry-0.9.2.dist-info/RECORD,,")
    files["retry-0.9.2.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = where / "retry-0.9.2-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return wheel


def run(*command: str | Path, cwd: Path | None = None) -> str:
    result = subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=cwd,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv holding the namesake `retry` and the actorstore wheel.

    actorstore's own dependencies come from this interpreter's site-packages
    (a path file), so nothing is downloaded but what building the wheel needs.
    """
    where = tmp_path_factory.mktemp("install")
    source = where / "source"
    run("git", "clone", "--quiet", "--no-hardlinks", ROOT, source)
    run("git", "-C", source, "checkout", "--quiet", "--detach")
    # Build from the work tree as it is (uncommitted changes included).
    for path in ("pyproject.toml", "README.md"):
        (source / path).write_bytes((ROOT / path).read_bytes())
    for folder in ("actors", "storage", "retry"):
        run("rm", "-rf", source / folder)
        run("cp", "-r", ROOT / folder, source / folder)
    dist = where / "dist"
    run(
        sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", dist, source
    )
    env = where / "venv"
    run(sys.executable, "-m", "venv", env)
    python = env / "bin" / "python"
    site = Path(
        run(
            python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"
        ).strip()
    )
    (site / "outer.pth").write_text("\n".join(site_module.getsitepackages()) + "\n")
    run(
        python,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-deps",
        make_namesake_wheel(where),
    )
    before = (site / "retry" / "__init__.py").read_bytes()
    run(
        python,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-deps",
        *dist.glob("actorstore-*.whl"),
    )
    assert (site / "retry" / "__init__.py").read_bytes() == before
    return env


def site_packages(env: Path) -> Path:
    python = env / "bin" / "python"
    return Path(
        run(
            python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"
        ).strip()
    )


def test_the_wheel_installs_one_package_beside_the_namesake(venv: Path) -> None:
    site = site_packages(venv)
    assert (site / "actorstore" / "py.typed").exists()
    assert (site / "actorstore" / "storage" / "py.typed").exists()
    assert (site / "actorstore" / "retry" / "py.typed").exists()
    assert not (site / "actors").exists()
    assert not (site / "storage").exists()
    out = run(
        venv / "bin" / "python",
        "-I",
        "-c",
        "import retry, actorstore, actorstore.retry;"
        "print(retry.retry(1)(len) is len, actorstore.RetryPolicy.__module__,"
        " actorstore.__file__)",
    )
    namesake, module, path = out.split()
    assert namesake == "True"
    assert module == "actorstore.retry.policy"
    assert path.startswith(str(site))


def test_a_user_script_type_checks_under_strict_mypy(
    venv: Path, tmp_path: Path
) -> None:
    script = tmp_path / "app.py"
    script.write_text(USER_SCRIPT)
    run(
        sys.executable,
        "-m",
        "mypy",
        "--strict",
        "--no-incremental",
        "--python-executable",
        venv / "bin" / "python",
        script,
        cwd=tmp_path,
    )


def test_python_dash_m_and_the_command_run(venv: Path, tmp_path: Path) -> None:
    assert "usage" in run(venv / "bin" / "python", "-I", "-m", "actorstore", "--help")
    assert "usage" in run(venv / "bin" / "actorstore", "--help")


def test_uninstalling_leaves_the_namesake_whole(venv: Path) -> None:
    # Last in this module: it uninstalls what the others use.
    python = venv / "bin" / "python"
    run(python, "-m", "pip", "uninstall", "--quiet", "--yes", "actorstore")
    out = run(python, "-I", "-c", "import retry; print(retry.retry(1)(len) is len)")
    assert out.strip() == "True"
    assert not (site_packages(venv) / "actorstore").exists()
