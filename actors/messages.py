"""Messages the store sends to actors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from actorstore.storage import OpType

__all__ = ["OpCompleted"]


@dataclass(frozen=True, slots=True)
class OpCompleted:
    """Told to an op's `reply_to` actor when the op has finished.

    Exactly one of `result` and `error` is meaningful: `error` is None when
    the op succeeded.
    """

    op_id: int
    op_type: OpType
    table: str
    key: Any
    result: Any
    error: BaseException | None
