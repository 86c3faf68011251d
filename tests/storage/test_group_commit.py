"""Tests for storage/_group_commit.py: many ops, one top-level transaction.

Real LMDB in a temporary directory; `run_group` called directly on a
table, as an owner calls it.
"""

from __future__ import annotations

from typing import Any

import pytest

from actorstore.storage import (
    InvalidInputError,
    KeyExistsError,
    OpVetoedError,
    StoreDirectory,
)
from actorstore.storage._group_commit import (
    remove_batch,
    reserve_size,
    run_group,
    write_limit,
)
from actorstore.storage._requests import BeforeCommit, Outcome, build_request
from actorstore.storage._table import Table

Request = tuple[Any, BeforeCommit | None]


@pytest.fixture
def table(store: StoreDirectory) -> Table:
    store.create_table("t", key_format="str", value_format="json")
    return store.table("t")


def write(table: Table, kind: str, key: str, value: Any = None) -> Any:
    return build_request(table.codecs, kind, key, value)


def contents(table: Table) -> dict[str, Any]:
    pairs = run_group(table, [(build_request(table.codecs, "scan"), None)])[0]
    assert pairs.error is None
    return dict(pairs.result)


def test_a_group_of_plain_writes_commits_every_op(table: Table) -> None:
    requests: list[Request] = [
        (write(table, "upsert", f"k{i}", i), None) for i in range(50)
    ]

    outcomes = run_group(table, requests)

    assert [o.error for o in outcomes] == [None] * 50
    assert contents(table) == {f"k{i}": i for i in range(50)}


def test_a_failing_op_fails_alone_and_the_rest_of_its_group_commits(
    table: Table,
) -> None:
    requests: list[Request] = [
        (write(table, "insert", "a", 1), None),
        (write(table, "insert", "a", 2), None),  # already there: fails alone
        (write(table, "upsert", "b", 3), None),
    ]

    outcomes = run_group(table, requests)

    assert outcomes[0].error is None and outcomes[2].error is None
    assert isinstance(outcomes[1].error, KeyExistsError)
    assert contents(table) == {"a": 1, "b": 3}


def test_a_before_commit_veto_rolls_back_its_op_only(table: Table) -> None:
    ran: list[str] = []

    def veto(result: Any) -> object:
        ran.append("veto")
        return False

    def accept(result: Any) -> object:
        ran.append("accept")
        return None

    outcomes = run_group(
        table,
        [
            (write(table, "upsert", "a", 1), accept),
            (write(table, "upsert", "b", 2), veto),
            (write(table, "upsert", "c", 3), None),
        ],
    )

    assert ran == ["accept", "veto"]
    assert isinstance(outcomes[1].error, OpVetoedError)
    assert contents(table) == {"a": 1, "c": 3}


def test_a_before_commit_that_raises_fails_its_op_with_that_error(
    table: Table,
) -> None:
    def boom(result: Any) -> object:
        raise LookupError("callback")

    outcome = run_group(table, [(write(table, "upsert", "a", 1), boom)])[0]

    assert isinstance(outcome.error, LookupError)
    assert contents(table) == {}


def test_a_group_of_reads_shares_one_read_transaction(table: Table) -> None:
    run_group(table, [(write(table, "upsert", "a", 1), None)])

    outcomes = run_group(
        table,
        [
            (build_request(table.codecs, "search", "a"), None),
            (build_request(table.codecs, "exists", "zz"), None),
            (build_request(table.codecs, "count"), None),
        ],
    )

    assert [o.result for o in outcomes] == [1, False, 1]


def test_an_op_built_for_another_table_is_refused(
    store: StoreDirectory, table: Table
) -> None:
    store.create_table("other")
    foreign = build_request(store.table("other").codecs, "upsert", "a", 1)

    with pytest.raises(InvalidInputError):
        run_group(table, [(foreign, None)])


def test_the_reserve_for_removes_sits_below_the_maximum() -> None:
    maximum = 1 << 30

    assert 0 < reserve_size(maximum) < maximum
    assert write_limit(maximum) == maximum - reserve_size(maximum)
    assert remove_batch(maximum) >= 1


def test_outcome_says_whether_the_op_succeeded() -> None:
    assert Outcome(result=1).ok
    assert not Outcome(error=KeyError("k")).ok
