"""Rendezvous hashing: deterministic, balanced, few tables move when labels change."""

from __future__ import annotations

from collections import Counter

import pytest

from actorstore.cluster._placement import rendezvous_label, rendezvous_weight
from actorstore.storage import InvalidOptionError

TABLES = [f"table-{i}" for i in range(3000)]


def test_the_same_table_and_labels_give_the_same_label_in_any_order() -> None:
    assert rendezvous_label("users", ["a", "b", "c"]) == rendezvous_label(
        "users", ("c", "a", "b", "a")
    )


def test_weights_are_pinned_across_processes_and_versions() -> None:
    # Not hash(), which is salted per process: every client must agree, and a
    # changed hash would move every table a new client places.
    assert rendezvous_weight("a", "users") == 0xE178269CD7797A35
    labels = ["a", "b", "c"]
    assert [rendezvous_label(t, labels) for t in ("users", "orders", "t1")] == [
        "a",
        "b",
        "c",
    ]


def test_tables_spread_evenly_over_labels() -> None:
    counts = Counter(rendezvous_label(t, ["a", "b", "c"]) for t in TABLES)
    assert set(counts) == {"a", "b", "c"}
    assert all(900 <= n <= 1100 for n in counts.values()), counts


def test_adding_a_label_moves_only_the_tables_it_wins() -> None:
    before = {t: rendezvous_label(t, ["a", "b"]) for t in TABLES}
    after = {t: rendezvous_label(t, ["a", "b", "c"]) for t in TABLES}
    moved = {t for t in TABLES if before[t] != after[t]}
    assert all(after[t] == "c" for t in moved)
    assert 800 <= len(moved) <= 1200  # about a third


def test_removing_a_label_moves_only_its_own_tables() -> None:
    before = {t: rendezvous_label(t, ["a", "b", "c"]) for t in TABLES}
    after = {t: rendezvous_label(t, ["a", "b"]) for t in TABLES}
    assert {t for t in TABLES if before[t] != after[t]} == {
        t for t in TABLES if before[t] == "c"
    }


@pytest.mark.parametrize("labels", [[], ["a", "b/c"], [""], ["-a"]])
def test_no_labels_or_a_bad_label_is_refused(labels: list[str]) -> None:
    with pytest.raises(InvalidOptionError, match=r"label|no node"):
        rendezvous_label("users", labels)
