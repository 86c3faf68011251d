"""Errors of the actors layer; all derive from `storage.StoreError`."""

from __future__ import annotations

from storage import InvalidInputError, StoreError, TransientError

__all__ = ["OpSubmittedError", "OpTimeoutError", "OpsMaxExceededError"]


class OpsMaxExceededError(TransientError):
    """Raised at once when an op would take the store past `ops_max` outstanding ops."""

    def __init__(self, *, ops_max: int, timeout: float | None = None) -> None:
        waited = "" if not timeout else f" after waiting {timeout} s"
        super().__init__(
            f"{ops_max} ops are already outstanding (ops_max={ops_max}){waited}; "
            "wait for some to finish (flush()), pass wait=True or timeout= to wait "
            "for a slot, or open the store with a larger ops_max"
        )
        self.ops_max = ops_max


class OpTimeoutError(StoreError, TimeoutError):
    """Raised when waiting on an op, a flush or a close takes longer than its timeout.

    The op itself is not cancelled: it still runs and may still succeed.
    """


class OpSubmittedError(InvalidInputError):
    """Raised when an `Op` handle that was already submitted is submitted again."""
