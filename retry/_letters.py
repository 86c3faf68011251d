"""DeadLetter: the durable record of an op (or flow) that was given up on."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from actorstore.storage import JsonCodec

if TYPE_CHECKING:
    from actorstore.retry.state import AttemptState

__all__ = [
    "DEAD_LETTER_TABLE",
    "DeadLetter",
    "DeadLetterHook",
    "error_record",
    "jsonable",
    "new_dead_letter_id",
]

DEAD_LETTER_TABLE = "__dead_letters__"
"""The internal, SYNC table that holds dead letters (int keys, JSON values)."""


@dataclass(frozen=True)
class DeadLetter:
    """One op that was given up on, with why and when.

    `key` and `value` are the op's own (as JSON, or their repr when they are
    not JSON); `key_bytes`/`value_bytes` keep the exact encoded bytes so a
    replay writes what the op would have written. Flows that died carry
    `flow` and `stage`. An op whose outcome is unknown (its owner died
    mid-call and stayed away) carries its client's `session` id (hex) and
    its `number`: a replay sends it with them, and its owner answers it
    from its record if it did commit (exactly once).
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
    session: str | None = None
    number: int | None = None

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
        state: AttemptState,
        **encoded: Any,
    ) -> DeadLetter:
        """Return a new letter with a fresh id for an op given up on in `state`.

        The error, attempt count and failure times come from `state`; `key`
        and `value` are kept as JSON (or their repr); `encoded` takes the
        optional `key_bytes`, `value_bytes`, `batch`, `flow` and `stage`.
        """
        now = time.time()
        error = state.last_error
        return cls(
            id=new_dead_letter_id(),
            op_type=op_type,
            table=table,
            key=jsonable(key),
            value=jsonable(value),
            error=error_record(error) if error is not None else {},
            attempts=state.attempts,
            first_failed_at=state.first_failed_at or now,
            last_failed_at=state.last_failed_at or now,
            **encoded,
        )

    def describe(self) -> str:
        """Return the op in a few words: type, table (or flow and stage), key."""
        if self.flow:
            return f"flow {self.flow} stage {self.stage}"
        return f"{self.op_type} on table {self.table!r} key {_short(self.key)}"

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
    """Return `obj` if JSON holds it as it is, else its repr (never pickled).

    As the dead-letter table's codec takes it: a value JSON would change
    (`{1: "a"}`, whose key would come back as "1") is kept as its repr.
    """
    try:
        _JSON.encode(obj)
    except (TypeError, ValueError, RecursionError):
        return repr(obj)
    return obj


_JSON = JsonCodec()


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


def _short(obj: object) -> str:
    text = repr(obj)
    return text if len(text) <= 60 else text[:57] + "..."


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


def _unb64(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)
