"""WiredTiger's own async API tests and example, ported to actorstore.

An independent check of the API that descends from WiredTiger's async API:
every scenario of WiredTiger's async tests, example and docs, as they stood
before the API was removed (WT-6674, commit 4f2fc3ada0; read at its parent
2b15dee178d6), run against actorstore:

- test/suite/test_async01.py, test_async02.py (7 scenarios each),
  test_async03.py;
- examples/c/ex_async.c (the AsyncKeys example);
- src/docs/async.dox (ops_max, ids and types, compaction, flush, close,
  one transaction per op);
- test/java/com/wiredtiger/test/AsyncTest.java (async01..06, two
  many-connections tests);
- test/suite/test_reconfig01.py `test_reconfig_async` (the async part of the
  reconfiguration tests);

then the asyncio usage DESIGN.md promises for the same op handles. The
flush and close scenarios also run with `callback_executor=` (not in
WiredTiger, whose callbacks ran on its workers), a search among them: a read
that runs at once on the caller's thread is still waited for by flush().

The mapping: a WiredTiger table URI `file:x`/`lsm:x`/`table:x` is our table
`file.x`/`lsm.x`/`table.x` (one kind of table here); key format `S` is
`"str"`, `r` and `q` are `"int"`; value format `S` is `"str"`, `8t` and `i`
are `"int"`. `conn.async_new_op(uri, config, callback)` is
`store.new_op(table, callback=...)`; `op.set_key()`/`set_value()` are
`op.key`/`op.value`; `get_value()` after a search is `op.value`;
`get_id()`/`get_type()` are `op.id`/`op.type`; `notify(op, op_ret, flags)` is
`retry.AsyncCallback.notify(op, error, result)` (`error` None for 0,
`KeyExistsError` for WT_DUPLICATE_KEY, `NotFoundError` for WT_NOTFOUND; a
non-zero return, which rolls the op back, is `False`);
`async=(ops_max=, threads=)` is `open_store(ops_max=, threads=)`;
`conn.async_flush()` is `store.flush()`.

Where actorstore differs on purpose (DESIGN.md), the test follows DESIGN and
says so: past `ops_max` the submitter waits for a slot by default (WiredTiger
refused with EBUSY, and its callers slept and retried; `wait=False` is
WiredTiger's refusal, `OpsMaxExceededError`), and the slot is taken when the
op is submitted, not when its handle is allocated.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
import sys
import threading
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

import actorstore
from actorstore import (
    Durability,
    OpFuture,
    OpsMaxExceededError,
    OpSubmittedError,
    OpTimeoutError,
    OpType,
    Store,
    retry,
)
from actorstore.storage import (
    InvalidOptionError,
    KeyExistsError,
    NotFoundError,
    OpVetoedError,
)

pytestmark = pytest.mark.timeout(60)

T = TypeVar("T")

WAIT = 30.0
"""Seconds any wait may take; far above what it needs on a shared machine."""

NOT_YET = 0.2
"""Seconds a test gives something to happen that must NOT happen (a bounded
negative check); never what a test waits on to pass."""

_MISSING = object()


def run(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run `main()` in a new event loop, failing after `WAIT` seconds."""

    async def bounded() -> T:
        async with asyncio.timeout(WAIT):
            return await main()

    return asyncio.run(bounded())


# -- test_async01.py / test_async02.py ------------------------------------------------

# WiredTiger's scenarios: (uri, tablekind). `file`, `lsm` and `table` are one
# kind of table here; each keeps its own name (`file.test_async01`, ...).
# `row` has string keys, `col` record numbers (int keys), `fix` record
# numbers and 8-bit values (int values).
WT_SCENARIOS = [
    pytest.param("file", "col", id="file-col"),
    pytest.param("file", "fix", id="file-fix"),
    pytest.param("file", "row", id="file-row"),
    pytest.param("lsm", "row", id="lsm-row"),
    pytest.param("table", "col", id="table-col"),
    pytest.param("table", "fix", id="table-fix"),
    pytest.param("table", "row", id="table-row"),
]

NENTRIES = 100
ASYNC_OPS = NENTRIES // 2
ASYNC_THREADS = 3


def genkey(tablekind: str, i: int) -> Any:
    """`genkey` of test_async01/02: 'key<i>' for row stores, record i+1 otherwise."""
    return f"key{i}" if tablekind == "row" else i + 1


def genvalue(tablekind: str, i: int) -> Any:
    """`genvalue` of test_async01/02: an 8-bit int for `fix`, 'value<i>' otherwise."""
    return i & 0xFF if tablekind == "fix" else f"value{i}"


def create_wt_table(store: Store, uri: str, tablekind: str, name: str) -> str:
    """`create_session` of test_async01/02: create the table, return its name."""
    table = f"{uri}.{name}"
    store.create_table(
        table,
        key_format="str" if tablekind == "row" else "int",
        value_format="int" if tablekind == "fix" else "str",
    )
    return table


