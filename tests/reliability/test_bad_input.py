"""Bad input catalogue: each case is refused with its precise error, writing nothing.

Every case runs against a store with two tables (`docs`: str keys, JSON
values; `nums`: int keys). The refusal must come at once (not through a
future) unless the case says so, nothing may change (table contents, dead
letters, tables, files under `tmp_path`), and the store must work after.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import actorstore
from actorstore import OpFuture, OpSubmittedError, Store
from actorstore.retry import RetryPolicy, UnknownDeadLetterError
from actorstore.storage import (
    EncodeError,
    InvalidInputError,
    InvalidKeyError,
    InvalidOptionError,
    InvalidTableNameError,
    KeyExistsError,
    LmdbError,
    StoreClosedError,
    TableExistsError,
    UnknownFormatError,
    UnknownTableError,
)

WAIT = 10.0


@dataclass
class Env:
    """What a case works with: the open store and a scratch directory."""

    store: Store
    tmp_path: Path
    scratch: dict[str, Any]


@dataclass(frozen=True)
class Case:
    """One bad call: `call(env)` must raise `error` matching `match`.

    `setup(env)` runs before the snapshot (making a file, a closed store, ...).
    `deferred` cases are refused through the op's future rather than at once
    (an error only the transaction can see, such as a duplicate key).
    """

    call: Callable[[Env], object]
    error: type[BaseException]
    match: str
    setup: Callable[[Env], None] | None = None
    deferred: bool = False


def circular() -> list[Any]:
    value: list[Any] = []
    value.append(value)
    return value


def make_file(env: Env) -> None:
    path = env.tmp_path / "afile"
    path.write_text("not a store")
    env.scratch["path"] = path


def make_read_only_dir(env: Env) -> None:
    if os.geteuid() == 0:
        pytest.skip(
            "running as root: root ignores directory permissions, so a 0o555 "
            "directory is writable and cannot be refused"
        )
    path = env.tmp_path / "readonly"
    path.mkdir()
    path.chmod(0o555)
    env.scratch["path"] = path


def make_closed_store(env: Env) -> None:
    closed = actorstore.open_store(env.tmp_path / "closed")
    closed.create_table("docs")
    closed.close()
    env.scratch["closed"] = closed


def submit_once(env: Env) -> None:
    op = env.store.new_op("docs")
    op.key, op.value = "once", {"n": 1}
    op.upsert().get(timeout=WAIT)
    env.scratch["op"] = op


def upsert(
    table: str, key: Any, value: Any = None, **options: Any
) -> Callable[[Env], object]:
    """Return the call `store.upsert(table, key, value, **options)`."""

    def call(env: Env) -> object:
        return env.store.upsert(
            table, key, {"v": 1} if value is None else value, **options
        )

    return call


def create(name: Any, **options: Any) -> Callable[[Env], object]:
    return lambda env: env.store.create_table(name, **options)


def open_at(name: str, **options: Any) -> Callable[[Env], object]:
    return lambda env: actorstore.open_store(env.tmp_path / name, **options)


NAME_RULE = r"; use 1 to 64 letters, digits"

CASES = {
    # keys
    "empty key": Case(
        upsert("docs", ""), InvalidKeyError, r"empty key; keys must have 1 to 511 bytes"
    ),
    "512-byte key": Case(
        upsert("docs", "k" * 512),
        InvalidKeyError,
        r"key of 512 bytes is over LMDB's 511-byte limit",
    ),
    "512-byte utf-8 key": Case(
        upsert("docs", "é" * 256),
        InvalidKeyError,
        r"key of 512 bytes is over LMDB's 511-byte limit",
    ),
    "None key": Case(
        upsert("docs", None), InvalidKeyError, r"invalid key None .*expected str"
    ),
    "str key in int table": Case(
        upsert("nums", "7"),
        InvalidKeyError,
        r"invalid key '7' for key format 'int': expected int, got str",
    ),
    "bool key in int table": Case(
        upsert("nums", True), InvalidKeyError, r"expected int, got bool"
    ),
    "int key over 64 bits": Case(
        upsert("nums", 2**63),
        InvalidKeyError,
        r"does not fit in a signed 64-bit integer",
    ),
    # values
    "set value in json table": Case(
        upsert("docs", "k", {1, 2}),
        EncodeError,
        r"cannot encode value \{1, 2\}: Object of type set is not JSON serializable",
    ),
    "NaN value": Case(
        upsert("docs", "k", math.nan),
        EncodeError,
        r"cannot encode value nan: Out of range float values are not JSON",
    ),
    "infinity inside a value": Case(
        upsert("docs", "k", {"x": [math.inf]}),
        EncodeError,
        r"cannot encode value .*Out of range float",
    ),
    "circular value": Case(
        upsert("docs", "k", circular()), EncodeError, r"Circular reference detected"
    ),
    # tables
    "unknown table": Case(
        upsert("nope", "k"),
        UnknownTableError,
        r"table 'nope' does not exist; create it with create_table\(\)",
    ),
    "compact of an unknown table": Case(
        lambda env: env.store.compact("nope", timeout=WAIT),
        UnknownTableError,
        r"table 'nope' does not exist",
    ),
    "the dead-letter table from outside": Case(
        upsert("__dead_letters__", 1),
        InvalidTableNameError,
        r"reserved for internal tables",
    ),
    "op on a traversal name": Case(
        upsert("../docs", "k"), InvalidTableNameError, r"not allowed" + NAME_RULE
    ),
    "table name '..'": Case(
        create(".."),
        InvalidTableNameError,
        r"invalid table name '\.\.': it starts with '\.'",
    ),
    "table name '/x'": Case(
        create("/x"),
        InvalidTableNameError,
        r"'/x': it contains a character that is not allowed",
    ),
    "table name 'a/b'": Case(
        create("a/b"),
        InvalidTableNameError,
        r"'a/b': it contains a character that is not allowed",
    ),
    "table name with NUL": Case(
        create("a\x00b"),
        InvalidTableNameError,
        r"'a\\x00b': it contains a character that is not allowed",
    ),
    "table name of 65 chars": Case(
        create("t" * 65), InvalidTableNameError, r"it has 65 characters, more than 64"
    ),
    "table name '_private'": Case(
        create("_private"),
        InvalidTableNameError,
        r"'_private': names starting with '_' are reserved for internal tables",
    ),
    "empty table name": Case(create(""), InvalidTableNameError, r"it is empty"),
    "table name not a str": Case(
        create(7), InvalidTableNameError, r"expected str, got int"
    ),
    "unknown key format": Case(
        create("fresh", key_format="yaml"),
        UnknownFormatError,
        r"unknown format 'yaml'; use one of \['bytes', 'int', 'json', 'str'\]",
    ),
    "existing table with other formats": Case(
        create("docs", key_format="int", exist_ok=True),
        TableExistsError,
        r"table 'docs' exists with key_format='str'",
    ),
    # store options
    "negative ops_max": Case(
        open_at("other", ops_max=-1),
        InvalidOptionError,
        r"ops_max must be an int >= 1, not -1",
    ),
    "zero ops_max": Case(
        open_at("other", ops_max=0),
        InvalidOptionError,
        r"ops_max must be an int >= 1, not 0",
    ),
    "zero threads": Case(
        open_at("other", threads=0),
        InvalidOptionError,
        r"threads must be an int >= 1, not 0",
    ),
    "unknown durability string": Case(
        open_at("other", durability="sometimes"),
        InvalidOptionError,
        r"unknown durability 'sometimes'; use Durability.SYNC or Durability.NONE",
    ),
    "unknown durability for a table": Case(
        create("fresh", durability="eventually"),
        InvalidOptionError,
        r"unknown durability 'eventually'",
    ),
    "initial map larger than max": Case(
        open_at("other", initial_map_size=1 << 30, max_map_size=1 << 20),
        InvalidOptionError,
        r"initial_map_size \(1073741824\) is larger than max_map_size \(1048576\)",
    ),
    "store path is a file": Case(
        lambda env: actorstore.open_store(env.scratch["path"]),
        InvalidOptionError,
        r"afile is a file, not a directory",
        setup=make_file,
    ),
    "store path with NUL": Case(
        open_at("bad\x00path"), InvalidOptionError, r"without NUL bytes"
    ),
    "read-only directory": Case(
        lambda env: actorstore.open_store(env.scratch["path"]),
        LmdbError,
        r"cannot create store directory .*readonly.*check its permissions",
        setup=make_read_only_dir,
    ),
    # timeouts
    "negative flush timeout": Case(
        lambda env: env.store.flush(timeout=-1),
        InvalidOptionError,
        r"timeout must be a number of seconds >= 0 or None, not -1",
    ),
    "negative get timeout": Case(
        lambda env: env.store.count("docs").get(timeout=-1),
        InvalidOptionError,
        r"timeout must be >= 0 or None, not -1",
    ),
    "NaN get timeout": Case(
        lambda env: env.store.count("docs").get(timeout=math.nan),
        InvalidOptionError,
        r"timeout must be >= 0 or None, not nan",
    ),
    "str get timeout": Case(
        lambda env: env.store.count("docs").get(timeout="5"),
        InvalidOptionError,
        r"timeout must be >= 0 or None, not '5'",
    ),
    "negative close timeout": Case(
        lambda env: env.store.close(timeout=-1),
        InvalidOptionError,
        r"timeout must be a number of seconds >= 0 or None, not -1",
    ),
    # retry configuration
    "retry mapping with an unknown key": Case(
        lambda env: RetryPolicy.from_mapping({"max_attemps": 3}),
        InvalidOptionError,
        r"unknown retry policy option 'max_attemps'; use one of max_attempts",
    ),
    "retry mapping with a negative wait": Case(
        lambda env: RetryPolicy.from_mapping({"initial_wait": -1}),
        InvalidOptionError,
        r"initial_wait=-1.0 is invalid; use a finite number of seconds, 0 or more",
    ),
    "retry option that is not a policy": Case(
        upsert("docs", "k", retry={"max_attempts": 3}),
        InvalidOptionError,
        r"retry must be an actorstore.RetryPolicy, not dict",
    ),
    # op options and lifecycle
    "unknown op option": Case(
        upsert("docs", "k", colour="red"),
        InvalidOptionError,
        r"unknown op option\(s\) \['colour'\]",
    ),
    "unknown op durability": Case(
        upsert("docs", "k", durability="eventually"),
        InvalidOptionError,
        r"unknown durability 'eventually'",
    ),
    "callback that is not callable": Case(
        upsert("docs", "k", callback=42),
        InvalidOptionError,
        r"callback must be an actorstore.Callback or a function "
        r"fn\(error, result\), not int",
    ),
    "reply_to that is not an actor": Case(
        upsert("docs", "k", reply_to="me"),
        InvalidOptionError,
        r"reply_to must be a pykka.ActorRef, not str",
    ),
    "op submitted twice": Case(
        lambda env: env.scratch["op"].upsert(),
        OpSubmittedError,
        r"was already submitted; use new_op\(\) for another op",
        setup=submit_once,
    ),
    "op on a closed store": Case(
        lambda env: env.scratch["closed"].upsert("docs", "k", {"v": 1}),
        StoreClosedError,
        r"the store is closed; open it again to use it",
        setup=make_closed_store,
    ),
    "unknown dead-letter id to replay": Case(
        lambda env: env.store.dead_letters.replay([12345], timeout=WAIT),
        UnknownDeadLetterError,
        r"no dead letter with id 12345",
    ),
    "unknown dead-letter id to purge": Case(
        lambda env: env.store.dead_letters.purge([12345], timeout=WAIT),
        UnknownDeadLetterError,
        r"no dead letter with id 12345",
    ),
    "dead-letter ids that are not a list": Case(
        lambda env: env.store.dead_letters.purge(ids=5),
        InvalidOptionError,
        r"ids must be a list of dead-letter ids \(ints\) or None, not 5",
    ),
    # scans and batches
    "scan reverse that is not a bool": Case(
        lambda env: env.store.scan("docs", reverse="no"),
        InvalidInputError,
        r"scan reverse must be True or False, not 'no'",
    ),
    "batch of something that is not a list": Case(
        lambda env: env.store.batch("docs", 5),
        InvalidInputError,
        r"batch takes a list of \(kind, key\[, value\]\) tuples, not int",
    ),
    "create_table exist_ok that is not a bool": Case(
        create("docs", exist_ok="yes"),
        InvalidOptionError,
        r"exist_ok must be True or False, not 'yes'",
    ),
    "scan with a negative limit": Case(
        lambda env: env.store.scan("docs", limit=-1),
        InvalidInputError,
        r"scan limit must be an int >= 0 or None, not -1",
    ),
    "scan by prefix on int keys": Case(
        lambda env: env.store.scan("nums", prefix=1),
        InvalidKeyError,
        r"int keys have no prefixes; scan with start= and end= instead",
    ),
    "batch with an unknown op kind": Case(
        lambda env: env.store.batch(
            "docs", [("upsert", "b1", 1), ("frobnicate", "b2", 2)]
        ),
        InvalidInputError,
        r"batch item 1: unknown kind 'frobnicate'; use one of",
    ),
    "batch item without its value": Case(
        lambda env: env.store.batch("docs", [("upsert", "b1", 1), ("upsert", "b2")]),
        InvalidInputError,
        r"batch item 1: expected \('upsert', key, value\)",
    ),
    "batch with a bad key": Case(
        lambda env: env.store.batch("docs", [("upsert", "b1", 1), ("upsert", "", 2)]),
        InvalidKeyError,
        r"empty key",
    ),
    "batch with a duplicate insert": Case(
        lambda env: env.store.batch(
            "docs",
            [("upsert", "b1", 1), ("insert", "dup", 1), ("insert", "dup", 2)],
        ),
        KeyExistsError,
        r"table 'docs': key 'dup' already exists; use update\(\) or upsert\(\)",
        deferred=True,
    ),
    "batch inserting a present key": Case(
        lambda env: env.store.batch(
            "docs", [("upsert", "b1", 1), ("insert", "seed-0", 2)]
        ),
        KeyExistsError,
        r"key 'seed-0' already exists",
        deferred=True,
    ),
}


def files_under(path: Path) -> set[str]:
    """Return every path under `path`, relative to it."""
    return {str(p.relative_to(path)) for p in path.rglob("*")}


def snapshot(env: Env) -> dict[str, Any]:
    """Return what a refused call must leave unchanged."""
    store = env.store
    return {
        "docs": store.scan("docs").get(timeout=WAIT),
        "nums": store.scan("nums").get(timeout=WAIT),
        "dead letters": store.dead_letters.list(timeout=WAIT),
        "tables": store.tables(),
        "files": files_under(env.tmp_path),
    }


@pytest.fixture
def env(make_store: Callable[..., Store], tmp_path: Path) -> Iterator[Env]:
    store = make_store()
    store.create_table("docs", key_format="str", value_format="json")
    store.create_table("nums", key_format="int", value_format="json")
    for i in range(3):
        store.upsert("docs", f"seed-{i}", {"n": i}).get(timeout=WAIT)
        store.upsert("nums", i, {"n": i}).get(timeout=WAIT)
    environment = Env(store, tmp_path, {})
    yield environment
    for path in tmp_path.rglob("*"):
        if path.is_dir():
            path.chmod(0o755)  # so pytest can remove a read-only directory
    closed = environment.scratch.get("closed")
    if closed is not None:
        closed.close()


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_bad_input_is_refused_before_anything_is_written(env: Env, case: Case) -> None:
    if case.setup is not None:
        case.setup(env)
    before = snapshot(env)

    with pytest.raises(case.error, match=case.match) as caught:
        result = case.call(env)
        if isinstance(result, OpFuture):
            assert case.deferred, (
                "the call returned a future instead of refusing the input at once"
            )
            result.get(timeout=WAIT)
    assert isinstance(caught.value, case.error)

    assert snapshot(env) == before
    env.store.upsert("docs", "follow-up", {"ok": True}).get(timeout=WAIT)
    assert env.store.search("docs", "follow-up").get(timeout=WAIT) == {"ok": True}
    assert env.store.count("docs").get(timeout=WAIT) == len(before["docs"]) + 1
