"""Tests for storage/_session_records.py: session records answer an op sent again.

Every test runs groups through a real `TableSession` on real LMDB, the way
an owner does: `run_group(requests, numbers)`.
"""

from __future__ import annotations

import pickle
import time
from typing import Any

import lmdb
import pytest

from actorstore.storage import (
    MAX_KEY_SIZE,
    Durability,
    InvalidInputError,
    InvalidKeyError,
    InvalidOptionError,
    KeyExistsError,
    NotFoundError,
    StaleOpError,
    StoreBusyError,
    StoreCorruptedError,
    StoreDirectory,
)
from actorstore.storage._op_numbers import OpNumbers, new_session_id
from actorstore.storage._requests import Outcome, build_request
from actorstore.storage._session import TableSession
from actorstore.storage._table_codecs import RESERVED_KEY

SESSION = b"s" * 16
OTHER = b"o" * 16


def run(
    table: TableSession,
    ops: list[tuple[Any, ...]],
    numbers: list[int],
    *,
    sender: bytes = SESSION,
    **numbering: Any,
) -> list[Outcome]:
    """Run `ops` (`(type, key, value)`) as one group numbered `numbers`, sent by
    session `sender`."""
    requests = [(build_request(table.table, *op), None) for op in ops]
    return table.run_group(requests, OpNumbers(sender, numbers, **numbering))


def records(session: TableSession) -> dict[bytes, tuple[Any, ...]]:
    """Return every session record of the table, by key (decoded)."""
    table = session.table
    with table.gate.shared():
        txn = table.env.begin(write=True)
        try:
            db = table.env.open_db(RESERVED_KEY, txn=txn, create=True)
            return {bytes(k): pickle.loads(v) for k, v in txn.cursor(db=db)}
        finally:
            txn.abort()


def test_an_op_sent_again_is_answered_from_its_record_not_run_twice(
    users: TableSession,
) -> None:
    first = run(
        users, [("insert", "k", 1), ("batch", None, [("upsert", "b", 2)])], [1, 2]
    )
    assert first == [Outcome(), Outcome(1)]
    users.remove("k")

    again = run(
        users,
        [("insert", "k", 1), ("batch", None, [("upsert", "b", 2)])],
        [1, 2],
        resent=frozenset({0, 1}),
    )

    assert again == first  # the recorded outcomes: nothing ran again
    assert [o.recorded for o in first] == [False, False]
    assert [o.recorded for o in again] == [True, True]
    assert not users.exists("k")


def test_a_recorded_error_answers_too_and_a_new_number_runs(
    users: TableSession,
) -> None:
    users.insert("k", 1)
    (failed,) = run(users, [("insert", "k", 2)], [7])
    assert isinstance(failed.error, KeyExistsError)
    users.remove("k")

    (again,) = run(users, [("insert", "k", 2)], [7], resent=frozenset({0}))
    assert isinstance(again.error, KeyExistsError)
    assert run(users, [("insert", "k", 2)], [8]) == [Outcome()]
    assert users.search("k") == 2


def test_a_resent_op_that_never_ran_runs_once(users: TableSession) -> None:
    run(users, [("upsert", "a", 1)], [1])

    assert run(users, [("insert", "k", 1)], [2], resent=frozenset({0})) == [Outcome()]
    (again,) = run(users, [("insert", "k", 1)], [2], resent=frozenset({0}))
    assert again == Outcome()  # answered: not a KeyExistsError of a second run


def test_transient_errors_and_reads_are_not_recorded(users: TableSession) -> None:
    def busy(result: object) -> None:
        raise StoreBusyError("busy now")

    requests = [
        (build_request(users.table, "insert", "k", 1), busy),
        (build_request(users.table, "search", "nothing"), None),
    ]
    outcomes = users.run_group(requests, OpNumbers(SESSION, [1, 2]))
    assert isinstance(outcomes[0].error, StoreBusyError)
    assert isinstance(outcomes[1].error, NotFoundError)

    (retried,) = run(users, [("insert", "k", 1)], [1], resent=frozenset({0}))
    assert retried == Outcome()  # it ran: the busy failure was no answer
    assert users.search("k") == 1


