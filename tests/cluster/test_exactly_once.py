"""Exactly once on a real (simulated) cluster: owners die mid-call, ops still end once.

Every op carries its store's session id and its number; an owner records
outcomes by session in the group's own transaction, so an op sent again
after its owner died is answered from the record instead of running twice
(`storage._session_records`, `actors._exactly_once`). The deterministic tests use
`DyingNodeOwner` (its process dies right before or right after committing a
call); the load tests kill owners with SIGKILL and a node outright while
writers insert unique keys, bump counters (read, then a batch that updates
the counter and inserts its log entry) and remove keys.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import ray

from actorstore import retry
from actorstore.cluster import ClusterStore, connect_store
from actorstore.cluster._errors import OutcomeUnknownError
from actorstore.cluster._names import node_owner_name
from actorstore.cluster._owner_actors import start_owner, stop_owner
from actorstore.retry._triage import ALREADY_APPLIED
from actorstore.storage import KeyExistsError, NotFoundError, StaleOpError
from tests.cluster.harness import (
    DIE_AFTER_COMMIT,
    DIE_BEFORE_RUN,
    WAIT,
    DyingNodeOwner,
    LabelledCluster,
    wait_for,
    wait_until_serving,
)

ONE_TRY = retry.RetryPolicy(max_attempts=1)


@dataclasses.dataclass
class Dying:
    """A client store whose node `b` is served by a `DyingNodeOwner`."""

    store: ClusterStore
    path: Path
    owner: Any

    def pid(self) -> int:
        pid: int = ray.get(self.owner.location.remote(), timeout=WAIT)["pid"]
        return pid

    def die(self, marker: str) -> None:
        (self.path / marker).touch()


@contextlib.contextmanager
def own_store(
    cluster: LabelledCluster, tmp_path: Path, name: str, **options: Any
) -> Iterator[Dying]:
    """A store of its own (a namespace, stores, owners) with a dying owner on b;
    its owners are stopped after the block."""
    namespace = "eo-" + re.sub(r"[^a-z0-9]", "-", name.lower())[:40]
    root = Path(cluster.paths["a"]).parent / namespace
    nodes = {label: str(root / label) for label in cluster.labels}
    owner = start_owner(
        DyingNodeOwner,
        node_owner_name("b"),
        "b",
        nodes["b"],
        namespace=namespace,
        timeout=WAIT,
    )
    store = connect_store(
        nodes=nodes,
        namespace=namespace,
        spool_path=tmp_path / "spool.jsonl",
        **options,
    )
    try:
        yield Dying(store, Path(nodes["b"]), owner)
    finally:
        store.close(3 * WAIT)
        for handle in (owner, store._transport.owner("a"), store._transport.directory):
            with contextlib.suppress(Exception):
                stop_owner(handle, timeout=WAIT)


@pytest.fixture
def dying(
    cluster: LabelledCluster, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Dying]:
    """A store of its own (a namespace, stores, owners) with a dying owner on b."""
    with own_store(cluster, tmp_path, request.node.name) as store:
        yield store


def test_an_op_whose_owner_died_after_committing_it_is_answered_once(
    dying: Dying,
) -> None:
    store = dying.store
    store.create_table("t", node="b")
    store.upsert("t", "warm", 0).get(WAIT)
    pid = dying.pid()
    dying.die(DIE_AFTER_COMMIT)

    inserted = store.insert("t", "k", 1)
    batched = store.batch("t", [("insert", "x", 1), ("insert", "y", 2)])

    # Committed, then the owner died: its retry is answered from the record,
    # not run again (which would end KeyExistsError, the batch as a whole).
    assert inserted.get(3 * WAIT) is None
    assert batched.get(3 * WAIT) == 2
    assert dying.pid() != pid
    assert store.count("t").get(WAIT) == 4
    assert store.stats()["retried"] >= 1
    assert store.dead_letters.list(WAIT) == []


def test_an_op_whose_owner_died_before_running_it_runs_once(dying: Dying) -> None:
    store = dying.store
    store.create_table("t", node="b")
    store.upsert("t", "warm", 0).get(WAIT)
    dying.die(DIE_BEFORE_RUN)

    assert store.insert("t", "k", 1).get(3 * WAIT) is None
    assert store.search("t", "k").get(WAIT) == 1
    assert store.count("t").get(WAIT) == 2


def test_replaying_an_outcome_unknown_letter_is_answered_from_the_record(
    dying: Dying,
) -> None:
    store = dying.store
    store.create_table("t", node="b")
    store.upsert("t", "warm", 0).get(WAIT)
    dying.die(DIE_AFTER_COMMIT)
    committed = store.insert("t", "k", 1, retry=ONE_TRY).exception(3 * WAIT)
    wait_until_serving(dying.owner)
    dying.die(DIE_BEFORE_RUN)
    never_ran = store.insert("t", "never", 2, retry=ONE_TRY).exception(3 * WAIT)
    wait_until_serving(dying.owner)

    for error in (committed, never_ran):
        # The letter says the outcome is unknown, and carries the op's ids.
        assert isinstance(error, retry.RetriesExhaustedError), error
        assert isinstance(error.last_error, OutcomeUnknownError)
        assert "answered from its owner's records" in str(error)
        assert error.dead_letter is not None
        assert error.dead_letter.session == store.session.id.hex()
        assert error.dead_letter.number
    store.upsert("t", "later", 3).get(WAIT)  # the table moves on meanwhile
    letters = {letter.key: letter for letter in store.dead_letters.list(WAIT)}
    assert set(letters) == {"k", "never"}

    report = store.dead_letters.replay(timeout=WAIT)

    assert report == {letters["k"].id: None, letters["never"].id: None}
    assert (report.already_applied, report.replayed) == (1, 1)
    assert store.search("t", "k").get(WAIT) == 1  # committed once, not refused
    assert store.search("t", "never").get(WAIT) == 2  # ran now, once
    assert store.count("t").get(WAIT) == 4
    assert store.dead_letters.list(WAIT) == []
    # The same letter replayed again: answered, not run a second time.
    again = store.dead_letters.host.replay(letters["never"]).get(WAIT)
    assert again is ALREADY_APPLIED
    assert store.search("t", "never").get(WAIT) == 2


def test_a_letter_older_than_the_window_is_refused(dying: Dying) -> None:
    store = dying.store
    store.create_table("t", node="b")
    store.upsert("t", "warm", 0).get(WAIT)
    dying.die(DIE_AFTER_COMMIT)
    error = store.insert("t", "k", 1, retry=ONE_TRY).exception(3 * WAIT)
    assert isinstance(error, retry.RetriesExhaustedError)
    assert error.dead_letter is not None
    old = dataclasses.replace(
        error.dead_letter, first_failed_at=time.time() - 2 * 24 * 3600
    )

    with pytest.raises(StaleOpError, match="check the data"):
        store.dead_letters.host.replay(old)


# -- under load: repeated SIGKILLs of an owner, a node killed -------------------


@dataclasses.dataclass
class Tally:
    """What one writer was told about its ops."""

    inserted: dict[str, Any] = dataclasses.field(default_factory=dict)
    insert_failed: dict[str, BaseException] = dataclasses.field(default_factory=dict)
    removed: set[str] = dataclasses.field(default_factory=set)
    remove_failed: dict[str, BaseException] = dataclasses.field(default_factory=dict)
    bumps: int = 0
    bump_failed: list[BaseException] = dataclasses.field(default_factory=list)
    unanswered: int = 0


class Writer(threading.Thread):
    """Insert unique keys (a window in flight), bump a counter now and then (read,
    then one batch: update the counter, insert its log entry) and remove keys
    inserted beforehand, until stopped (and at least `ops` inserts); record
    what every op was told."""

    def __init__(self, store: ClusterStore, table: str, name: str, ops: int) -> None:
        super().__init__(name=f"writer-{name}", daemon=True)
        self.store = store
        self.table = table
        self.prefix = name
        self.ops = ops
        self.tally = Tally()
        self.counter = f"counter-{name}"
        self.error: Exception | None = None
        self.submitted = 0
        self.stop = threading.Event()

    def removable(self) -> list[str]:
        return [f"rm-{self.prefix}-{i}" for i in range(self.ops // 10)]

    def run(self) -> None:
        try:
            self._run()
        except Exception as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    def _run(self) -> None:
        store, table = self.store, self.table
        pending: list[tuple[str, str, Any]] = []
        removable = iter(self.removable())
        i = -1
        while i < self.ops or not self.stop.is_set():
            i += 1
            self.submitted = i
            key = f"ins-{self.prefix}-{i}"
            pending.append(("insert", key, store.insert(table, key, i)))
            if i % 10 == 5:
                doomed = next(removable, None)
                if doomed is not None:
                    pending.append(("remove", doomed, store.remove(table, doomed)))
            if i % 25 == 0:
                self._bump()
            if len(pending) >= 64:
                self._settle(pending[:32])
                del pending[:32]
        self._settle(pending)

    def _bump(self) -> None:
        store, table, tally = self.store, self.table, self.tally
        try:
            value = store.search(table, self.counter).get(6 * WAIT)
            writes = [
                ("update", self.counter, value + 1),
                ("insert", f"{self.counter}/{value + 1}", value + 1),
            ]
            store.batch(table, writes).get(6 * WAIT)
        except Exception as exc:  # noqa: BLE001 - recorded
            tally.bump_failed.append(exc)
        else:
            tally.bumps += 1

    def _settle(self, pending: list[tuple[str, str, Any]]) -> None:
        tally = self.tally
        for kind, key, future in pending:
            try:
                error = future.exception(6 * WAIT)
            except TimeoutError:
                tally.unanswered += 1
                continue
            if kind == "insert":
                if error is None:
                    tally.inserted[key] = int(key.rsplit("-", 1)[1])
                else:
                    tally.insert_failed[key] = error
            elif error is None:
                tally.removed.add(key)
            else:
                tally.remove_failed[key] = error


def kill_owner(owner: Any) -> None:
    """SIGKILL the owner's process (it restarts on the same node)."""
    pid = ray.get(owner.location.remote(), timeout=WAIT)["pid"]
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not _alive(pid), "the owner's process to end")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def run_under_faults(
    dying: Dying,
    table: str,
    faults: list[Callable[[], object]],
    *,
    writers: int,
    ops: int,
) -> list[Writer]:
    """Run `writers` writers on `table` (on node b) through `faults`, one after
    another with ops flowing in between, until each made `ops` inserts; return
    them once every op has ended."""
    store = dying.store
    store.create_table(table, node="b")
    team = [Writer(store, table, str(w), ops) for w in range(writers)]
    setup = [store.upsert(table, w.counter, 0) for w in team]
    setup += [store.insert(table, key, 0) for w in team for key in w.removable()]
    for future in setup:
        future.get(WAIT)
    for writer in team:
        writer.start()
    step = ops // (len(faults) + 1)

    def progress() -> None:
        """Wait until every writer submitted `step` more inserts."""
        targets = [(writer, writer.submitted + step) for writer in team]
        wait_for(
            lambda: all(w.submitted >= n or not w.is_alive() for w, n in targets),
            f"{step} more ops of each writer",
            timeout=10 * WAIT,
        )

    for fault in faults:
        progress()
        fault()
        wait_until_serving(dying.owner, timeout=3 * WAIT)
    progress()
    for writer in team:
        writer.stop.set()
    for writer in team:
        writer.join(20 * WAIT)
        assert not writer.is_alive(), f"{writer.name} never finished"
        assert writer.error is None, writer.error
    return team


