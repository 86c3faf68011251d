"""Peers: sqlite3 always runs; a peer that does not import is skipped, not fatal."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from actorstore.bench import PEERS, format_report, measure_peers
from actorstore.bench.peers import Sqlite3Peer

from .conftest import ROWS, TINY, synthetic_result

OPTIONAL = {"rocksdb": "rocksdict", "diskcache": "diskcache", "aiosqlite": "aiosqlite"}


def test_peers_that_do_not_import_are_reported_not_installed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for module in OPTIONAL.values():
        monkeypatch.setitem(sys.modules, module, None)  # import raises ImportError

    throughput, missing = measure_peers(TINY, str(tmp_path))

    assert missing == dict.fromkeys(OPTIONAL, "not installed")
    assert set(throughput) == {"sqlite3"}
    assert set(throughput["sqlite3"]) == set(ROWS)
    assert all(value > 0 for value in throughput["sqlite3"].values())


def test_the_table_shows_a_dash_for_a_missing_peer() -> None:
    report = format_report(synthetic_result(store_factor=20))

    header = next(line for line in report.splitlines() if line.startswith("| ops/s"))
    assert "RocksDB" in header
    write_row = next(line for line in report.splitlines() if "write (not" in line)
    assert "\N{EN DASH}" in write_row
    assert "\N{EN DASH} RocksDB: not installed" in report


def test_sqlite3_is_always_available() -> None:
    assert Sqlite3Peer().missing() is None
    assert [peer.name for peer in PEERS] == [
        "rocksdb",
        "sqlite3",
        "diskcache",
        "aiosqlite",
    ]


@pytest.mark.parametrize("name", sorted(OPTIONAL))
def test_each_installed_peer_measures_every_row(name: str, tmp_path: Path) -> None:
    peer = next(peer for peer in PEERS if peer.name == name)
    if peer.missing() is not None:
        pytest.skip(f"{OPTIONAL[name]} is not installed")

    figures = peer.measure(TINY, str(tmp_path))

    assert set(figures) == set(ROWS)
    assert all(value > 0 for value in figures.values())