def test_records_below_the_mark_are_pruned_and_stale_numbers_refused(
    users: TableSession,
) -> None:
    for number in range(1, 6):
        run(users, [("upsert", f"k{number}", number)], [number], mark=number)
    # Each group pruned the one before it: every op below its mark was answered.
    (key,) = records(users)
    assert key == SESSION + (5).to_bytes(8, "big")

    (stale,) = run(
        users, [("upsert", "k2", "again")], [2], mark=6, resent=frozenset({0})
    )

    assert isinstance(stale.error, StaleOpError)
    assert (stale.error.number, stale.error.low) == (2, 5)
    assert "may or may not have been applied" in str(stale.error)
    assert users.search("k2") == 2
    assert pickle.loads(pickle.dumps(stale.error)).number == 2


def test_a_pin_keeps_an_outcome_past_the_mark(users: TableSession) -> None:
    run(users, [("insert", "kept", 1), ("insert", "other", 1)], [3, 4], mark=3)
    # The client never learned op 3's outcome (its letter carries 3): pinned.
    run(users, [("upsert", "later", 1)], [9], mark=9, pins=(3, 5))
    assert all(number > 4 for number in _recorded_numbers(users))
    users.remove("kept")

    (replayed,) = run(
        users, [("insert", "kept", 1)], [3], mark=10, resent=frozenset({0})
    )
    assert replayed == Outcome()
    assert not users.exists("kept")  # answered from the pin, not run again
    # Op 5 never ran: its pin says so, and its replay runs (once).
    assert run(users, [("insert", "five", 5)], [5], mark=10, resent={0}) == [Outcome()]
    users.remove("five")
    assert run(users, [("insert", "five", 5)], [5], mark=11, resent={0}) == [Outcome()]
    assert not users.exists("five")


def test_another_session_s_op_is_recorded_under_its_own_session(
    users: TableSession,
) -> None:
    # A dead letter of another client, replayed: its op keeps its ids.
    numbers = OpNumbers(SESSION, [1, 40], resent=frozenset({1}), others={1: OTHER})
    requests = [
        (build_request(users.table, "upsert", "mine", 1), None),
        (build_request(users.table, "insert", "theirs", 2), None),
    ]
    assert users.run_group(requests, numbers) == [Outcome(), Outcome()]
    users.remove("theirs")

    assert users.run_group(requests, numbers) == [Outcome(), Outcome()]
    assert not users.exists("theirs")
    assert {key[:16] for key in records(users)} == {SESSION, OTHER}


def test_idle_sessions_are_forgotten_after_the_window(store_path: Any) -> None:
    with StoreDirectory(store_path, outcome_window=0.2) as store:
        store.create_table("t")
        session = store.session("t")
        run(session, [("upsert", "a", 1)], [1], sender=OTHER)
        assert records(session)
        time.sleep(0.25)  # the window itself is what is tested
        run(session, [("upsert", "b", 1)], [1])

        assert [key[:16] for key in records(session)] == [SESSION]
        # Past the window, a number nobody records runs as new.
        assert run(session, [("insert", "c", 1)], [1], sender=OTHER, resent={0}) == [
            Outcome()
        ]


def test_records_are_no_records_of_the_table(
    users: TableSession, blobs: TableSession
) -> None:
    run(users, [("upsert", "a", 1), ("upsert", "\U0010ffff", 2)], [1, 2])
    run(blobs, [("upsert", b"\xff" * 300, b"x")], [1])

    assert users.count() == 2
    assert users.scan() == [("a", 1), ("\U0010ffff", 2)]
    assert users.scan(reverse=True) == [("\U0010ffff", 2), ("a", 1)]
    assert blobs.scan(prefix=b"\xff") == [(b"\xff" * 300, b"x")]
    assert blobs.scan(reverse=True, limit=1) == [(b"\xff" * 300, b"x")]
    assert users.table.stats()["records"] == 2
    assert users.table.check().records == 2
    assert users.table.check().ok
    with pytest.raises(InvalidKeyError, match="reserved"):
        blobs.upsert(RESERVED_KEY, b"no")
    blobs.upsert(b"\xff" * (MAX_KEY_SIZE - 1) + b"\xfe", b"ok")