def die_after_commit(dying: Dying) -> Callable[[], object]:
    """A fault: the owner's next call commits, then its process dies."""

    def fault() -> None:
        dying.die(DIE_AFTER_COMMIT)
        wait_for(
            lambda: not (dying.path / DIE_AFTER_COMMIT).exists(), "the owner to die"
        )

    return fault


def sigkill(dying: Dying) -> Callable[[], object]:
    """A fault: the owner's process is killed, wherever it is."""
    return lambda: kill_owner(dying.owner)


def node_kill(cluster: LabelledCluster) -> Callable[[], object]:
    """A fault: node b is killed, then comes back a few seconds later."""

    def fault() -> None:
        cluster.kill("b")
        time.sleep(3.0)  # the node stays dead a while (the outage is the test)
        cluster.restore("b")

    return fault


def check(store: ClusterStore, table: str, team: list[Writer]) -> dict[str, int]:
    """Check every writer's tally against the table; return the totals."""
    present = dict(store.scan(table).get(WAIT))
    totals = {"inserted": 0, "removed": 0, "bumps": 0, "failed": 0}
    for writer in team:
        tally = writer.tally
        assert tally.unanswered == 0, f"{writer.name}: ops never answered"
        failures = [
            *tally.insert_failed.values(),
            *tally.remove_failed.values(),
            *tally.bump_failed,
        ]
        # The owner always came back within the policy: every op answered,
        # none with an unknown outcome, none applied twice (a KeyExistsError
        # or NotFoundError of an op applied before its answer was lost).
        assert failures == [], failures[:3]
        mine = {
            k: v for k, v in present.items() if k.startswith(f"ins-{writer.prefix}-")
        }
        assert mine == tally.inserted
        for key in writer.removable():
            assert (key in present) == (key not in tally.removed)
        value = present[writer.counter]
        assert value == tally.bumps, (value, tally.bumps)
        log = {k for k in present if k.startswith(f"{writer.counter}/")}
        assert log == {f"{writer.counter}/{n}" for n in range(1, value + 1)}
        totals["inserted"] += len(tally.inserted)
        totals["removed"] += len(tally.removed)
        totals["bumps"] += tally.bumps
        totals["failed"] += len(failures)
    return totals


