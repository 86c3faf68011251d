"""Tests for storage/_session.py: every op, its success and its failures."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actorstore.storage import (
    MAX_KEY_SIZE,
    DecodeError,
    EncodeError,
    InvalidInputError,
    InvalidKeyError,
    InvalidTableNameError,
    KeyExistsError,
    NotFoundError,
    OpVetoedError,
    StoreClosedError,
    StoreDirectory,
    StoreError,
)
from actorstore.storage._requests import Batch, build_request
from actorstore.storage._session import TableSession


class Boom(Exception):
    """Raised by a before_commit function to abort its op."""


def boom(result: object) -> None:
    raise Boom(f"no, not with {result!r}")


def contents(session: TableSession) -> dict[Any, Any]:
    return dict(session.scan())


# -- insert / update / upsert / remove / search / exists / count ---------------


def test_insert_then_search(users: TableSession) -> None:
    users.insert("norma", {"name": "Norma", "age": 31})
    assert users.search("norma") == {"name": "Norma", "age": 31}
    assert users.exists("norma") is True
    assert users.count() == 1


def test_insert_of_a_present_key_raises_key_exists(users: TableSession) -> None:
    users.insert("norma", 1)
    with pytest.raises(
        KeyExistsError,
        match=r"table 'users': key 'norma' already exists; use update\(\) or upsert",
    ) as info:
        users.insert("norma", 2)
    assert (info.value.table, info.value.key) == ("users", "norma")
    assert users.search("norma") == 1


def test_update_replaces_a_present_value(users: TableSession) -> None:
    users.insert("k", 1)
    users.update("k", [1, 2])
    assert users.search("k") == [1, 2]
    assert users.count() == 1


def test_update_of_an_absent_key_raises_not_found(users: TableSession) -> None:
    with pytest.raises(
        NotFoundError, match=r"key 'k' not found by update\(\); use insert\(\)"
    ) as info:
        users.update("k", 1)
    assert (info.value.table, info.value.key, info.value.op) == ("users", "k", "update")
    assert users.exists("k") is False


def test_upsert_creates_then_replaces(users: TableSession) -> None:
    users.upsert("k", "first")
    users.upsert("k", "second")
    assert users.search("k") == "second"
    assert users.count() == 1


def test_remove_deletes_a_record(users: TableSession) -> None:
    users.insert("k", 1)
    users.remove("k")
    assert users.exists("k") is False
    assert users.count() == 0


def test_remove_of_an_absent_key_raises_not_found(users: TableSession) -> None:
    with pytest.raises(NotFoundError, match=r"key 'k' not found by remove\(\)") as info:
        users.remove("k")
    assert info.value.op == "remove"


def test_search_of_an_absent_key_raises_not_found(users: TableSession) -> None:
    users.insert("other", 1)
    with pytest.raises(
        NotFoundError, match=r"key 'k' not found by search\(\); check the key"
    ) as info:
        users.search("k")
    assert (info.value.table, info.value.key) == ("users", "k")


def test_exists_and_count_on_an_empty_table(users: TableSession) -> None:
    assert users.exists("k") is False
    assert users.count() == 0
    assert users.scan() == []


def test_json_values_of_every_kind_round_trip(users: TableSession) -> None:
    values: list[Any] = [
        None,
        True,
        0,
        -5,
        1.5,
        "",
        "é",
        [],
        {},
        {"a": [1, {"b": None}]},
    ]
    for index, value in enumerate(values):
        users.insert(f"k{index}", value)
    assert [users.search(f"k{i}") for i in range(len(values))] == values


def test_bytes_table_takes_bytes_and_returns_bytes(blobs: TableSession) -> None:
    blobs.insert(b"\x00\xff", bytearray(b"v"))
    blobs.upsert(memoryview(b"m"), b"")
    assert blobs.search(b"\x00\xff") == b"v"
    assert blobs.search(b"m") == b""


def test_int_table_orders_keys_numerically(numbers: TableSession) -> None:
    for number in (10, -1, 0, -(1 << 63), (1 << 63) - 1, 2):
        numbers.insert(number, str(number))
    assert [k for k, _ in numbers.scan()] == [-(1 << 63), -1, 0, 2, 10, (1 << 63) - 1]
    assert numbers.search(-1) == "-1"


# -- bad input is refused before any transaction ---------------------------------

KEY_OPS: dict[str, Callable[[TableSession, Any], object]] = {
    "insert": lambda s, k: s.insert(k, 1),
    "update": lambda s, k: s.update(k, 1),
    "upsert": lambda s, k: s.upsert(k, 1),
    "remove": lambda s, k: s.remove(k),
    "search": lambda s, k: s.search(k),
    "exists": lambda s, k: s.exists(k),
}


@pytest.mark.parametrize("op", sorted(KEY_OPS))
def test_an_empty_key_is_refused(users: TableSession, op: str) -> None:
    with pytest.raises(InvalidKeyError, match="empty key; keys must have 1 to 511"):
        KEY_OPS[op](users, "")


@pytest.mark.parametrize("op", sorted(KEY_OPS))
def test_a_key_over_511_bytes_is_refused(users: TableSession, op: str) -> None:
    with pytest.raises(InvalidKeyError, match="key of 512 bytes is over LMDB's 511"):
        KEY_OPS[op](users, "é" * 256)
    assert users.count() == 0


@pytest.mark.parametrize("op", sorted(KEY_OPS))
def test_a_key_of_the_wrong_type_is_refused(users: TableSession, op: str) -> None:
    with pytest.raises(InvalidKeyError, match="invalid key 5 for key format 'str'"):
        KEY_OPS[op](users, 5)


def test_a_key_of_exactly_511_bytes_is_accepted(users: TableSession) -> None:
    key = "k" * MAX_KEY_SIZE
    users.insert(key, 1)
    assert users.search(key) == 1


@pytest.mark.parametrize("key", [True, 1 << 63, "1", 1.0])
def test_an_int_table_refuses_keys_that_are_not_int64(
    numbers: TableSession, key: object
) -> None:
    with pytest.raises(InvalidKeyError, match="for key format 'int'"):
        numbers.upsert(key, "v")


def test_a_deeply_nested_json_key_is_refused_as_invalid(
    store: StoreDirectory,
) -> None:
    store.create_table("docs", key_format="json", value_format="json")
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(InvalidKeyError, match=r"invalid key \[\[\["):
        store.session("docs").upsert(deep, 1)


@pytest.mark.parametrize(
    ("value", "reason"),
    [({1, 2}, "not JSON serializable"), (float("nan"), "Out of range float")],
)
def test_a_value_the_codec_cannot_encode_is_refused(
    users: TableSession, value: object, reason: str
) -> None:
    with pytest.raises(
        EncodeError, match=f"table 'users': cannot encode value.*{reason}"
    ):
        users.insert("k", value)
    assert users.exists("k") is False


def test_a_str_value_on_a_bytes_table_is_refused(blobs: TableSession) -> None:
    with pytest.raises(EncodeError, match="expected bytes, got str"):
        blobs.upsert(b"k", "text")


def test_bad_input_errors_are_store_errors_and_value_errors(
    users: TableSession,
) -> None:
    with pytest.raises(StoreError):
        users.insert("", 1)
    with pytest.raises(ValueError, match="empty key"):
        users.insert("", 1)


def test_a_stored_value_the_codec_cannot_decode_raises_decode_error(
    store: StoreDirectory, users: TableSession
) -> None:
    users.upsert("good", 1)
    with store.table("users")._env.begin(write=True) as txn:
        txn.put(b"bad", b"\xff not json")
    with pytest.raises(DecodeError, match=r"cannot decode stored value.*another codec"):
        users.search("bad")
    with pytest.raises(DecodeError, match="table 'users'"):
        users.scan()
    assert users.search("good") == 1
    assert users.exists("bad") is True


# -- before_commit -----------------------------------------------------------------

WRITE_OPS: dict[str, Callable[[TableSession, Any], object]] = {
    "insert": lambda s, f: s.insert("new", 1, before_commit=f),
    "update": lambda s, f: s.update("old", 2, before_commit=f),
    "upsert": lambda s, f: s.upsert("old", 3, before_commit=f),
    "remove": lambda s, f: s.remove("old", before_commit=f),
    "batch": lambda s, f: s.batch(
        [("upsert", "new", 4), ("remove", "old")], before_commit=f
    ),
}


@pytest.mark.parametrize("op", sorted(WRITE_OPS))
def test_before_commit_raising_rolls_the_op_back(users: TableSession, op: str) -> None:
    users.insert("old", 0)
    with pytest.raises(Boom, match="no, not with"):
        WRITE_OPS[op](users, boom)
    assert contents(users) == {"old": 0}


@pytest.mark.parametrize("op", sorted(WRITE_OPS))
def test_before_commit_returning_false_vetoes_the_op(
    users: TableSession, op: str
) -> None:
    users.insert("old", 0)
    with pytest.raises(OpVetoedError, match="vetoed by its in-transaction function"):
        WRITE_OPS[op](users, lambda _: False)
    assert contents(users) == {"old": 0}


@pytest.mark.parametrize("answer", [None, True, 0, "", []])
def test_before_commit_commits_unless_it_returns_false(
    users: TableSession, answer: object
) -> None:
    users.insert("k", 1, before_commit=lambda _: answer)
    assert users.search("k") == 1


def test_before_commit_runs_once_with_the_op_result(users: TableSession) -> None:
    seen: list[object] = []
    users.insert("a", 1, before_commit=seen.append)
    users.batch([("upsert", "b", 2), ("upsert", "c", 3)], before_commit=seen.append)
    assert seen == [None, 2]


def test_a_vetoed_op_names_its_table_and_key(users: TableSession) -> None:
    with pytest.raises(OpVetoedError, match="table 'users', key 'k'") as info:
        users.upsert("k", 1, before_commit=lambda _: False)
    assert (info.value.table, info.value.key) == ("users", "k")


def test_before_commit_does_not_run_when_the_op_fails(users: TableSession) -> None:
    seen: list[object] = []
    with pytest.raises(NotFoundError):
        users.update("k", 1, before_commit=seen.append)
    assert seen == []


# -- scan --------------------------------------------------------------------------


@pytest.fixture
def alphabet(users: TableSession) -> TableSession:
    """`users` holding keys a, ab, abc, b, ba, c (value: the key's length)."""
    users.batch(
        [("insert", key, len(key)) for key in ["c", "ab", "a", "ba", "abc", "b"]]
    )
    return users


def keys(pairs: list[tuple[Any, Any]]) -> list[Any]:
    return [key for key, _ in pairs]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, ["a", "ab", "abc", "b", "ba", "c"]),
        ({"prefix": "a"}, ["a", "ab", "abc"]),
        ({"prefix": "ab"}, ["ab", "abc"]),
        ({"prefix": "abcd"}, []),
        ({"prefix": "z"}, []),
        ({"prefix": ""}, ["a", "ab", "abc", "b", "ba", "c"]),
        ({"start": "ab"}, ["ab", "abc", "b", "ba", "c"]),
        ({"start": "abd"}, ["b", "ba", "c"]),
        ({"end": "b"}, ["a", "ab", "abc"]),
        ({"start": "ab", "end": "ba"}, ["ab", "abc", "b"]),
        ({"start": "b", "end": "b"}, []),
        ({"start": "c", "end": "a"}, []),
        ({"start": "0", "end": "zz"}, ["a", "ab", "abc", "b", "ba", "c"]),
        ({"start": "d"}, []),
        ({"end": "a"}, []),
        ({"prefix": "a", "start": "ab"}, ["ab", "abc"]),
        ({"prefix": "a", "end": "abc"}, ["a", "ab"]),
        ({"prefix": "b", "start": "a"}, ["b", "ba"]),
        ({"prefix": "a", "start": "b"}, []),
        ({"limit": 2}, ["a", "ab"]),
        ({"limit": 0}, []),
        ({"limit": 100}, ["a", "ab", "abc", "b", "ba", "c"]),
        ({"reverse": True}, ["c", "ba", "b", "abc", "ab", "a"]),
        ({"reverse": True, "limit": 2}, ["c", "ba"]),
        ({"reverse": True, "prefix": "a"}, ["abc", "ab", "a"]),
        ({"reverse": True, "prefix": "b", "limit": 1}, ["ba"]),
        ({"reverse": True, "end": "b"}, ["abc", "ab", "a"]),
        ({"reverse": True, "end": "bb"}, ["ba", "b", "abc", "ab", "a"]),
        ({"reverse": True, "end": "zz"}, ["c", "ba", "b", "abc", "ab", "a"]),
        ({"reverse": True, "start": "b"}, ["c", "ba", "b"]),
        ({"reverse": True, "start": "ab", "end": "ba"}, ["b", "abc", "ab"]),
        ({"reverse": True, "start": "b", "end": "b"}, []),
        ({"reverse": True, "end": "a"}, []),
        ({"reverse": True, "limit": 0}, []),
    ],
)
def test_scan(
    alphabet: TableSession, options: dict[str, Any], expected: list[str]
) -> None:
    pairs = alphabet.scan(**options)
    assert keys(pairs) == expected
    assert all(value == len(key) for key, value in pairs)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"prefix": "a"},
        {"start": "a", "end": "z"},
        {"reverse": True},
        {"reverse": True, "prefix": "a", "limit": 3},
        {"limit": 0},
    ],
)
def test_scan_of_an_empty_table_is_empty(
    users: TableSession, options: dict[str, Any]
) -> None:
    assert users.scan(**options) == []


