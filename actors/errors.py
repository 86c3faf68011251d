"""Errors of the actors layer; all derive from `storage.StoreError`."""

from __future__ import annotations

from actorstore.storage import (
    InvalidInputError,
    StoreClosedError,
    StoreError,
    TransientError,
)

__all__ = [
    "BlockingCallError",
    "OpSubmittedError",
    "OpTimeoutError",
    "OpsMaxExceededError",
    "OutcomeUnknownError",
    "OwnerLostError",
    "OwnerUnavailableError",
    "StoreForkedError",
]


class OpsMaxExceededError(TransientError):
    """Raised at once when an op would take the store past `ops_max` outstanding ops."""

    def __init__(self, *, ops_max: int, timeout: float | None = None) -> None:
        waited = "" if not timeout else f" after waiting {timeout} s"
        super().__init__(
            f"{ops_max} ops are already outstanding (ops_max={ops_max}){waited}; "
            "wait for some to finish (flush()), pass wait=True or wait_timeout= "
            "to wait for a slot, or open the store with a larger ops_max"
        )
        self.ops_max = ops_max


class OpTimeoutError(StoreError, TimeoutError):
    """Raised when waiting on an op, a flush or a close takes longer than its timeout.

    The op itself is not cancelled: it still runs and may still succeed.
    """


class OpSubmittedError(InvalidInputError):
    """Raised when an `Op` handle that was already submitted is submitted again."""


class StoreForkedError(StoreClosedError):
    """Raised when a store opened before `fork()` is used in the child process."""

    def __init__(self, *, opened_by: int) -> None:
        StoreError.__init__(
            self,
            f"this store was opened by process {opened_by} and cannot be used "
            "after fork(); open the store in the child (or start children with "
            "the 'spawn' method)",
        )
        self.opened_by = opened_by


class BlockingCallError(StoreError, RuntimeError):
    """Raised when a store thread calls something that would wait for itself.

    Owners run callbacks and done-callbacks, and the timer runs retries and
    flow stages: a blocking `get()`, `flush()` or `close()` there could never
    return, so it fails at once instead.
    """


class OwnerUnavailableError(TransientError):
    """Raised when a call never reached the owner of node `label`: none of it ran.

    Transient: the store's retry policy runs the op again.
    """

    def __init__(self, *, label: str, reason: str = "") -> None:
        super().__init__(
            f"the owner of node {label!r} is unavailable (its node is down or it "
            f"is restarting){': ' + reason if reason else ''}; nothing ran, "
            "retry later or bring the node back"
        )
        self.label = label


class OutcomeUnknownError(StoreError):
    """Raised when the owner of node `label` died after a call was sent to it
    (or did not answer it by its deadline): the op may or may not have committed.

    Every op but a compaction gets `OwnerLostError` instead, which retry
    policies retry: the op keeps its number, and its owner answers it from
    its records if it did commit (exactly once). When the policy gives up
    (the owner stayed away past its patience), the op is dead-lettered with
    its number, and replaying the letter is answered the same way.
    """

    _advice = (
        "the op may or may not have committed, check the data before writing it again"
    )

    def __init__(self, *, label: str, reason: str = "") -> None:
        super().__init__(
            f"the owner of node {label!r} died after the call was sent, or did "
            f"not answer it{': ' + reason if reason else ''}; {self._advice}",
        )
        self.label = label


class OwnerLostError(OutcomeUnknownError, TransientError):
    """An `OutcomeUnknownError` of an op that may be sent again: it keeps its
    number, so its owner answers it from its records if it did commit (and
    runs it if it did not). Retry policies retry it."""

    _advice = (
        "the op keeps its number, so sending it again (a retry, or a replay of "
        "its dead letter) is answered from its owner's records if it committed"
    )