@pytest.mark.timeout(300)
def test_every_op_ends_once_through_owner_deaths(dying: Dying) -> None:
    faults = [die_after_commit(dying), sigkill(dying), die_after_commit(dying)]
    team = run_under_faults(dying, "t", faults, writers=2, ops=600)

    totals = check(dying.store, "t", team)
    assert totals["inserted"] >= 1200
    assert dying.store.stats()["retried"] > 0  # the deaths did land mid-call


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_every_op_ends_once_through_repeated_owner_kills_and_a_node_kill(
    cluster: LabelledCluster, dying: Dying
) -> None:
    faults = [
        sigkill(dying),
        die_after_commit(dying),
        sigkill(dying),
        sigkill(dying),
        die_after_commit(dying),
        sigkill(dying),
        node_kill(cluster),
    ]
    team = run_under_faults(dying, "t", faults, writers=4, ops=5000)

    totals = check(dying.store, "t", team)
    assert totals["inserted"] >= 20_000
    stats = dying.store.stats()
    assert stats["retried"] > 0
    print("exactly once under faults:", totals, "retried:", stats["retried"])


def test_a_recorded_error_answers_a_replay_and_a_new_op_runs_afresh(
    dying: Dying,
) -> None:
    # The insert failed (the key was there) and its owner died before
    # answering: its letter's replay gets that same error, even though the
    # key is gone by then; a new insert (a new number) runs afresh.
    store = dying.store
    store.create_table("t", node="b")
    store.upsert("t", "k", 0).get(WAIT)
    dying.die(DIE_AFTER_COMMIT)
    error = store.insert("t", "k", 1, retry=ONE_TRY).exception(3 * WAIT)
    assert isinstance(error, retry.RetriesExhaustedError), error
    assert error.dead_letter is not None
    store.remove("t", "k").get(WAIT)

    replayed = store.dead_letters.host.replay(error.dead_letter).exception(WAIT)

    assert isinstance(replayed, KeyExistsError), replayed
    assert not store.exists("t", "k").get(WAIT)
    assert isinstance(store.remove("t", "k").exception(WAIT), NotFoundError)
    assert store.insert("t", "k", 2).get(WAIT) is None