@pytest.mark.parametrize("limit", [-1, True, 1.5, "3"])
def test_scan_refuses_a_bad_limit(alphabet: TableSession, limit: object) -> None:
    with pytest.raises(InvalidInputError, match="scan limit must be an int >= 0"):
        alphabet.scan(limit=limit)  # type: ignore[arg-type]


def test_scan_refuses_a_prefix_of_the_wrong_type(alphabet: TableSession) -> None:
    with pytest.raises(InvalidKeyError, match="invalid prefix b'a'"):
        alphabet.scan(prefix=b"a")


def test_scan_refuses_a_bad_start_or_end(alphabet: TableSession) -> None:
    with pytest.raises(InvalidKeyError, match="empty key"):
        alphabet.scan(start="")
    with pytest.raises(InvalidKeyError, match="invalid key 3"):
        alphabet.scan(end=3)


def test_scan_of_an_int_table_has_no_prefixes(numbers: TableSession) -> None:
    numbers.insert(1, "one")
    with pytest.raises(InvalidKeyError, match="int keys have no prefixes; scan with"):
        numbers.scan(prefix=1)


def test_scan_of_a_json_key_table_has_no_prefixes(store: StoreDirectory) -> None:
    # A JSON string's closing quote would make prefix "a" match only "a".
    store.create_table("docs", key_format="json")
    docs = store.session("docs")
    docs.insert("ab", 1)
    with pytest.raises(InvalidKeyError, match="json keys have no prefixes"):
        docs.scan(prefix="a")
    assert docs.scan(start="a") == [("ab", 1)]


