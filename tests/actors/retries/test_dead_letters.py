"""Dead letters through a real store: the record, list, replay, purge, hooks."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lmdb
import pytest

import actorstore
from actorstore import Store
from actorstore.retry import (
    DEAD_LETTER_TABLE,
    DeadLetter,
    Flow,
    RetriesExhaustedError,
    RetryCallback,
    RetryPolicy,
    UnknownDeadLetterError,
)
from actorstore.storage import InvalidOptionError, KeyExistsError, StoreBusyError

WAIT = 5.0


class AlwaysBusy(RetryCallback):
    """Fail every attempt with `StoreBusyError`; give up after `max_attempts`."""

    def __init__(self, max_attempts: int = 1) -> None:
        super().__init__(RetryPolicy(max_attempts=max_attempts, initial_wait=0.001))

    def callback(self, result: Any) -> object:
        raise StoreBusyError("the store is busy")


def park(store: Store, key: Any, value: Any = None, *, op: str = "upsert") -> int:
    """Dead-letter one `op` on table `docs`; return the new letter's id."""
    before = {letter.id for letter in store.dead_letters.list(WAIT)}
    method = getattr(store, op)
    args = (key,) if value is None else (key, value)
    with pytest.raises(RetriesExhaustedError):
        method("docs", *args, callback=AlwaysBusy()).get(WAIT)
    (new,) = {letter.id for letter in store.dead_letters.list(WAIT)} - before
    return new


def test_a_dead_letter_has_the_documented_fields(store: Store) -> None:
    letter_id = park(store, "norma", {"name": "Norma"})
    letter = store.dead_letters.get(letter_id, WAIT)
    assert letter.id == letter_id
    assert (letter.op_type, letter.table, letter.key) == ("upsert", "docs", "norma")
    assert letter.value == {"name": "Norma"}
    assert letter.error["type"] == "StoreBusyError"
    assert letter.error["message"] == "the store is busy"
    assert letter.attempts == 1
    assert letter.first_failed_at <= letter.last_failed_at
    assert (letter.flow, letter.stage) == (None, None)


def test_list_returns_letters_oldest_first_and_len_counts_them(store: Store) -> None:
    ids = [park(store, f"k{n}", n) for n in range(3)]
    assert [letter.id for letter in store.dead_letters.list(WAIT)] == ids
    assert len(store.dead_letters) == 3


def test_get_an_unknown_id_raises(store: Store) -> None:
    with pytest.raises(UnknownDeadLetterError, match="12345"):
        store.dead_letters.get(12345, WAIT)


def test_the_dead_letter_table_is_internal(store: Store) -> None:
    park(store, "k", 1)
    assert DEAD_LETTER_TABLE not in store.tables()


def test_purge_removes_the_given_letters_or_all(store: Store) -> None:
    a, b, c = (park(store, f"k{n}", n) for n in range(3))
    assert store.dead_letters.purge([b], WAIT) == 1
    assert [letter.id for letter in store.dead_letters.list(WAIT)] == [a, c]
    assert store.dead_letters.purge(timeout=WAIT) == 2
    assert store.dead_letters.list(WAIT) == []
    assert store.dead_letters.purge(timeout=WAIT) == 0


def test_purge_with_an_unknown_id_changes_nothing(store: Store) -> None:
    a, b = park(store, "a", 1), park(store, "b", 2)
    with pytest.raises(UnknownDeadLetterError) as caught:
        store.dead_letters.purge([a, 999, b], WAIT)
    assert caught.value.ids == [999]
    assert [letter.id for letter in store.dead_letters.list(WAIT)] == [a, b]


def test_replay_with_an_unknown_id_changes_nothing(store: Store) -> None:
    a = park(store, "a", {"n": 1})
    with pytest.raises(UnknownDeadLetterError) as caught:
        store.dead_letters.replay([a, 999], WAIT)
    assert caught.value.ids == [999]
    assert [letter.id for letter in store.dead_letters.list(WAIT)] == [a]
    store.flush(WAIT)
    assert not store.exists("docs", "a").get(WAIT)


def test_replay_writes_the_op_and_removes_the_letter(store: Store) -> None:
    a = park(store, "a", {"n": 1})
    b = park(store, "b", {"n": 2})
    assert store.dead_letters.replay([a], WAIT) == {a: None}
    assert store.search("docs", "a").get(WAIT) == {"n": 1}
    assert [letter.id for letter in store.dead_letters.list(WAIT)] == [b]
    assert store.dead_letters.replay(timeout=WAIT) == {b: None}
    assert store.search("docs", "b").get(WAIT) == {"n": 2}
    assert len(store.dead_letters) == 0


