"""OpOnce: an op's exactly-once ids where they are not its store's defaults.

See `actors._exactly_once`: an op's number is its `seq` in its store's
session unless it carries an `OpOnce`.
"""

from __future__ import annotations

__all__ = ["OpOnce"]


class OpOnce:
    """An op's ids where they are not the store's session and the op's `seq`:
    renumbered, resent (its last attempt's outcome is unknown), or a `replay`
    of a dead letter (`session` names the letter's session; None: this
    store's)."""

    __slots__ = ("number", "replay", "resent", "session")

    def __init__(
        self, session: bytes | None, number: int, resent: bool, *, replay: bool = False
    ) -> None:
        self.session = session
        self.number = number
        self.resent = resent
        self.replay = replay

    def __repr__(self) -> str:
        who = "own" if self.session is None else self.session.hex()[:12]
        return f"<OpOnce {who}:{self.number}{' resent' if self.resent else ''}>"