class WtCallback(retry.AsyncCallback):
    """The `Callback` of test_async01.py and test_async02.py.

    One object serves every op: it counts notifications per op type and
    checks each op's key and value against `current`, the reference the test
    fills before submitting. Remove sets no value (the reference's is used);
    a failed op's "value" is its error's type, which test_async02 puts in
    the reference where it expects WT_DUPLICATE_KEY or WT_NOTFOUND.
    Compaction is only counted.
    """

    def __init__(self, current: dict[Any, Any]) -> None:
        self.current = current
        self.counts: Counter[OpType | None] = Counter()
        self.problems: list[str] = []
        self.lock = threading.Lock()

    def notify(self, op: Any, error: BaseException | None, result: Any) -> object:
        with self.lock:
            optype = op.type
            self.counts[optype] += 1
            if optype is OpType.COMPACT:
                if error is not None:
                    self.problems.append(f"compact op {op.id} failed: {error!r}")
                return None
            key = op.key
            if error is not None:
                value: Any = type(error)
            elif optype is OpType.REMOVE:
                value = self.current.get(key, _MISSING)
            else:
                value = op.value
            if optype not in (
                OpType.INSERT,
                OpType.REMOVE,
                OpType.SEARCH,
                OpType.UPDATE,
            ):
                self.problems.append(f"op {op.id}: unexpected optype {optype}")
            expected = self.current.get(key, _MISSING)
            if expected != value:
                self.problems.append(
                    f"op {op.id} {optype}: key {key!r}: expected {expected!r}, "
                    f"got {value!r} (error {error!r})"
                )
        return None

    @property
    def nerror(self) -> int:
        with self.lock:
            return len(self.problems)


@pytest.mark.parametrize(("uri", "tablekind"), WT_SCENARIOS)
def test_async01_ops(
    make_store: Callable[..., Store], uri: str, tablekind: str
) -> None:
    """test/suite/test_async01.py `test_ops`: insert, compact, search, update,
    compact, search, remove through async ops sharing one callback, with
    `async_flush()` between phases; the callback checks every key and value.

    With ops_max = 50, the 100 inserts (and each later phase) go past
    ops_max: per DESIGN the submitter waits for a slot (WiredTiger's python
    test relied on its wrapper to retry EBUSY). The first compact op's
    `timeout=0` config (no time limit) has no op-level counterpart: a
    compact op here has no time limit.
    """
    store = make_store(ops_max=ASYNC_OPS, threads=ASYNC_THREADS)
    table = create_wt_table(store, uri, tablekind, "test_async01")
    ncompact = 0
    current = {genkey(tablekind, i): genvalue(tablekind, i) for i in range(NENTRIES)}
    callback = WtCallback(current)

    def submit(i: int, method: str, value: Any = None) -> None:
        op = store.new_op(table, callback=callback)
        op.key = genkey(tablekind, i)
        if value is not None:
            op.value = value
        getattr(op, method)()

    for i in range(NENTRIES):
        submit(i, "insert", genvalue(tablekind, i))
    store.new_op(table, callback=callback).compact()  # compact after insert
    ncompact += 1
    store.flush(timeout=WAIT)

    for i in range(NENTRIES):
        submit(i, "search")
    store.flush(timeout=WAIT)

    for i in range(NENTRIES):  # reset the reference for the update
        current[genkey(tablekind, i)] = genvalue(tablekind, i + 10)
    for i in range(NENTRIES):
        submit(i, "update", genvalue(tablekind, i + 10))
    store.new_op(table, callback=callback).compact()  # compact after update
    ncompact += 1
    store.flush(timeout=WAIT)

    for i in range(NENTRIES):
        submit(i, "search")
    store.flush(timeout=WAIT)

    for i in range(NENTRIES):
        submit(i, "remove")
    store.flush(timeout=WAIT)

    assert callback.problems == []
    assert callback.counts[OpType.COMPACT] == ncompact
    assert callback.counts[OpType.INSERT] == NENTRIES
    assert callback.counts[OpType.REMOVE] == NENTRIES
    assert callback.counts[OpType.SEARCH] == NENTRIES * 2
    assert callback.counts[OpType.UPDATE] == NENTRIES
    assert callback.nerror == 0
    assert store.count(table).get(timeout=WAIT) == 0


