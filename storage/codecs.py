"""Codecs: how keys and values become bytes, and back.

A codec is any object with `encode(obj) -> bytes` and `decode(bytes) -> obj`
(and, for keys, optionally `encode_key(obj) -> bytes`: one spelling per key).
Built-in formats are `"str"`, `"bytes"`, `"int"` (order-preserving) and
`"json"`; `register_codec()` adds a user's own (msgpack, orjson, ...). The
built-in codecs also have a text form (`parse_text`/`format_text`), which the
command line uses; storage itself never reads it.
"""

from __future__ import annotations

import base64
import itertools
import json
import json.encoder
import re
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from actorstore.storage._json_shape import canonical_key, refuse_non_str_keys
from actorstore.storage.errors import (
    UnknownFormatError,
)

__all__ = [
    "CANONICAL_KEYS",
    "LEGACY_KEYS",
    "MAX_KEY_SIZE",
    "BytesCodec",
    "Codec",
    "FastJsonCodec",
    "IntCodec",
    "JsonCodec",
    "StrCodec",
    "get_codec",
    "register_codec",
    "registered_formats",
]

MAX_KEY_SIZE = 511
"""LMDB's default limit on an encoded key, in bytes."""

LEGACY_KEYS = 1
"""A table's keys are its key codec's `encode()` (tables created before
`CANONICAL_KEYS`; their catalog records name no key encoding)."""

CANONICAL_KEYS = 2
"""A table's keys go through its key codec's `encode_key()` where it has one:
`JsonCodec`'s spells keys equal in Python one way (every table created now)."""

MAX_JSON_DEPTH = 512
"""How deeply a JSON value may nest lists and objects.

Python's `json` recurses once per level, decoding as encoding, and the
recursion limit (1000 frames by default) counts the caller's frames too: a
value nested close to it is accepted on a shallow stack and then raises
`RecursionError` on every read from a deeper one. 512 levels leave room.
"""


@runtime_checkable
class Codec(Protocol):
    """Turns objects into bytes and back; `encode` raises on what it cannot take.

    A codec used as a key format may also have `encode_key(obj) -> bytes`,
    which a table uses for its keys instead of `encode`: it should give
    keys equal in Python the same bytes (as `JsonCodec.encode_key` does:
    `{"a": 1, "b": 2}` and `{"b": 2, "a": 1}` are one key), and those bytes
    must not change from one version of the codec to the next.
    """

    def encode(self, obj: Any) -> bytes:
        """Return the bytes for `obj`; raise TypeError or ValueError if it can't."""
        ...

    def decode(self, data: bytes) -> Any:
        """Return the object stored as `data`."""
        ...


class StrCodec:
    """UTF-8 text; only `str` is accepted. Its text form is the text itself."""

    def parse_text(self, text: str) -> str:
        """Return `text` itself."""
        return text

    def format_text(self, obj: Any) -> str:
        """Return `obj`, a str, itself."""
        return str(obj)

    def encode(self, obj: Any) -> bytes:
        """Return `obj` as UTF-8."""
        if not isinstance(obj, str):
            raise TypeError(f"expected str, got {type(obj).__name__}")
        return obj.encode("utf-8")

    def decode(self, data: bytes) -> str:
        """Return the text in `data`."""
        return bytes(data).decode("utf-8")


class BytesCodec:
    """Raw bytes; `bytes`, `bytearray` and `memoryview` are accepted.

    Its text form is base64.
    """

    def parse_text(self, text: str) -> bytes:
        """Return the bytes `text` holds in base64."""
        try:
            return base64.b64decode(text, validate=True)
        except ValueError:
            raise ValueError("give bytes in base64") from None

    def format_text(self, obj: Any) -> str:
        """Return `obj` in base64."""
        return base64.b64encode(bytes(obj)).decode("ascii")

    def encode(self, obj: Any) -> bytes:
        """Return `obj` as bytes."""
        if type(obj) is bytes:
            return obj
        if not isinstance(obj, (bytes, bytearray, memoryview)):
            raise TypeError(f"expected bytes, got {type(obj).__name__}")
        return bytes(obj)

    def decode(self, data: bytes) -> bytes:
        """Return `data` as bytes."""
        return data if type(data) is bytes else bytes(data)


