"""OpNumbers: who sent a group's ops, and each op's number (exactly once).

A client (a store handle) is a session with a random id (`new_session_id`)
and numbers its ops; a group of ops reaches its owner with an `OpNumbers`,
which `storage._session_records` reads to answer ops sent again and to
record the others. It crosses to a remote owner as plain data
(`to_wire`/`from_wire`).
"""

from __future__ import annotations

import os
from array import array
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field
from typing import Any

from actorstore.storage.errors import InvalidInputError

__all__ = ["SESSION_ID_SIZE", "OpNumbers", "new_session_id"]

SESSION_ID_SIZE = 16
"""Bytes of a session id (random: `new_session_id`)."""


def new_session_id() -> bytes:
    """Return a new random session id."""
    return os.urandom(SESSION_ID_SIZE)


@dataclass(frozen=True, slots=True)
class OpNumbers:
    """Who sent a group's ops, and their numbers.

    `numbers[i]` is op i's number in `session` (0: none). `others[i]` names
    another session for op i (a replayed dead letter of another client).
    `resent` holds the indices of write ops sent before with an outcome the
    client never learned: only they are looked up. `mark`: every op of
    `session` numbered below it has been answered. `pins`: numbers of
    `session` whose outcome its client never learned (their dead letters
    carry them), to keep past the mark.
    """

    session: bytes
    numbers: Sequence[int]
    resent: Set[int] = frozenset()
    others: Mapping[int, bytes] = field(default_factory=dict)
    mark: int = 0
    pins: Sequence[int] = ()

    def part(self, start: int, stop: int) -> OpNumbers:
        """Return the numbers of ops `start` to `stop` (a part of a group)."""
        return self.select(range(start, stop))

    def to_wire(self) -> tuple[Any, ...]:
        """Return the numbers as plain data (a tuple pickles far faster than an
        object with a reduction of its own; see `from_wire`)."""
        return (
            self.session,
            array("q", self.numbers).tobytes(),  # 512 ints as one blob
            tuple(self.resent),
            dict(self.others),
            self.mark,
            tuple(self.pins),
        )

    @classmethod
    def from_wire(cls, wire: Sequence[Any]) -> OpNumbers:
        """Return the numbers `to_wire` gave as plain data.

        Raises:
            InvalidInputError: if `wire` is not such data.
        """
        try:
            session, packed, resent, others, mark, pins = wire
            numbers = array("q")
            numbers.frombytes(packed)
            return cls(
                bytes(session),
                numbers.tolist(),
                frozenset(resent),
                dict(others),
                int(mark),
                tuple(pins),
            )
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"op numbers {wire!r:.80} are malformed") from exc

    def select(self, indices: Sequence[int]) -> OpNumbers:
        """Return the numbers of the ops at `indices` (in that order)."""
        where = {index: position for position, index in enumerate(indices)}
        return OpNumbers(
            self.session,
            [self.numbers[index] for index in indices],
            frozenset(where[i] for i in self.resent if i in where),
            {where[i]: s for i, s in self.others.items() if i in where},
            self.mark,
            self.pins,
        )