def test_table_info_refuses_a_bad_name(store: StoreDirectory) -> None:
    with pytest.raises(InvalidTableNameError):
        store.table_info(["a"])  # type: ignore[arg-type]


def test_scan_of_an_int_table_by_range(numbers: TableSession) -> None:
    for number in range(-5, 6):
        numbers.insert(number, str(number))
    assert keys(numbers.scan(start=-2, end=3)) == [-2, -1, 0, 1, 2]
    assert keys(numbers.scan(start=-2, end=3, reverse=True)) == [2, 1, 0, -1, -2]
    assert keys(numbers.scan(end=-3)) == [-5, -4]
    assert keys(numbers.scan(start=4, reverse=True, limit=1)) == [5]


FF_KEYS = [
    b"\x00",
    b"a",
    b"a\xfe",
    b"a\xfe\xff",
    b"a\xff",
    b"a\xff\x00",
    b"a\xff\xff",
    b"a\xff\xff\xff",
    b"b",
    b"\xfe\xff",
    b"\xff",
    b"\xff\x00",
    b"\xff\xff",
    b"\xff\xff\x01",
]


@pytest.fixture
def ff_table(blobs: TableSession) -> TableSession:
    blobs.batch([("insert", key, key) for key in FF_KEYS])
    return blobs


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        (b"a\xff", [b"a\xff", b"a\xff\x00", b"a\xff\xff", b"a\xff\xff\xff"]),
        (b"a\xff\xff", [b"a\xff\xff", b"a\xff\xff\xff"]),
        (b"a\xfe", [b"a\xfe", b"a\xfe\xff"]),
        (b"\xff", [b"\xff", b"\xff\x00", b"\xff\xff", b"\xff\xff\x01"]),
        (b"\xff\xff", [b"\xff\xff", b"\xff\xff\x01"]),
        (b"\xff\xff\xff", []),
        (b"\xfe", [b"\xfe\xff"]),
    ],
)
def test_scan_by_a_prefix_ending_in_0xff(
    ff_table: TableSession, prefix: bytes, expected: list[bytes]
) -> None:
    assert keys(ff_table.scan(prefix=prefix)) == expected
    assert keys(ff_table.scan(prefix=prefix, reverse=True)) == expected[::-1]
    assert keys(ff_table.scan(prefix=prefix, limit=1)) == expected[:1]
    assert keys(ff_table.scan(prefix=prefix, reverse=True, limit=1)) == expected[-1:]


