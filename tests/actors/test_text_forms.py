"""Tests for actors/_text_forms.py: a table's keys and values as text, for the CLI."""

from __future__ import annotations

import pytest

from actorstore import storage
from actorstore._text_forms import TableText, TextForm
from actorstore.storage import (
    BytesCodec,
    IntCodec,
    InvalidInputError,
    JsonCodec,
    StrCodec,
    register_codec,
)


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give the test its own copy of the codec registry, so nothing leaks."""
    monkeypatch.setattr(storage.codecs, "_codecs", dict(storage.codecs._codecs))


@pytest.mark.parametrize("codec", [StrCodec(), BytesCodec(), IntCodec(), JsonCodec()])
def test_every_built_in_codec_has_a_text_form(codec: object) -> None:
    assert isinstance(codec, TextForm)


@pytest.mark.parametrize(
    ("key_format", "value_format", "key_text", "value_text", "key", "value"),
    [
        ("str", "json", "ada", '{"age": 36}', "ada", {"age": 36}),
        ("int", "str", "-3", "minus three", -3, "minus three"),
        ("bytes", "bytes", "AAE=", "aGk=", b"\x00\x01", b"hi"),
    ],
)
def test_each_built_in_format_has_a_text_form_that_reads_back(
    key_format: str,
    value_format: str,
    key_text: str,
    value_text: str,
    key: object,
    value: object,
) -> None:
    forms = TableText("t", key_format, value_format)

    assert forms.parse_text(key_text, what="key") == key
    assert forms.parse_text(value_text) == value
    assert forms.parse_text(forms.format_text(key, what="key"), what="key") == key
    assert forms.parse_text(forms.format_text(value)) == value


def test_text_that_is_not_of_the_format_says_what_was_expected() -> None:
    forms = TableText("nums", "int", "json")
    with pytest.raises(InvalidInputError, match="'nums' has int keys; 'seven' is not"):
        forms.parse_text("seven", what="key")
    with pytest.raises(InvalidInputError, match="not valid JSON"):
        forms.parse_text("{bad")


@pytest.mark.usefixtures("registry")
def test_a_codec_without_a_text_form_is_named() -> None:
    class Opaque:
        def encode(self, obj: object) -> bytes:
            return b"x"

        def decode(self, data: bytes) -> object:
            return data

    register_codec("opaque-text-test", Opaque(), replace=True)
    forms = TableText("t", "str", "opaque-text-test")
    with pytest.raises(InvalidInputError, match="has no text form"):
        forms.parse_text("x")
    assert forms.format_text(b"x") == "b'x'"


def test_storage_knows_nothing_of_text_forms() -> None:
    from actorstore.storage._table_codecs import TableCodecs

    assert not hasattr(storage.codecs, "TextForm")
    assert not hasattr(TableCodecs, "parse_text")
    assert not hasattr(TableCodecs, "format_text")