@pytest.mark.parametrize(("uri", "tablekind"), WT_SCENARIOS)
def test_async02_ops(
    make_store: Callable[..., Store], uri: str, tablekind: str
) -> None:
    """test/suite/test_async02.py `test_ops`: after 100 async inserts, the
    error cases reach the callback as the op's error: inserting an existing
    key (WT_DUPLICATE_KEY: `KeyExistsError`), updating and removing a missing
    key (WT_NOTFOUND: `NotFoundError`).

    WiredTiger opened those three ops with `overwrite=false`: our insert
    never overwrites (upsert does), so they are plain ops. Beyond WiredTiger's
    `nerror == 0`, it checks that each op was notified exactly once and that
    each future fails with the same error (DESIGN: notify once per attempt;
    no retry policy, so one attempt).
    """
    store = make_store(ops_max=ASYNC_OPS, threads=ASYNC_THREADS)
    table = create_wt_table(store, uri, tablekind, "test_async02")
    current = {genkey(tablekind, i): genvalue(tablekind, i) for i in range(NENTRIES)}
    callback = WtCallback(current)
    for i in range(NENTRIES):
        op = store.new_op(table, callback=callback)
        op.key, op.value = genkey(tablekind, i), genvalue(tablekind, i)
        op.insert()
    store.flush(timeout=WAIT)

    k, v = genkey(tablekind, NENTRIES // 2), genvalue(tablekind, NENTRIES // 2)
    k1, v1 = genkey(tablekind, NENTRIES + 1), genvalue(tablekind, NENTRIES + 1)
    current[k] = KeyExistsError
    current[k1] = NotFoundError
    op = store.new_op(table, callback=callback)
    op.key, op.value = k, v
    duplicate = op.insert()
    op = store.new_op(table, callback=callback)
    op.key, op.value = k1, v1
    update_missing = op.update()
    op = store.new_op(table, callback=callback)
    op.key = k1
    remove_missing = op.remove()
    store.flush(timeout=WAIT)

    assert callback.problems == []
    assert callback.nerror == 0
    assert callback.counts == {
        OpType.INSERT: NENTRIES + 1,
        OpType.UPDATE: 1,
        OpType.REMOVE: 1,
    }
    with pytest.raises(KeyExistsError, match="already exists"):
        duplicate.get(timeout=WAIT)
    with pytest.raises(NotFoundError, match=r"by update\(\)"):
        update_missing.get(timeout=WAIT)
    with pytest.raises(NotFoundError, match=r"by remove\(\)"):
        remove_missing.get(timeout=WAIT)
    assert store.count(table).get(timeout=WAIT) == NENTRIES


# -- test_async03.py ------------------------------------------------------------------


class NeverCalled(retry.AsyncCallback):
    """test_async03's callback: it must never be called (calls are recorded,
    since an AssertionError raised on a worker would not reach the test)."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, BaseException | None]] = []

    def notify(self, op: Any, error: BaseException | None, result: Any) -> object:
        self.calls.append((op, error))
        return None


@pytest.mark.parametrize(
    ("config", "option"),
    [
        pytest.param({"ops_max": 0, "threads": 3}, "ops_max", id="ops_max-0"),
        pytest.param({"ops_max": 50, "threads": 0}, "threads", id="threads-0"),
    ],
)
def test_async03_ops(
    make_store: Callable[..., Store],
    tmp_path: Path,
    config: dict[str, Any],
    option: str,
) -> None:
    """test/suite/test_async03.py `test_ops`: with an incorrect async
    configuration, allocating an op fails at once with a clear error, the
    callback is never called, and `async_flush()` still works.

    actorstore has no `async=(enabled=...)` switch (async is always on), so
    the incorrect configuration is one the store refuses: a bad `ops_max` or
    `threads` fails `open_store` at once, naming the option and writing
    nothing (DESIGN: bad input is refused before LMDB is touched); and on a
    good store, an op allocated with a config the store does not know fails
    `new_op` at once, its callback never called, and `flush()` returns.
    """
    bad = tmp_path / "misconfigured"
    with pytest.raises(InvalidOptionError, match=option):
        actorstore.open_store(bad, **config)
    assert not bad.exists()

    store = make_store(ops_max=50, threads=3)
    store.create_table("table.test_async03", key_format="str", value_format="str")
    callback = NeverCalled()
    with pytest.raises(InvalidOptionError, match="enabled"):
        store.new_op("table.test_async03", callback=callback, enabled=True)
    store.flush(timeout=WAIT)
    assert callback.calls == []


# -- examples/c/ex_async.c ------------------------------------------------------------

MAX_KEYS = 15


class AsyncKeys(retry.AsyncCallback):
    """ex_async.c's ASYNC_KEYS callback: print each record a search found."""

    def __init__(self) -> None:
        self.num_keys = 0
        self.global_error: BaseException | None = None
        self.types: Counter[OpType | None] = Counter()
        self.lock = threading.Lock()

    def notify(self, op: Any, error: BaseException | None, result: Any) -> object:
        optype = op.type  # [async get type]
        op_id = op.id  # [async get identifier]
        with self.lock:
            self.types[optype] += 1
        if error is not None:
            print(f"ID {op_id} error: {error}", file=sys.stderr)
            self.global_error = error
            return False  # the C callback's `return (1)`
        if optype is OpType.SEARCH:
            key, value = op.key, op.value
            with self.lock:
                self.num_keys += 1
            print(f"Id {op_id} got record: {key} : {value}")
        return None


def test_ex_async_async_keys(
    make_store: Callable[..., Store], capsys: pytest.CaptureFixture[str]
) -> None:
    """examples/c/ex_async.c: a store with ops_max=20 and 2 threads; 15 async
    inserts of key<i>/value<i>; `async_flush()`; an async compaction (its
    `timeout=300` config has no op-level counterpart); 15 async searches
    whose callback prints "Id N got record: key : value"; then close, which
    implies a flush, so every search's callback has run when it returns.

    The C program loops on `async_new_op()` while it returns EBUSY; per
    DESIGN the submitter waits for a slot instead (here ops_max is never
    reached anyway).
    """
    store = make_store(threads=2, ops_max=20)
    store.create_table("async", key_format="str", value_format="str")
    keys = AsyncKeys()

    for i in range(MAX_KEYS):
        op = store.new_op("async", callback=keys)
        op.key = f"key{i}"
        op.value = f"value{i}"
        op.insert()
    store.flush(timeout=WAIT)

    store.new_op("async", callback=keys).compact()

    searches = []
    for i in range(MAX_KEYS):
        op = store.new_op("async", callback=keys)
        op.key = f"key{i}"
        op.search()
        searches.append(op)

    store.close(timeout=WAIT)
    print(f"Searched for {keys.num_keys} keys")

    out = capsys.readouterr().out.splitlines()
    assert keys.global_error is None
    assert out[-1] == f"Searched for {MAX_KEYS} keys"
    records = out[:-1]
    assert len(records) == MAX_KEYS
    assert all(
        re.fullmatch(r"Id \d+ got record: key\d+ : value\d+", r) for r in records
    )
    assert sorted(records) == sorted(
        f"Id {op.id} got record: key{i} : value{i}" for i, op in enumerate(searches)
    )
    assert keys.types == {
        OpType.INSERT: MAX_KEYS,
        OpType.COMPACT: 1,
        OpType.SEARCH: MAX_KEYS,
    }


# -- src/docs/async.dox ---------------------------------------------------------------


class Recorder(retry.AsyncCallback):
    """Record each notification: (op id, op type, key, value, error, result)."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, OpType | None, Any, Any, Any, Any]] = []
        self.lock = threading.Lock()

    def notify(self, op: Any, error: BaseException | None, result: Any) -> object:
        with self.lock:
            self.calls.append((op.id, op.type, op.key, op.value, error, result))
        return None


def test_async_dox_ops_max_exceeded_refused_at_once_with_wait_false(
    make_store: Callable[..., Store], hold: Callable[..., Any]
) -> None:
    """async.dox "Configuring asynchronous operations": past the configured
    maximum an op handle is not available and an error is returned at once.

    DESIGN: that is `wait=False` (per op, or for the whole store), which
    raises `OpsMaxExceededError` at once; the op was never submitted, so its
    callback is not called, and the handle can be submitted again once a
    slot is free (ex_async.c retried `async_new_op()` after EBUSY). The
    owner is held so the slots stay taken.
    """
    store = make_store(threads=2, ops_max=4)
    store.create_table("async", key_format="str", value_format="str")
    gate = hold(store, "async", key="held", value="held")  # one slot
    queued = [store.upsert("async", f"q{i}", "v") for i in range(3)]  # all 4 taken
    callback = Recorder()
    op = store.new_op("async", callback=callback, wait=False)
    op.key, op.value = "key0", "value0"

    with pytest.raises(OpsMaxExceededError, match="ops_max=4"):
        op.insert()
    assert callback.calls == []
    assert store.stats()["in_flight"] == 4

    gate.open()
    for future in [gate.future, *queued]:
        future.get(timeout=WAIT)
    assert op.insert().get(timeout=WAIT) is None  # the same handle, now with a slot
    store.flush(timeout=WAIT)
    assert [(c[1], c[2], c[4]) for c in callback.calls] == [
        (OpType.INSERT, "key0", None)
    ]


def test_async_dox_ops_max_exceeded_store_wide_wait_false(
    make_store: Callable[..., Store], hold: Callable[..., Any]
) -> None:
    """async.dox "Configuring asynchronous operations", with WiredTiger's
    behaviour for the whole store: `open_store(wait=False)` refuses every op
    past `ops_max` at once with `OpsMaxExceededError` (DESIGN)."""
    store = make_store(threads=2, ops_max=2, wait=False)
    store.create_table("async", key_format="str", value_format="str")
    gate = hold(store, "async", key="held", value="held")
    second = store.upsert("async", "q", "v")
    op = store.new_op("async")
    op.key, op.value = "key0", "value0"

    with pytest.raises(OpsMaxExceededError):
        op.insert()

    gate.open()
    second.get(timeout=WAIT)
    gate.future.get(timeout=WAIT)
    op.insert().get(timeout=WAIT)


def test_async_dox_ops_max_exceeded_caller_waits_by_default(
    make_store: Callable[..., Store], hold: Callable[..., Any]
) -> None:
    """async.dox "Configuring asynchronous operations", under actorstore's
    contract (differs on purpose, DESIGN): past `ops_max` a submitter waits
    for a free slot by default, bounded by `wait_timeout` (then
    `OpsMaxExceededError`), instead of getting EBUSY."""
    store = make_store(threads=2, ops_max=2)
    store.create_table("async", key_format="str", value_format="str")
    gate = hold(store, "async", key="held", value="held")
    store.upsert("async", "q", "v")  # both slots taken

    bounded = store.new_op("async", wait_timeout=NOT_YET)
    bounded.key, bounded.value = "bounded", "v"
    with pytest.raises(OpsMaxExceededError, match="after waiting"):
        bounded.insert()

    callback = Recorder()
    waiting = store.new_op("async", callback=callback)
    waiting.key, waiting.value = "key0", "value0"
    submitted = threading.Event()
    futures: list[OpFuture[None]] = []

    def submit() -> None:
        futures.append(waiting.insert())
        submitted.set()

    submitter = threading.Thread(target=submit, name="submitter")
    submitter.start()
    try:
        # Bounded negative check: the submitter is still waiting for a slot.
        assert not submitted.wait(NOT_YET)
    finally:
        gate.open()
    assert submitted.wait(WAIT)
    submitter.join(WAIT)
    assert futures[0].get(timeout=WAIT) is None
    store.flush(timeout=WAIT)
    assert [(c[1], c[2], c[4]) for c in callback.calls] == [
        (OpType.INSERT, "key0", None)
    ]


def test_async_dox_op_id_and_type(make_store: Callable[..., Store]) -> None:
    """async.dox "Allocating an asynchronous operations handle": every handle
    has a unique 64-bit id, assigned when the handle is allocated, and an op
    type, assigned when the op is queued; the callback may read the handle's
    key, value, id and type."""
    store = make_store(threads=2)
    store.create_table("async", key_format="str", value_format="str")
    callback = Recorder()
    ops = [store.new_op("async", callback=callback) for _ in range(50)]

    ids = [op.id for op in ops]
    assert len(set(ids)) == len(ids)
    assert all(isinstance(i, int) and 0 < i < 2**64 for i in ids)
    assert all(op.type is None for op in ops)

    for i, op in enumerate(ops[:25]):
        op.key, op.value = f"key{i}", f"value{i}"
        op.insert()
    store.flush(timeout=WAIT)
    for i, op in enumerate(ops[25:]):
        op.key = f"key{i}"
        op.search()
    store.flush(timeout=WAIT)

    assert [op.type for op in ops] == [OpType.INSERT] * 25 + [OpType.SEARCH] * 25
    seen = {c[0]: c for c in callback.calls}
    assert sorted(seen) == sorted(ids)
    for i, op in enumerate(ops):
        _, optype, key, value, error, _ = seen[op.id]
        assert (optype, key, value, error) == (
            op.type,
            f"key{i % 25}",
            f"value{i % 25}",
            None,
        )


def test_async_dox_handle_after_the_callback(make_store: Callable[..., Store]) -> None:
    """async.dox: "The WT_ASYNC_OP handle does not survive after the callback
    function returns"; WiredTiger returns it to a pool.

    Differs on purpose: here the handle is a plain object that keeps its id,
    type, key and value after the op (the callback need not copy them out),
    but it is submitted once (`OpSubmittedError`); `new_op()` makes another.
    """
    store = make_store(threads=2)
    store.create_table("async", key_format="str", value_format="str")
    op = store.new_op("async", callback=Recorder())
    op.key, op.value = "key0", "value0"
    op.insert().get(timeout=WAIT)
    store.flush(timeout=WAIT)

    assert (op.type, op.key, op.value) == (OpType.INSERT, "key0", "value0")
    with pytest.raises(OpSubmittedError, match="new_op"):
        op.insert()
    with pytest.raises(OpSubmittedError):
        op.search()


def test_async_dox_compact_several_tables(make_store: Callable[..., Store]) -> None:
    """async.dox "Executing asynchronous operations": `op.compact()` compacts
    several tables asynchronously without a thread per table; each compact
    op notifies its callback, and the tables keep their records."""
    store = make_store(threads=3)
    names = [f"table.compact{n}" for n in range(3)]
    for name in names:
        store.create_table(name, key_format="str", value_format="str")
        for i in range(200):
            store.upsert(name, f"key{i:03d}", "x" * 2000)
        for i in range(0, 200, 2):
            store.remove(name, f"key{i:03d}")
    store.flush(timeout=WAIT)
    callback = Recorder()

    futures = [store.new_op(name, callback=callback).compact() for name in names]
    store.flush(timeout=WAIT)

    reclaimed = [future.get(timeout=WAIT) for future in futures]
    assert all(isinstance(n, int) and n >= 0 for n in reclaimed)
    assert len(callback.calls) == len(names)
    assert {c[1] for c in callback.calls} == {OpType.COMPACT}
    assert [c[4] for c in callback.calls] == [None] * len(names)
    assert sorted(c[5] for c in callback.calls) == sorted(reclaimed)
    for name in names:
        assert store.count(name).get(timeout=WAIT) == 100


class HeldCallback(retry.AsyncCallback):
    """Count notifications; the op with key `held` waits in its callback
    until `release` is set."""

    def __init__(self, held: str) -> None:
        self.held = held
        self.entered = threading.Event()
        self.release = threading.Event()
        self.returned = 0
        self.lock = threading.Lock()

    def notify(self, op: Any, error: BaseException | None, result: Any) -> object:
        if op.key == self.held:
            self.entered.set()
            self.release.wait(WAIT)
        with self.lock:
            self.returned += 1
        return None


# Where a callback runs: inside the op's transaction on the owner (the
# default, as WiredTiger's), or after commit on `callback_executor` (DESIGN).
# A search of an idle table runs at once on the caller's thread: with its
# callback inside the transaction, holding that callback would hold the test
# itself, so searches are held only with an executor.
FLUSH_CASES = [
    pytest.param("insert", False, id="insert-in-txn"),
    pytest.param("insert", True, id="insert-executor"),
    pytest.param("search", True, id="search-executor"),
]


@pytest.fixture
def executor() -> Iterator[concurrent.futures.ThreadPoolExecutor]:
    """A callback executor, shut down after the test's stores are closed (a
    test lists it before `make_store`, so it is torn down after it)."""
    with concurrent.futures.ThreadPoolExecutor(4, "callbacks") as pool:
        yield pool


def held_ops(
    store: Store, method: str, callback: HeldCallback, count: int
) -> list[OpFuture[Any]]:
    """Submit `count` ops `method` on key<i> of table `async` (searches find
    records written and flushed first)."""
    store.create_table("async", key_format="str", value_format="str")
    if method == "search":
        for i in range(count):
            store.insert("async", f"key{i}", f"value{i}")
        store.flush(timeout=WAIT)
    futures = []
    for i in range(count):
        op = store.new_op("async", callback=callback)
        op.key = f"key{i}"
        if method != "search":
            op.value = f"value{i}"
        futures.append(getattr(op, method)())
    return futures


@pytest.mark.parametrize(("method", "on_executor"), FLUSH_CASES)
def test_async_dox_flush_waits_for_callbacks(
    executor: concurrent.futures.Executor,
    make_store: Callable[..., Store],
    method: str,
    on_executor: bool,
) -> None:
    """async.dox "Waiting for outstanding operations to complete": when
    `async_flush()` returns, every op queued before it has completed and its
    callback has returned. A callback held inside makes a bounded flush time
    out; once it is let go, flush returns and every callback has returned."""
    store = make_store(threads=2, callback_executor=executor if on_executor else None)
    callback = HeldCallback(held="key9")
    try:
        futures = held_ops(store, method, callback, 10)
        assert callback.entered.wait(WAIT)
        with pytest.raises(OpTimeoutError):
            store.flush(timeout=NOT_YET)
    finally:
        callback.release.set()
    store.flush(timeout=WAIT)
    assert callback.returned == 10
    assert all(future.done() for future in futures)


@pytest.mark.parametrize(("method", "on_executor"), FLUSH_CASES)
def test_async_dox_close_implies_flush(
    executor: concurrent.futures.Executor,
    make_store: Callable[..., Store],
    method: str,
    on_executor: bool,
) -> None:
    """async.dox: "WT_CONNECTION::close implicitly does a
    WT_CONNECTION::async_flush": ops still queued at close finish, their
    callbacks included, before close returns. With a callback held, a
    bounded close times out (and, per DESIGN, may be called again); once it
    is let go, close returns with every callback returned."""
    store = make_store(threads=2, callback_executor=executor if on_executor else None)
    callback = HeldCallback(held="key0")
    try:
        futures = held_ops(store, method, callback, 50)
        assert callback.entered.wait(WAIT)
        with pytest.raises(OpTimeoutError):
            store.close(timeout=NOT_YET)
    finally:
        callback.release.set()

    store.close(timeout=WAIT)

    assert store.is_closed
    assert callback.returned == 50
    assert all(future.done() for future in futures)


class Vetoing(retry.AsyncCallback):
    """Succeed for key `keep`, return False for `veto`, raise for `raise`."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, OpType | None, BaseException | None]] = []
        self.lock = threading.Lock()

    def notify(self, op: Any, error: BaseException | None, result: Any) -> object:
        with self.lock:
            self.calls.append((op.key, op.type, error))
        if error is None and op.key == "veto":
            return False
        if error is None and op.key == "raise":
            raise RuntimeError("callback failed")
        return None


