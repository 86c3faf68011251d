"""Callbacks: how an op tells the application its outcome."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeAlias

from storage import InvalidOptionError

__all__ = ["Callback", "CallbackLike", "FunctionCallback", "as_callback"]


class Callback:
    """Receive an op's outcome: `callback(result)` or `exception(error)`.

    By default `callback()` runs on the op's worker inside the op's
    transaction: raising, or returning False, rolls the op back and routes
    the error to `exception()`. Override either; the defaults do nothing
    (the op's future still carries the outcome, so nothing is lost).
    """

    def callback(self, result: Any) -> object:
        """Handle a successful op's result; raise or return False to veto."""
        return None

    def exception(self, error: BaseException) -> None:
        """Handle the error an op failed with."""


class FunctionCallback(Callback):
    """Adapt a function `fn(error, result)` to a `Callback`."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[BaseException | None, Any], object]) -> None:
        self.fn = fn

    def callback(self, result: Any) -> object:
        """Call `fn(None, result)`; its False vetoes the op."""
        return self.fn(None, result)

    def exception(self, error: BaseException) -> None:
        """Call `fn(error, None)`."""
        self.fn(error, None)

    def __repr__(self) -> str:
        return f"FunctionCallback({self.fn!r})"


CallbackLike: TypeAlias = Callback | Callable[[BaseException | None, Any], object]
"""A `Callback` object, or a plain function `fn(error, result)`."""


def as_callback(value: CallbackLike | None) -> Callback | None:
    """Return `value` as a `Callback` (None stays None).

    Raises:
        InvalidOptionError: if it is neither a `Callback` nor callable.
    """
    if value is None or isinstance(value, Callback):
        return value
    if callable(value):
        return FunctionCallback(value)
    raise InvalidOptionError(
        f"callback must be a retry.Callback or a function fn(error, result), "
        f"not {type(value).__name__}"
    )
