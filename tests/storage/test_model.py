"""Model test: random op sequences on real tables agree with a dict.

Two tables, one with bytes keys over 0x00/'a'/0xfe/0xff (so prefixes ending
in 0xff come up) and one Durability.NONE table with str keys, take random
inserts, updates, upserts, removes, searches, scans, batches, groups,
vetoed and bad ops, and close/reopen of the whole store; after every step
the tables must hold exactly what the model holds.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from actorstore.storage import (
    Durability,
    InvalidInputError,
    InvalidKeyError,
    KeyExistsError,
    NotFoundError,
    OpVetoedError,
    StoreDirectory,
)
from actorstore.storage._requests import build_request
from actorstore.storage._session import TableSession

TABLES = ("bin", "txt")
SYMBOLS: dict[str, tuple[Any, ...]] = {
    "bin": (b"\x00", b"a", b"\xfe", b"\xff"),
    "txt": ("a", "b", "é", "\U0001f600"),
}
WRITE_KINDS = ("insert", "update", "upsert", "remove")

key_shapes = st.lists(st.integers(0, 3), min_size=1, max_size=3)
prefix_shapes = st.lists(st.integers(0, 3), max_size=3)
values = st.none() | st.integers(-5, 5) | st.text(max_size=3) | st.lists(st.booleans())
tables = st.sampled_from(TABLES)


MESSAGES: dict[type, str] = {
    KeyExistsError: "already exists; use update",
    NotFoundError: "not found by",
    OpVetoedError: "vetoed",
}


class Refused(Exception):
    """Raised by a before_commit function in the model test."""


def refuse(_: object) -> None:
    raise Refused("refused")


def make_key(table: str, shape: list[int]) -> Any:
    """Build the key of `table` spelled by the symbol indexes in `shape`."""
    symbols = [SYMBOLS[table][index] for index in shape]
    return b"".join(symbols) if table == "bin" else "".join(symbols)


def encoded(table: str, key: Any) -> bytes:
    data: bytes = key if table == "bin" else key.encode()
    return data


def apply_write(model: dict[Any, Any], kind: str, key: Any, value: Any) -> type | None:
    """Apply one write to `model`; return the error type it must fail with."""
    if kind == "insert":
        if key in model:
            return KeyExistsError
        model[key] = value
    elif kind == "update":
        if key not in model:
            return NotFoundError
        model[key] = value
    elif kind == "upsert":
        model[key] = value
    elif kind == "remove":
        if key not in model:
            return NotFoundError
        del model[key]
    return None


class StoreMachine(RuleBasedStateMachine):
    """A store and the dicts it must agree with."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.model: dict[str, dict[Any, Any]] = {table: {} for table in TABLES}
        self.open()

    def open(self) -> None:
        self.store = StoreDirectory(self.path, initial_map_size=1 << 20)
        self.store.create_table(
            "bin", key_format="bytes", value_format="json", exist_ok=True
        )
        self.store.create_table(
            "txt", key_format="str", durability=Durability.NONE, exist_ok=True
        )
        self.sessions: dict[str, TableSession] = {
            table: self.store.session(table) for table in TABLES
        }

    def teardown(self) -> None:
        self.store.close()

    def write(
        self, table: str, kind: str, shape: list[int], value: Any, veto: bool = False
    ) -> None:
        key = make_key(table, shape)
        session = self.sessions[table]
        model = dict(self.model[table])
        error = apply_write(model, kind, key, value)
        args = (key,) if kind == "remove" else (key, value)
        before_commit = (lambda _: False) if veto else None
        if error is None and veto:
            error = OpVetoedError
        if error is None:
            getattr(session, kind)(*args, before_commit=before_commit)
            self.model[table] = model
        else:
            with pytest.raises(error, match=MESSAGES[error]):
                getattr(session, kind)(*args, before_commit=before_commit)

    @rule(
        table=tables, kind=st.sampled_from(WRITE_KINDS), shape=key_shapes, value=values
    )
    def write_one(self, table: str, kind: str, shape: list[int], value: Any) -> None:
        self.write(table, kind, shape, value)

    @rule(
        table=tables, kind=st.sampled_from(WRITE_KINDS), shape=key_shapes, value=values
    )
    def write_vetoed(self, table: str, kind: str, shape: list[int], value: Any) -> None:
        self.write(table, kind, shape, value, veto=True)

    @rule(table=tables, shape=key_shapes, value=values)
    def upsert_refused(self, table: str, shape: list[int], value: Any) -> None:
        with pytest.raises(Refused, match="refused"):
            self.sessions[table].upsert(make_key(table, shape), value, refuse)

    @rule(table=tables, kind=st.sampled_from(WRITE_KINDS))
    def write_empty_key(self, table: str, kind: str) -> None:
        empty = make_key(table, [])
        args = (empty,) if kind == "remove" else (empty, 1)
        with pytest.raises(InvalidKeyError, match="empty key"):
            getattr(self.sessions[table], kind)(*args)

    @rule(table=tables, shape=key_shapes)
    def search(self, table: str, shape: list[int]) -> None:
        key = make_key(table, shape)
        session, model = self.sessions[table], self.model[table]
        assert session.exists(key) is (key in model)
        if key in model:
            assert session.search(key) == model[key]
        else:
            with pytest.raises(NotFoundError, match=r"not found by search\(\)"):
                session.search(key)

    @rule(
        table=tables,
        prefix=st.none() | prefix_shapes,
        start=st.none() | key_shapes,
        end=st.none() | key_shapes,
        limit=st.none() | st.integers(0, 4),
        reverse=st.booleans(),
    )
    def scan(
        self,
        table: str,
        prefix: list[int] | None,
        start: list[int] | None,
        end: list[int] | None,
        limit: int | None,
        reverse: bool,
    ) -> None:
        lower = None if start is None else encoded(table, make_key(table, start))
        upper = None if end is None else encoded(table, make_key(table, end))
        head = None if prefix is None else encoded(table, make_key(table, prefix))
        expected = sorted(
            (
                (key, value)
                for key, value in self.model[table].items()
                if (head is None or encoded(table, key).startswith(head))
                and (lower is None or encoded(table, key) >= lower)
                and (upper is None or encoded(table, key) < upper)
            ),
            key=lambda pair: encoded(table, pair[0]),
            reverse=reverse,
        )
        if limit is not None:
            expected = expected[:limit]
        found = self.sessions[table].scan(
            prefix=None if prefix is None else make_key(table, prefix),
            start=None if start is None else make_key(table, start),
            end=None if end is None else make_key(table, end),
            limit=limit,
            reverse=reverse,
        )
        assert found == expected

    @rule(
        table=tables,
        items=st.lists(
            st.tuples(st.sampled_from(WRITE_KINDS), key_shapes, values), max_size=6
        ),
        unknown_at=st.none() | st.integers(0, 6),
    )
    def batch(
        self,
        table: str,
        items: list[tuple[str, list[int], Any]],
        unknown_at: int | None,
    ) -> None:
        writes: list[tuple[Any, ...]] = [
            (kind, make_key(table, shape))
            if kind == "remove"
            else (kind, make_key(table, shape), value)
            for kind, shape, value in items
        ]
        session = self.sessions[table]
        if unknown_at is not None:
            writes.insert(unknown_at, ("frob", make_key(table, [0])))
            with pytest.raises(InvalidInputError, match="unknown kind 'frob'"):
                session.batch(writes)
            return
        model = dict(self.model[table])
        errors = [
            apply_write(model, kind, key, value)
            for kind, key, value in _triples(writes)
        ]
        failure = next((error for error in errors if error is not None), None)
        if failure is None:
            assert session.batch(writes) == len(writes)
            self.model[table] = model
        else:
            with pytest.raises(failure, match=MESSAGES[failure]):
                session.batch(writes)

    @rule(
        table=tables,
        items=st.lists(
            st.tuples(st.sampled_from(WRITE_KINDS), key_shapes, values, st.booleans()),
            min_size=1,
            max_size=6,
        ),
    )
    def group(self, table: str, items: list[tuple[str, list[int], Any, bool]]) -> None:
        target = self.store.table(table)
        model = self.model[table]
        requests = []
        expected: list[type | None] = []
        for kind, shape, value, veto in items:
            key = make_key(table, shape)
            args = (key,) if kind == "remove" else (key, value)
            veto_fn = (lambda _: False) if veto else None
            requests.append((build_request(target, kind, *args), veto_fn))
            # Each op of a group commits or aborts alone, in order.
            trial = dict(model)
            error = apply_write(trial, kind, key, value)
            if error is None and veto:
                error = OpVetoedError
            if error is None:
                model = trial
            expected.append(error)
        outcomes = self.sessions[table].run_group(requests)
        self.model[table] = model
        assert [
            type(outcome.error) if outcome.error else None for outcome in outcomes
        ] == expected

    @rule()
    def reopen(self) -> None:
        self.store.close()
        self.open()

    @invariant()
    def counts_agree(self) -> None:
        for table in TABLES:
            assert self.sessions[table].count() == len(self.model[table])


def _triples(writes: list[tuple[Any, ...]]) -> list[tuple[str, Any, Any]]:
    return [(w[0], w[1], w[2] if len(w) == 3 else None) for w in writes]


def test_store_agrees_with_a_dict_model(tmp_path: Path) -> None:
    runs = itertools.count()

    class StoreInTmpPath(StoreMachine):
        def __init__(self) -> None:
            super().__init__(tmp_path / f"run{next(runs)}")

    run_state_machine_as_test(
        StoreInTmpPath,
        settings=settings(max_examples=30, stateful_step_count=30, deadline=None),
    )


def test_everything_survives_a_final_reopen(tmp_path: Path) -> None:
    machine = StoreMachine(tmp_path / "store")
    machine.write_one("bin", "insert", [3, 3], {"deep": [1]})
    machine.batch("txt", [("upsert", [2], "é"), ("insert", [0, 1], 2)], None)
    machine.reopen()
    machine.scan("bin", None, None, None, None, False)
    machine.scan("txt", [0], None, None, None, True)
    machine.counts_agree()
    machine.teardown()
