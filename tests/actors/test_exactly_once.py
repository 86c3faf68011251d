"""Exactly once on a local store (actors/_exactly_once.py): replays, windows, cost.

A local store's owners answer every op in its own process, so no op's
outcome is ever unknown and its owners record nothing for its own ops
(that would cost a SYNC commit of one op a fifth more). What they record
is replays: a dead letter's replay goes with ids of its own (the op's, if
its letter carries them; else named after the letter), so replaying the
same letter twice applies its op once.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import actorstore
from actorstore import KeyExistsError, StaleOpError, Store
from actorstore.retry import DeadLetter, RetriesExhaustedError, RetryPolicy
from actorstore.retry._triage import ALREADY_APPLIED
from actorstore.storage import InvalidOptionError
from actorstore.storage._table_codecs import RESERVED_KEY
from tests.actors.conftest import WAIT


def session_records(store: Store, table: str) -> int:
    """Return how many session records table `table` holds."""
    directory_table = store._transport.directory.table(table)
    with directory_table.gate.shared():
        env = directory_table.env
        txn = env.begin(write=True)
        try:
            db = env.open_db(RESERVED_KEY, txn=txn, create=True)
            return int(txn.stat(db)["entries"])
        finally:
            txn.abort()


def dead_insert(store: Store, key: str, value: object) -> DeadLetter:
    """Return the dead letter of an insert of `key`, which is already present."""
    store.upsert("users", key, "was there").get(WAIT)
    give_up = RetryPolicy(max_attempts=1, retry_on=(KeyExistsError,))
    error = store.insert("users", key, value, retry=give_up).exception(WAIT)
    assert isinstance(error, RetriesExhaustedError), error
    assert error.dead_letter is not None
    return error.dead_letter


def test_a_local_store_records_nothing_for_its_own_ops(store: Store) -> None:
    for future in [store.upsert("users", f"k{i}", i) for i in range(500)]:
        future.get(WAIT)
    store.insert("users", "k1", 0).exception(WAIT)

    assert session_records(store, "users") == 0


def test_replaying_a_letter_twice_applies_its_op_once(store: Store) -> None:
    letter = dead_insert(store, "norma", {"n": 1})
    # Its owner answered (KeyExistsError): the letter carries no number.
    assert (letter.session, letter.number) == (None, None)
    store.remove("users", "norma").get(WAIT)

    assert store.dead_letters.host.replay(letter).get(WAIT) is None
    store.upsert("users", "norma", {"n": 2}).get(WAIT)
    # Replayed again (say the first replay's letter was never removed): its
    # record answers, the op does not run twice.
    assert store.dead_letters.host.replay(letter).get(WAIT) is ALREADY_APPLIED

    assert store.search("users", "norma").get(WAIT) == {"n": 2}
    assert session_records(store, "users") == 1


def test_a_letter_put_back_after_its_replay_is_counted_already_applied(
    store: Store,
) -> None:
    letter = dead_insert(store, "norma", 1)
    store.remove("users", "norma").get(WAIT)
    first = store.dead_letters.replay(timeout=WAIT)
    assert (first.replayed, first.already_applied) == (1, 0)
    store.remove("users", "norma").get(WAIT)
    # The letter comes back (a copy kept elsewhere, a restore): replaying it
    # again does not insert the key again.
    store.dead_letters.park(letter).get(WAIT)

    again = store.dead_letters.replay(timeout=WAIT)

    assert again == {letter.id: None}
    assert (again.replayed, again.already_applied) == (0, 1)
    assert not store.exists("users", "norma").get(WAIT)
    assert store.dead_letters.list(WAIT) == []


def test_another_store_handle_replays_the_same_letter_once(
    make_store: Callable[..., Store],
) -> None:
    first = make_store()
    first.create_table("users")
    letter = dead_insert(first, "norma", 1)
    first.remove("users", "norma").get(WAIT)
    report = first.dead_letters.replay(timeout=WAIT)
    assert report == {letter.id: None}
    assert report.replayed == 1
    first.close()
    second = make_store()
    second.upsert("users", "norma", 2).get(WAIT)

    assert second.dead_letters.host.replay(letter).get(WAIT) is ALREADY_APPLIED
    assert second.search("users", "norma").get(WAIT) == 2


def test_a_letter_carrying_its_op_s_number_past_the_window_is_refused(
    store: Store,
) -> None:
    letter = dataclasses.replace(
        dead_insert(store, "norma", 1),
        session=store.session.id.hex(),
        number=7,
        first_failed_at=time.time() - 2 * 24 * 3600,
    )

    with pytest.raises(StaleOpError, match="outcome_window"):
        store.dead_letters.host.replay(letter)


def test_outcome_window_is_checked_and_reaches_the_tables(tmp_path: Path) -> None:
    with pytest.raises(InvalidOptionError, match="outcome_window"):
        actorstore.open_store(tmp_path / "s", outcome_window=0)
    with actorstore.open_store(tmp_path / "t", outcome_window=60) as store:
        store.create_table("users")
        assert store.session.window == 60
        table = store._transport.directory.table("users")
        assert table.session_records.window == 60
