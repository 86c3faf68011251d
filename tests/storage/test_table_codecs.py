"""Tests for storage/_table_codecs.py: wrapping a codec's failure in the error tree."""

from __future__ import annotations

from typing import Any

import pytest

from actorstore.storage import DecodeError, EncodeError, IntCodec, JsonCodec, StrCodec
from actorstore.storage._table_codecs import decode_with, encode_with


def test_encode_with_turns_a_codec_failure_into_encode_error() -> None:
    with pytest.raises(EncodeError, match="table 't': cannot encode value") as info:
        encode_with(JsonCodec(), {1, 2}, what="value", table="t")
    assert info.value.table == "t"
    assert isinstance(info.value.__cause__, TypeError)


def test_encode_with_shortens_a_long_value_in_its_message() -> None:
    with pytest.raises(EncodeError) as info:
        encode_with(StrCodec(), b"x" * 500, what="value", table="t")
    assert "..." in str(info.value)
    assert len(str(info.value)) < 200


def test_encode_with_catches_deep_recursion() -> None:
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(EncodeError, match="cannot encode value"):
        encode_with(JsonCodec(), deep, what="value", table="t")


def test_decode_with_turns_a_codec_failure_into_decode_error() -> None:
    with pytest.raises(DecodeError, match=r"3 bytes.*another codec") as info:
        decode_with(IntCodec(), b"abc", what="key", table="t")
    assert info.value.table == "t"
