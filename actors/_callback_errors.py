"""An op's final error that its callback replaced still names the op's dead letter."""

from __future__ import annotations

import contextlib

__all__ = ["keep_letter_named"]


def keep_letter_named(raised: BaseException, final: BaseException) -> BaseException:
    """Return what the caller of a dead-lettered op gets when the op's
    `exception()` callback `raised` on its `final` error.

    The callback's own error reaches the caller (as for any op), but `final`
    told where the op went (its dead letter's id, or that it could not be
    written): that stays known. The callback's error is chained to `final`
    (its cause), gets a note with `final`'s message and its notes about the
    letter, and `final`'s `dead_letter` attribute.
    """
    if raised is final:
        return raised
    letter = getattr(final, "dead_letter", None)
    raised.__cause__ = final
    if letter is None:
        return raised
    told = [
        str(note)
        for note in getattr(final, "__notes__", ())
        if f"letter {letter.id}" in str(note) or "dead letter" in str(note)
    ]
    raised.add_note(
        f"the op's callback raised this on the op's final error, "
        f"{type(final).__name__}: {final}" + "".join(f"; {note}" for note in told)
    )
    with contextlib.suppress(AttributeError):  # a class that refuses it
        raised.dead_letter = letter  # type: ignore[attr-defined]
    return raised
