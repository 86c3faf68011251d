"""Independent tests of the store at its edges: what the application or user code
does around it (stop every pykka actor, raise SystemExit, block on a store
thread, fill the disk, shut the callback executor down, wait for ever, fork).

Real stores in `tmp_path`, real threads. Anything that could kill or hang the
interpreter (a fork, a full disk) runs in a subprocess with a timeout, and the
test asserts the subprocess did not die by a signal.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pykka
import pytest

from actorstore import BlockingCallError, OpFuture, Store
from actorstore.retry import (
    Callback,
    Flow,
    RetriesExhaustedError,
    RetryCallback,
    RetryPolicy,
)
from actorstore.retry._scheduler import on_timer_thread
from actorstore.storage import KeyExistsError, StoreBusyError
from tests.actors.helpers import Notes, wait_for, when

WAIT = 5.0
"""Seconds a test waits for something that signals; far above what it takes."""

AT_ONCE = 1.0
"""A call that must not wait at all returns well within this many seconds."""

ROOT = Path(__file__).resolve().parents[2]
"""The repository root: subprocesses import the packages from it."""


# -- helpers ---------------------------------------------------------------------------


def run_python(code: str, *args: object, timeout: float = 60.0) -> Any:
    """Run `code` in a fresh interpreter; return the JSON its last line prints.

    Fails if it does not end within `timeout`, died by a signal, or failed.
    """
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode >= 0, (
        f"the subprocess died by signal {-done.returncode}:\n{done.stderr}"
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def busy(error: BaseException | None, result: object) -> None:
    """A callback that vetoes every attempt of its op with a transient error."""
    if error is None:
        raise StoreBusyError("busy, try again", table="t")


class BusyFirst(RetryCallback):
    """Fails the first `failures` attempts with `StoreBusyError`; `scheduled` is
    set once a retry is waiting on the timer."""

    def __init__(self, failures: int = 1, policy: RetryPolicy | None = None) -> None:
        super().__init__(policy)
        self.failures = failures
        self.attempts = 0
        self.scheduled = threading.Event()

    def callback(self, result: Any) -> object:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise StoreBusyError("busy, try again", table="t")
        return None

    def exception(self, error: BaseException) -> None:
        super().exception(error)
        self.scheduled.set()


class Collector(pykka.ThreadingActor):
    """An application actor (registered with pykka) that keeps what it is told."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[Any] = []

    def on_receive(self, message: Any) -> None:
        self.messages.append(message)


def try_blocking_calls(store: Store, pending: OpFuture[Any]) -> dict[str, Any]:
    """Call `pending.get()`, `store.flush()` and `store.close()` here; return, per
    call, the type it raised (None if it returned) and the seconds it took."""
    calls: dict[str, Callable[[], object]] = {
        "get": lambda: pending.get(timeout=WAIT),
        "flush": lambda: store.flush(timeout=WAIT),
        "close": lambda: store.close(timeout=WAIT),
    }
    found: dict[str, Any] = {}
    for name, call in calls.items():
        started = time.monotonic()
        raised: type[BaseException] | None = None
        try:
            call()
        except BaseException as exc:  # noqa: BLE001 - recorded for the test to check
            raised = type(exc)
        found[name] = (raised, time.monotonic() - started)
    return found


def assert_refused_at_once(found: dict[str, Any]) -> None:
    assert set(found) == {"get", "flush", "close"}
    for name, (raised, took) in found.items():
        assert raised is BlockingCallError, f"{name}() raised {raised}"
        assert took < AT_ONCE, f"{name}() took {took:.2f} s to refuse"


def assert_store_works(store: Store, table: str = "t") -> None:
    assert store.upsert(table, "after", 42).get(timeout=WAIT) is None
    assert store.search(table, "after").get(timeout=WAIT) == 42
    store.flush(timeout=WAIT)


# -- 1. pykka.ActorRegistry.stop_all() by the application ------------------------------


