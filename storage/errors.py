"""The project's error tree; every actorstore error derives from `StoreError`.

```
StoreError
  TransientError            retried by default
    StoreBusyError          the store is busy (readers table full, map resized)
    OpsMaxExceededError     defined in actors/errors.py
  KeyExistsError            insert of a key that is present
  NotFoundError             update/remove/search of a key that is absent
  StoreFullError            the table reached its configured maximum size
  TableBusyError            compaction of a table another process has open
  StoreClosedError          an op on a closed store, table or session
  OpVetoedError             an in-transaction function returned False
  StaleOpError              a retried op whose outcome its owner no longer keeps
  InvalidInputError         bad input, refused before any transaction (also ValueError)
    InvalidTableNameError
    InvalidKeyError
    EncodeError
    UnknownTableError
    UnknownFormatError
    TableExistsError
    InvalidOptionError
  DecodeError               a stored value the codec cannot decode
  LmdbError                 an LMDB failure with no more precise meaning
    DiskFullError           no space left on the disk (or over quota)
    StoreCorruptedError     a damaged table (or catalog) file
```

Errors with a fixed meaning build their message in `__init__` from keyword
context and keep that context as attributes (`table`, `key`), so handlers and
dead letters read fields, not strings. Every error pickles with its message,
its fields and its notes (see `StoreError.__reduce__`): errors cross process
boundaries (multiprocessing, Ray, logging handlers).
"""

from __future__ import annotations

import pickle
from typing import Any

__all__ = [
    "DecodeError",
    "DiskFullError",
    "EncodeError",
    "InvalidInputError",
    "InvalidKeyError",
    "InvalidOptionError",
    "InvalidTableNameError",
    "KeyExistsError",
    "LmdbError",
    "NotFoundError",
    "OpVetoedError",
    "StaleOpError",
    "StoreBusyError",
    "StoreClosedError",
    "StoreCorruptedError",
    "StoreError",
    "StoreFullError",
    "TableBusyError",
    "TableExistsError",
    "TransientError",
    "UnknownFormatError",
    "UnknownTableError",
]


class StoreError(Exception):
    """Root of every error actorstore raises."""

    def __init__(
        self, message: str, *, table: str | None = None, key: object = None
    ) -> None:
        super().__init__(message)
        self.table = table
        self.key = key

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as class, message and fields, never calling `__init__` again.

        Subclasses build their message in an `__init__` with keyword-only
        context, which pickle's default (calling the class with `args`)
        cannot call. The instance `__dict__` carries the fields (`table`,
        `key`, `op`, ...) and `__notes__`; unpickling restores it through
        `__setstate__`. `__cause__` and the traceback do not travel, as
        with any pickled exception.
        """
        message = self.args[0] if len(self.args) == 1 else str(self)
        # A field holding another error (`last_error`) travels only if that
        # error does: a user's error that cannot be rebuilt goes as a
        # StoreError naming it, so this one always pickles.
        state = {
            name: _portable(value) if isinstance(value, BaseException) else value
            for name, value in self.__dict__.items()
        }
        return (_rebuild_error, (type(self), message), state)


class TransientError(StoreError):
    """A condition that may clear by itself; retry policies retry it by default."""


class StoreBusyError(TransientError):
    """Raised when LMDB is momentarily unable to serve (readers full, map resized)."""


class KeyExistsError(StoreError):
    """Raised by `insert` when the key is already present."""

    def __init__(self, *, table: str, key: object) -> None:
        super().__init__(
            f"table {table!r}: key {key!r} already exists; "
            "use update() or upsert() to change it",
            table=table,
            key=key,
        )


class NotFoundError(StoreError):
    """Raised by `update`, `remove` and `search` when the key is absent."""

    def __init__(self, *, table: str, key: object, op: str = "search") -> None:
        hint = (
            "use insert() or upsert() to create it"
            if op == "update"
            else ("check the key, or use exists() first")
        )
        super().__init__(
            f"table {table!r}: key {key!r} not found by {op}(); {hint}",
            table=table,
            key=key,
        )
        self.op = op


class StoreFullError(StoreError):
    """Raised when a table would grow past its configured maximum map size.

    `remove_batch` is how many keys a batch of removes may hold and still
    fit in the space the table keeps for removes (None: unknown).
    """

    def __init__(
        self, *, table: str, max_map_size: int, remove_batch: int | None = None
    ) -> None:
        batches = (
            "in small batches"
            if remove_batch is None
            else f"in batches of at most {remove_batch} keys"
        )
        super().__init__(
            f"table {table!r} is full: it reached its maximum size of "
            f"{max_map_size} bytes; open the store with a larger max_map_size=, "
            f"or remove data {batches}, then compact() the table",
            table=table,
        )
        self.max_map_size = max_map_size
        self.remove_batch = remove_batch


class TableBusyError(StoreError):
    """Raised by `compact()` while another process has the table open.

    Compaction replaces the table's file; a process that has the old file
    open would go on writing into it, and its writes would be lost.
    """

    def __init__(self, *, table: str, pid: int | None = None) -> None:
        # The holder's pid is unknown when its record is missing (it was
        # opened by an older version, or the record could not be written).
        who = f"pid {pid}" if pid is not None else "pid unknown"
        super().__init__(
            f"table {table!r} is open in another process ({who}); close it "
            "there, or compact from that process",
            table=table,
        )
        self.pid = pid


class StoreClosedError(StoreError):
    """Raised when an op is attempted on a closed store, table or session."""

    def __init__(self, what: str = "store", *, table: str | None = None) -> None:
        super().__init__(f"the {what} is closed; open it again to use it", table=table)


class OpVetoedError(StoreError):
    """Raised when an op's in-transaction function returns False (the op rolls back)."""

    def __init__(self, *, table: str, key: object = None) -> None:
        where = f"table {table!r}" + ("" if key is None else f", key {key!r}")
        super().__init__(
            f"{where}: the op was vetoed by its in-transaction function "
            "(it returned False) and rolled back",
            table=table,
            key=key,
        )


