"""Dead letters: ops that ran out of retries, parked durably to list or replay."""

from __future__ import annotations

import base64
import builtins
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, TypeVar

from retry.errors import UnknownDeadLetterError

__all__ = [
    "DEAD_LETTER_TABLE",
    "DeadLetter",
    "DeadLetterHook",
    "DeadLetters",
    "FutureLike",
    "new_dead_letter_id",
    "park_then",
]

logger = logging.getLogger(__name__)

DEAD_LETTER_TABLE = "__dead_letters__"
"""The internal, SYNC table that holds dead letters (int keys, JSON values)."""

T_co = TypeVar("T_co", covariant=True)


class FutureLike(Protocol[T_co]):
    """What dead letters need of a future: a blocking `get`."""

    def get(self, timeout: float | None = None) -> T_co:
        """Return the result or raise the error."""
        ...


@dataclass(frozen=True)
class DeadLetter:
    """One op that was given up on, with why and when.

    `key` and `value` are the op's own (as JSON, or their repr when they are
    not JSON); `key_bytes`/`value_bytes` keep the exact encoded bytes so a
    replay writes what the op would have written. Flows that died carry
    `flow` and `stage`.
    """

    id: int
    op_type: str
    table: str
    key: Any
    value: Any
    error: dict[str, str]
    attempts: int
    first_failed_at: float
    last_failed_at: float
    flow: str | None = None
    stage: str | None = None
    key_bytes: bytes | None = field(default=None, repr=False)
    value_bytes: bytes | None = field(default=None, repr=False)
    batch: list[tuple[str, bytes, bytes | None]] | None = field(
        default=None, repr=False
    )

    def to_json(self) -> dict[str, Any]:
        """Return the record as a JSON-able dict (bytes as base64)."""
        record = asdict(self)
        record["key_bytes"] = _b64(self.key_bytes)
        record["value_bytes"] = _b64(self.value_bytes)
        if self.batch is not None:
            record["batch"] = [[k, _b64(kb), _b64(vb)] for k, kb, vb in self.batch]
        return record

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> DeadLetter:
        """Return the record stored as `record` (data only: nothing is executed)."""
        record = dict(record)
        record["key_bytes"] = _unb64(record.get("key_bytes"))
        record["value_bytes"] = _unb64(record.get("value_bytes"))
        if record.get("batch") is not None:
            record["batch"] = [
                (k, _unb64(kb), _unb64(vb)) for k, kb, vb in record["batch"]
            ]
        return cls(**record)

    @classmethod
    def new(
        cls,
        *,
        op_type: str,
        table: str,
        key: Any,
        value: Any,
        error: BaseException,
        attempts: int,
        first_failed_at: float | None = None,
        last_failed_at: float | None = None,
        **encoded: Any,
    ) -> DeadLetter:
        """Return a new letter with a fresh id for an op that failed with `error`.

        `key` and `value` are kept as JSON (or their repr); `encoded` takes
        the optional `key_bytes`, `value_bytes`, `batch`, `flow` and `stage`.
        """
        now = time.time()
        return cls(
            id=new_dead_letter_id(),
            op_type=op_type,
            table=table,
            key=jsonable(key),
            value=jsonable(value),
            error=error_record(error),
            attempts=attempts,
            first_failed_at=first_failed_at or now,
            last_failed_at=last_failed_at or now,
            **encoded,
        )

    @property
    def replayable(self) -> bool:
        """Whether `replay()` can run this op again (flows cannot be replayed)."""
        return self.flow is None and (
            self.key_bytes is not None
            or self.batch is not None
            or self.op_type == "count"
        )


DeadLetterHook = Callable[[DeadLetter], object]
"""A custom hook: any callable taking the record (it replaces the table write)."""