def test_async_dox_transactions(make_store: Callable[..., Store]) -> None:
    """async.dox "Asynchronous operations and transactions": each op runs in
    its own transaction, committed if the op succeeded and the callback
    returned success, otherwise rolled back (ex_async.c's callback returns 1
    on error). Here: returning False rolls back with `OpVetoedError`,
    raising rolls back with what was raised, and the callback is not called
    a second time for that attempt (DESIGN)."""
    store = make_store(threads=2)
    store.create_table("async", key_format="str", value_format="str")
    callback = Vetoing()
    futures = {}
    for key in ("keep", "veto", "raise"):
        op = store.new_op("async", callback=callback)
        op.key, op.value = key, f"value-{key}"
        futures[key] = op.insert()
    store.flush(timeout=WAIT)

    assert futures["keep"].get(timeout=WAIT) is None
    with pytest.raises(OpVetoedError, match="'veto'"):
        futures["veto"].get(timeout=WAIT)
    with pytest.raises(RuntimeError, match="callback failed"):
        futures["raise"].get(timeout=WAIT)
    assert store.search("async", "keep").get(timeout=WAIT) == "value-keep"
    assert not store.exists("async", "veto").get(timeout=WAIT)
    assert not store.exists("async", "raise").get(timeout=WAIT)
    assert sorted(callback.calls, key=lambda c: c[0]) == [
        ("keep", OpType.INSERT, None),
        ("raise", OpType.INSERT, None),
        ("veto", OpType.INSERT, None),
    ]


