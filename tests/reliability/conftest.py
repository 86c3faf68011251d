"""Fixtures of the reliability tests: real stores, real processes, real threads."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
"""The repository root: children import `actors`, `storage`, `retry` from it."""

WAIT = 10.0
"""Seconds a test waits for something that signals; far above what it takes."""


class Child:
    """A child Python process running `code`, its stdout read line by line.

    Lines are read from the raw pipe with a deadline (select), so a child that
    dies or hangs fails the test instead of blocking it.
    """

    def __init__(self, code: str, *args: str, stderr_path: Path) -> None:
        env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
        self.stderr_path = stderr_path
        self._stderr = stderr_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code, *args],
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
            cwd=str(stderr_path.parent),
        )
        assert self.proc.stdout is not None
        self._fd = self.proc.stdout.fileno()
        self._buffer = b""
        self._eof = False

    def readline(self, timeout: float = WAIT) -> str | None:
        """Return the next complete line (without newline), or None at EOF.

        Raises:
            TimeoutError: if no complete line arrives within `timeout` seconds.
        """
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            if self._eof:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"child wrote no line in {timeout} s{self.why()}")
            ready, _, _ = select.select([self._fd], [], [], left)
            if ready:
                chunk = os.read(self._fd, 65536)
                if chunk:
                    self._buffer += chunk
                else:
                    self._eof = True
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode()

    def expect(self, wanted: str, timeout: float = WAIT) -> None:
        """Read lines until one equals `wanted`; fail if the child ends first."""
        while True:
            line = self.readline(timeout)
            assert line is not None, f"child ended before {wanted!r}{self.why()}"
            if line == wanted:
                return

    def kill(self) -> int:
        """SIGKILL the child and reap it; return its return code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        return self.proc.wait(timeout=WAIT)

    def why(self) -> str:
        """Return the child's stderr so far, for assertion messages."""
        self._stderr.flush()
        text = self.stderr_path.read_text(errors="replace").strip()
        return f"; child stderr:\n{text}" if text else ""

    def close(self) -> None:
        """Kill the child if it still runs and release its pipes."""
        if self.proc.poll() is None:
            self.kill()
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        self._stderr.close()


@pytest.fixture
def spawn_child(tmp_path: Path) -> Iterator[Callable[..., Child]]:
    """Return `spawn_child(code, *args)`: start `python -c code args...`.

    The child runs with `PYTHONPATH` set to the repository root and `tmp_path`
    as its working directory; every child is killed and reaped in teardown.
    """
    children: list[Child] = []

    def spawn_child(code: str, *args: str) -> Child:
        child = Child(code, *args, stderr_path=tmp_path / f"child{len(children)}.err")
        children.append(child)
        return child

    yield spawn_child
    for child in children:
        child.close()