def test_stop_all_leaves_pending_retries_queued_ops_and_new_ops_served(
    make_store: Callable[..., Store], hold: Callable[..., Any]
) -> None:
    store = make_store()
    store.create_table("t")
    store.create_table("u")
    app = Collector.start()
    # Two pending retries on the timer: one due soon, one due long after close.
    soon = BusyFirst(policy=RetryPolicy(max_attempts=5, initial_wait=0.5))
    late = BusyFirst(policy=RetryPolicy(max_attempts=5, initial_wait=60))
    soon_future = store.upsert("t", "soon", 1, callback=soon)
    late_future = store.upsert("t", "late", 2, callback=late)
    assert soon.scheduled.wait(WAIT) and late.scheduled.wait(WAIT)
    # Queued ops behind a held owner, one of them replying to the app's actor.
    gate = hold(store, "t")
    queued = [store.upsert("t", f"q{i}", i) for i in range(20)]
    replied = store.upsert("t", "reply", 3, reply_to=app)

    pykka.ActorRegistry.stop_all(timeout=WAIT)

    assert not app.is_alive()
    retries = [c for c in store._scheduler.pending() if c.on_close is not None]
    assert retries, "stop_all() dropped the pending retries"
    assert " open " in repr(store), repr(store)
    assert store.upsert("u", "new", 1).get(timeout=WAIT) is None
    assert store.search("u", "new").get(timeout=WAIT) == 1
    gate.open()
    assert [f.get(timeout=WAIT) for f in queued] == [None] * 20
    assert replied.get(timeout=WAIT) is None  # its actor is gone; the future holds it
    assert soon_future.get(timeout=WAIT) is None  # retried after stop_all, and written
    assert soon.attempts == 2
    assert not late_future.done()

    store.close(timeout=WAIT)

    assert " closed " in repr(store) and store.is_closed
    error = late_future.exception(timeout=0)
    assert isinstance(error, RetriesExhaustedError) and error.written
    reopened = make_store()
    assert reopened.search("t", "soon").get(timeout=WAIT) == 1
    assert reopened.search("t", "q19").get(timeout=WAIT) == 19
    assert reopened.search("u", "new").get(timeout=WAIT) == 1
    assert not reopened.exists("t", "late").get(timeout=WAIT)
    letters = reopened.dead_letters.list(timeout=WAIT)
    assert [(x.op_type, x.table, x.key, x.value) for x in letters] == [
        ("upsert", "t", "late", 2)
    ]


# -- 2. SystemExit and KeyboardInterrupt from user code on the timer -------------------


@pytest.mark.parametrize("kind", [SystemExit, KeyboardInterrupt])
def test_the_timer_survives_user_code_raising(
    make_store: Callable[..., Store], kind: type[BaseException]
) -> None:
    store = make_store()
    store.create_table("t")

    class RaisingRetry(BusyFirst):
        def retry(self, error: BaseException) -> None:
            raise kind("from retry()")

    class RaisingStage(Flow):
        ran_on_timer: bool | None = None

        def go1Write(self, key: str) -> Any:
            return self.store.upsert("t", key, 1), key

        def go2Boom(self, _: object, key: str) -> None:
            RaisingStage.ran_on_timer = on_timer_thread()
            raise kind("from a flow stage")

    retried = store.upsert("t", "a", 1, callback=RaisingRetry())
    assert isinstance(retried.exception(timeout=WAIT), kind)

    flow = RaisingStage(store, policy=RetryPolicy(max_attempts=2)).start("go", "b")
    assert isinstance(flow.exception(timeout=WAIT), kind)
    assert RaisingStage.ran_on_timer is True
    store.flush(timeout=WAIT)
    assert store._scheduler._thread.is_alive()

    # The timer still runs retries: this op needs two of them.
    later = BusyFirst(failures=2)
    assert store.upsert("t", "c", 3, callback=later).get(timeout=WAIT) is None
    assert later.attempts == 3
    policy_retried = store.upsert("t", "d", 4, retry=RetryPolicy(max_attempts=3))
    assert policy_retried.get(timeout=WAIT) is None
    store.flush(timeout=WAIT)
    assert store.search("t", "c").get(timeout=WAIT) == 3
    store.close(timeout=WAIT)
    assert store.is_closed