# -- test/java/com/wiredtiger/test/AsyncTest.java -------------------------------------


class JavaCallback(retry.AsyncCallback):
    """AsyncTest.java's `Callback`: count inserts and searches, check each
    op's key and value against `current`, and return 1 (here False: roll the
    op back) on any surprise. `insert_type` is the op type counted as an
    insert (UPSERT where WiredTiger's insert overwrote)."""

    def __init__(
        self, current: dict[Any, Any], insert_type: OpType = OpType.INSERT
    ) -> None:
        self.current = current
        self.insert_type = insert_type
        self.ninsert = 0
        self.nsearch = 0
        self.problems: list[str] = []
        self.lock = threading.Lock()

    def notify(self, op: Any, error: BaseException | None, result: Any) -> object:
        with self.lock:
            ok = error is None
            if op.type is self.insert_type:
                self.ninsert += 1
            elif op.type is OpType.SEARCH:
                self.nsearch += 1
            else:
                ok = False
            expected = self.current.get(op.key, _MISSING)
            if expected != op.value:
                ok = False
            if not ok:
                self.problems.append(
                    f"op {op.id} {op.type} {op.key!r}: wanted {expected!r}, "
                    f"got {op.value!r} (error {error!r})"
                )
                return False
        return None

    @property
    def nerror(self) -> int:
        with self.lock:
            return len(self.problems)