class IntCodec:
    """Signed 64-bit integers whose byte order is their numeric order.

    The sign bit is flipped so that LMDB's bytewise order puts negative numbers
    before positive ones.
    """

    _BIAS = 1 << 63

    def parse_text(self, text: str) -> int:
        """Return the int written in `text` (decimal)."""
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"{text[:40]!r} is not one") from None

    def format_text(self, obj: Any) -> str:
        """Return `obj` in decimal."""
        return str(obj)

    def encode(self, obj: Any) -> bytes:
        """Return `obj` as 8 big-endian bytes, sign bit flipped."""
        if isinstance(obj, bool) or not isinstance(obj, int):
            raise TypeError(f"expected int, got {type(obj).__name__}")
        if not -self._BIAS <= obj < self._BIAS:
            # Never print a huge int: past 4300 digits str() itself raises.
            shown = f"{obj}" if obj.bit_length() < 256 else _int_size(obj)
            raise ValueError(f"{shown} does not fit in a signed 64-bit integer")
        return (obj + self._BIAS).to_bytes(8, "big")

    def decode(self, data: bytes) -> int:
        """Return the integer stored as `data`."""
        if len(data) != 8:
            raise ValueError(f"expected 8 bytes, got {len(data)}")
        return int.from_bytes(data, "big") - self._BIAS


class JsonCodec:
    """Compact JSON in UTF-8: a value comes back as written, or is refused.

    Refused, because they would not come back as written: object keys that
    are not str (`{1: "a"}` would come back as `{"1": "a"}`, and
    `{1: "a", "1": "b"}` as one of its entries), NaN and infinities, ints of
    more than 4300 digits (Python's limit for ints in text), values nested
    more than `MAX_JSON_DEPTH` levels deep, and what JSON has no form for
    (sets, bytes, other objects). JSON's own conventions stand: a tuple
    comes back as a list, a subclass of dict, list, str, int or float (an
    `IntEnum`) as the plain type it equals.

    As a key format (`encode_key`), a value has one spelling, so keys equal
    in Python are one key: object keys sorted, an integral float written as
    its int (`1.0` is the key `1`, read back as `1`), a tuple as a list.
    Bools are not numbers there: `True` and `1` are two keys.
    """

    def __init__(self) -> None:
        # json.dumps() with options builds a JSONEncoder on every call; one
        # built once encodes a small value in about half the time.
        self._encoder = json.JSONEncoder(
            separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
        self._key_encoder = json.JSONEncoder(
            separators=(",", ":"), ensure_ascii=False, allow_nan=False, sort_keys=True
        )
        # And JSONEncoder.encode() still builds its C encoder (CPython's
        # json.encoder.c_make_encoder) again on each call: the same one, built
        # once, takes 0.7 us where encode() takes 1.8. It runs without the
        # circular check, whose memo dict would be shared by every thread: a
        # value that contains itself recurses to a RecursionError, and then
        # encode() asks the checking encoder what was wrong. Where there is no
        # C encoder, encode() uses the JSONEncoder.
        self._c_encode = self._c_encoder(sort_keys=False)
        self._c_encode_sorted = self._c_encoder(sort_keys=True)
        # json.loads(bytes) first guesses the encoding in Python; what this
        # codec wrote is UTF-8 text with nothing around the value, which
        # raw_decode reads in a third of the time.
        self._raw_decode = json.JSONDecoder().raw_decode

    def _c_encoder(
        self, *, sort_keys: bool
    ) -> Callable[[Any, int], Sequence[str]] | None:
        make_encoder = getattr(json.encoder, "c_make_encoder", None)
        if make_encoder is None:
            return None
        encoder: Callable[[Any, int], Sequence[str]] = make_encoder(
            None,  # no circular check
            self._encoder.default,  # what is not JSON: a TypeError
            json.encoder.encode_basestring,  # ensure_ascii=False
            None,  # no indent
            ":",
            ",",
            sort_keys,
            False,  # skipkeys
            False,  # allow_nan
        )
        return encoder

    def parse_text(self, text: str) -> Any:
        """Return the value `text` holds as JSON."""
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"it is not valid JSON ({exc}); quote strings") from None

    def format_text(self, obj: Any) -> str:
        """Return `obj` as JSON (non-ASCII kept as is)."""
        return json.dumps(obj, ensure_ascii=False)

    def encode(self, obj: Any) -> bytes:
        """Return `obj` as compact JSON; raise ValueError for what is refused."""
        c_encode = self._c_encode
        try:
            if c_encode is None:
                raise ValueError  # the encoder's path
            data = "".join(c_encode(obj, 0)).encode("utf-8")
        except (ValueError, RecursionError):
            data = _encode_json(c_encode, self._encoder, obj)  # says what to do
        else:
            if len(data) > 2 * MAX_JSON_DEPTH:
                _refuse_too_deep(data)
        if _OPEN_BRACE in data:  # (an int: `in` then looks at bytes, in C)
            # Object keys must be str. The common case, one object whose keys
            # are, is told in C; refuse_non_str_keys looks deeper.
            if type(obj) is not dict or data.count(b"{") != 1:
                refuse_non_str_keys(obj, data)
            else:
                try:
                    "".join(obj)
                except TypeError:
                    keys_ok = False  # told outside: no TypeError as its context
                else:
                    keys_ok = True
                if not keys_ok:
                    refuse_non_str_keys(obj, data)
        return data

    def encode_key(self, obj: Any) -> bytes:
        """Return `obj` as a key: compact JSON in its one canonical spelling.

        Keys equal in Python encode to the same bytes (see the class
        docstring); raise ValueError for what is refused.
        """
        kind = type(obj)
        if kind is str:  # the common keys: their JSON is already canonical
            return json.encoder.encode_basestring(obj).encode("utf-8")
        if kind is int:
            try:
                return int.__repr__(obj).encode("ascii")
            except ValueError:  # past Python's limit of digits in text
                return self.encode(obj)  # raises, saying what to do
        try:
            canonical = canonical_key(obj)
        except RecursionError:
            raise ValueError("it contains itself, or is nested too deep") from None
        return _encode_json(self._c_encode_sorted, self._key_encoder, canonical)

    def decode(self, data: bytes) -> Any:
        """Return the object stored as JSON (in UTF-8) in `data`."""
        text = (data if type(data) is bytes else bytes(data)).decode("utf-8")
        try:
            obj, end = self._raw_decode(text)
            if end == len(text):
                return obj
        except ValueError:
            pass
        return json.loads(text)  # whitespace around the value, or the error


