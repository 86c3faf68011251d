"""JSON data in, data out: canonical keys; values refused unless they come back.

Covers storage/_json_shape.py through the codecs that use it (`JsonCodec`,
`FastJsonCodec`) and through real tables: keys equal in Python are one key,
values that JSON would change are refused before anything is written, and
tables created before canonical keys keep finding every key they hold.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import json
import uuid
from pathlib import Path
from typing import Any

import lmdb
import pytest
from hypothesis import given
from hypothesis import strategies as st

from actorstore import storage
from actorstore.storage import (
    EncodeError,
    InvalidKeyError,
    JsonCodec,
    NotFoundError,
    StoreDirectory,
)
from actorstore.storage._table_codecs import TableCodecs
from actorstore.storage.codecs import CANONICAL_KEYS, LEGACY_KEYS

CODECS: list[Any] = [JsonCodec]
try:
    import orjson  # noqa: F401 - only whether it is there

    CODECS.append(storage.FastJsonCodec)
except ImportError:  # pragma: no cover - the extra is installed in CI
    pass


@pytest.fixture(params=CODECS, ids=lambda c: c.__name__)
def codec(request: pytest.FixtureRequest) -> JsonCodec:
    made: JsonCodec = request.param()
    return made


# -- values: refused unless they come back as written ---------------------------


class Colour(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Point:
    x: int


NOT_COMING_BACK = {
    "int and str key of one value": ({1: "int-key", "1": "str-key"}, "be lost"),
    "int key": ({1: 2}, r"key 1 \(int\), which would come back as the str '1'"),
    "float key deep inside": (
        {"a": [{"b": {2.5: 1}}]},
        r"the object at \['a'\]\[0\]\['b'\] has the key 2.5 \(float\)",
    ),
    "bool key": ({True: 1}, r"key True \(bool\).* the str 'true'"),
    "None key": ({"x": {None: 1}}, r"key None \(NoneType\).* the str 'null'"),
    "int key beside nested objects": (
        {"a": {"b": 1}, 7: "x"},
        r"key 7 \(int\)",
    ),
    "int key in a list": ([{"ok": 1}, {3: "x"}], r"the object at \[1\] has the key 3"),
    "datetime": ({"at": datetime.datetime(2024, 1, 2)}, "not JSON serializable"),
    "uuid": ([uuid.UUID(int=1)], "not JSON serializable"),
    "enum member": ({"c": Colour.RED}, "not JSON serializable"),
    "dataclass": (Point(1), "not JSON serializable"),
}


@pytest.mark.parametrize(
    ("value", "match"), list(NOT_COMING_BACK.values()), ids=list(NOT_COMING_BACK)
)
def test_a_value_json_would_change_is_refused_naming_the_key(
    codec: JsonCodec, value: Any, match: str
) -> None:
    with pytest.raises((TypeError, ValueError), match=match):  # as Codec says
        codec.encode(value)


@pytest.mark.parametrize(
    ("value", "match"), list(NOT_COMING_BACK.values()), ids=list(NOT_COMING_BACK)
)
def test_such_a_value_is_an_encode_error_and_writes_nothing(
    tmp_path: Path, codec: JsonCodec, value: Any, match: str
) -> None:
    stdlib = storage.get_codec("json")
    storage.register_codec("json", codec, replace=True)
    try:
        with StoreDirectory(tmp_path / "s") as store:
            store.create_table("t", value_format="json")
            session = store.session("t")
            with pytest.raises(
                EncodeError, match=f"table 't': cannot encode value .*{match}"
            ):
                session.upsert("k", value)
            with pytest.raises(EncodeError, match=match):
                session.batch([("upsert", "a", 1), ("upsert", "b", value)])
            assert session.count() == 0
    finally:
        storage.register_codec("json", stdlib, replace=True)


STR_KEYS_ONLY: list[Any] = [
    {"name": "Norma", "age": 31, "tags": ["a", "b"]},
    {"1": "a str key that looks like a number", "true": [], "null": {"-2.5e3": 0}},
    [{"a": {"b": {"c": [1, 2.5, None, True]}}}, 'x":1', '"2":'],
    {"é": "ü", "q": 'a "1": b'},
    7,
    "plain",
    None,
]


@pytest.mark.parametrize("value", STR_KEYS_ONLY)
def test_values_with_str_keys_come_back_as_written(
    codec: JsonCodec, value: Any
) -> None:
    assert codec.decode(codec.encode(value)) == value
    assert JsonCodec().encode(value) == codec.encode(value)


def test_json_conventions_stand_tuples_come_back_as_lists(codec: JsonCodec) -> None:
    assert codec.decode(codec.encode({"t": (1, (2, 3))})) == {"t": [1, [2, 3]]}


# -- keys: equal in Python, one key ----------------------------------------------

PERMUTED = st.dictionaries(
    st.text(max_size=4),
    st.integers() | st.text(max_size=3) | st.lists(st.integers(), max_size=2),
    min_size=1,
    max_size=5,
)


@given(PERMUTED, st.randoms())
def test_a_dict_key_is_one_key_in_any_order(value: dict[str, Any], rnd: Any) -> None:
    items = list(value.items())
    rnd.shuffle(items)
    codec = JsonCodec()
    assert codec.encode_key(dict(items)) == codec.encode_key(value)
    assert codec.decode(codec.encode_key(value)) == value


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (1, 1.0),
        (0, -0.0),
        ([1, 2], (1, 2)),
        ({"a": [1, {"b": 2.0}]}, {"a": (1.0, {"b": 2})}),
        (10**20, 1e20),
    ],
)
def test_keys_equal_in_python_encode_alike(one: Any, other: Any) -> None:
    assert one == other or list(one) == list(other)
    codec = JsonCodec()
    assert codec.encode_key(one) == codec.encode_key(other)


@pytest.mark.parametrize(
    ("one", "other"), [(True, 1), (False, 0), (1, "1"), (1.5, 1), ([1], [1, 1])]
)
def test_bools_and_other_values_stay_other_keys(one: Any, other: Any) -> None:
    codec = JsonCodec()
    assert codec.encode_key(one) != codec.encode_key(other)


def test_a_key_is_spelled_the_same_by_both_codecs() -> None:
    fast = pytest.importorskip("orjson") and storage.FastJsonCodec()
    for key in [{"b": 1e-7, "a": [1.5, 2.0]}, "é", 12, [None, True], 1e16]:
        assert fast.encode_key(key) == JsonCodec().encode_key(key)


def test_a_key_with_a_non_str_object_key_is_refused() -> None:
    codecs = TableCodecs("t", "json", "json")
    with pytest.raises(InvalidKeyError, match=r"key 1 \(int\)"):
        codecs.encode_key({"a": {1: 2}})


def test_reordered_dict_keys_find_one_record(tmp_path: Path) -> None:
    with StoreDirectory(tmp_path / "s") as store:
        store.create_table("t", key_format="json")
        assert store.table_info("t").key_encoding == CANONICAL_KEYS
        session = store.session("t")
        session.upsert({"a": 1, "b": 2}, "first")
        assert session.search({"b": 2, "a": 1}) == "first"
        session.upsert({"b": 2, "a": 1.0}, "second")
        session.upsert(1.0, "one")
        assert session.count() == 2
        assert session.search(1) == "one"
        assert session.scan() == [(1, "one"), ({"a": 1, "b": 2}, "second")]


# -- tables created before canonical keys ---------------------------------------


def write_table_as_before(path: Path, keys: list[Any]) -> None:
    """Make the store `path` as the code before canonical keys left it: a
    catalog record with no key encoding, keys as `json.dumps` wrote them."""
    with StoreDirectory(path) as store:
        store.create_table("old", key_format="json", value_format="json")
    env = lmdb.open(str(path / "catalog"), map_size=1 << 20)
    with env.begin(write=True) as txn:
        record = json.loads(txn.get(b"old"))
        del record["key_encoding"]
        txn.put(b"old", json.dumps(record, sort_keys=True).encode())
    env.close()
    env = lmdb.open(str(path / "tables" / "old"), map_size=1 << 24)
    with env.begin(write=True) as txn:
        for number, key in enumerate(keys):
            data = json.dumps(key, separators=(",", ":"), ensure_ascii=False)
            txn.put(data.encode(), json.dumps(number).encode())
    env.close()


def test_a_table_created_before_keeps_its_keys_as_they_were(tmp_path: Path) -> None:
    old_keys = [{"b": 2, "a": 1}, {"a": 1, "b": 2}, 1.0, 1, "s", [3, {"z": 0, "y": 1}]]
    write_table_as_before(tmp_path / "s", old_keys)
    with StoreDirectory(tmp_path / "s") as store:
        assert store.table_info("old").key_encoding == LEGACY_KEYS
        store.create_table("new", key_format="json")
        assert store.table_info("new").key_encoding == CANONICAL_KEYS
        old = store.session("old")
        for number, key in enumerate(old_keys):
            assert old.search(key) == number  # each key it holds is found
        old.upsert({"b": 2, "a": 1}, "again")  # and written as before
        assert old.count() == len(old_keys)
        assert old.search({"b": 2, "a": 1}) == "again"
        old.upsert({"q": 1, "p": 2}, "new key")
        with pytest.raises(NotFoundError):
            old.search({"p": 2, "q": 1})  # as before: order matters there
    with StoreDirectory(tmp_path / "s") as store:  # and it stays so
        assert store.table_info("old").key_encoding == LEGACY_KEYS
        assert store.session("old").search({"q": 1, "p": 2}) == "new key"


def test_table_codecs_pickle_and_compare_with_their_key_encoding() -> None:
    import pickle

    canonical = TableCodecs("t", "json", "json")
    legacy = TableCodecs("t", "json", "json", LEGACY_KEYS)
    assert pickle.loads(pickle.dumps(legacy)) == legacy
    assert canonical != legacy
    assert legacy.encode_key({"b": 1, "a": 2}) == b'{"b":1,"a":2}'
    assert canonical.encode_key({"b": 1, "a": 2}) == b'{"a":2,"b":1}'
    # A format whose codec has no encode_key() spells keys one way in both.
    assert TableCodecs("t", "str", "json") == TableCodecs("t", "str", "json", 1)