def test_an_infinite_sync_interval_syncs_none_tables_on_flush_and_close(
    make_store: Callable[..., Store],
) -> None:
    store = make_store(sync_interval=float("inf"))
    store.create_table("lazy", durability="none")
    assert store._scheduler.pending() == []  # no tick that never comes due
    table = store._transport.directory.table("lazy", internal=True)
    synced: list[float] = []
    sync = table.sync

    def counting_sync(*args: Any, **kwargs: Any) -> Any:
        synced.append(time.monotonic())
        return sync(*args, **kwargs)

    table.sync = counting_sync  # type: ignore[method-assign]

    assert store.upsert("lazy", "k", 1).get(timeout=WAIT) is None
    assert synced == []  # acknowledged after commit, not synced yet
    store.flush(timeout=WAIT)
    assert len(synced) == 1
    assert store.upsert("lazy", "k", 2).get(timeout=WAIT) is None
    store.close(timeout=WAIT)
    assert len(synced) == 2
    assert make_store().search("lazy", "k").get(timeout=WAIT) == 2


# -- 3. blocking calls on store threads ------------------------------------------------


def test_blocking_calls_in_a_callback_on_an_owner_raise_at_once(
    make_store: Callable[..., Store], hold: Callable[..., Any]
) -> None:
    store = make_store(threads=2)
    store.create_table("held")
    store.create_table("t")
    gate = hold(store, "held")  # one owner held, its op pending
    found: dict[str, Any] = {}

    def callback(error: BaseException | None, result: object) -> None:
        found.update(try_blocking_calls(store, gate.future))

    assert store.upsert("t", "k", 1, callback=callback).get(timeout=WAIT) is None

    assert_refused_at_once(found)
    gate.open()
    assert gate.future.get(timeout=WAIT) is None
    assert_store_works(store)


def test_blocking_calls_in_a_done_callback_on_an_owner_raise_at_once(
    make_store: Callable[..., Store], hold: Callable[..., Any]
) -> None:
    store = make_store(threads=2)
    store.create_table("held")
    store.create_table("t")
    gate = hold(store, "held")
    found: dict[str, Any] = {}
    ran = threading.Event()

    def done(_: OpFuture[Any]) -> None:
        found.update(try_blocking_calls(store, gate.future))
        ran.set()

    store.upsert("t", "k", 1).add_done_callback(done)  # runs on the owner

    assert ran.wait(WAIT)
    assert_refused_at_once(found)
    gate.open()
    assert_store_works(store)


def test_blocking_calls_in_a_flow_stage_on_the_timer_raise_at_once(
    make_store: Callable[..., Store], hold: Callable[..., Any]
) -> None:
    store = make_store(threads=2)
    store.create_table("held")
    store.create_table("t")
    gate = hold(store, "held")

    class Blocks(Flow):
        def go1Write(self) -> Any:
            return self.store.upsert("t", "k", 1)

        def go2Block(self, _: object) -> Any:
            return on_timer_thread(), try_blocking_calls(store, gate.future)

    on_timer, found = Blocks(store).start("go").get(timeout=WAIT)

    assert on_timer is True
    assert_refused_at_once(found)
    gate.open()
    assert_store_works(store)


def test_blocking_calls_in_retry_on_the_timer_raise_at_once(
    make_store: Callable[..., Store], hold: Callable[..., Any]
) -> None:
    store = make_store(threads=2)
    store.create_table("held")
    store.create_table("t")
    gate = hold(store, "held")
    found: dict[str, Any] = {}

    class Blocks(BusyFirst):
        def retry(self, error: BaseException) -> None:
            found["on_timer"] = on_timer_thread()
            found.update(try_blocking_calls(store, gate.future))
            super().retry(error)

    assert store.upsert("t", "k", 1, callback=Blocks()).get(timeout=WAIT) is None

    assert found.pop("on_timer") is True
    assert_refused_at_once(found)
    gate.open()
    assert_store_works(store)


def test_blocking_calls_in_a_callback_on_the_callback_executor_raise_at_once(
    make_store: Callable[..., Store], hold: Callable[..., Any]
) -> None:
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=2)
    try:
        store = make_store(threads=2, callback_executor=pool)
        store.create_table("held")
        store.create_table("t")
        # The held callback runs after commit on the executor: its op stays
        # pending until the gate opens.
        gate = hold(store, "held")
        found: dict[str, Any] = {}
        ran = threading.Event()

        def callback(error: BaseException | None, result: object) -> None:
            found["thread"] = threading.current_thread().name
            found.update(try_blocking_calls(store, gate.future))
            ran.set()

        store.upsert("t", "k", 1, callback=callback)

        assert ran.wait(WAIT)
        assert found.pop("thread").startswith("ThreadPoolExecutor")
        assert_refused_at_once(found)
        gate.open()
        assert gate.future.get(timeout=WAIT) is None
        assert_store_works(store)
        store.close(timeout=WAIT)
    finally:
        pool.shutdown(wait=False)