class StaleOpError(StoreError):
    """Raised for a retried (or replayed) op whose outcome its owner no longer keeps.

    Every op carries its client's session id and a number; the table's owner
    keeps the outcomes of each session's recent ops, so that an op sent
    again is answered rather than run twice. This op's number is below what
    its session's record still covers (or its dead letter is older than the
    window records are kept for), so it is refused rather than run again:
    it may or may not have been applied. `session` is the session id (hex),
    `number` the op's number and `low` the lowest number still covered
    (None where unknown).
    """

    def __init__(
        self,
        *,
        table: str,
        session: str,
        number: int,
        low: int | None = None,
        key: object = None,
        reason: str = "",
    ) -> None:
        covered = "" if low is None else f" (its record covers numbers from {low})"
        why = reason or f"its owner no longer keeps this op's outcome{covered}"
        super().__init__(
            f"table {table!r}: op {number} of session {session[:12]} was sent "
            f"again, but {why}; it may or may not have been applied: check the "
            "data, then write it again as a new op (or purge its dead letter)",
            table=table,
            key=key,
        )
        self.session = session
        self.number = number
        self.low = low


class InvalidInputError(StoreError, ValueError):
    """Bad input, refused before any transaction starts."""


class InvalidTableNameError(InvalidInputError):
    """Raised for a table name that is not a safe, plain name."""

    def __init__(self, name: object, reason: str) -> None:
        super().__init__(
            f"invalid table name {name!r}: {reason}; use 1 to 64 letters, digits, "
            "'_', '-' or '.', not starting with '.' or '_'",
        )
        self.name = name


class InvalidKeyError(InvalidInputError):
    """Raised for an empty key, an over-long key or a key of the wrong type."""


class EncodeError(InvalidInputError):
    """Raised when a value (or key) cannot be encoded by the table's codec."""


class UnknownTableError(InvalidInputError):
    """Raised for an op on a table that does not exist."""

    def __init__(self, *, table: str) -> None:
        super().__init__(
            f"table {table!r} does not exist; create it with create_table()",
            table=table,
        )


class UnknownFormatError(InvalidInputError):
    """Raised for a key or value format that has no registered codec."""


class TableExistsError(InvalidInputError):
    """Raised by `create_table` when the table exists with other settings."""


class InvalidOptionError(InvalidInputError):
    """Raised for an option with an invalid value (a negative timeout, say)."""


class DecodeError(StoreError):
    """Raised when a stored value cannot be decoded by the table's codec."""


class LmdbError(StoreError):
    """Raised for an LMDB failure with no more precise meaning (translated)."""


class DiskFullError(LmdbError):
    """Raised when the disk holding a table (or the catalog) has no space left.

    Nothing of the op that failed was written. Free space on that disk (or
    raise the quota), then retry.
    """

    def __init__(self, what: str, *, path: str, table: str | None = None) -> None:
        where = "" if table is None else f"table {table!r}: "
        super().__init__(
            f"{where}{what}: the disk holding {path} is full (or over quota); "
            "free space on it, then retry",
            table=table,
        )
        self.path = path


class StoreCorruptedError(LmdbError):
    """Raised instead of serving a damaged table (or catalog) file.

    Opening checks that LMDB's last page lies inside the data file (reading
    past it would kill the process with SIGBUS); after an unclean shutdown a
    NONE table's whole B-tree is verified; `StoreDirectory.check()` verifies
    on demand.
    """

    def __init__(
        self, *, path: str | None, problem: str, table: str | None = None
    ) -> None:
        # `path` is the table's (or the catalog's) directory; None where the
        # damage shows up far from it (an LMDB error translated without it).
        if table is None:
            where = "" if path is None else f" at {path}"
            message = (
                f"the store's catalog{where} is damaged: {problem}; restore "
                "the store directory from a backup"
            )
        else:
            message = f"table {table!r} is damaged: {problem}; {table_remedy(path)}"
        super().__init__(message, table=table)
        self.path = path
        self.problem = problem


def table_remedy(path: str | None) -> str:
    """Return what to do about a damaged table whose directory is `path`.

    (Not in `__all__`, which lists the error classes: the table's check
    result says the same remedy as this error.)
    """
    directory = "its directory" if path is None else f"its directory {path}"
    return (
        f"restore {directory} from a backup, or, if its data is disposable, "
        "remove that directory (the table then reopens empty)"
    )


def _portable(error: BaseException) -> BaseException:
    """Return `error` if it survives pickling, else a StoreError naming it."""
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:  # noqa: BLE001 - any failure means it cannot travel
        return StoreError(f"{type(error).__name__}: {error}")
    return error


def _rebuild_error(cls: type[StoreError], message: str) -> StoreError:
    """Return a `cls` carrying `message`, without calling `cls.__init__`."""
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    return error
