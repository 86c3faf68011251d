"""Store.backup: a hot, consistent copy of a store that opens as a store."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

import actorstore
from actorstore import AttemptState, BackupResult, DeadLetter, Store
from actorstore.storage import InvalidOptionError, StoreBusyError, StoreClosedError

WAIT = 10.0
WRITERS = 4


def _park_letter(store: Store, table: str) -> int:
    state = AttemptState()
    state.failed(StoreBusyError("busy"))
    letter = DeadLetter.new(
        op_type="upsert", table=table, key="k", value={"v": 1}, state=state
    )
    store.dead_letters.park(letter).get(WAIT)
    return letter.id


def test_every_op_acknowledged_before_the_call_is_in_the_copy_under_four_writers(
    make_store: Callable[..., Store], tmp_path: Path
) -> None:
    store = make_store(threads=2)
    store.create_table("sync_t")
    store.create_table("none_t", durability="none")
    letter_id = _park_letter(store, "sync_t")
    acknowledged = [0] * WRITERS
    started = [threading.Event() for _ in range(WRITERS)]
    stop = threading.Event()
    errors: list[BaseException] = []

    def write(number: int) -> None:
        table = "sync_t" if number % 2 else "none_t"
        try:
            while not stop.is_set():
                n = acknowledged[number]
                store.upsert(table, f"w{number}-{n:06}", {"n": n}).get(WAIT)
                acknowledged[number] = n + 1  # acknowledged: get() returned
                started[number].set()
        except BaseException as exc:  # noqa: BLE001 - the test reports it
            errors.append(exc)
            started[number].set()

    writers = [threading.Thread(target=write, args=(i,)) for i in range(WRITERS)]
    for writer in writers:
        writer.start()
    try:
        assert all(event.wait(WAIT) for event in started)
        before = list(acknowledged)
        result = store.backup(tmp_path / "copy")
        after = list(acknowledged)
    finally:
        stop.set()
        for writer in writers:
            writer.join(WAIT)
    assert not errors
    assert sum(after) > sum(before), "writers were held up by the backup"
    assert isinstance(result, BackupResult)
    assert set(result.tables) >= {"sync_t", "none_t", actorstore.DEAD_LETTER_TABLE}

    with actorstore.open_store(tmp_path / "copy") as copy:
        assert all(check.ok for check in copy.check().values())
        for number in range(WRITERS):
            table = "sync_t" if number % 2 else "none_t"
            keys = {key for key, _ in copy.scan(table, prefix=f"w{number}-").get(WAIT)}
            wanted = {f"w{number}-{n:06}" for n in range(before[number])}
            assert wanted <= keys, f"writer {number} lost acknowledged ops"
            assert len(keys) <= after[number] + 1  # at most the one in flight
        assert [letter.id for letter in copy.dead_letters.list(WAIT)] == [letter_id]
        assert copy.table_info("none_t").durability.value == "none"
        records = sum(copy.count(name).get(WAIT) for name in ("sync_t", "none_t"))
    assert result.records == records + 1  # the dead letter


def test_backup_refuses_a_destination_that_exists_and_a_closed_store(
    make_store: Callable[..., Store], tmp_path: Path
) -> None:
    store = make_store()
    (tmp_path / "taken").mkdir()
    with pytest.raises(InvalidOptionError, match="already exists"):
        store.backup(tmp_path / "taken")
    with pytest.raises(InvalidOptionError, match="inside the store"):
        store.backup(Path(store.path) / "copy")
    store.close()
    with pytest.raises(StoreClosedError):
        store.backup(tmp_path / "copy")
    assert not (tmp_path / "copy").exists()