def java_key(key_format: str, i: int) -> Any:
    """AsyncTest.java's `genkey`: "key<i>" (S), or the record number i+1 (q)."""
    return f"key{i}" if key_format == "str" else i + 1


def java_value(value_format: str, i: int) -> Any:
    """AsyncTest.java's `genvalue`: "value<i>" (S), or i % 0xff (i)."""
    return f"value{i}" if value_format == "str" else i % 0xFF


def async_tester(
    store: Store,
    name: str,
    key_format: str,
    value_format: str,
    entries: int,
    callback: JavaCallback,
    *,
    method: str = "insert",
) -> None:
    """AsyncTest.java's `asyncTester`: fill the reference, insert `entries`
    records through async ops, flush, search them all, flush.

    The Java test retried `async_new_op()` up to 10 times with a sleep and
    slept every `opsBatch` ops to let the workers catch up; per DESIGN the
    submitter waits for a free slot instead, so neither is needed.
    """
    store.create_table(
        name, key_format=key_format, value_format=value_format, exist_ok=True
    )
    for i in range(entries):
        callback.current[java_key(key_format, i)] = java_value(value_format, i)
    for i in range(entries):
        op = store.new_op(name, callback=callback)
        op.key, op.value = java_key(key_format, i), java_value(value_format, i)
        getattr(op, method)()
    store.flush(timeout=WAIT)
    for i in range(entries):
        op = store.new_op(name, callback=callback)
        op.key = java_key(key_format, i)
        op.search()
    store.flush(timeout=WAIT)


