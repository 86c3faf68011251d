"""actorstore: an embedded, durable key-value store driven through actors.

`import actorstore` is all a program needs: the store, its futures and ops,
the error tree rooted at `StoreError`, durability, retry policies, callback
bases, flows, dead letters and codecs. `actorstore.storage` and
`actorstore.retry` are the layers below, importable on their own;
`actorstore.cluster` runs table owners on Ray nodes.
"""

import logging as _logging

from actorstore._scan import ScanIterator
from actorstore.errors import (
    BlockingCallError,
    OpsMaxExceededError,
    OpSubmittedError,
    OpTimeoutError,
    OutcomeUnknownError,
    OwnerLostError,
    OwnerUnavailableError,
    StoreForkedError,
)
from actorstore.futures import OpFuture
from actorstore.messages import OpCompleted
from actorstore.op import Op
from actorstore.retry import (
    DEAD_LETTER_TABLE,
    AsyncCallback,
    AttemptState,
    Callback,
    DeadLetter,
    Flow,
    Next,
    RetriesExhaustedError,
    RetryCallback,
    RetryPolicy,
    UnknownDeadLetterError,
)
from actorstore.serialized import SerializedClient
from actorstore.storage import (
    BytesCodec,
    CheckResult,
    Codec,
    DecodeError,
    DiskFullError,
    Durability,
    EncodeError,
    FastJsonCodec,
    IntCodec,
    InvalidInputError,
    InvalidKeyError,
    InvalidOptionError,
    InvalidTableNameError,
    JsonCodec,
    KeyExistsError,
    LmdbError,
    NotFoundError,
    OpType,
    OpVetoedError,
    StoreBusyError,
    StoreClosedError,
    StoreCorruptedError,
    StoreError,
    StoreFullError,
    StrCodec,
    TableBusyError,
    TableExistsError,
    TableInfo,
    TransientError,
    UnknownFormatError,
    UnknownTableError,
    register_codec,
    registered_formats,
)
from actorstore.store import Store, open_store

__all__ = [
    "DEAD_LETTER_TABLE",
    "AsyncCallback",
    "AttemptState",
    "BlockingCallError",
    "BytesCodec",
    "Callback",
    "CheckResult",
    "Codec",
    "DeadLetter",
    "DecodeError",
    "DiskFullError",
    "Durability",
    "EncodeError",
    "FastJsonCodec",
    "Flow",
    "IntCodec",
    "InvalidInputError",
    "InvalidKeyError",
    "InvalidOptionError",
    "InvalidTableNameError",
    "JsonCodec",
    "KeyExistsError",
    "LmdbError",
    "Next",
    "NotFoundError",
    "Op",
    "OpCompleted",
    "OpFuture",
    "OpSubmittedError",
    "OpTimeoutError",
    "OpType",
    "OpVetoedError",
    "OpsMaxExceededError",
    "OutcomeUnknownError",
    "OwnerLostError",
    "OwnerUnavailableError",
    "RetriesExhaustedError",
    "RetryCallback",
    "RetryPolicy",
    "ScanIterator",
    "SerializedClient",
    "Store",
    "StoreBusyError",
    "StoreClosedError",
    "StoreCorruptedError",
    "StoreError",
    "StoreForkedError",
    "StoreFullError",
    "StrCodec",
    "TableBusyError",
    "TableExistsError",
    "TableInfo",
    "TransientError",
    "UnknownDeadLetterError",
    "UnknownFormatError",
    "UnknownTableError",
    "open_store",
    "register_codec",
    "registered_formats",
]

_logging.getLogger(__name__).addHandler(_logging.NullHandler())