def test_a_replay_that_fails_keeps_its_letter_and_reports_the_error(
    store: Store,
) -> None:
    letter_id = park(store, "k", {"n": 1}, op="insert")
    store.insert("docs", "k", {"n": 0}).get(WAIT)
    outcomes = store.dead_letters.replay(timeout=WAIT)
    assert list(outcomes) == [letter_id]
    assert isinstance(outcomes[letter_id], KeyExistsError)
    assert [letter.id for letter in store.dead_letters.list(WAIT)] == [letter_id]
    assert store.search("docs", "k").get(WAIT) == {"n": 0}


def test_replay_of_remove_and_batch_letters(store: Store) -> None:
    store.upsert("docs", "gone", 1).get(WAIT)
    removed = park(store, "gone", op="remove")
    batch = park(store, [("upsert", "x", {"x": 1}), ("remove", "gone")], op="batch")
    letter = store.dead_letters.get(batch, WAIT)
    assert letter.op_type == "batch"
    assert letter.batch is not None
    assert [kind for kind, _, _ in letter.batch] == ["upsert", "remove"]
    assert store.dead_letters.replay([removed], WAIT) == {removed: None}
    assert not store.exists("docs", "gone").get(WAIT)
    store.upsert("docs", "gone", 2).get(WAIT)
    assert store.dead_letters.replay([batch], WAIT) == {batch: None}
    assert store.search("docs", "x").get(WAIT) == {"x": 1}
    assert not store.exists("docs", "gone").get(WAIT)


def test_a_non_json_value_is_kept_exactly_for_replay(
    make_store: Callable[..., Store],
) -> None:
    store = make_store()
    store.create_table("blobs", key_format="bytes", value_format="bytes")
    with pytest.raises(RetriesExhaustedError):
        store.upsert("blobs", b"\x00k", b"\xff\x00", callback=AlwaysBusy()).get(WAIT)
    (letter,) = store.dead_letters.list(WAIT)
    assert letter.key == repr(b"\x00k")
    assert letter.value == repr(b"\xff\x00")
    assert (letter.key_bytes, letter.value_bytes) == (b"\x00k", b"\xff\x00")
    assert store.dead_letters.replay(timeout=WAIT) == {letter.id: None}
    assert store.search("blobs", b"\x00k").get(WAIT) == b"\xff\x00"


def test_dead_letters_are_plain_json_on_disk_and_never_executed(
    make_store: Callable[..., Store], store_path: Path
) -> None:
    store = make_store()
    store.create_table("docs", key_format="str", value_format="json")
    code = "__import__('os')"
    letter_id = park(store, code, {"v": code, "eval": "exec('1/0')"})
    store.close()
    env = lmdb.open(
        str(store_path / "tables" / DEAD_LETTER_TABLE),
        readonly=True,
        lock=False,
        subdir=True,
        max_dbs=0,
    )
    try:
        with env.begin() as txn:
            raw = [value for _, value in txn.cursor()]
    finally:
        env.close()
    assert len(raw) == 1
    record = json.loads(raw[0])
    assert record["id"] == letter_id
    assert record["key"] == code
    assert record["value"] == {"v": code, "eval": "exec('1/0')"}
    reopened = make_store()
    (letter,) = reopened.dead_letters.list(WAIT)
    assert letter.key == code
    assert letter.value == {"v": code, "eval": "exec('1/0')"}
    assert reopened.dead_letters.replay(timeout=WAIT) == {letter_id: None}
    assert reopened.search("docs", code).get(WAIT) == {"v": code, "eval": "exec('1/0')"}


def test_a_custom_hook_receives_the_record_and_the_table_stays_empty(
    make_store: Callable[..., Store],
) -> None:
    received: list[DeadLetter] = []
    store = make_store(dead_letter_hook=received.append)
    store.create_table("docs", key_format="str", value_format="json")
    future = store.upsert("docs", "k", {"n": 1}, callback=AlwaysBusy(max_attempts=2))
    with pytest.raises(RetriesExhaustedError) as raised:
        future.get(WAIT)
    assert len(received) == 1
    letter = received[0]
    # The error points where the letter went, not at an empty table.
    assert str(raised.value).endswith(
        f"dead-lettered as letter {letter.id} (kept by the dead-letter hook)"
    )
    assert raised.value.written
    assert raised.value.kept_in == "the dead-letter hook"
    assert (letter.op_type, letter.table, letter.key) == ("upsert", "docs", "k")
    assert letter.value == {"n": 1}
    assert letter.attempts == 2
    assert letter.error["type"] == "StoreBusyError"
    assert store.dead_letters.list(WAIT) == []
    assert store.stats()["dead_lettered"] == 1