def test_scan_by_a_0xff_prefix_honours_end(ff_table: TableSession) -> None:
    assert keys(ff_table.scan(prefix=b"\xff", end=b"\xff\xff")) == [
        b"\xff",
        b"\xff\x00",
    ]
    assert keys(ff_table.scan(prefix=b"\xff", end=b"\xff\xff", reverse=True)) == [
        b"\xff\x00",
        b"\xff",
    ]


BYTE_ALPHABET = b"\x00a\xfe\xff"
ALL_KEYS = sorted(
    bytes(chars)
    for length in (1, 2, 3)
    for chars in itertools.product(BYTE_ALPHABET, repeat=length)
)
SHORT_BYTES = st.binary(max_size=3).map(
    lambda raw: bytes(BYTE_ALPHABET[b % 4] for b in raw)
)


@pytest.fixture
def every_key(blobs: TableSession) -> TableSession:
    """`blobs` holding every key of 1-3 bytes over 0x00, 'a', 0xfe, 0xff."""
    blobs.batch([("insert", key, b"") for key in ALL_KEYS])
    return blobs


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    prefix=st.none() | SHORT_BYTES,
    start=st.none() | SHORT_BYTES.filter(bool),
    end=st.none() | SHORT_BYTES.filter(bool),
    limit=st.none() | st.integers(0, 5),
    reverse=st.booleans(),
)
def test_scan_agrees_with_filtering_every_key(
    every_key: TableSession,
    prefix: bytes | None,
    start: bytes | None,
    end: bytes | None,
    limit: int | None,
    reverse: bool,
) -> None:
    expected = [
        key
        for key in ALL_KEYS
        if (prefix is None or key.startswith(prefix))
        and (start is None or key >= start)
        and (end is None or key < end)
    ]
    if reverse:
        expected.reverse()
    if limit is not None:
        expected = expected[:limit]
    pairs = every_key.scan(
        prefix=prefix, start=start, end=end, limit=limit, reverse=reverse
    )
    assert keys(pairs) == expected