ASYNC06_ENTRIES = 100_000
"""AsyncTest.java's async06 and asyncManyConnections02 use 1,000,000 records;
scaled down to fit a test's time on a shared 2-core machine."""


@pytest.mark.parametrize(
    ("name", "key_format", "value_format", "entries", "ops_max", "threads"),
    [
        pytest.param("async01", "str", "str", 1000, 500, 10, id="async01"),
        pytest.param("async02", "str", "str", 100, 50, 3, id="async02"),
        pytest.param("async03", "str", "str", 100, 10, 3, id="async03"),
        pytest.param("async04", "int", "str", 1000, 500, 10, id="async04"),
        pytest.param("async05", "int", "int", 1000, 500, 10, id="async05"),
        pytest.param("async06", "int", "int", ASYNC06_ENTRIES, 4000, 3, id="async06"),
    ],
)
def test_java_async_test(
    make_store: Callable[..., Store],
    name: str,
    key_format: str,
    value_format: str,
    entries: int,
    ops_max: int,
    threads: int,
) -> None:
    """AsyncTest.java `async01`..`async06`: `asyncTester` with each table
    format (S/S, q/S, q/i) and ops_max/threads setting; no callback error,
    every insert and search notified once.

    async06 (1,000,000 records in Java) is scaled to `ASYNC06_ENTRIES` on a
    `Durability.NONE` table: WiredTiger without a log did not sync each
    commit either.
    """
    durability = Durability.NONE if name == "async06" else Durability.SYNC
    store = make_store(ops_max=ops_max, threads=threads, durability=durability)
    callback = JavaCallback({})

    async_tester(store, name, key_format, value_format, entries, callback)

    assert callback.problems[:5] == []
    assert callback.nerror == 0
    assert callback.nsearch == entries
    assert callback.ninsert == entries


@pytest.mark.parametrize(
    ("iterations", "entries", "ops_max", "value_format", "durability"),
    [
        pytest.param(100, 100, 10, "str", Durability.SYNC, id="asyncManyConnections01"),
        pytest.param(
            10, 10_000, 4000, "int", Durability.NONE, id="asyncManyConnections02"
        ),
    ],
)
def test_java_async_many_connections(
    make_store: Callable[..., Store],
    store_path: Path,
    iterations: int,
    entries: int,
    ops_max: int,
    value_format: str,
    durability: Durability,
) -> None:
    """AsyncTest.java `asyncManyConnections01`/`02`: open a connection, run
    `asyncTester` on the same table, close; many times over one directory.

    WiredTiger's insert overwrote by default (`overwrite=true`), so every
    connection after the first re-inserted the same records: here they are
    upserts (counted as inserts). asyncManyConnections02 (10 x 1,000,000
    records, ops_max 4000, 3 threads) is scaled to 10 x 10,000 on a
    `Durability.NONE` table.
    """
    key_format = "str" if value_format == "str" else "int"
    current: dict[Any, Any] = {}
    for _ in range(iterations):
        store = make_store(
            store_path, ops_max=ops_max, threads=3, durability=durability
        )
        callback = JavaCallback(current, insert_type=OpType.UPSERT)
        async_tester(
            store,
            "asyncMany",
            key_format,
            value_format,
            entries,
            callback,
            method="upsert",
        )
        store.close(timeout=WAIT)

        assert callback.problems[:5] == []
        assert callback.nerror == 0
        assert callback.nsearch == entries
        assert callback.ninsert == entries


# -- test/suite/test_reconfig01.py `test_reconfig_async` ------------------------------


def test_reconfig01_reconfig_async(
    make_store: Callable[..., Store], store_path: Path
) -> None:
    """test_reconfig01.py `test_reconfig_async` (and test/csuite/wt2719_reconfig):
    change the async ops_max and thread count of a connection, step by step.

    Differs on purpose: a store has no `reconfigure()` and no async on/off
    switch; its settings are those it was opened with, so each step reopens
    the same directory. WiredTiger ignored a new ops_max on reconfiguration;
    a reopened store takes it. Every step keeps the records of the ones before.
    """
    steps = [
        {},  # the defaults
        {"ops_max": 512, "threads": 10},
        {"ops_max": 512, "threads": 10},  # the same thread count again
        {"ops_max": 512, "threads": 14},  # more threads
        {"ops_max": 512, "threads": 8},  # fewer threads
        {"ops_max": 1024, "threads": 8},
        {"ops_max": 2048, "threads": 7},
        {"ops_max": 2348, "threads": 17},
        {"ops_max": 1790, "threads": 7},
    ]
    for n, options in enumerate(steps):
        store = make_store(store_path, **options)
        assert (store.ops_max, store.threads) == (
            options.get("ops_max", 1024),
            options.get("threads", 2),
        )
        store.create_table(
            "reconfig", key_format="int", value_format="str", exist_ok=True
        )
        op = store.new_op("reconfig")
        op.key, op.value = n, f"step{n}"
        op.insert().get(timeout=WAIT)
        assert store.scan("reconfig").get(timeout=WAIT) == [
            (i, f"step{i}") for i in range(n + 1)
        ]
        store.close(timeout=WAIT)


# -- asyncio usage of the same ops (DESIGN.md, "asyncio") -----------------------------


class Counting(retry.AsyncCallback):
    """Count successful and failed notifications per op type."""

    def __init__(self) -> None:
        self.ok: Counter[OpType | None] = Counter()
        self.failed: Counter[type[BaseException]] = Counter()
        self.lock = threading.Lock()

    def notify(self, op: Any, error: BaseException | None, result: Any) -> object:
        with self.lock:
            if error is None:
                self.ok[op.type] += 1
            else:
                self.failed[type(error)] += 1
        return None


