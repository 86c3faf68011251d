"""A table open in several processes: compaction refuses while another holds it.

The other process is a real child (`python -c`), driven line by line over
its stdin and stdout, so each step waits on what the child says it did.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from actorstore.storage import StoreDirectory, TableBusyError

REPO_ROOT = Path(__file__).resolve().parents[2]
WAIT = 30.0
"""Seconds to wait for a child's answer; far above what it takes."""

HOLDER = """
import sys
from actorstore.storage import StoreDirectory
store = StoreDirectory(sys.argv[1])
session = store.session("t")
session.count()
print("open", flush=True)
for line in sys.stdin:
    command, _, arg = line.strip().partition(" ")
    if command == "write":
        first, count = map(int, arg.split())
        for i in range(first, first + count):
            session.upsert(f"k{i:05d}", {"i": i, "pad": "y" * 200})
        print("wrote", flush=True)
    elif command == "close":
        store.close()
        print("closed", flush=True)
        break
"""


class Talk:
    """A child process that reads commands on stdin and answers on stdout."""

    def __init__(self, code: str, *args: str, cwd: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)),
            cwd=cwd,
        )
        self._buffer = b""

    def send(self, line: str) -> None:
        """Write one command line to the child."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def expect(self, wanted: str) -> None:
        """Wait (bounded) for the child to print `wanted`; fail if it ends first."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + WAIT
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([fd], [], [], max(left, 0))
            assert ready, f"child said nothing for {WAIT} s; wanted {wanted!r}"
            chunk = os.read(fd, 65536)
            assert chunk, f"child ended before {wanted!r}: {self.stderr()}"
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        assert line.decode().strip() == wanted, self.stderr()

    def stderr(self) -> str:
        """Return the child's stderr, once it has ended."""
        if self.proc.poll() is None:
            return "(still running)"
        assert self.proc.stderr is not None
        return self.proc.stderr.read().decode(errors="replace")

    def close(self) -> None:
        """Kill the child if it still runs; reap it."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(WAIT)
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()


@pytest.fixture
def talk(tmp_path: Path) -> Iterator[type[Talk]]:
    """Return a `Talk` factory whose children are killed in teardown."""
    started: list[Talk] = []

    class Started(Talk):
        def __init__(self, code: str, *args: str) -> None:
            super().__init__(code, *args, cwd=tmp_path)
            started.append(self)

    yield Started
    for child in started:
        child.close()


def fill(path: Path) -> None:
    """Create table `t` with records to remove, so compaction has work to do."""
    with StoreDirectory(path) as store:
        store.create_table("t")
        session = store.session("t")
        session.batch([("upsert", f"old{i:05d}", "x" * 500) for i in range(2000)])
        session.batch([("remove", f"old{i:05d}") for i in range(0, 2000, 2)])


@pytest.mark.timeout(120)
def test_compaction_refuses_while_another_process_has_the_table_open(
    talk: type[Talk], store_path: Path
) -> None:
    fill(store_path)
    holder = talk(HOLDER, str(store_path))
    holder.expect("open")
    with StoreDirectory(store_path) as store:
        session = store.session("t")
        pid = holder.proc.pid
        with pytest.raises(
            TableBusyError,
            match=rf"table 't' is open in another process \(pid {pid}\); close it "
            r"there, or compact from that process",
        ) as info:
            session.compact()
        assert (info.value.table, info.value.pid) == ("t", pid)
        # The refusal left this process's table working.
        session.upsert("mine", 1)
        holder.send("write 0 300")
        holder.expect("wrote")
        assert session.count() == 1000 + 1 + 300
    holder.send("write 300 300")
    holder.expect("wrote")
    holder.send("close")
    holder.expect("closed")
    with StoreDirectory(store_path) as store:
        session = store.session("t")
        assert session.count() == 1000 + 1 + 600
        assert session.search("k00599") == {"i": 599, "pad": "y" * 200}
        assert session.search("mine") == 1
        # Alone now, compaction runs.
        assert session.compact() > 0
        assert session.count() == 1601


@pytest.mark.timeout(120)
def test_a_process_that_closed_the_table_no_longer_blocks_compaction(
    talk: type[Talk], store_path: Path
) -> None:
    fill(store_path)
    holder = talk(HOLDER, str(store_path))
    holder.expect("open")
    holder.send("close")
    holder.expect("closed")
    with StoreDirectory(store_path) as store:
        assert store.session("t").compact() > 0


@pytest.mark.timeout(120)
def test_a_killed_holder_no_longer_blocks_compaction(
    talk: type[Talk], store_path: Path
) -> None:
    fill(store_path)
    holder = talk(HOLDER, str(store_path))
    holder.expect("open")
    holder.close()
    assert holder.proc.returncode == -9
    with StoreDirectory(store_path) as store:
        assert store.session("t").compact() > 0