# -- batch -------------------------------------------------------------------------


def test_batch_applies_every_kind_in_order(users: TableSession) -> None:
    users.insert("old", 0)
    users.insert("gone", 0)
    applied = users.batch(
        [
            ("insert", "new", 1),
            ("update", "old", 2),
            ("upsert", "up", 3),
            ("remove", "gone"),
            ("update", "new", 4),
            ["remove", "up"],
            ("insert", "up", 5),
        ]
    )
    assert applied == 7
    assert contents(users) == {"new": 4, "old": 2, "up": 5}


def test_runs_of_upserts_and_other_writes_keep_their_order(
    users: TableSession,
) -> None:
    writes: list[Any] = [
        ("upsert", "a", 1),
        ("upsert", "b", 1),
        ("remove", "a"),
        ["upsert", "a", 2],
        ("upsert", "c", 3),
        ("remove", "b"),
        ("upsert", "b", 4),
    ]
    batch = build_request(users.table, "batch", value=writes)
    assert isinstance(batch, Batch)
    assert [(kind, key) for kind, key, _ in batch.encoded()] == [
        ("upsert", b"a"),
        ("upsert", b"b"),
        ("remove", b"a"),
        ("upsert", b"a"),
        ("upsert", b"c"),
        ("remove", b"b"),
        ("upsert", b"b"),
    ]
    assert users.batch(writes) == 7
    assert contents(users) == {"a": 2, "b": 4, "c": 3}