# -- 4. a dead letter that cannot be written -------------------------------------------


def assert_lost_to_the_store(error: BaseException | None, key: str, value: Any) -> None:
    assert isinstance(error, RetriesExhaustedError), repr(error)
    assert error.written is False
    message = str(error)
    assert "lost to the store" in message
    assert "dead-lettered" not in message
    assert isinstance(error.last_error, StoreBusyError)
    letter = error.dead_letter
    assert letter is not None
    assert (letter.op_type, letter.table, letter.key, letter.value) == (
        "upsert",
        "t",
        key,
        value,
    )


@pytest.mark.parametrize("handler", ["policy", "retry_callback"])
def test_a_dead_letter_that_does_not_fit_says_the_op_is_lost(
    make_store: Callable[..., Store], handler: str
) -> None:
    # Every table, __dead_letters__ included, may grow to 256 KiB only; each
    # letter of a 30 kB value takes more than twice that (value and its bytes).
    store = make_store(initial_map_size=1 << 16, max_map_size=1 << 18)
    store.create_table("t")
    value = "x" * 30_000

    def submit(key: str) -> OpFuture[None]:
        if handler == "policy":
            return store.upsert(
                "t", key, value, callback=busy, retry=RetryPolicy(max_attempts=1)
            )
        return store.upsert(
            "t", key, value, callback=BusyFirst(9, RetryPolicy(max_attempts=1))
        )

    first = submit("k0").exception(timeout=WAIT)
    assert isinstance(first, RetriesExhaustedError) and first.written
    lost: tuple[str, BaseException | None] | None = None
    for i in range(1, 30):
        error = submit(f"k{i}").exception(timeout=WAIT)
        assert isinstance(error, RetriesExhaustedError), repr(error)
        if not error.written:
            lost = (f"k{i}", error)
            break

    assert lost is not None, "the dead-letter table never filled up"
    key, error = lost
    assert_lost_to_the_store(error, key, value)
    assert "StoreFullError" in str(error)
    assert key not in [x.key for x in store.dead_letters.list(timeout=WAIT)]
    assert_store_works(store)


@pytest.fixture
def small_disk(mount_tmpfs: Callable[[str], Path]) -> Path:
    """An 8 MiB tmpfs (skips where mounting is not allowed)."""
    return mount_tmpfs("8m")


FULL_DISK = """
    import json, os, sys
    import actorstore
    from actorstore import retry
    from actorstore import storage

    disk = sys.argv[1]
    store = actorstore.open_store(os.path.join(disk, "store"), initial_map_size=1 << 20)
    store.create_table("t")
    policy = retry.RetryPolicy(max_attempts=1)

    def busy(error, result):
        if error is None:
            raise storage.StoreBusyError("busy", table="t")

    def dead_letter(key, value):
        return store.upsert("t", key, value, callback=busy, retry=policy).exception(5)

    report = {"first_written": dead_letter("first", "x").written}
    filler = os.path.join(disk, "filler")
    with open(filler, "wb") as f:
        free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
        f.write(bytes(max(0, free - (64 << 10))))
        f.flush()
        os.fsync(f.fileno())
    value = "y" * 20_000
    for i in range(50):
        error = dead_letter(f"k{i}", value)
        if not error.written:
            letter = error.dead_letter
            report.update(
                key=f"k{i}",
                type=type(error).__name__,
                written=error.written,
                message=str(error),
                last_error=type(error.last_error).__name__,
                letter=[
                    letter.op_type, letter.table, letter.key, letter.value == value
                ],
            )
            break
    os.remove(filler)
    store.upsert("t", "after", 1).get(5)
    report["after"] = store.search("t", "after").get(5)
    report["letters"] = [x.key for x in store.dead_letters.list(5)]
    store.close(5)
    print(json.dumps(report))
"""


