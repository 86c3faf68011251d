"""Errors of the retry framework; all derive from `storage.StoreError`."""

from __future__ import annotations

from typing import Any

from storage import InvalidInputError, StoreError

__all__ = ["RetriesExhaustedError", "UnknownDeadLetterError"]


class RetriesExhaustedError(StoreError):
    """Raised when an op failed on every attempt its retry policy allowed.

    The last error is kept as `last_error` (and as `__cause__`).
    """

    def __init__(
        self,
        *,
        attempts: int,
        last_error: BaseException,
        table: str | None = None,
        key: object = None,
    ) -> None:
        super().__init__(
            f"gave up after {attempts} attempt{'s' if attempts != 1 else ''}: "
            f"{type(last_error).__name__}: {last_error}; the op was dead-lettered "
            "(see store.dead_letters)",
            table=table,
            key=key,
        )
        self.attempts = attempts
        self.last_error = last_error
        self.__cause__ = last_error

    def __setstate__(self, state: dict[str, Any] | None) -> None:
        """Restore the fields after unpickling, and `last_error` as the cause."""
        super().__setstate__(state)
        self.__cause__ = self.last_error


class UnknownDeadLetterError(InvalidInputError):
    """Raised when a dead-letter id given to replay or purge does not exist."""

    def __init__(self, ids: list[int]) -> None:
        super().__init__(
            f"no dead letter with id {', '.join(map(str, ids))}; "
            "list them with store.dead_letters.list()"
        )
        self.ids = ids
