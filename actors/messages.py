"""Messages the store sends to actors."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pykka

from actorstore.storage import OpType

if TYPE_CHECKING:
    from actorstore._record import OpRecord

__all__ = ["OpCompleted", "reply"]

logger = logging.getLogger(__name__)


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


def reply(record: OpRecord, result: Any, error: BaseException | None) -> bool:
    """Tell the op's `reply_to` actor an `OpCompleted`; return False if that
    actor is dead (the caller counts it: see `actors._dead_replies`); never
    raises."""
    assert record.reply_to is not None and record.type is not None
    message = OpCompleted(
        record.id,
        record.type,
        record.table,
        record.key,
        None if error else result,
        error,
    )
    try:
        record.reply_to.tell(message)
    except pykka.ActorDeadError:
        return False
    return True