def test_a_dead_letter_on_a_full_disk_says_the_op_is_lost(small_disk: Path) -> None:
    report = run_python(FULL_DISK, small_disk)

    assert report["first_written"] is True
    assert "key" in report, "the disk never filled up"
    assert report["type"] == "RetriesExhaustedError"
    assert report["written"] is False
    assert "lost to the store" in report["message"]
    assert "dead-lettered" not in report["message"]
    assert "DiskFullError" in report["message"]
    assert report["last_error"] == "StoreBusyError"
    assert report["letter"] == ["upsert", "t", report["key"], True]
    assert report["after"] == 1
    assert report["key"] not in report["letters"]


FIRST_LETTERS_ON_A_FULL_DISK = """
    import json, os, sys
    import actorstore
    from actorstore import retry
    from actorstore import storage

    disk = sys.argv[1]
    store = actorstore.open_store(os.path.join(disk, "store"), initial_map_size=1 << 20)
    store.create_table("t")
    store.upsert("t", "before", 1).get(5)
    # The dead-letter table has never been opened: its files do not exist yet.
    filler = os.path.join(disk, "filler")
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(bytes(1 << 16))
                f.flush()
        except OSError:
            pass
    report = {}
    try:
        report["listed"] = [x.key for x in store.dead_letters.list(5)]
    except storage.StoreError as exc:
        report["listed"] = type(exc).__name__

    def busy(error, result):
        if error is None:
            raise storage.StoreBusyError("busy", table="t")

    policy = retry.RetryPolicy(max_attempts=1)
    error = store.upsert("t", "k", "v", callback=busy, retry=policy).exception(5)
    report["type"] = type(error).__name__
    report["written"] = error.written
    report["message"] = str(error)
    os.remove(filler)
    store.upsert("t", "after", 1).get(5)
    report["after"] = store.search("t", "after").get(5)
    report["letters"] = [x.key for x in store.dead_letters.list(5)]
    store.close(5)
    print(json.dumps(report))
"""


def test_first_opening_the_dead_letters_on_a_full_disk_is_an_error_not_a_signal(
    small_disk: Path,
) -> None:
    # Opening a table creates its lock file, which LMDB maps: on a full tmpfs
    # that was SIGBUS (listing the letters, writing the first one).
    report = run_python(FIRST_LETTERS_ON_A_FULL_DISK, small_disk)

    assert report["listed"] in ([], "DiskFullError"), report
    assert report["type"] == "RetriesExhaustedError"
    if report["written"]:
        assert "dead-lettered as letter" in report["message"]
        assert report["letters"] == ["k"]
    else:
        assert "lost to the store" in report["message"], report
        assert "DiskFullError" in report["message"], report
        assert report["letters"] == []
    assert report["after"] == 1


# -- 5. close() with a pending retry ---------------------------------------------------


@pytest.mark.parametrize("where", ["op", "retry_callback", "store"])
def test_close_says_a_pending_retry_was_cut_short_after_1_attempt_of_5(
    make_store: Callable[..., Store], where: str
) -> None:
    policy = RetryPolicy(max_attempts=5, initial_wait=60)
    store = make_store(retry=policy if where == "store" else None)
    store.create_table("t")
    handler = BusyFirst(9, policy if where == "retry_callback" else None)
    if where == "op":
        future = store.upsert("t", "k", 1, callback=busy, retry=policy)
    else:
        future = store.upsert("t", "k", 1, callback=handler)
    assert wait_for(lambda: store.stats()["retried"] == 1)  # a retry on the timer

    store.close(timeout=WAIT)

    error = future.exception(timeout=0)
    assert isinstance(error, RetriesExhaustedError), repr(error)
    message = str(error)
    assert (
        "its pending retry was cut short by close() after 1 attempt of the 5 "
        "its policy allowed" in message
    ), message
    assert "1 attempts" not in message
    assert error.attempts == 1 and error.written
    letters = make_store().dead_letters.list(timeout=WAIT)
    assert [(x.key, x.attempts) for x in letters] == [("k", 1)]


# -- 6. a callback executor that was shut down -----------------------------------------


