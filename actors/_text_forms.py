"""Text forms: a table's keys and values as a person types and reads them.

The command line's concern, not storage's: a codec may offer a text form
(`parse_text`/`format_text`, as the built-in codecs do), and `TableText`
reads it to turn what a user typed into a key or value and back.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from actorstore.storage import InvalidInputError, get_codec

__all__ = ["TableText", "TextForm"]


@runtime_checkable
class TextForm(Protocol):
    """A codec's text form, for people and command lines (optional)."""

    def parse_text(self, text: str) -> Any:
        """Return the object `text` stands for; raise ValueError saying why not."""
        ...

    def format_text(self, obj: Any) -> str:
        """Return `obj` as text that `parse_text` reads back."""
        ...


class TableText:
    """One table's keys and values in their text forms.

    Raises:
        UnknownFormatError: (from the constructor) for a format with no
            registered codec.
    """

    __slots__ = ("key_codec", "key_format", "name", "value_codec", "value_format")

    def __init__(self, name: str, key_format: str, value_format: str) -> None:
        self.name = name
        self.key_format = key_format
        self.value_format = value_format
        self.key_codec = get_codec(key_format)
        self.value_codec = get_codec(value_format)

    def __repr__(self) -> str:
        return (
            f"<TableText {self.name!r} key_format={self.key_format!r} "
            f"value_format={self.value_format!r}>"
        )

    def parse_text(self, text: str, *, what: str = "value") -> Any:
        """Return a key or value (`what`) of this table from its text form.

        Raises:
            InvalidInputError: if the text is not one, or the format has no
                text form (a codec without `parse_text`).
        """
        codec, format_ = (
            (self.key_codec, self.key_format)
            if what == "key"
            else (self.value_codec, self.value_format)
        )
        if not isinstance(codec, TextForm):
            raise InvalidInputError(
                f"table {self.name!r}: {what} format {format_!r} has no text form; "
                "give its codec parse_text() and format_text()",
                table=self.name,
            )
        try:
            return codec.parse_text(text)
        except ValueError as exc:
            raise InvalidInputError(
                f"table {self.name!r} has {format_} {what}s; {exc}", table=self.name
            ) from None

    def format_text(self, obj: Any, *, what: str = "value") -> str:
        """Return a key or value (`what`) of this table in its text form (or
        its repr, for a format with none)."""
        codec = self.key_codec if what == "key" else self.value_codec
        if isinstance(codec, TextForm):
            return codec.format_text(obj)
        return repr(obj)