_OPEN_BRACE = ord("{")


def _encode_json(
    c_encode: Callable[[Any, int], Sequence[str]] | None,
    encoder: json.JSONEncoder,
    obj: Any,
) -> bytes:
    """Return `obj` as JSON through `c_encode` (else `encoder`); raise
    ValueError, with what to do, for an int too long, a value too deep."""
    try:
        if c_encode is None:
            data = encoder.encode(obj).encode("utf-8")
        else:
            try:
                data = "".join(c_encode(obj, 0)).encode("utf-8")
            except RecursionError:  # too deep, or it contains itself
                data = encoder.encode(obj).encode("utf-8")
    except ValueError as exc:
        if "integer string conversion" in str(exc):
            raise ValueError(
                f"an int has more than {_int_digits_limit()} digits, Python's "
                "limit for ints in text; store it as a str"
            ) from None
        raise
    except RecursionError:
        raise ValueError(
            f"it is nested more than {MAX_JSON_DEPTH} levels deep; flatten it"
        ) from None
    if len(data) > 2 * MAX_JSON_DEPTH:
        _refuse_too_deep(data)
    return data


def _refuse_too_deep(data: bytes) -> None:
    """Raise ValueError if the JSON `data` nests deeper than `MAX_JSON_DEPTH`."""
    # Only a value with that many brackets can nest that deep: the
    # common case pays for two counts of bytes, done in C.
    if data.count(b"[") + data.count(b"{") > MAX_JSON_DEPTH:
        depth = _json_depth(data)
        if depth > MAX_JSON_DEPTH:
            raise ValueError(
                f"it is nested {depth} levels deep, more than "
                f"{MAX_JSON_DEPTH}; flatten it"
            )