def test_a_shut_down_callback_executor_reports_committed_ops_as_committed(
    make_store: Callable[..., Store], caplog: pytest.LogCaptureFixture
) -> None:
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    pool.shutdown()
    store = make_store(callback_executor=pool)
    store.create_table("t")
    called: list[Any] = []

    def function(error: BaseException | None, result: object) -> None:
        called.append((error, result))

    class Kept(Callback):
        def callback(self, result: Any) -> object:
            called.append(result)
            return None

    notified = Notes()
    futures = [
        store.insert("t", "fn", 1, callback=function),
        store.insert("t", "obj", 2, callback=Kept()),
        store.insert("t", "notify", 3, callback=notified),
        store.insert("t", "retry", 4, callback=RetryCallback()),
    ]

    assert [f.get(timeout=WAIT) for f in futures] == [None] * 4
    assert dict(store.scan("t").get(timeout=WAIT)) == {
        "fn": 1,
        "obj": 2,
        "notify": 3,
        "retry": 4,
    }
    assert called == [] and notified.calls == []  # lost, not run anywhere else
    assert store.stats()["callback_failed"] == 4
    assert caplog.text.count("refused its callback") == 4
    assert_store_works(store)


def test_a_failed_op_whose_async_callback_is_lost_counts_one_lost_callback(
    make_store: Callable[..., Store],
) -> None:
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    pool.shutdown()
    store = make_store(callback_executor=pool)
    store.create_table("t")
    store.upsert("t", "k", 1).get(timeout=WAIT)
    notified = Notes()

    error = store.insert("t", "k", 2, callback=notified).exception(timeout=WAIT)

    assert isinstance(error, KeyExistsError)
    assert notified.calls == []
    assert store.stats()["callback_failed"] == 1


RETRY_CALLBACK_ON_A_SHUT_DOWN_EXECUTOR = """
    import concurrent.futures, json, sys
    import actorstore
    from actorstore import retry

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    pool.shutdown()
    store = actorstore.open_store(sys.argv[1], callback_executor=pool)
    store.create_table("t")
    store.upsert("t", "k", 1).get(5)
    future = store.insert("t", "k", 2, callback=retry.RetryCallback())
    report = {}
    try:
        report["error"] = type(future.exception(1.5)).__name__
    except actorstore.OpTimeoutError:
        report["error"] = "never ended"
    try:
        store.flush(timeout=1.5)
        report["flush"] = "returned"
    except actorstore.OpTimeoutError:
        report["flush"] = "timed out"
    report["callback_failed"] = store.stats()["callback_failed"]
    print(json.dumps(report), flush=True)
    # A stranded op would hold close() (and the atexit close) for good.
    import os
    os._exit(0)
"""


def test_a_failed_op_whose_retry_callback_is_refused_still_ends(
    tmp_path: Path,
) -> None:
    report = run_python(RETRY_CALLBACK_ON_A_SHUT_DOWN_EXECUTOR, tmp_path / "store")

    assert report["callback_failed"] == 1
    assert report["error"] == KeyExistsError.__name__
    assert report["flush"] == "returned"


# -- 7. infinite timeouts; a dead-letter hook raising KeyboardInterrupt ----------------


def test_infinite_timeouts_wait_without_overflow(
    make_store: Callable[..., Store], hold: Callable[..., Any]
) -> None:
    inf = float("inf")
    store = make_store()
    store.create_table("t")

    gate = hold(store, "t")
    pending = store.upsert("t", "a", 1)
    when(lambda: pending._event is not None, gate.open)  # once get() waits
    assert pending.get(timeout=inf) is None

    gate = hold(store, "t")
    store.upsert("t", "b", 2)
    when(lambda: store._inflight._waiters > 0, gate.open)  # once flush() waits
    store.flush(timeout=inf)
    assert store.search("t", "b").get(timeout=inf) == 2

    assert isinstance(store.compact("t", timeout=inf), int)
    assert isinstance(store.compact(timeout=inf), int)

    gate = hold(store, "t")
    last = store.upsert("t", "c", 3)
    when(lambda: store._inflight._waiters > 0, gate.open)  # once close() waits
    store.close(timeout=inf)
    assert store.is_closed
    assert last.get(timeout=0) is None
    assert make_store().search("t", "c").get(timeout=WAIT) == 3