def test_a_call_its_owner_never_answers_ends_by_its_deadline(
    cluster: LabelledCluster, tmp_path: Path
) -> None:
    # A frozen owner (SIGSTOP) answers nothing and Ray notices nothing: its
    # calls would stay pending for ever. Each ends by its deadline instead,
    # its ops retried with their numbers until the policy gives up.
    policy = retry.RetryPolicy(max_attempts=3, initial_wait=0.1, max_wait=0.2)
    with own_store(
        cluster, tmp_path, "frozen", call_timeout=1.0, retry=policy
    ) as frozen:
        store = frozen.store
        store.create_table("t", node="b")
        store.upsert("t", "warm", 0).get(WAIT)
        pid = frozen.pid()
        os.kill(pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            error = store.insert("t", "k", 1).exception(WAIT)
            took = time.monotonic() - started
        finally:
            os.kill(pid, signal.SIGCONT)

        assert isinstance(error, retry.RetriesExhaustedError), error
        assert isinstance(error.last_error, OutcomeUnknownError)
        assert "no answer within" in str(error.last_error)
        assert took < 10
        # Thawed, the owner runs the calls it was sent: the insert once, its
        # resends answered from its record; so is the letter's replay.
        assert store.search("t", "k").get(WAIT) == 1
        assert error.dead_letter is not None
        letter = error.dead_letter.id
        report = store.dead_letters.replay([letter], timeout=WAIT)
        assert report == {letter: None}
        assert report.already_applied == 1
        assert store.count("t").get(WAIT) == 2
