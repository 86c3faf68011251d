"""actorstore's storage layer: tables on LMDB, one transaction per op.

`StoreDirectory` is the entry point: a directory of tables, each its own
LMDB environment. Below it (table requests, sessions, group commit, the
catalog, compaction) is plumbing, in private modules that the layer above
imports by module path.
"""

import logging as _logging

from actorstore.storage._backup import BackupResult
from actorstore.storage._catalog import TableInfo
from actorstore.storage._integrity import CheckResult
from actorstore.storage._requests import OpType
from actorstore.storage._store_directory import StoreDirectory
from actorstore.storage.codecs import (
    MAX_KEY_SIZE,
    BytesCodec,
    Codec,
    FastJsonCodec,
    IntCodec,
    JsonCodec,
    StrCodec,
    get_codec,
    register_codec,
    registered_formats,
)
from actorstore.storage.durability import Durability
from actorstore.storage.errors import (
    DecodeError,
    DiskFullError,
    EncodeError,
    InvalidInputError,
    InvalidKeyError,
    InvalidOptionError,
    InvalidTableNameError,
    KeyExistsError,
    LmdbError,
    NotFoundError,
    OpVetoedError,
    StaleOpError,
    StoreBusyError,
    StoreClosedError,
    StoreCorruptedError,
    StoreError,
    StoreFullError,
    TableBusyError,
    TableExistsError,
    TransientError,
    UnknownFormatError,
    UnknownTableError,
)
from actorstore.storage.names import MAX_TABLE_NAME_LENGTH, validate_table_name

__all__ = [
    "MAX_KEY_SIZE",
    "MAX_TABLE_NAME_LENGTH",
    "BackupResult",
    "BytesCodec",
    "CheckResult",
    "Codec",
    "DecodeError",
    "DiskFullError",
    "Durability",
    "EncodeError",
    "FastJsonCodec",
    "IntCodec",
    "InvalidInputError",
    "InvalidKeyError",
    "InvalidOptionError",
    "InvalidTableNameError",
    "JsonCodec",
    "KeyExistsError",
    "LmdbError",
    "NotFoundError",
    "OpType",
    "OpVetoedError",
    "StaleOpError",
    "StoreBusyError",
    "StoreClosedError",
    "StoreCorruptedError",
    "StoreDirectory",
    "StoreError",
    "StoreFullError",
    "StrCodec",
    "TableBusyError",
    "TableExistsError",
    "TableInfo",
    "TransientError",
    "UnknownFormatError",
    "UnknownTableError",
    "get_codec",
    "register_codec",
    "registered_formats",
    "validate_table_name",
]

_logging.getLogger(__name__).addHandler(_logging.NullHandler())