def jsonable(obj: Any) -> Any:
    """Return `obj` if JSON can hold it, else its repr (never pickled)."""
    try:
        json.dumps(obj, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return repr(obj)
    return obj


def error_record(error: BaseException) -> dict[str, str]:
    """Return an error as `{"type": ..., "message": ...}`."""
    return {"type": type(error).__name__, "message": str(error)}


_id_lock = threading.Lock()
_last_id = 0


def new_dead_letter_id() -> int:
    """Return a new dead-letter id: microseconds since the epoch, increasing."""
    global _last_id
    with _id_lock:
        _last_id = max(_last_id + 1, time.time_ns() // 1000)
        return _last_id


class ParkedFuture(Protocol):
    """What `park_then` needs of the future of a dead-letter write."""

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """Return the write's error, or None."""
        ...

    def add_done_callback(self, fn: Callable[[Any], object]) -> None:
        """Call `fn(future)` once the write has ended."""
        ...


def park_then(
    park: Callable[[DeadLetter], ParkedFuture],
    letter: DeadLetter,
    final: BaseException,
    then: Callable[[bool], object],
) -> None:
    """Park `letter`, then call `then(written)` once its write has ended.

    `final` is the error the op's caller will get: if the letter could not be
    written (the write failed, or `park` raised), it carries a note saying so.
    """

    def ended(problem: BaseException | None) -> None:
        if problem is not None:
            logger.error("dead letter %d not written: %r", letter.id, problem)
            final.add_note(f"the dead letter could not be written: {problem!r}")
        then(problem is None)

    try:
        parked = park(letter)
    except Exception as exc:  # noqa: BLE001 - the caller still gets `final`
        ended(exc)
        return
    parked.add_done_callback(lambda done: ended(done.exception(0)))


class DeadLetterStore(Protocol):
    """What `DeadLetters` needs of a store: ops on the dead-letter table and replays."""

    def dead_letter_op(
        self, op_type: str, key: Any = None, value: Any = None
    ) -> FutureLike[Any]:
        """Submit an op on the dead-letter table; return its future."""
        ...

    def replay(self, letter: DeadLetter) -> FutureLike[Any]:
        """Submit `letter`'s op again as a plain op; return its future."""
        ...


class DeadLetters:
    """List, replay and purge a store's dead letters (`store.dead_letters`)."""

    def __init__(self, store: DeadLetterStore) -> None:
        self._store = store

    def list(self, timeout: float | None = None) -> builtins.list[DeadLetter]:
        """Return every dead letter, oldest first."""
        pairs = self._store.dead_letter_op("scan").get(timeout)
        return [DeadLetter.from_json(value) for _, value in pairs]

    def get(self, letter_id: int, timeout: float | None = None) -> DeadLetter:
        """Return dead letter `letter_id`.

        Raises:
            UnknownDeadLetterError: if there is none with that id.
        """
        return self._select([letter_id], timeout)[0]

    def _select(
        self, ids: Iterable[int] | None, timeout: float | None
    ) -> builtins.list[DeadLetter]:
        letters = self.list(timeout)
        if ids is None:
            return letters
        wanted = list(ids)
        by_id = {letter.id: letter for letter in letters}
        missing = [i for i in wanted if i not in by_id]
        if missing:
            raise UnknownDeadLetterError(missing)
        return [by_id[i] for i in wanted]

    def add(self, letter: DeadLetter) -> FutureLike[Any]:
        """Write `letter` durably; the future is done once it is on disk."""
        return self._store.dead_letter_op("insert", letter.id, letter.to_json())

    def replay(
        self, ids: Iterable[int] | None = None, timeout: float | None = None
    ) -> dict[int, BaseException | None]:
        """Run dead letters again as plain ops; remove each one whose replay committed.

        Returns each letter's outcome: None when it was replayed (and
        removed), else the error its replay failed with (the letter stays).

        Raises:
            UnknownDeadLetterError: if an id is unknown, before anything runs.
        """
        letters = self._select(ids, timeout)
        futures = {}
        outcomes: dict[int, BaseException | None] = {}
        for letter in letters:
            try:
                futures[letter.id] = self._store.replay(letter)
            except Exception as exc:  # noqa: BLE001 - reported per letter
                outcomes[letter.id] = exc
        for letter_id, future in futures.items():
            try:
                future.get(timeout)
                self._store.dead_letter_op("remove", letter_id).get(timeout)
                outcomes[letter_id] = None
            except Exception as exc:  # noqa: BLE001 - reported per letter
                outcomes[letter_id] = exc
        return outcomes

    def purge(
        self, ids: Iterable[int] | None = None, timeout: float | None = None
    ) -> int:
        """Remove dead letters (all of them if `ids` is None); return how many.

        Raises:
            UnknownDeadLetterError: if an id is unknown, before anything is removed.
        """
        letters = self._select(ids, timeout)
        if not letters:
            return 0
        writes = [("remove", letter.id) for letter in letters]
        return int(self._store.dead_letter_op("batch", value=writes).get(timeout))

    def __len__(self) -> int:
        return int(self._store.dead_letter_op("count").get())


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


def _unb64(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)
