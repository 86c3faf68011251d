"""TableCodecs: one table's name, formats and codecs.

What a table request needs to encode its input and decode its result, and all
it knows of its table; `encode_with`/`decode_with` turn a codec's failure into
`EncodeError`/`DecodeError`, naming the table and showing the value short.
"""

from __future__ import annotations

import reprlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from actorstore.storage.codecs import CANONICAL_KEYS, MAX_KEY_SIZE, Codec, get_codec
from actorstore.storage.errors import DecodeError, EncodeError, InvalidKeyError

__all__ = ["RESERVED_KEY", "TableCodecs", "decode_with", "encode_with"]

RESERVED_KEY = b"\xff" * MAX_KEY_SIZE
"""The one key no table may hold: the name of the sub-database where a table
keeps its clients' session records (`storage._session_records`). LMDB keeps
a sub-database's name as a key of the main database; this one sorts after
every other key, and only a `bytes` (or custom) key codec could make it."""


def encode_with(codec: Codec, obj: Any, *, what: str, table: str) -> bytes:
    """Encode `obj`, turning a codec failure into `EncodeError`."""
    try:
        return codec.encode(obj)
    except (TypeError, ValueError, OverflowError, RecursionError) as exc:
        raise EncodeError(
            f"table {table!r}: cannot encode {what} {_short(obj)}: {exc}",
            table=table,
        ) from exc


def decode_with(codec: Codec, data: bytes, *, what: str, table: str) -> Any:
    """Decode `data`, turning a codec failure into `DecodeError`."""
    try:
        return codec.decode(data)
    except (TypeError, ValueError, RecursionError) as exc:
        raise DecodeError(
            f"table {table!r}: cannot decode stored {what} ({len(data)} bytes): {exc}; "
            "was the table written with another codec?",
            table=table,
        ) from exc