def test_asyncio_gather_thousands_of_ops_on_a_default_store(store_path: Path) -> None:
    """test_async01's insert and search phases in asyncio (DESIGN "asyncio"):
    `async with open_store(...)` with the defaults (ops_max 1024), thousands
    of op handles gathered at once (past ops_max they are parked, never
    blocking the loop), `await store.aflush()`, and the store closes on
    leaving the block."""
    entries = 5000
    callback = Counting()

    async def main() -> Store:
        async with actorstore.open_store(store_path) as store:
            assert store.ops_max == 1024
            store.create_table("table.gather", key_format="str", value_format="str")
            inserts = []
            for i in range(entries):
                op = store.new_op("table.gather", callback=callback)
                op.key, op.value = f"key{i:05d}", f"value{i}"
                inserts.append(op.insert())
            assert await asyncio.gather(*inserts) == [None] * entries
            searches = []
            for i in range(entries):
                op = store.new_op("table.gather", callback=callback)
                op.key = f"key{i:05d}"
                searches.append(op.search())
            found = await asyncio.gather(*searches)
            await store.aflush()
            assert found == [f"value{i}" for i in range(entries)]
            assert await store.count("table.gather") == entries
        return store

    store = run(main)

    assert store.is_closed
    assert callback.ok == {OpType.INSERT: entries, OpType.SEARCH: entries}
    assert callback.failed == {}


def test_asyncio_past_ops_max_parks_without_blocking_the_loop(
    make_store: Callable[..., Store], hold: Callable[..., Any]
) -> None:
    """DESIGN "ops_max": on a running event loop's thread the store never
    blocks past ops_max: the op is parked and admitted in order as slots free
    up. With the table's owner held, 2,000 submissions on the loop all
    return (a blocking submitter would stop the loop here); once the owner
    goes on, every op completes, in submission order."""
    store = make_store()  # the defaults: ops_max 1024
    store.create_table("table.parked", key_format="int", value_format="str")
    gate = hold(store, "table.parked", key=-1, value="held")
    total = 2000
    callback = Recorder()

    async def main() -> None:
        futures = []
        for i in range(total):
            op = store.new_op("table.parked", callback=callback)
            op.key, op.value = i, f"value{i}"
            futures.append(op.insert())
        assert store.stats()["parked"] == total - (store.ops_max - 1)
        gate.open()
        assert await asyncio.gather(*futures) == [None] * total
        await store.aflush()

    run(main)

    assert [c[2] for c in callback.calls] == list(range(total))
    assert store.count("table.parked").get(timeout=WAIT) == total + 1


def test_asyncio_wait_async02_errors(make_store: Callable[..., Store]) -> None:
    """test_async02's error cases awaited with `asyncio.wait` (DESIGN
    "asyncio"): every op ends in the done set, the failed ones carrying
    `KeyExistsError` / `NotFoundError`, each notified once."""
    store = make_store(ops_max=ASYNC_OPS, threads=ASYNC_THREADS)
    store.create_table("table.wait", key_format="str", value_format="str")
    callback = Counting()

    async def main() -> None:
        inserts = []
        for i in range(NENTRIES):
            op = store.new_op("table.wait", callback=callback)
            op.key, op.value = f"key{i}", f"value{i}"
            inserts.append(op.insert())
        # typeshed wants asyncio futures; OpFuture is what DESIGN says
        # asyncio.wait takes (it implements what wait calls on it).
        done, pending = await asyncio.wait(inserts)  # type: ignore[type-var]
        assert (len(done), pending) == (NENTRIES, set())

        errors = []
        for method, key in (("insert", "key50"), ("update", "key101")):
            op = store.new_op("table.wait", callback=callback)
            op.key, op.value = key, "v"
            errors.append(getattr(op, method)())
        op = store.new_op("table.wait", callback=callback)
        op.key = "key101"
        errors.append(op.remove())
        done, _ = await asyncio.wait(errors, return_when=asyncio.FIRST_EXCEPTION)
        assert any(f.exception() is not None for f in done)
        done, pending = await asyncio.wait(errors)
        assert pending == set()
        kinds = [type(f.exception()) for f in errors]
        assert kinds == [KeyExistsError, NotFoundError, NotFoundError]
        await store.aflush()

    run(main)

    assert callback.ok == {OpType.INSERT: NENTRIES}
    assert callback.failed == {KeyExistsError: 1, NotFoundError: 2}


def test_asyncio_scan_iter_async_for(store_path: Path) -> None:
    """The records of ex_async.c read back with `async for` over
    `store.scan_iter()` (DESIGN "scan_iter"), page by page: all of them in
    key order, with a prefix, and in reverse."""
    entries = 2500

    async def main() -> None:
        async with actorstore.open_store(store_path, threads=2, ops_max=20) as store:
            store.create_table("async", key_format="str", value_format="str")
            writes = []
            for i in range(entries):
                op = store.new_op("async")
                op.key, op.value = f"key{i:05d}", f"value{i}"
                writes.append(op.insert())
            await asyncio.gather(*writes)
            await store.aflush()

            pairs = [p async for p in store.scan_iter("async", page_size=100)]
            assert pairs == [(f"key{i:05d}", f"value{i}") for i in range(entries)]
            prefixed = [
                k
                async for k, _ in store.scan_iter("async", prefix="key012", page_size=7)
            ]
            assert prefixed == [f"key{i:05d}" for i in range(1200, 1300)]
            backwards = [
                k
                async for k, _ in store.scan_iter("async", reverse=True, page_size=333)
            ]
            assert backwards == [f"key{i:05d}" for i in reversed(range(entries))]

    run(main)
