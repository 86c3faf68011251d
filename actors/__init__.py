"""actorstore's actors: the Store, its worker actors, futures and ops."""

import logging as _logging

from actors.dispatch import Dispatcher, OwnerReports, Router
from actors.errors import (
    BlockingCallError,
    OpsMaxExceededError,
    OpSubmittedError,
    OpTimeoutError,
    OutcomeUnknownError,
    OwnerLostError,
    OwnerUnavailableError,
    StoreForkedError,
)
from actors.futures import OpFuture
from actors.messages import OpCompleted
from actors.methods import OpMethods, OpOptions
from actors.op import Op
from actors.serialized import SerializedClient
from actors.store import ScanIterator, Store, open_store
from storage import Durability, OpType

__all__ = [
    "BlockingCallError",
    "Dispatcher",
    "Durability",
    "Op",
    "OpCompleted",
    "OpFuture",
    "OpMethods",
    "OpOptions",
    "OpSubmittedError",
    "OpTimeoutError",
    "OpType",
    "OpsMaxExceededError",
    "OutcomeUnknownError",
    "OwnerLostError",
    "OwnerReports",
    "OwnerUnavailableError",
    "Router",
    "ScanIterator",
    "SerializedClient",
    "Store",
    "StoreForkedError",
    "open_store",
]

_logging.getLogger(__name__).addHandler(_logging.NullHandler())