class TableCodecs:
    """One table's name, formats and codecs: how its keys and values are encoded.

    Table requests hold this, never the table itself, so a request pickles as
    its table's name and formats and is rebuilt in another process (see
    `__reduce__`). Two `TableCodecs` are equal when they name the same table
    with the same formats and key encoding. Encoding runs on the caller's
    thread, before any transaction starts.

    `key_encoding` is the table's, from its catalog record: with
    `CANONICAL_KEYS` (every table created now) keys go through the key
    codec's `encode_key()` where it has one (`JsonCodec`'s gives keys equal
    in Python one spelling), with `LEGACY_KEYS` (tables created before)
    through its `encode()`, as they always were, so every key such a table
    holds is still found.

    Raises:
        UnknownFormatError: (from the constructor) for a format with no
            registered codec.
    """

    __slots__ = (
        "_canonical",
        "_encode_key",
        "key_codec",
        "key_encoding",
        "key_format",
        "name",
        "value_codec",
        "value_format",
    )

    def __init__(
        self,
        name: str,
        key_format: str,
        value_format: str,
        key_encoding: int = CANONICAL_KEYS,
    ) -> None:
        self.name = name
        self.key_format = key_format
        self.value_format = value_format
        self.key_encoding = key_encoding
        self.key_codec = get_codec(key_format)
        self.value_codec = get_codec(value_format)
        encode_key: Callable[[Any], bytes] | None = getattr(
            self.key_codec, "encode_key", None
        )
        # A codec without encode_key() spells keys one way under both.
        self._canonical = key_encoding >= CANONICAL_KEYS and callable(encode_key)
        self._encode_key: Callable[[Any], bytes] = (
            encode_key
            if self._canonical and encode_key is not None
            else self.key_codec.encode
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # The codecs themselves stay behind: the other process looks its own
        # up by format name (register the same codecs there).
        return (
            type(self),
            (self.name, self.key_format, self.value_format, self.key_encoding),
        )

    def _identity(self) -> tuple[str, str, str, bool]:
        return (self.name, self.key_format, self.value_format, self._canonical)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TableCodecs):
            return NotImplemented
        return self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash(self._identity())

    def __repr__(self) -> str:
        return (
            f"<TableCodecs {self.name!r} key_format={self.key_format!r} "
            f"value_format={self.value_format!r} key_encoding={self.key_encoding}>"
        )

    def encode_key(self, key: Any) -> bytes:
        """Return `key` encoded.

        Raises:
            InvalidKeyError: if it is of the wrong type, empty, or longer than
                LMDB's 511-byte key limit once encoded (or `RESERVED_KEY`).
        """
        try:
            data = self._encode_key(key)
        except (TypeError, ValueError, OverflowError, RecursionError) as exc:
            raise InvalidKeyError(
                f"table {self.name!r}: invalid key {_short(key)} for key format "
                f"{self.key_format!r}: {_short_text(exc)}",
                table=self.name,
                key=key,
            ) from exc
        if 0 < len(data) < MAX_KEY_SIZE:
            return data
        if data == RESERVED_KEY:
            raise InvalidKeyError(
                f"table {self.name!r}: the key of {MAX_KEY_SIZE} 0xff bytes is "
                "reserved (it names the table's session records); use another key",
                table=self.name,
                key=key,
            )
        if len(data) == MAX_KEY_SIZE:
            return data
        if not data:
            raise InvalidKeyError(
                f"table {self.name!r}: empty key; keys must have 1 to "
                f"{MAX_KEY_SIZE} bytes",
                table=self.name,
                key=key,
            )
        raise InvalidKeyError(
            f"table {self.name!r}: key of {len(data)} bytes is over LMDB's "
            f"{MAX_KEY_SIZE}-byte limit; use a shorter key (a hash, say)",
            table=self.name,
            key=key,
        )

    def encode_prefix(self, prefix: Any) -> bytes:
        """Return a scan prefix encoded; an empty prefix matches every key.

        Raises:
            InvalidKeyError: if the key format has no meaningful prefixes
                (`int`, `json`) or the prefix has the wrong type.
        """
        if self.key_format in ("int", "json"):
            # An int's bytes, or a JSON string's closing quote, make a byte
            # prefix mean something else than the caller's prefix.
            raise InvalidKeyError(
                f"table {self.name!r}: {self.key_format} keys have no "
                "prefixes; scan with start= and end= instead",
                table=self.name,
            )
        try:
            return self._encode_key(prefix)
        except (TypeError, ValueError, OverflowError, RecursionError) as exc:
            raise InvalidKeyError(
                f"table {self.name!r}: invalid prefix {_short(prefix)}: "
                f"{_short_text(exc)}",
                table=self.name,
            ) from exc

    def encode_value(self, value: Any) -> bytes:
        """Return `value` encoded.

        Raises:
            EncodeError: if the table's value codec cannot encode it.
        """
        try:
            return self.value_codec.encode(value)
        except (TypeError, ValueError, OverflowError, RecursionError):
            # Build the precise error (with the value shown) off the fast path.
            return encode_with(self.value_codec, value, what="value", table=self.name)

    def encode_pairs(self, pairs: Iterable[Sequence[Any]]) -> list[tuple[bytes, bytes]]:
        """Return each `(key, value)` encoded: the bulk form of `encode_key` and
        `encode_value` (the codecs are looked up once, not per record).

        Raises:
            InvalidKeyError, EncodeError: as `encode_key`, `encode_value`, for
                the first record that cannot be encoded.
        """
        key_encode, value_encode = self._encode_key, self.value_codec.encode
        encoded: list[tuple[bytes, bytes]] = []
        append = encoded.append
        key: Any = None
        value: Any = None
        try:
            for key, value in pairs:
                key_bytes = key_encode(key)
                if not 0 < len(key_bytes) < MAX_KEY_SIZE:
                    key_bytes = self.encode_key(key)  # the precise error, or ok
                append((key_bytes, value_encode(value)))
        except (TypeError, ValueError, OverflowError, RecursionError):
            # The precise error, with the key or value shown, off the fast path.
            self.encode_key(key)
            self.encode_value(value)
            raise
        return encoded

    def decode_key(self, data: bytes) -> Any:
        """Return the key stored as `data`.

        Raises:
            DecodeError: if the key codec cannot decode it.
        """
        return decode_with(self.key_codec, data, what="key", table=self.name)

    def decode_value(self, data: bytes) -> Any:
        """Return the value stored as `data`.

        Raises:
            DecodeError: if the value codec cannot decode it.
        """
        try:
            return self.value_codec.decode(data)
        except (TypeError, ValueError, RecursionError):
            # Build the precise error off the fast path.
            return decode_with(self.value_codec, data, what="value", table=self.name)


# reprlib bounds depth and length, so a deeply nested or huge value can still
# be named in an error message (plain repr() recurses and copies it whole).
class _ShortRepr(reprlib.Repr):
    def repr_int(self, x: int, level: int) -> str:
        # Past 4300 digits, repr() of an int raises ValueError.
        if x.bit_length() > 1000:
            return f"<an int of {x.bit_length()} bits>"
        return super().repr_int(x, level)


_repr = _ShortRepr()
_repr.maxstring = _repr.maxother = 80


def _short(obj: object) -> str:
    try:
        text = _repr.repr(obj)
    except Exception:  # noqa: BLE001 - a user's __repr__ must not hide the error
        return f"<{type(obj).__name__} object>"
    return text if len(text) <= 80 else text[:77] + "..."


def _short_text(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= 200 else text[:197] + "..."