def test_records_survive_compaction_and_a_reopen(store_path: Any) -> None:
    with StoreDirectory(store_path) as store:
        store.create_table("t", durability=Durability.NONE)
        session = store.session("t")
        run(session, [("insert", "k", 1)], [1])
        session.compact()
        session.remove("k")
    with StoreDirectory(store_path) as store:
        session = store.session("t")
        assert run(session, [("insert", "k", 1)], [1], resent={0}) == [Outcome()]
        assert not session.exists("k")


def test_a_group_with_a_compaction_numbers_each_part(users: TableSession) -> None:
    requests = [
        (build_request(users.table, "insert", "a", 1), None),
        (build_request(users.table, "compact"), None),
        (build_request(users.table, "insert", "b", 1), None),
    ]
    users.run_group(requests, OpNumbers(SESSION, [1, 2, 3]))
    users.remove("b")

    again = users.run_group(requests, OpNumbers(SESSION, [1, 2, 3], resent={0, 2}))

    assert again[0] == again[2] == Outcome()
    assert not users.exists("b")


def test_numbers_must_number_every_op(users: TableSession) -> None:
    (outcome,) = run_bad(users)
    assert isinstance(outcome.error, InvalidInputError)


def run_bad(users: TableSession) -> list[Outcome]:
    requests = [(build_request(users.table, "upsert", "a", 1), None)]
    try:
        return users.run_group(requests, OpNumbers(SESSION, [1, 2]))
    except InvalidInputError as exc:
        return [Outcome(error=exc)]


def test_records_grow_the_map_like_any_write(store_path: Any) -> None:
    with StoreDirectory(store_path, initial_map_size=1 << 16) as store:
        store.create_table("t")
        session = store.session("t")
        for number in range(1, 300):
            ops = [("upsert", f"k{number}-{i}", "v" * 200) for i in range(5)]
            outcomes = run(session, ops, list(range(number * 10, number * 10 + 5)))
            assert outcomes == [Outcome()] * 5
        assert session.count() == 299 * 5


def test_bad_windows_are_refused(store_path: Any) -> None:
    for window in (0, -1, float("inf"), float("nan"), "1", True):
        with pytest.raises(InvalidOptionError, match="outcome_window"):
            StoreDirectory(store_path, outcome_window=window)  # type: ignore[arg-type]


def test_session_ids_are_random_and_sixteen_bytes() -> None:
    assert len(new_session_id()) == 16
    assert new_session_id() != new_session_id()


def test_a_table_opened_without_sub_databases_still_counts_its_records(
    users: TableSession, store_path: Any
) -> None:
    run(users, [("upsert", "a", 1)], [1])
    env = users.table.env
    with env.begin() as txn:
        assert txn.stat()["entries"] == 2  # the records' name is a key of LMDB's
    assert users.count() == 1
    assert isinstance(env, lmdb.Environment)


def _recorded_numbers(session: TableSession) -> set[int]:
    found: set[int] = set()
    for key, value in records(session).items():
        if len(key) == 24:
            found |= {n for n in value[2] if n}
    return found


def test_a_forged_record_cannot_run_code(users: TableSession) -> None:
    run(users, [("upsert", "a", 1)], [1])
    table = users.table

    class Evil:
        def __reduce__(self) -> tuple[Any, ...]:
            return (eval, ("1",))

    with table.gate.shared():
        txn = table.env.begin(write=True)
        db = table.env.open_db(RESERVED_KEY, txn=txn, create=True)
        forged = pickle.dumps((time.time(), 0, [2], Evil(), None))
        txn.put(SESSION + (2).to_bytes(8, "big"), forged, db=db)
        txn.commit()

    (outcome,) = run(users, [("upsert", "b", 1)], [2], resent=frozenset({0}))
    assert isinstance(outcome.error, StoreCorruptedError)
    assert "builtins.eval" in str(outcome.error)
