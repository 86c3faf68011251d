"""Tests for storage/codecs.py: built-in codecs and the registry."""

from __future__ import annotations

import json
import json.encoder
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actorstore import storage
from actorstore.storage import (
    BytesCodec,
    Codec,
    EncodeError,
    IntCodec,
    JsonCodec,
    StoreDirectory,
    StrCodec,
    UnknownFormatError,
    get_codec,
    register_codec,
    registered_formats,
)
from actorstore.storage._table_codecs import encode_with

INT64 = st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1)


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give the test its own copy of the codec registry, so nothing leaks."""
    monkeypatch.setattr(storage.codecs, "_codecs", dict(storage.codecs._codecs))


class ReversedText:
    """A user codec: UTF-8 text stored back to front."""

    def encode(self, obj: Any) -> bytes:
        if not isinstance(obj, str):
            raise TypeError(f"expected str, got {type(obj).__name__}")
        return obj[::-1].encode()

    def decode(self, data: bytes) -> str:
        return bytes(data).decode()[::-1]


# -- built-in codecs -----------------------------------------------------------


@given(st.text())
def test_str_codec_round_trips_any_text(text: str) -> None:
    codec = StrCodec()
    assert codec.decode(codec.encode(text)) == text
    assert codec.encode(text) == text.encode("utf-8")


@pytest.mark.parametrize("bad", [b"bytes", 1, None, ["a"]])
def test_str_codec_refuses_what_is_not_str(bad: object) -> None:
    with pytest.raises(TypeError, match="expected str"):
        StrCodec().encode(bad)


def test_str_codec_decode_of_invalid_utf8_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="utf-8"):
        StrCodec().decode(b"\xff\xfe")


@given(st.binary())
def test_bytes_codec_round_trips_any_bytes(data: bytes) -> None:
    codec = BytesCodec()
    assert codec.decode(codec.encode(data)) == data


def test_bytes_codec_accepts_bytearray_and_memoryview() -> None:
    codec = BytesCodec()
    assert codec.encode(bytearray(b"ab")) == b"ab"
    assert codec.encode(memoryview(b"cd")) == b"cd"
    assert type(codec.encode(bytearray(b"ab"))) is bytes


@pytest.mark.parametrize("bad", ["text", 1, None])
def test_bytes_codec_refuses_what_is_not_bytes(bad: object) -> None:
    with pytest.raises(TypeError, match="expected bytes"):
        BytesCodec().encode(bad)


@given(INT64)
def test_int_codec_round_trips_every_int64(number: int) -> None:
    codec = IntCodec()
    data = codec.encode(number)
    assert len(data) == 8
    assert codec.decode(data) == number


@given(INT64, INT64)
def test_int_codec_byte_order_is_numeric_order(a: int, b: int) -> None:
    codec = IntCodec()
    assert (codec.encode(a) < codec.encode(b)) == (a < b)


def test_int_codec_puts_negatives_before_positives() -> None:
    codec = IntCodec()
    numbers = [5, -1, 0, -(1 << 63), (1 << 63) - 1, -300, 2]
    assert sorted(numbers, key=codec.encode) == sorted(numbers)


@pytest.mark.parametrize("bad", [1 << 63, -(1 << 63) - 1, 10**30])
def test_int_codec_refuses_ints_outside_64_bits(bad: int) -> None:
    with pytest.raises(ValueError, match="signed 64-bit"):
        IntCodec().encode(bad)


@pytest.mark.parametrize("bad", [True, False, 1.0, "1", None])
def test_int_codec_refuses_bools_and_non_ints(bad: object) -> None:
    with pytest.raises(TypeError, match="expected int"):
        IntCodec().encode(bad)


@pytest.mark.parametrize("data", [b"", b"\x00" * 7, b"\x00" * 9])
def test_int_codec_decode_needs_exactly_8_bytes(data: bytes) -> None:
    with pytest.raises(ValueError, match="expected 8 bytes"):
        IntCodec().decode(data)


JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)

JSON = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=12,
)


@given(JSON)
def test_json_codec_round_trips_json_values(value: Any) -> None:
    codec = JsonCodec()
    assert codec.decode(codec.encode(value)) == value


def test_json_codec_writes_compact_utf8() -> None:
    assert JsonCodec().encode({"a": [1, 2], "é": "ü"}) == (
        '{"a":[1,2],"é":"ü"}'.encode()
    )


JSON_KEYS = st.recursive(  # what json turns into str keys, too
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.tuples(children, children)
        | st.dictionaries(JSON_SCALARS, children, max_size=4)
    ),
    max_leaves=12,
)


def has_non_str_key(value: Any) -> bool:
    if isinstance(value, dict):
        return any(
            not isinstance(k, str) or has_non_str_key(v) for k, v in value.items()
        )
    if isinstance(value, list | tuple):
        return any(has_non_str_key(v) for v in value)
    return False


@given(JSON_KEYS)
def test_json_codec_writes_what_json_dumps_writes_or_refuses_non_str_keys(
    value: Any,
) -> None:
    """What json.dumps would write with a key changed to text is refused."""
    if has_non_str_key(value):
        with pytest.raises(ValueError, match=r"JSON object keys are text|be lost"):
            JsonCodec().encode(value)
        return
    expected = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    assert JsonCodec().encode(value) == expected.encode()


def test_json_codec_without_the_c_encoder_writes_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(json.encoder, "c_make_encoder", None)
    codec = JsonCodec()
    value = {"a": [1, 2.5, None, True], "é": "ü", "3": {"x": []}}
    expected = '{"a":[1,2.5,null,true],"é":"ü","3":{"x":[]}}'
    assert codec.encode(value) == expected.encode()
    with pytest.raises(ValueError, match="Out of range float"):
        codec.encode([math.inf])


def test_json_codec_refuses_a_value_that_contains_itself() -> None:
    loop: list[object] = [1]
    loop.append({"back": loop})
    with pytest.raises(ValueError, match="Circular reference detected"):
        JsonCodec().encode(loop)
    with pytest.raises(EncodeError, match="Circular reference detected"):
        encode_with(JsonCodec(), loop, what="value", table="t")


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, [math.nan]])
def test_json_codec_refuses_nan_and_infinities(bad: object) -> None:
    with pytest.raises(ValueError, match="Out of range float"):
        JsonCodec().encode(bad)


@pytest.mark.parametrize("bad", [{1, 2}, object(), b"bytes"])
def test_json_codec_refuses_what_json_cannot_hold(bad: object) -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        JsonCodec().encode(bad)


def test_json_codec_decode_of_garbage_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="Expecting property name"):
        JsonCodec().decode(b"{nope")


@pytest.mark.parametrize("codec", [StrCodec(), BytesCodec(), IntCodec(), JsonCodec()])
def test_built_in_codecs_satisfy_the_protocol(codec: object) -> None:
    assert isinstance(codec, Codec)


# -- the registry --------------------------------------------------------------


def test_built_in_formats_are_registered() -> None:
    formats = registered_formats()
    assert formats == sorted(formats)
    assert {"str", "bytes", "int", "json"} <= set(formats)
    assert isinstance(get_codec("int"), IntCodec)
    assert isinstance(get_codec("json"), JsonCodec)


@pytest.mark.parametrize("name", ["msgpack", "", None, ["json"]])
def test_get_codec_of_an_unknown_format_names_the_known_ones(name: object) -> None:
    with pytest.raises(UnknownFormatError, match=r"unknown format .*'json'.*register"):
        get_codec(name)  # type: ignore[arg-type]


@pytest.mark.usefixtures("registry")
def test_register_codec_makes_a_format_available() -> None:
    codec = ReversedText()
    register_codec("reversed", codec)
    assert get_codec("reversed") is codec
    assert "reversed" in registered_formats()


@pytest.mark.usefixtures("registry")
def test_register_codec_refuses_a_taken_name_unless_replace() -> None:
    with pytest.raises(UnknownFormatError, match=r"already registered.*replace=True"):
        register_codec("json", ReversedText())
    assert isinstance(get_codec("json"), JsonCodec)
    replacement = ReversedText()
    register_codec("json", replacement, replace=True)
    assert get_codec("json") is replacement


@pytest.mark.usefixtures("registry")
def test_register_codec_refuses_an_object_without_encode_and_decode() -> None:
    with pytest.raises(UnknownFormatError, match=r"encode\(\) and decode\(\)"):
        register_codec("broken", object())  # type: ignore[arg-type]
    assert "broken" not in registered_formats()


@pytest.mark.usefixtures("registry")
@pytest.mark.parametrize("name", ["", None, 5])
def test_register_codec_refuses_a_bad_name(name: object) -> None:
    with pytest.raises(UnknownFormatError, match="non-empty str"):
        register_codec(name, ReversedText())  # type: ignore[arg-type]


@pytest.mark.usefixtures("registry")
def test_a_registered_codec_serves_a_table(store: StoreDirectory) -> None:
    register_codec("reversed", ReversedText())
    store.create_table("notes", key_format="str", value_format="reversed")
    session = store.session("notes")
    session.upsert("k", "hello")
    assert session.search("k") == "hello"
    raw = store.table("notes")._env.begin().get(b"k")
    assert raw == b"olleh"
    with pytest.raises(EncodeError, match="cannot encode value 42"):
        session.upsert("k", 42)
