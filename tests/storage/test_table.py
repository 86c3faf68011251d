"""Tests for storage/_table.py: groups of ops, growth, compaction, closing."""

from __future__ import annotations

import os
import random
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import lmdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actorstore.storage import (
    Durability,
    KeyExistsError,
    LmdbError,
    NotFoundError,
    OpVetoedError,
    StoreClosedError,
    StoreDirectory,
    StoreFullError,
)
from actorstore.storage._group_commit import run_group, write_limit
from actorstore.storage._requests import (
    BeforeCommit,
    OpType,
    Outcome,
    TableRequest,
    build_request,
)
from actorstore.storage._session import TableSession
from actorstore.storage._table import Table
from actorstore.storage._table_codecs import TableCodecs

MIB = 1 << 20
CHUNK = 100_000
"""Values of 100 kB: a few MB of data in a few dozen ops."""


def chunk(index: int) -> bytes:
    """Return a distinct 100 kB value for record `index`."""
    return index.to_bytes(4, "big") * (CHUNK // 4)


def key(index: int) -> bytes:
    return f"k{index:06d}".encode()


@pytest.fixture
def table(store: StoreDirectory, users: TableSession) -> Table:
    return store.table("users")


@pytest.fixture
def roomy(store_path: Path) -> Iterator[StoreDirectory]:
    """A store whose tables start at 1 MiB and may grow to 64 MiB."""
    directory = StoreDirectory(store_path, initial_map_size=MIB, max_map_size=64 * MIB)
    directory.create_table("big", key_format="bytes", value_format="bytes")
    try:
        yield directory
    finally:
        directory.close()


@pytest.fixture
def cramped(store_path: Path) -> Iterator[StoreDirectory]:
    """A store whose tables start at 1 MiB and may not grow past 2 MiB."""
    directory = StoreDirectory(store_path, initial_map_size=MIB, max_map_size=2 * MIB)
    directory.create_table("big", key_format="bytes", value_format="bytes")
    try:
        yield directory
    finally:
        directory.close()


def fill_until_full(session: TableSession) -> int:
    """Upsert 100 kB values until the table is full; return how many landed."""
    for index in range(1000):
        try:
            session.upsert(key(index), chunk(index))
        except StoreFullError:
            return index
    raise AssertionError("the table never filled")


# -- run_group -----------------------------------------------------------------


def test_run_group_aborts_only_the_failing_ops(
    table: Table, users: TableSession
) -> None:
    users.insert("taken", 0)
    requests = [
        (build_request(table, "insert", "a", 1), None),
        (build_request(table, "insert", "taken", 1), None),
        (build_request(table, "upsert", "b", 2), lambda _: False),
        (build_request(table, "upsert", "c", 3), None),
        (build_request(table, "update", "nope", 4), None),
        (
            build_request(
                table, "batch", value=[("upsert", "d", 4), ("insert", "a", 0)]
            ),
            None,
        ),
        (build_request(table, "remove", "taken"), None),
        (build_request(table, "upsert", "e", 5), lambda result: result),
    ]
    outcomes = users.run_group(requests)
    assert [outcome.ok for outcome in outcomes] == [
        True,
        False,
        False,
        True,
        False,
        False,
        True,
        True,
    ]
    assert isinstance(outcomes[1].error, KeyExistsError)
    assert isinstance(outcomes[2].error, OpVetoedError)
    assert isinstance(outcomes[4].error, NotFoundError)
    assert isinstance(outcomes[5].error, KeyExistsError)
    assert dict(users.scan()) == {"a": 1, "c": 3, "e": 5}


GROUP_OPS = st.lists(
    st.tuples(
        st.sampled_from(["insert", "update", "upsert", "remove", "search", "exists"]),
        st.sampled_from("abcd"),
        st.integers(0, 9),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=40, deadline=None)
@given(start=st.dictionaries(st.sampled_from("abcd"), st.integers(0, 9)), ops=GROUP_OPS)
def test_a_group_run_straight_ends_as_with_a_child_per_op(
    start: dict[str, int], ops: list[tuple[str, str, int]]
) -> None:
    # Without a before_commit, plain ops run straight in the group's
    # transaction; any before_commit gives each op a child of its own.
    ends = []
    with tempfile.TemporaryDirectory() as root:
        directory = StoreDirectory(Path(root), initial_map_size=MIB)
        try:
            for name, before_commit in (("straight", None), ("children", accept)):
                directory.create_table(name, key_format="str", value_format="json")
                session = directory.session(name)
                for k, v in start.items():
                    session.upsert(k, v)
                table = directory.table(name)
                requests = [
                    (
                        build_request(table, kind, k, v if kind in WRITES else None),
                        before_commit,
                    )
                    for kind, k, v in ops
                ]
                outcomes = session.run_group(requests)
                ends.append(
                    (
                        [(outcome.result, type(outcome.error)) for outcome in outcomes],
                        dict(session.scan()),
                    )
                )
        finally:
            directory.close()
    assert ends[0] == ends[1]


WRITES = {"insert", "update", "upsert"}


def accept(_result: object) -> None:
    """A before_commit that lets its op commit."""


Request = tuple[TableRequest, BeforeCommit | None]


class Records(TableRequest):
    """A plain op that records the transaction it runs in."""

    type = OpType.UPSERT
    single_write = True
    __slots__ = ("seen",)

    def __init__(self, codecs: TableCodecs, seen: list[object]) -> None:
        super().__init__(codecs)
        self.seen = seen

    def run(self, txn: lmdb.Transaction[bytes]) -> None:
        self.seen.append(txn)


class Explodes(TableRequest):
    """A plain op whose run writes record "x", then raises what is not a
    StoreError of its own (the write must not land)."""

    type = OpType.UPSERT
    single_write = True
    __slots__ = ()

    def run(self, txn: lmdb.Transaction[bytes]) -> None:
        txn.put(self.codecs.encode_key("x"), self.codecs.encode_value(0))
        raise RuntimeError("not a StoreError")


class SecondBeginFails:
    """The group host of a real table whose second top-level begin fails,
    as when the table is closed between two passes of a group."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.begins = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.table, name)

    def begin(self, *, write: bool) -> lmdb.Transaction[bytes]:
        self.begins += 1
        if self.begins > 1:
            raise StoreClosedError("table", table=self.table.name)
        return self.table.begin(write=write)


class CommitFindsTheMapFull:
    """The group host of a real table whose top-level commit fails with a
    full map and which is closed then, so the map cannot grow (as when the
    store closes at that moment)."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.full = False

    def __getattr__(self, name: str) -> object:
        return getattr(self.table, name)

    @property
    def is_closed(self) -> bool:
        return self.full or self.table.is_closed

    def begin(self, *, write: bool) -> FullAtCommit:
        return FullAtCommit(self, self.table.begin(write=write))


class FullAtCommit:
    """A real transaction whose commit aborts it and says the map is full."""

    def __init__(
        self, host: CommitFindsTheMapFull, txn: lmdb.Transaction[bytes]
    ) -> None:
        self.host = host
        self.txn = txn

    def __getattr__(self, name: str) -> object:
        return getattr(self.txn, name)

    def commit(self) -> None:
        self.txn.abort()
        self.host.full = True
        raise lmdb.MapFullError("the commit found the map full")


def test_plain_ops_share_the_group_s_transaction_unless_one_has_a_before_commit(
    table: Table, users: TableSession
) -> None:
    for before_commit, shared in ((None, True), (accept, False)):
        seen: list[object] = []
        ops = [Records(table.codecs, seen) for _ in range(3)]
        users.run_group([(op, before_commit) for op in ops])
        assert len(seen) == 3
        assert (seen[0] is seen[1] is seen[2]) is shared


def two_upserts_then_one_that_explodes(table: Table) -> list[Request]:
    """A group whose third op fails run straight (so the pass is redone)."""
    return [
        (build_request(table, "upsert", "a", 1), None),
        (build_request(table, "upsert", "b", 2), None),
        (Explodes(table.codecs), None),
    ]


def test_an_op_failing_straight_redoes_the_group_with_a_child_each(
    table: Table, users: TableSession
) -> None:
    seen: list[object] = []
    requests = [
        (Records(table.codecs, seen), None),
        (Records(table.codecs, seen), None),
        *two_upserts_then_one_that_explodes(table),
    ]
    outcomes = users.run_group(requests)
    assert [outcome.ok for outcome in outcomes] == [True, True, True, True, False]
    assert isinstance(outcomes[4].error, RuntimeError)
    assert dict(users.scan()) == {"a": 1, "b": 2}  # not "x"
    straight, redone = seen[:2], seen[2:]
    assert straight[0] is straight[1]
    assert redone[0] is not redone[1]


def test_when_the_redo_cannot_start_no_op_of_the_aborted_pass_is_reported_ok(
    table: Table, users: TableSession
) -> None:
    host = SecondBeginFails(table)
    outcomes = run_group(host, two_upserts_then_one_that_explodes(table))  # type: ignore[arg-type]
    assert host.begins == 2
    assert all(isinstance(outcome.error, StoreClosedError) for outcome in outcomes)
    assert users.count() == 0


def test_run_group_keeps_a_raising_before_commit_to_its_own_op(
    table: Table, users: TableSession
) -> None:
    def refuse(_: object) -> None:
        raise RuntimeError("refused")

    outcomes = table.run_group(
        [
            (build_request(table, "upsert", "a", 1), refuse),
            (build_request(table, "upsert", "b", 2), None),
        ]
    )
    assert isinstance(outcomes[0].error, RuntimeError)
    assert str(outcomes[0].error) == "refused"
    assert outcomes[1] == Outcome(result=None, error=None)
    assert dict(users.scan()) == {"b": 2}


def test_ops_of_a_group_see_the_writes_of_earlier_ops(
    table: Table, users: TableSession
) -> None:
    outcomes = users.run_group(
        [
            (build_request(table, "upsert", "a", 1), None),
            (build_request(table, "search", "a"), None),
            (build_request(table, "insert", "b", 2), lambda _: False),
            (build_request(table, "exists", "b"), None),
            (build_request(table, "count"), None),
            (build_request(table, "scan"), None),
        ]
    )
    assert [outcome.result for outcome in outcomes] == [
        None,
        1,
        None,
        False,
        1,
        [("a", 1)],
    ]
    assert isinstance(outcomes[2].error, OpVetoedError)


def test_a_read_only_group_returns_each_read(table: Table, users: TableSession) -> None:
    users.batch([("upsert", "a", 1), ("upsert", "b", 2)])
    outcomes = users.run_group(
        [
            (build_request(table, "search", "a"), None),
            (build_request(table, "search", "nope"), None),
            (build_request(table, "exists", "b"), None),
            (build_request(table, "count"), None),
            (build_request(table, "scan", reverse=True), None),
        ]
    )
    assert [outcome.result for outcome in outcomes] == [
        1,
        None,
        True,
        2,
        [("b", 2), ("a", 1)],
    ]
    assert isinstance(outcomes[1].error, NotFoundError)
    assert [outcome.ok for outcome in outcomes] == [True, False, True, True, True]


def test_an_empty_group_has_no_outcomes(table: Table) -> None:
    assert table.run_group([]) == []


# -- growth ----------------------------------------------------------------------


def test_a_table_grows_past_16_mib_and_keeps_going(
    roomy: StoreDirectory, store_path: Path
) -> None:
    session = roomy.session("big")
    table = roomy.table("big")
    assert table.stats()["map_size"] == MIB
    for index in range(180):  # 18 MB
        session.upsert(key(index), chunk(index))
    stats = table.stats()
    assert stats["records"] == 180
    assert stats["map_size"] > 16 * MIB
    assert stats["map_size"] <= 64 * MIB
    for index in range(180, 200):
        session.insert(key(index), chunk(index))
    assert session.count() == 200
    assert all(session.search(key(i)) == chunk(i) for i in (0, 99, 179, 199))
    roomy.close()
    with StoreDirectory(
        store_path, initial_map_size=MIB, max_map_size=64 * MIB
    ) as again:
        reopened = again.session("big")
        assert reopened.count() == 200
        assert reopened.search(key(150)) == chunk(150)
        assert again.table("big").stats()["map_size"] > 16 * MIB
        reopened.upsert(b"after", b"reopen")


def test_a_group_grows_the_map_and_keeps_every_op(roomy: StoreDirectory) -> None:
    table = roomy.table("big")
    session = roomy.session("big")
    session.insert(key(3), b"taken")
    requests = [
        (build_request(table, "insert", key(i), chunk(i)), None) for i in range(40)
    ]
    outcomes = session.run_group(requests)
    assert [i for i, outcome in enumerate(outcomes) if not outcome.ok] == [3]
    assert isinstance(outcomes[3].error, KeyExistsError)
    assert session.count() == 40
    assert session.search(key(39)) == chunk(39)
    assert session.search(key(3)) == b"taken"
    assert table.stats()["map_size"] >= 4 * MIB


def test_one_batch_bigger_than_the_map_grows_it(roomy: StoreDirectory) -> None:
    session = roomy.session("big")
    applied = session.batch([("upsert", key(i), chunk(i)) for i in range(30)])
    assert applied == 30
    assert session.count() == 30
    assert roomy.table("big").stats()["map_size"] >= 4 * MIB


def test_threads_with_their_own_sessions_write_while_the_map_grows(
    store_path: Path,
) -> None:
    # 12 MB in a map that may grow to 16 MiB: it fits, if the threads that
    # hit the limit together grow the map once, not once each.
    store = StoreDirectory(store_path, initial_map_size=MIB, max_map_size=16 * MIB)
    store.create_table("big", key_format="bytes", value_format="bytes")
    failures: list[Exception] = []

    def write(first: int) -> None:
        session = store.session("big")
        try:
            for index in range(first, first + 40):
                session.insert(key(index), chunk(index))
                assert session.search(key(index)) == chunk(index)
        except Exception as exc:  # noqa: BLE001 - reported by the assert below
            failures.append(exc)

    workers = [threading.Thread(target=write, args=(n * 1000,)) for n in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    assert not any(worker.is_alive() for worker in workers)
    try:
        assert failures == []
        session = store.session("big")
        assert session.count() == 120
        assert session.search(key(2039)) == chunk(2039)
        assert store.table("big").stats()["map_size"] == write_limit(16 * MIB)
    finally:
        store.close()


def test_past_max_map_size_ops_fail_with_store_full(cramped: StoreDirectory) -> None:
    session = cramped.session("big")
    landed = fill_until_full(session)
    assert landed > 5
    with pytest.raises(
        StoreFullError,
        match=r"table 'big' is full: .* 2097152 bytes; open the store with a larger "
        r"max_map_size=, or remove data in batches of at most 20 keys, then "
        r"compact\(\)",
    ) as info:
        session.upsert(b"more", chunk(0))
    assert info.value.table == "big"
    assert info.value.max_map_size == 2 * MIB


def test_a_full_table_stays_usable(cramped: StoreDirectory) -> None:
    session = cramped.session("big")
    table = cramped.table("big")
    landed = fill_until_full(session)
    assert session.count() == landed
    assert session.search(key(0)) == chunk(0)
    assert session.exists(key(landed)) is False
    assert len(session.scan(limit=3)) == 3
    assert table.stats()["map_size"] == write_limit(2 * MIB)
    session.upsert(key(0), b"small")
    for index in range(1, landed):
        session.remove(key(index))
    session.upsert(b"fits again", chunk(7))
    assert session.search(b"fits again") == chunk(7)
    assert table.compact() > 0
    assert session.count() == 2
    session.sync()


def test_past_max_map_size_a_group_fails_only_what_does_not_fit(
    cramped: StoreDirectory,
) -> None:
    table = cramped.table("big")
    session = cramped.session("big")
    requests = [
        (build_request(table, "upsert", key(i), chunk(i)), None) for i in range(40)
    ]
    outcomes = session.run_group(requests)
    landed = [i for i, outcome in enumerate(outcomes) if outcome.ok]
    full = [i for i, outcome in enumerate(outcomes) if not outcome.ok]
    assert landed
    assert full
    assert landed == list(range(len(landed)))
    assert all(isinstance(outcomes[i].error, StoreFullError) for i in full)
    assert session.count() == len(landed)
    assert [k for k, _ in session.scan()] == [key(i) for i in landed]


def test_reopening_with_a_smaller_max_keeps_the_data(
    roomy: StoreDirectory, store_path: Path
) -> None:
    session = roomy.session("big")
    for index in range(40):
        session.upsert(key(index), chunk(index))
    roomy.close()
    with StoreDirectory(
        store_path, initial_map_size=MIB, max_map_size=2 * MIB
    ) as again:
        reopened = again.session("big")
        assert reopened.count() == 40
        with pytest.raises(StoreFullError, match="larger max_map_size="):
            for index in range(40, 100):
                reopened.upsert(key(index), chunk(index))
        assert reopened.search(key(0)) == chunk(0)


# -- maintenance -------------------------------------------------------------------


def test_compact_returns_the_bytes_reclaimed_and_keeps_the_data(
    roomy: StoreDirectory, store_path: Path
) -> None:
    session = roomy.session("big")
    table = roomy.table("big")
    session.batch([("upsert", key(i), chunk(i)) for i in range(40)])
    session.batch([("remove", key(i)) for i in range(35)])
    before = table.used_size()
    reclaimed = table.compact()
    assert reclaimed > 3 * MIB
    assert table.file_size() == before - reclaimed
    assert session.count() == 5
    assert [k for k, _ in session.scan()] == [key(i) for i in range(35, 40)]
    assert session.search(key(39)) == chunk(39)
    session.upsert(b"after", b"compact")
    assert not os.path.exists(os.path.join(table.path, "compact.tmp"))
    roomy.close()
    with StoreDirectory(store_path) as again:
        assert again.session("big").count() == 6


class ClosesAfterCompaction:
    """A real table that is closed right after it compacts (as when the
    store closes while a group that compacts runs)."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def __getattr__(self, name: str) -> object:
        return getattr(self.table, name)

    def compact(self) -> int:
        reclaimed = self.table.compact()
        self.table.close()
        return reclaimed


def test_ops_after_a_compaction_in_a_group_fail_alone_if_the_table_closed(
    store: StoreDirectory, store_path: Path, users: TableSession
) -> None:
    table = store.table("users")
    session = TableSession(ClosesAfterCompaction(table))  # type: ignore[arg-type]
    outcomes = session.run_group(
        [
            (build_request(table, "upsert", "a", 1), None),
            (build_request(table, "compact"), None),
            (build_request(table, "upsert", "b", 2), None),
        ]
    )
    assert [outcome.ok for outcome in outcomes] == [True, True, False]
    assert isinstance(outcomes[2].error, StoreClosedError)
    store.close()
    with StoreDirectory(store_path) as again:
        assert dict(again.session("users").scan()) == {"a": 1}


def test_compact_of_a_compact_table_reclaims_nothing_more(table: Table) -> None:
    table.compact()
    assert table.compact() == 0


def test_compact_keeps_the_durability(
    store: StoreDirectory, lazy: TableSession
) -> None:
    lazy.upsert("k", 1)
    table = store.table("lazy")
    table.compact()
    assert table._env.flags()["sync"] is False
    assert lazy.search("k") == 1


def test_sync_of_both_durabilities(
    store: StoreDirectory, lazy: TableSession, users: TableSession
) -> None:
    lazy.upsert("k", 1)
    users.upsert("k", 1)
    store.table("lazy").sync()
    store.table("users").sync()
    store.sync()


def test_stats_describe_the_table(table: Table, users: TableSession) -> None:
    users.batch([("upsert", "a", 1), ("upsert", "b", 2)])
    stats = table.stats()
    assert stats["records"] == 2
    assert stats["file_size"] == table.file_size() > 0
    assert stats["map_size"] == MIB
    assert (stats["key_format"], stats["value_format"]) == ("str", "json")
    assert stats["durability"] == "sync"


def test_table_describes_itself(table: Table) -> None:
    assert table.name == "users"
    assert table.durability is Durability.SYNC
    assert table.is_closed is False
    assert repr(table).startswith("<Table 'users' at ")


def test_close_twice_is_safe(table: Table) -> None:
    table.close()
    table.close()
    assert table.is_closed is True


def test_ops_after_close_raise_store_closed(table: Table, users: TableSession) -> None:
    users.upsert("k", 1)
    op = build_request(table, "search", "k")
    table.close()
    with pytest.raises(StoreClosedError, match="the table is closed"):
        table.run_group([(op, None)])
    with pytest.raises(StoreClosedError, match="the table is closed"):
        table.run_group([(build_request(table, "upsert", "k", 2), None)])
    with pytest.raises(StoreClosedError, match="the table is closed"):
        table.read(lambda txn: txn.get(b"k"))
    with pytest.raises(StoreClosedError, match="the table is closed"):
        table.sync()
    with pytest.raises(StoreClosedError, match="the table is closed"):
        table.compact()
    with pytest.raises(StoreClosedError, match="the table is closed"):
        table.stats()
    with pytest.raises(StoreClosedError, match="the table is closed"):
        users.search("k")


def test_a_lazy_table_is_synced_on_close_and_survives_reopen(
    store: StoreDirectory, lazy: TableSession, store_path: Path
) -> None:
    lazy.batch([("upsert", f"k{i}", i) for i in range(10)])
    store.close()
    with StoreDirectory(store_path) as again:
        assert again.session("lazy").count() == 10


def test_a_pass_that_cannot_start_fails_only_the_ops_not_yet_committed(
    store: StoreDirectory, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.create_table("blobs", value_format="bytes")
    table = store.table("blobs")

    def cannot_grow(*args: object, **kwargs: object) -> None:
        raise LmdbError("simulated: the map cannot grow", table="blobs")

    # Fault injection on the real table: the first map fills mid-group and
    # growing it fails; the ops committed before keep their outcomes.
    monkeypatch.setattr("actorstore.storage._group_commit.grow", cannot_grow)
    requests = [
        (build_request(table, "insert", f"k{i:03d}", b"v" * 4000), None)
        for i in range(400)
    ]
    outcomes = store.session("blobs").run_group(requests)
    committed = [i for i, o in enumerate(outcomes) if o.ok]
    failed = [i for i, o in enumerate(outcomes) if not o.ok]
    assert committed and failed
    assert committed == list(range(len(committed)))
    assert all(isinstance(outcomes[i].error, LmdbError) for i in failed)
    monkeypatch.undo()
    session = store.session("blobs")
    assert session.count() == len(committed)
    assert all(session.exists(f"k{i:03d}") for i in committed)


def fill_with_small_records(session: TableSession) -> int:
    """Insert 100-byte records until the table is full; return how many landed.

    Batches of shrinking size fill it to the last page, as a bulk load would.
    """
    count = 0
    for size in (1000, 100, 10, 1):
        while True:
            writes = [("insert", key(count + i), b"v" * 100) for i in range(size)]
            try:
                session.batch(writes)
            except StoreFullError:
                break
            count += size
    assert count > 1000
    return count


@pytest.mark.parametrize("order", ["sequential", "random"])
def test_after_store_full_the_documented_remedy_works(
    cramped: StoreDirectory, order: str
) -> None:
    cramped.create_table("small", key_format="bytes", value_format="bytes")
    session = cramped.session("small")
    table = cramped.table("small")
    count = fill_with_small_records(session)
    with pytest.raises(StoreFullError) as info:
        session.insert(b"one more", b"v" * 100)
    # The remedy the error gives: remove data in batches of at most
    # `remove_batch` keys, then compact.
    batch = info.value.remove_batch
    assert batch == 20
    assert "remove data in batches of at most 20 keys, then compact()" in str(
        info.value
    )
    keys = list(range(count))
    if order == "random":
        random.Random(7).shuffle(keys)
    for first in range(0, count, batch):
        session.batch([("remove", key(i)) for i in keys[first : first + batch]])
    assert session.count() == 0
    assert table.compact() > 0
    assert fill_with_small_records(session) >= count * 9 // 10


def test_at_the_limit_a_group_of_single_removes_fits_one_per_commit(
    cramped: StoreDirectory,
) -> None:
    cramped.create_table("small", key_format="bytes", value_format="bytes")
    session = cramped.session("small")
    table = cramped.table("small")
    count = fill_with_small_records(session)
    keys = list(range(count))
    random.Random(3).shuffle(keys)
    # As an owner would run them: many single removes in one group.
    requests = [(build_request(table, "remove", key(i)), None) for i in keys[:500]]
    outcomes = session.run_group(requests)
    assert [o.error for o in outcomes] == [None] * 500
    assert session.count() == count - 500


def test_when_a_commit_finds_the_map_full_and_it_cannot_grow_no_op_is_reported_ok(
    table: Table, users: TableSession
) -> None:
    requests: list[Request] = [
        (build_request(table, "upsert", "a", 1), None),
        (build_request(table, "upsert", "b", 2), None),
    ]
    host = CommitFindsTheMapFull(table)
    outcomes = run_group(host, requests)  # type: ignore[arg-type]
    assert host.full
    assert all(isinstance(outcome.error, StoreClosedError) for outcome in outcomes)
    assert users.count() == 0


def test_last_sync_of_a_sync_table_is_its_last_commit(
    store: StoreDirectory, users: TableSession
) -> None:
    table = store.table("users")
    users.upsert("a", 1)
    first = table.last_sync
    assert first == os.path.getmtime(table.data_file)
    os.utime(table.data_file, (first - 100, first - 100))  # an older write
    users.upsert("b", 2)
    assert table.last_sync is not None and table.last_sync > first - 100
    assert table.stats()["last_sync"] == table.last_sync


def test_last_sync_of_a_none_table_moves_with_its_syncs_only(
    store: StoreDirectory, lazy: TableSession
) -> None:
    table = store.table("lazy")
    opened = table.last_sync  # the file's last write before this process
    lazy.upsert("a", 1)
    assert table.last_sync == opened  # committed, not synced
    lazy.sync()
    synced = table.last_sync
    assert synced is not None and (opened is None or synced >= opened)
    lazy.upsert("b", 2)
    assert table.last_sync == synced