def test_batch_takes_any_iterable(users: TableSession) -> None:
    assert users.batch(("upsert", f"k{i}", i) for i in range(3)) == 3
    assert users.count() == 3


def test_an_empty_batch_applies_nothing(users: TableSession) -> None:
    assert users.batch([]) == 0
    assert users.count() == 0


def test_a_batch_with_a_duplicate_insert_applies_nothing(users: TableSession) -> None:
    users.insert("keep", 0)
    with pytest.raises(KeyExistsError, match="key 'dup' already exists"):
        users.batch(
            [
                ("upsert", "keep", 1),
                ("insert", "dup", 1),
                ("remove", "keep"),
                ("insert", "dup", 2),
                ("upsert", "after", 3),
            ]
        )
    assert contents(users) == {"keep": 0}


@pytest.mark.parametrize(
    ("writes", "error", "match"),
    [
        ([("upsert", "a", 1), ("insert", "keep", 1)], KeyExistsError, "'keep'"),
        ([("upsert", "a", 1), ("update", "nope", 1)], NotFoundError, r"update\(\)"),
        ([("upsert", "a", 1), ("remove", "nope")], NotFoundError, r"remove\(\)"),
    ],
)
def test_a_failing_write_aborts_the_whole_batch(
    users: TableSession,
    writes: list[tuple[Any, ...]],
    error: type[Exception],
    match: str,
) -> None:
    users.insert("keep", 0)
    with pytest.raises(error, match=match):
        users.batch(writes)
    assert contents(users) == {"keep": 0}


@pytest.mark.parametrize(
    ("writes", "match"),
    [
        ([("upsert", "a", 1), ("frob", "b", 2)], r"batch item 1: unknown kind 'frob'"),
        ([("search", "a")], r"unknown kind 'search'; use one of \['insert'"),
        ([(None, "a")], "unknown kind None"),
        ([("upsert", "a")], r"batch item 0: expected \('upsert', key, value\)"),
        ([("remove", "a", 1)], r"expected \('remove', key\)"),
        ([("upsert", "a", 1), ()], r"batch item 1 must be a \(kind, key\[, value\]\)"),
        ([("upsert", "a", 1), "upsert"], "batch item 1 must be"),
        ("upsert", "batch takes a list of"),
        (None, "batch takes a list of .* not NoneType"),
    ],
)
def test_a_malformed_batch_is_refused_before_anything_is_written(
    users: TableSession, writes: Any, match: str
) -> None:
    with pytest.raises(InvalidInputError, match=match):
        users.batch(writes)
    assert users.count() == 0


def test_a_batch_with_a_bad_key_or_value_writes_nothing(users: TableSession) -> None:
    with pytest.raises(InvalidKeyError, match="empty key"):
        users.batch([("upsert", "a", 1), ("upsert", "", 1)])
    with pytest.raises(EncodeError, match="cannot encode value"):
        users.batch([("upsert", "a", 1), ("upsert", "b", {1})])
    assert users.count() == 0


# -- prepared ops, threads, closing ------------------------------------------------


def test_run_executes_a_prepared_operation(
    store: StoreDirectory, users: TableSession
) -> None:
    table = store.table("users")
    assert users.run(build_request(table, "upsert", "k", 1)) is None
    assert users.run(build_request(table, "search", "k")) == 1
    assert users.run(build_request(table, "scan", prefix="k")) == [("k", 1)]
    with pytest.raises(NotFoundError):
        users.run(build_request(table, "remove", "nope"))


def test_run_refuses_an_op_of_another_table(
    store: StoreDirectory, users: TableSession, blobs: TableSession
) -> None:
    op = build_request(store.table("blobs"), "upsert", b"k", b"v")
    with pytest.raises(
        InvalidInputError, match="op for table 'blobs' given to the session of table"
    ):
        users.run(op)
    assert blobs.count() == 0


