"""Fixtures shared by every test package: real stores that never outlive a test."""

from __future__ import annotations

import shutil
import subprocess
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import actorstore
from actorstore import OpTimeoutError, Store
from actorstore.storage import StoreClosedError

CLOSE_WAIT = 2.0
"""Seconds teardown lets a store close before failing the ops that never ended."""


@pytest.fixture
def mount_tmpfs(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """Return `mount_tmpfs(size)`: mount a tmpfs of `size` (say "4m") in `tmp_path`.

    For full-disk tests (run what could crash the interpreter in a child).
    Skips the test where mounting is not allowed; unmounts in teardown.
    """
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        point = tmp_path / f"disk{len(mounted)}"
        point.mkdir()
        if shutil.which("mount") is None:
            pytest.skip("no mount command here")
        try:
            done = subprocess.run(
                ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            pytest.skip(f"cannot mount a tmpfs here: {exc}")
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(point)
        return point

    yield mount
    for point in reversed(mounted):
        if subprocess.run(["umount", str(point)], check=False, timeout=30).returncode:
            subprocess.run(["umount", "-l", str(point)], check=False, timeout=30)


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    """Return where the store lives: a directory inside `tmp_path`."""
    return tmp_path / "store"


@pytest.fixture
def make_store(store_path: Path) -> Iterator[Callable[..., Store]]:
    """Return `make_store(path=None, **options)`: open a store (at `store_path`).

    Every store it opened is closed in teardown (closing twice is safe), so a
    test may close and reopen the same directory.
    """
    opened: list[Store] = []

    def make_store(path: Path | None = None, **options: Any) -> Store:
        store = actorstore.open_store(path or store_path, **options)
        opened.append(store)
        return store

    yield make_store
    for store in reversed(opened):
        close_or_abandon(store)


def close_or_abandon(store: Store) -> None:
    """Close `store`; if ops never end (a bug a test reports), fail them first.

    Otherwise a hung op would hold close() here and again at exit (atexit).
    """
    try:
        store.close(timeout=CLOSE_WAIT)
    except OpTimeoutError:
        stuck = store._inflight.snapshot()
        for op in stuck:
            store._executor.complete(op, None, StoreClosedError("store"))
        store.close(timeout=CLOSE_WAIT)
        warnings.warn(
            f"{store!r} could not close: {len(stuck)} ops never ended; "
            "failed them in teardown",
            stacklevel=1,
        )
