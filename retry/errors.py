"""Errors of the retry framework; all derive from `storage.StoreError`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from actorstore.storage import InvalidInputError, StoreError

if TYPE_CHECKING:
    from actorstore.retry._letters import DeadLetter

__all__ = ["RetriesExhaustedError", "UnknownDeadLetterError"]


class RetriesExhaustedError(StoreError):
    """Raised when an op (or a flow) was given up on before it succeeded.

    The last error is kept as `last_error` (and as `__cause__`). Where the op
    went is on the error too: `dead_letter` is its record (type, table, key,
    value, attempts), and `written` says whether that record was kept: by
    the dead-letter table, or by what `kept_in` names (the store's
    dead-letter hook, a cluster client's local spool). When it was not, the
    op is lost to the store: the record on this error is the only copy left.
    """

    def __init__(
        self,
        *,
        attempts: int,
        last_error: BaseException,
        table: str | None = None,
        key: object = None,
        dead_letter: DeadLetter | None = None,
        problem: BaseException | None = None,
        allowed: int | None = None,
        cut_short: bool = False,
        kept_in: str | None = None,
    ) -> None:
        tried = f"{attempts} attempt{'' if attempts == 1 else 's'}"
        if cut_short:
            of = f" of the {allowed} its policy allowed" if allowed else ""
            what = f"its pending retry was cut short by close() after {tried}{of}"
        else:
            what = f"gave up after {tried}"
        if dead_letter is None:
            fate = ""
        elif problem is None:
            kept = "see store.dead_letters" if kept_in is None else f"kept by {kept_in}"
            fate = f"; the op was dead-lettered as letter {dead_letter.id} ({kept})"
        else:
            fate = (
                f"; the dead letter could not be written ({problem!r}), so the op "
                f"is lost to the store: keep it from this error's .dead_letter "
                f"({dead_letter.describe()})"
            )
        super().__init__(
            f"{what}: {type(last_error).__name__}: {last_error}{fate}",
            table=table,
            key=key,
        )
        self.attempts = attempts
        self.last_error = last_error
        self.dead_letter = dead_letter
        self.written = dead_letter is not None and problem is None
        self.kept_in = kept_in
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