def test_a_session_used_from_a_second_thread_raises(
    store: StoreDirectory, users: TableSession
) -> None:
    users.upsert("k", 1)
    errors: list[InvalidInputError] = []
    results: list[object] = []

    def use_from_elsewhere() -> None:
        for op in (lambda: users.search("k"), lambda: users.upsert("k", 2)):
            try:
                op()
            except InvalidInputError as exc:
                errors.append(exc)
        results.append(store.session("users").search("k"))

    worker = threading.Thread(target=use_from_elsewhere)
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive()
    assert len(errors) == 2
    for error in errors:
        assert "belongs to another thread; open one session per thread" in str(error)
    assert results == [1]
    assert users.search("k") == 1


def test_ops_on_a_closed_store_raise_store_closed(
    store: StoreDirectory, users: TableSession
) -> None:
    users.upsert("k", 1)
    store.close()
    ops: list[Callable[[], object]] = [
        lambda: users.insert("a", 1),
        lambda: users.update("k", 1),
        lambda: users.upsert("k", 1),
        lambda: users.remove("k"),
        lambda: users.search("k"),
        lambda: users.exists("k"),
        lambda: users.count(),
        lambda: users.scan(),
        lambda: users.batch([("upsert", "k", 2)]),
        lambda: users.sync(),
    ]
    for op in ops:
        with pytest.raises(
            StoreClosedError, match="the table is closed; open it again"
        ):
            op()


def test_session_names_its_table(users: TableSession) -> None:
    assert users.name == "users"
    assert repr(users) == "<TableSession 'users'>"


def test_sync_flushes_without_error(lazy: TableSession) -> None:
    lazy.upsert("k", 1)
    lazy.sync()
    assert lazy.search("k") == 1


# -- values that could not be read back ---------------------------------------------


def nested(depth: int) -> list[Any]:
    """Return a list nested `depth` levels deep: [[[...]]]."""
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


def test_every_json_value_a_table_accepts_can_be_read_back(
    users: TableSession,
) -> None:
    for depth in range(1000, 0, -10):
        try:
            users.upsert("deep", nested(depth))
        except EncodeError:
            continue
        break
    assert users.search("deep") == nested(depth)
    assert users.scan() == [("deep", nested(depth))]


def test_a_json_value_nested_past_512_levels_is_refused(users: TableSession) -> None:
    users.upsert("ok", nested(512))
    with pytest.raises(
        EncodeError,
        match=r"cannot encode value \{'a': \[\[\[.*: it is nested 513 levels deep, "
        r"more "
        r"than 512",
    ):
        users.upsert("deep", {"a": nested(512)})
    assert users.exists("deep") is False
    assert users.search("ok") == nested(512)


def test_deep_nesting_inside_json_strings_does_not_count(users: TableSession) -> None:
    text = "[" * 2000 + '\\"{' * 1000
    users.upsert("k", [text, {"s": text}])
    assert users.search("k") == [text, {"s": text}]


@pytest.mark.parametrize(
    "value",
    [10**5000, [1, 10**5000], {"n": -(10**4400)}],
    ids=["int", "in-a-list", "in-a-dict"],
)
def test_an_int_too_long_for_text_is_refused_with_a_short_message(
    users: TableSession, value: object
) -> None:
    with pytest.raises(
        EncodeError,
        match=r"table 'users': cannot encode value .*: an int has more than 4300 "
        r"digits",
    ) as info:
        users.upsert("k", value)
    assert len(str(info.value)) < 300
    assert users.exists("k") is False


def test_an_int_key_too_long_for_text_is_refused_with_a_short_message(
    numbers: TableSession, store: StoreDirectory
) -> None:
    with pytest.raises(
        InvalidKeyError, match="bits does not fit in a signed 64-bit integer"
    ) as info:
        numbers.upsert(10**5000, "v")
    assert len(str(info.value)) < 300
    store.create_table("docs", key_format="json")
    with pytest.raises(InvalidKeyError, match="more than 4300 digits") as info:
        store.session("docs").upsert([10**5000], 1)
    assert len(str(info.value)) < 300