def test_an_infinite_wait_timeout_waits_for_a_slot(
    make_store: Callable[..., Store], hold: Callable[..., Any]
) -> None:
    store = make_store(ops_max=1)
    store.create_table("t")
    gate = hold(store, "t")
    when(lambda: store._inflight._waiters > 0, gate.open)  # once it waits

    future = store.upsert("t", "k", 1, wait_timeout=float("inf"))

    assert gate.released.is_set()  # it returned only once its wait freed a slot
    assert future.get(timeout=WAIT) is None


def test_a_dead_letter_hook_raising_keyboard_interrupt_still_gets_it_written(
    make_store: Callable[..., Store], caplog: pytest.LogCaptureFixture
) -> None:
    offered: list[Any] = []

    def hook(letter: Any) -> None:
        offered.append(letter)
        raise KeyboardInterrupt("the hook was interrupted")

    store = make_store(dead_letter_hook=hook)
    store.create_table("t")

    future = store.upsert(
        "t", "k", {"v": 1}, callback=busy, retry=RetryPolicy(max_attempts=1)
    )

    error = future.exception(timeout=WAIT)
    assert isinstance(error, RetriesExhaustedError) and error.written, repr(error)
    assert "dead-lettered as letter" in str(error)
    assert len(offered) == 1
    letters = store.dead_letters.list(timeout=WAIT)
    assert [(x.id, x.op_type, x.table, x.key, x.value) for x in letters] == [
        (offered[0].id, "upsert", "t", "k", {"v": 1})
    ]
    assert "dead-letter hook failed" in caplog.text
    assert_store_works(store)


# -- 8. fork ---------------------------------------------------------------------------

FORK = """
    import json, multiprocessing, os, sys
    import actorstore

    path, how, out = sys.argv[1], sys.argv[2], sys.argv[3]
    store = actorstore.open_store(path)
    store.create_table("t")
    store.upsert("t", "parent", 1).get(5)

    def in_child():
        found = {}
        calls = {
            "upsert": lambda: store.upsert("t", "x", 1),
            "search": lambda: store.search("t", "parent"),
            "flush": lambda: store.flush(5),
            "stats": store.stats,
        }
        for name, call in calls.items():
            try:
                call()
                found[name] = "no error"
            except Exception as exc:
                found[name] = type(exc).__name__
        try:
            store.close(5)
            found["close"] = "ok"
        except Exception as exc:
            found["close"] = repr(exc)
        try:
            own = actorstore.open_store(path)
            own.upsert("t", "child", 2).get(5)
            found["own_reads"] = [
                own.search("t", k).get(5) for k in ("parent", "child")
            ]
            own.close(5)
            found["own"] = "ok"
        except Exception as exc:
            found["own"] = f"{type(exc).__name__}: {exc}"
        with open(out, "w") as f:
            json.dump(found, f)

    if how == "os.fork":
        pid = os.fork()
        if pid == 0:
            try:
                in_child()
            finally:
                os._exit(0)
        _, status = os.waitpid(pid, 0)
        child_status = os.waitstatus_to_exitcode(status)
    else:
        child = multiprocessing.get_context("fork").Process(target=in_child)
        child.start()
        child.join(30)
        child_status = child.exitcode
    with open(out) as f:
        found = json.load(f)
    found["child_status"] = child_status
    found["parent_sees_child"] = store.exists("t", "child").get(5)
    found["parent_still_writes"] = store.upsert("t", "later", 3).get(5) is None
    store.close(5)
    print(json.dumps(found))
"""


@pytest.fixture(scope="module", params=["os.fork", "multiprocessing"])
def forked(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """What a child forked from a process with an open store found (run once per
    fork method for the tests that read it)."""
    where = tmp_path_factory.mktemp("fork")
    return run_python(  # type: ignore[no-any-return]
        FORK, where / "store", request.param, where / "child.json"
    )


def test_a_forked_child_refuses_the_inherited_store(forked: dict[str, Any]) -> None:
    assert forked["child_status"] == 0
    for call in ("upsert", "search", "flush", "stats"):
        assert forked[call] == "StoreForkedError", call
    assert forked["close"] == "ok"
    assert forked["parent_still_writes"] is True


def test_a_forked_child_can_open_the_store_itself(forked: dict[str, Any]) -> None:
    assert forked["own"] == "ok"
    assert forked["own_reads"] == [1, 2]
    assert forked["parent_sees_child"] is True
