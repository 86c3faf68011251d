"""Tests for retry/_letters.py: the dead-letter record and its JSON form."""

from __future__ import annotations

import json
import threading
import time

from actorstore.retry import AttemptState, DeadLetter
from actorstore.retry._letters import error_record, jsonable, new_dead_letter_id
from actorstore.storage import KeyExistsError, StoreBusyError

from .fakes import WAIT, sample_letter


def test_a_dead_letter_round_trips_through_json() -> None:
    letter = sample_letter()
    text = json.dumps(letter.to_json())
    assert DeadLetter.from_json(json.loads(text)) == letter


def test_bytes_are_stored_as_base64_text() -> None:
    record = sample_letter(key_bytes=b"\x00\xffkey", value_bytes=b"\x01").to_json()
    assert isinstance(record["key_bytes"], str)
    assert isinstance(record["value_bytes"], str)
    assert DeadLetter.from_json(record).key_bytes == b"\x00\xffkey"


def test_a_batch_round_trips_through_json() -> None:
    batch = [("upsert", b"a", b"1"), ("remove", b"b", None)]
    letter = sample_letter(op_type="batch", key=None, key_bytes=None, batch=batch)
    again = DeadLetter.from_json(json.loads(json.dumps(letter.to_json())))
    assert again.batch == batch
    assert again.replayable


def test_replayable_needs_the_encoded_op_and_no_flow() -> None:
    assert sample_letter().replayable
    assert not sample_letter(key_bytes=None).replayable
    assert sample_letter(op_type="count", key_bytes=None).replayable
    assert not sample_letter(flow="bump", stage="bump2Compose").replayable


def test_jsonable_keeps_json_and_reprs_the_rest() -> None:
    assert jsonable({"a": [1, 2.5, None, "x"]}) == {"a": [1, 2.5, None, "x"]}
    assert jsonable(b"\x00") == repr(b"\x00")
    assert jsonable({1, 2}) == repr({1, 2})
    assert jsonable(float("nan")) == "nan"
    # What the dead-letter table's JSON would change is kept as its repr.
    assert jsonable({1: "a", "1": "b"}) == repr({1: "a", "1": "b"})


def test_error_record_keeps_type_name_and_message() -> None:
    assert error_record(KeyExistsError(table="t", key="k")) == {
        "type": "KeyExistsError",
        "message": str(KeyExistsError(table="t", key="k")),
    }


def test_dead_letter_ids_are_unique_and_increasing_across_threads() -> None:
    ids: list[list[int]] = [[] for _ in range(8)]

    def take(into: list[int]) -> None:
        into.extend(new_dead_letter_id() for _ in range(500))

    threads = [threading.Thread(target=take, args=(into,)) for into in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    every = [i for into in ids for i in into]
    assert len(set(every)) == len(every) == 4000
    assert all(into == sorted(into) for into in ids)


def test_from_json_never_executes_or_unpickles_anything() -> None:
    record = sample_letter().to_json()
    record["key"] = "__import__('os').system('false')"
    record["value"] = {"__reduce__": ["os.system", ["false"]], "py/object": "os"}
    letter = DeadLetter.from_json(record)
    assert letter.key == "__import__('os').system('false')"
    assert letter.value == {"__reduce__": ["os.system", ["false"]], "py/object": "os"}


def test_new_takes_the_error_attempts_and_times_from_the_state() -> None:
    state = AttemptState()
    state.failed(StoreBusyError("first"))
    state.failed(StoreBusyError("last"))
    letter = DeadLetter.new(
        op_type="upsert",
        table="docs",
        key="k",
        value={"n": 1},
        state=state,
        key_bytes=b"k",
        value_bytes=b'{"n": 1}',
    )
    assert letter.error == {"type": "StoreBusyError", "message": "last"}
    assert letter.attempts == 2
    assert state.first_failed_at is not None and state.last_failed_at is not None
    assert (letter.first_failed_at, letter.last_failed_at) == (
        state.first_failed_at,
        state.last_failed_at,
    )
    assert (letter.op_type, letter.table, letter.key, letter.value) == (
        "upsert",
        "docs",
        "k",
        {"n": 1},
    )
    assert (letter.key_bytes, letter.value_bytes) == (b"k", b'{"n": 1}')
    assert (letter.flow, letter.stage, letter.batch) == (None, None, None)
    assert letter.replayable


def test_new_gives_each_letter_a_fresh_id_and_keeps_non_json_as_repr() -> None:
    state = AttemptState()
    state.failed(StoreBusyError("busy"))
    first, second = (
        DeadLetter.new(
            op_type="upsert", table="t", key=b"\x00", value={1, 2}, state=state
        )
        for _ in range(2)
    )
    assert first.id < second.id
    assert (first.key, first.value) == (repr(b"\x00"), repr({1, 2}))


def test_new_from_a_state_with_no_failure_uses_now() -> None:
    before = time.time()
    letter = DeadLetter.new(
        op_type="flow",
        table="",
        key="bump",
        value=[],
        state=AttemptState(),
        flow="bump",
        stage="bump1Prepare",
    )
    assert letter.error == {}
    assert letter.attempts == 0
    assert before <= letter.first_failed_at == letter.last_failed_at <= time.time()


def test_describe_names_the_op_or_the_flow_and_stage() -> None:
    assert sample_letter().describe() == "upsert on table 'docs' key 'k'"
    assert (
        sample_letter(flow="bump", stage="bump2Compose").describe()
        == "flow bump stage bump2Compose"
    )
    long = sample_letter(key="x" * 100).describe()
    assert long == f"upsert on table 'docs' key {repr('x' * 100)[:57]}..."