def test_a_hook_that_raises_falls_back_to_the_table(
    make_store: Callable[..., Store],
) -> None:
    calls: list[DeadLetter] = []

    def broken(letter: DeadLetter) -> None:
        calls.append(letter)
        raise OSError("the queue is down")

    store = make_store(dead_letter_hook=broken)
    store.create_table("docs", key_format="str", value_format="json")
    future = store.upsert("docs", "k", {"n": 1}, callback=AlwaysBusy())
    with pytest.raises(RetriesExhaustedError, match=r"\(see store\.dead_letters\)"):
        future.get(WAIT)
    (letter,) = store.dead_letters.list(WAIT)
    assert [c.id for c in calls] == [letter.id]
    assert letter.key == "k"


def test_a_hook_that_is_not_callable_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidOptionError, match="dead_letter_hook"):
        actorstore.open_store(tmp_path / "s", dead_letter_hook=[])  # type: ignore[arg-type]


def test_a_flow_letter_cannot_be_replayed_and_stays(store: Store) -> None:
    class Broken(Flow):
        policy = RetryPolicy(max_attempts=1)

        def bump1Prepare(self, key: str) -> Any:
            raise StoreBusyError("busy")

    with pytest.raises(RetriesExhaustedError):
        Broken(store).start("bump", "a").get(WAIT)
    store.flush(WAIT)
    (letter,) = store.dead_letters.list(WAIT)
    assert not letter.replayable
    outcomes = store.dead_letters.replay(timeout=WAIT)
    assert isinstance(outcomes[letter.id], InvalidOptionError)
    assert "cannot be replayed" in str(outcomes[letter.id])
    assert [x.id for x in store.dead_letters.list(WAIT)] == [letter.id]
    assert store.dead_letters.purge([letter.id], WAIT) == 1


def test_replay_of_more_letters_than_ops_max_replays_them_all(
    make_store: Callable[..., Store],
) -> None:
    store = make_store(ops_max=1)
    store.create_table("docs", key_format="str", value_format="json")
    ids = [park(store, f"k{n}", {"n": n}) for n in range(5)]
    # The caller asked for one call, replay(); the letters it submits must
    # not be refused by the store's bound on outstanding ops.
    assert store.dead_letters.replay(timeout=WAIT) == dict.fromkeys(ids)
    assert store.dead_letters.list(WAIT) == []
    assert store.count("docs").get(WAIT) == 5


def test_triage_through_a_store_filters_summarizes_and_replays_at_a_rate(
    store: Store,
) -> None:
    store.create_table("other", key_format="str", value_format="json")
    busy_a = park(store, "a", {"n": 1})
    busy_b = park(store, "b", {"n": 2})
    exists = park(store, "k", {"n": 1}, op="insert")
    store.insert("docs", "k", {"n": 0}).get(WAIT)  # its replay fails again
    with pytest.raises(RetriesExhaustedError):
        store.upsert("other", "o", {"n": 3}, callback=AlwaysBusy()).get(WAIT)

    summary = store.dead_letters.summary(WAIT)
    assert summary.total == 4
    assert summary.by_table == {"docs": 3, "other": 1}
    assert summary.by_op == {"upsert": 3, "insert": 1}
    assert summary.by_error == {"StoreBusyError": 4}
    docs = store.dead_letters.list(WAIT, table="docs", op="upsert")
    assert [letter.id for letter in docs] == [busy_a, busy_b]
    letter_b = store.dead_letters.get(busy_b, WAIT)
    later = store.dead_letters.list(WAIT, since=letter_b.last_failed_at, table="docs")
    assert [letter.id for letter in later] == [busy_b, exists]

    report = store.dead_letters.replay(timeout=WAIT, table="docs", per_second=20)
    assert isinstance(report, actorstore.ReplayReport)
    assert (report.replayed, report.failed_again, report.already_applied) == (2, 1, 0)
    assert isinstance(report[exists], KeyExistsError)
    assert store.search("docs", "b").get(WAIT) == {"n": 2}
    assert store.dead_letters.purge(timeout=WAIT, table="other") == 1
    assert [letter.id for letter in store.dead_letters.list(WAIT)] == [exists]
