"""Callback styles: one small adapter per style of `callback=`, so the rest of
the path never asks which kind of callback an op has.

Each adapter answers the same three questions for its style: what runs
inside the op's transaction (`in_txn`), how a success is told after commit
(`after_commit`), and what the caller gets once the op has finally failed
(`told`). A search's result is the op's value before any callback runs.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from actorstore._decide import CallbackStyle
from actorstore.op import handle_of
from actorstore.retry import AsyncCallback, Callback, RetryAttempt
from actorstore.retry._attempts import handling
from actorstore.storage import OpType

if TYPE_CHECKING:
    from actorstore._record import OpRecord
    from actorstore.storage._requests import BeforeCommit

__all__ = [
    "Adapter",
    "NoCallback",
    "Notifier",
    "PlainCallback",
    "RetryHandler",
    "adapters",
    "call_exception",
]

logger = logging.getLogger(__name__)


class Adapter(Protocol):
    """What the path needs of one callback style."""

    tells_failure: bool
    """Whether `told` runs user code (it then runs where callbacks run)."""

    def in_txn(self, record: OpRecord) -> BeforeCommit | None:
        """Return what runs inside the op's transaction with its result
        (raising or returning False vetoes it), or None."""
        ...

    def after_commit(self, record: OpRecord, result: Any) -> object:
        """Tell the callback of a success after commit; raises what it raises
        (inside the transaction, its False vetoes the op)."""
        ...

    def told(self, record: OpRecord, error: BaseException) -> BaseException:
        """Tell the callback the op has failed for good; return the error the
        caller gets (the callback's own, chained, if it raised)."""
        ...


class NoCallback:
    """An op without a callback."""

    tells_failure = False

    def in_txn(self, record: OpRecord) -> BeforeCommit | None:
        """Nothing runs inside the transaction."""
        return None

    def after_commit(self, record: OpRecord, result: Any) -> object:
        """Nothing to tell."""
        return None

    def told(self, record: OpRecord, error: BaseException) -> BaseException:
        """The caller gets `error` itself."""
        return error


class PlainCallback:
    """A `Callback` object, or a function `fn(error, result)` adapted to one."""

    tells_failure = True

    def in_txn(self, record: OpRecord) -> BeforeCommit | None:
        """Run `callback(result)` inside the transaction."""
        return functools.partial(self.after_commit, record)

    def after_commit(self, record: OpRecord, result: Any) -> object:
        """Call `callback(result)`; its False (inside the transaction) vetoes."""
        if record.type is OpType.SEARCH:
            record.found(result)
        callback = record.callback
        assert isinstance(callback, Callback)
        return callback.callback(result)

    def told(self, record: OpRecord, error: BaseException) -> BaseException:
        """Call `exception(error)`."""
        callback = record.callback
        assert isinstance(callback, Callback)
        return call_exception(callback, error)


class RetryHandler(PlainCallback):
    """A `RetryCallback`: the same calls, with `self.attempt` set inside them.

    Its `exception()` is asked about each failure by the executor (it retries
    or gives up itself), so `told` tells it nothing more.
    """

    tells_failure = False

    def __init__(self, attempt_for: Callable[[OpRecord], RetryAttempt]) -> None:
        self._attempt_for = attempt_for

    def after_commit(self, record: OpRecord, result: Any) -> object:
        """Call `callback(result)` with the op's attempt current."""
        with handling(self._attempt_for(record)):
            return super().after_commit(record, result)

    def told(self, record: OpRecord, error: BaseException) -> BaseException:
        """Its own `exception()` decided already: the caller gets `error`."""
        return error


class Notifier:
    """An `AsyncCallback`: `notify(op, error, result)`, once per attempt."""

    tells_failure = False

    def in_txn(self, record: OpRecord) -> BeforeCommit | None:
        """Run `notify(op, None, result)` inside the transaction."""
        return functools.partial(self._notify_in_txn, record)

    def _notify_in_txn(self, record: OpRecord, result: Any) -> object:
        # `notified` marks a veto: its failure is the callback's own answer, so
        # it is not told again. An attempt it accepted whose commit then fails
        # (a full disk) is told of that failure.
        record.notified = True
        answer = self.after_commit(record, result)
        if answer is not False:
            record.notified = False
        return answer

    def after_commit(self, record: OpRecord, result: Any) -> object:
        """Call `notify(op, None, result)`."""
        if record.type is OpType.SEARCH:
            record.found(result)
        callback = record.callback
        assert isinstance(callback, AsyncCallback)
        return callback.notify(handle_of(record), None, result)

    def told(self, record: OpRecord, error: BaseException) -> BaseException:
        """It was told of each failed attempt already: the caller gets `error`."""
        return error

    def notify_failure(self, record: OpRecord, error: BaseException) -> None:
        """Tell it an attempt failed; what it raises is only logged."""
        callback = record.callback
        assert isinstance(callback, AsyncCallback)
        try:
            callback.notify(handle_of(record), error, None)
        except BaseException:
            logger.error("op %d: notify() failed", record.id, exc_info=True)


def adapters(
    attempt_for: Callable[[OpRecord], RetryAttempt],
) -> dict[CallbackStyle, Adapter]:
    """Return one adapter per callback style."""
    plain = PlainCallback()
    return {
        CallbackStyle.NONE: NoCallback(),
        CallbackStyle.FUNCTION: plain,
        CallbackStyle.CALLBACK: plain,
        CallbackStyle.RETRY: RetryHandler(attempt_for),
        CallbackStyle.NOTIFY: Notifier(),
    }


def call_exception(callback: Callback, error: BaseException) -> BaseException:
    """Tell `callback` about `error`; return the error the future should carry."""
    try:
        callback.exception(error)
    except BaseException as exc:  # noqa: BLE001 - the handler's own failure reaches the future
        exc.__context__ = error
        return exc
    return error