class FastJsonCodec(JsonCodec):
    """The `json` format through orjson: the same text, faster on larger values.

    Measured on the store (NONE upserts and searches, 64 in flight): with
    1.6 kB documents it writes 2.3 times and reads 1.6 times as many per
    second as `JsonCodec`; with small ones (50 bytes) both run at the same
    speed (`JsonCodec` builds its C encoder once, so encoding a small value
    is no longer where an op spends its time).

    Opt in (`pip install "actorstore[orjson]"`), before opening a store:
    `storage.register_codec("json", storage.FastJsonCodec(), replace=True)`.
    It reads what `JsonCodec` wrote and the other way round, and refuses
    what `JsonCodec` refuses. orjson writes more than JSON's types (it
    writes a datetime, a UUID, an enum member, a dataclass as text or an
    object, NaN as null) and refuses non-str keys, ints beyond 64 bits and
    deep nesting; so a value orjson refuses, or whose text does not read
    back equal to it, goes through the stdlib codec instead, which refuses
    what would not come back (and writes a tuple as a list). Keys
    (`encode_key`) are `JsonCodec`'s, so both codecs find the same keys.
    """

    def __init__(self) -> None:
        """Load orjson.

        Raises:
            UnknownFormatError: if orjson is not installed.
        """
        super().__init__()
        try:
            import orjson
        except ImportError:
            raise UnknownFormatError(
                'FastJsonCodec needs orjson: pip install "actorstore[orjson]"'
            ) from None
        self._dumps = orjson.dumps
        self._loads = orjson.loads
        # Types orjson would write as text or an object without a word:
        # passed through, they raise TypeError, so the stdlib decides.
        self._options = (
            orjson.OPT_PASSTHROUGH_DATETIME
            | orjson.OPT_PASSTHROUGH_DATACLASS
            | orjson.OPT_PASSTHROUGH_SUBCLASS
        )

    def encode(self, obj: Any) -> bytes:
        """Return `obj` as compact JSON; raise ValueError for what is refused."""
        try:
            data: bytes = self._dumps(obj, option=self._options)
        except TypeError:  # non-str keys, big ints, deep values: the stdlib's
            return super().encode(obj)
        # What reads back equal came back as written. What does not (NaN
        # written as null, a UUID or an enum member as its text or value, a
        # tuple as a list) is the stdlib's to refuse or write. Both run in C:
        # on 1.3 kB this check takes 6.6 us, a walk of the value's types
        # (gc.get_referents a level at a time) 4.4 us plus 0.8 us to look
        # for null, and on 40 bytes 0.44 us against 0.77.
        if self._loads(data) != obj:
            return super().encode(obj)
        return data

    def decode(self, data: bytes) -> Any:
        """Return the object stored as JSON (in UTF-8) in `data`."""
        raw = data if type(data) is bytes else bytes(data)
        # A run of 19 digits may be an int beyond 64 bits, which orjson would
        # read as a float. Looked for with translate() and `in`, both in C: a
        # regex search took 13 us on 1.6 kB, twice orjson's whole parse.
        if _LONG_DIGIT_RUN not in raw.translate(_DIGITS_AS_ZEROS):
            try:
                return self._loads(raw)
            except ValueError:
                pass  # the stdlib's error, or what orjson does not read (depth)
        return super().decode(raw)


_DIGITS_AS_ZEROS = bytes(
    ord("0") if ord("0") <= byte <= ord("9") else ord(" ") for byte in range(256)
)
_LONG_DIGIT_RUN = b"0" * 19
"""A digit run, once digits read as zeros, that may be an int beyond 64 bits."""

_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_OPENING = frozenset(b"[{")


def _json_depth(data: bytes) -> int:
    """Return how deeply the JSON text `data` nests lists and objects."""
    brackets = _JSON_STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    steps = (1 if byte in _OPENING else -1 for byte in brackets)
    return max(itertools.accumulate(steps), default=0)


def _int_digits_limit() -> int:
    return sys.get_int_max_str_digits() or 4300


def _int_size(number: int) -> str:
    """Name a (huge) int by its size, without converting it to text."""
    return f"an int of {number.bit_length()} bits"


_lock = threading.Lock()
_codecs: dict[str, Codec] = {
    "str": StrCodec(),
    "bytes": BytesCodec(),
    "int": IntCodec(),
    "json": JsonCodec(),
}


def register_codec(name: str, codec: Codec, *, replace: bool = False) -> None:
    """Make `codec` available as the format `name` for keys and values.

    A store records format names in its catalog, so register the same codec
    under the same name before opening a store that uses it.

    Raises:
        UnknownFormatError: if `codec` lacks `encode`/`decode`, or `name` is
            taken and `replace` is false.
    """
    if not isinstance(codec, Codec):
        raise UnknownFormatError(
            f"codec for format {name!r} must have encode() and decode() methods"
        )
    if not isinstance(name, str) or not name:
        raise UnknownFormatError(f"format name must be a non-empty str, not {name!r}")
    with _lock:
        if name in _codecs and not replace:
            raise UnknownFormatError(
                f"format {name!r} is already registered; pass replace=True to "
                "replace it"
            )
        _codecs[name] = codec


def get_codec(name: str) -> Codec:
    """Return the codec registered as `name`.

    Raises:
        UnknownFormatError: if no codec has that name.
    """
    try:
        return _codecs[name]
    except (KeyError, TypeError):
        raise UnknownFormatError(
            f"unknown format {name!r}; use one of {registered_formats()} or "
            "register_codec() your own"
        ) from None


def registered_formats() -> list[str]:
    """Return the names of every registered format, sorted."""
    return sorted(_codecs)
