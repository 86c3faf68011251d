"""actorstore's storage layer: tables on LMDB, one transaction per op."""

import logging as _logging

from storage.catalog import Catalog, TableInfo
from storage.codecs import (
    BytesCodec,
    Codec,
    IntCodec,
    JsonCodec,
    StrCodec,
    get_codec,
    register_codec,
    registered_formats,
)
from storage.directory import (
    DEFAULT_INITIAL_MAP_SIZE,
    DEFAULT_MAX_MAP_SIZE,
    StoreDirectory,
)
from storage.durability import Durability
from storage.errors import (
    DecodeError,
    EncodeError,
    InvalidInputError,
    InvalidKeyError,
    InvalidOptionError,
    InvalidTableNameError,
    KeyExistsError,
    NotFoundError,
    OpVetoedError,
    StorageError,
    StoreBusyError,
    StoreClosedError,
    StoreError,
    StoreFullError,
    TableExistsError,
    TransientError,
    UnknownFormatError,
    UnknownTableError,
)
from storage.names import MAX_TABLE_NAME_LENGTH, validate_table_name
from storage.operations import BeforeCommit, Operation, OpKind, Outcome, build_operation
from storage.session import TableSession
from storage.table import MAX_KEY_SIZE, Table

__all__ = [
    "DEFAULT_INITIAL_MAP_SIZE",
    "DEFAULT_MAX_MAP_SIZE",
    "MAX_KEY_SIZE",
    "MAX_TABLE_NAME_LENGTH",
    "BeforeCommit",
    "BytesCodec",
    "Catalog",
    "Codec",
    "DecodeError",
    "Durability",
    "EncodeError",
    "IntCodec",
    "InvalidInputError",
    "InvalidKeyError",
    "InvalidOptionError",
    "InvalidTableNameError",
    "JsonCodec",
    "KeyExistsError",
    "NotFoundError",
    "OpKind",
    "OpVetoedError",
    "Operation",
    "Outcome",
    "StorageError",
    "StoreBusyError",
    "StoreClosedError",
    "StoreDirectory",
    "StoreError",
    "StoreFullError",
    "StrCodec",
    "Table",
    "TableExistsError",
    "TableInfo",
    "TableSession",
    "TransientError",
    "UnknownFormatError",
    "UnknownTableError",
    "build_operation",
    "get_codec",
    "register_codec",
    "registered_formats",
    "validate_table_name",
]

_logging.getLogger(__name__).addHandler(_logging.NullHandler())
