"""Retrier: how a store retries failed ops and parks the ones it gives up on."""

from __future__ import annotations

import functools
import itertools
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from actors.futures import OpFuture
from actors.op import Op
from retry import (
    DEAD_LETTER_TABLE,
    DEFAULT_POLICY,
    Callback,
    DeadLetter,
    RetriesExhaustedError,
    RetryCallback,
    RetryPolicy,
    ScheduledCall,
    handling,
    park_then,
)
from storage import Batch, InvalidOptionError, OpType, StoreClosedError

if TYPE_CHECKING:
    from actors.store import Store

__all__ = ["OpAttempt", "Retrier", "call_exception", "dead_letter_for"]

logger = logging.getLogger(__name__)


class OpAttempt:
    """A failed op as a `retry.Attempt`: what a RetryCallback may do with it.

    It records whether the handler decided (retry scheduled, dead-lettered
    or failed), so the store can end an op whose handler decided nothing.
    """

    __slots__ = ("_op", "_retrier", "decided")

    def __init__(self, retrier: Retrier, op: Op) -> None:
        self._retrier = retrier
        self._op = op
        self.decided = False

    @property
    def op_id(self) -> int:
        """The op's id."""
        return self._op.id

    @property
    def op_type(self) -> str:
        """The op's type, as a string."""
        return self._op.type.value if self._op.type else "unknown"

    @property
    def table(self) -> str:
        """The op's table."""
        return self._op.table

    @property
    def key(self) -> Any:
        """The op's key."""
        return self._op.key

    @property
    def attempts(self) -> int:
        """Attempts made so far, the failed one included."""
        return self._op.attempts

    @property
    def elapsed(self) -> float:
        """Seconds since the op was first submitted."""
        return self._op.elapsed()

    @property
    def policy(self) -> RetryPolicy:
        """The op's policy: its own, its table's, the store's or the default."""
        return self._retrier.store._policy_for(self._op) or DEFAULT_POLICY

    def schedule(self, delay: float, fn: Callable[[], object]) -> None:
        """Run `fn()` after `delay` s on the scheduler; at close, dead-letter."""
        self.decided = True

        retrier, op = self._retrier, self._op
        error = op.last_error or StoreClosedError("store")

        def run() -> None:
            # retry() runs later on the scheduler, with a fresh attempt current.
            retrier.run_handler(
                op, fn, error, lambda e: retrier.store._complete(op, None, e)
            )

        retrier.schedule_retry(op, delay, run)

    def resubmit(self) -> None:
        """Queue the same op again at its owner."""
        self.decided = True
        self._retrier.resubmit(self._op)

    def dead_letter(self, error: BaseException) -> None:
        """Park the op in the dead-letter table; its future then fails."""
        self.decided = True
        self._retrier.dead_letter(self._op, error)

    def fail(self, error: BaseException) -> None:
        """End the op with `error`, no dead letter."""
        self.decided = True
        self._retrier.store._complete(self._op, None, error)


def dead_letter_for(op: Op, error: BaseException) -> DeadLetter:
    """Return the dead-letter record of `op`, which failed last with `error`."""
    operation = op.operation
    return DeadLetter.new(
        op_type=op.type.value if op.type else "unknown",
        table=op.table,
        key=op.key,
        value=op.value,
        error=error,
        attempts=op.attempts,
        first_failed_at=op.first_failed_at,
        last_failed_at=op.last_failed_at,
        key_bytes=getattr(operation, "key_bytes", None),
        value_bytes=getattr(operation, "value_bytes", None),
        batch=operation.encoded() if isinstance(operation, Batch) else None,
    )


def call_exception(callback: Callback, error: BaseException) -> BaseException:
    """Tell `callback` about `error`; return the error the future should carry."""
    try:
        callback.exception(error)
    except Exception as exc:  # noqa: BLE001 - the handler's own failure reaches the future
        exc.__context__ = error
        return exc
    return error


class Retrier:
    """Retry a store's failed ops on its timer and park those it gives up on.

    A failed op goes to its `RetryCallback`, or to the narrowest retry policy
    (op, table, store); a retry waits on the store's timer thread, never on a
    worker. Every call scheduled here runs, or at close runs its `on_close`
    instead, so no op is lost: pending retries become dead letters.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.closed = False
        self._lock = threading.Lock()
        self._scheduled: dict[int, tuple[ScheduledCall, Callable[[], object]]] = {}
        self._keys = itertools.count(1)

    def handle_failure(self, op: Op, error: BaseException) -> bool:
        """Retry or dead-letter a failed op if asked to; True if it took the op."""
        store = self.store
        callback = op.callback
        if isinstance(callback, RetryCallback):
            if store.callback_executor is not None:
                store.callback_executor.submit(self._ask_handler, op, callback, error)
            else:
                self._ask_handler(op, callback, error)
            return True
        policy = store._policy_for(op)
        if policy is None or op.table == DEAD_LETTER_TABLE:
            return False
        if not policy.is_retryable(error):
            return False
        delay = policy.next_delay(error, op.attempts, elapsed=op.elapsed())
        if delay is None:
            self.dead_letter(op, error)
        else:
            self.schedule_retry(op, delay, functools.partial(self.resubmit, op))
        return True

    def _ask_handler(
        self, op: Op, callback: RetryCallback, error: BaseException
    ) -> None:
        self.run_handler(
            op,
            lambda: callback.exception(error),
            error,
            lambda e: self.store._complete(op, None, e),
        )

    def run_handler(
        self,
        op: Op,
        call: Callable[[], object],
        error: BaseException,
        undecided: Callable[[BaseException], object],
    ) -> None:
        """Run a RetryCallback hook for `op` (which failed with `error`) in an attempt.

        If the hook neither retried, gave up nor failed the op, `undecided`
        ends it: with `error`, or with the hook's own exception if it raised
        first (chained to `error`). A hook that raised after deciding is logged.
        """
        attempt = OpAttempt(self, op)
        try:
            with handling(attempt):
                call()
        except Exception as exc:
            if not attempt.decided:
                exc.__context__ = error
                undecided(exc)
                return
            logger.error("op %d: retry handler failed", op.id, exc_info=True)
        if not attempt.decided:
            undecided(error)

    def schedule_retry(self, op: Op, delay: float, fn: Callable[[], object]) -> None:
        """Run `fn` (a retry of `op`) after `delay`; at close, dead-letter `op`."""
        self.store._inflight.count("retried")
        logger.debug(
            "op %d: attempt %d failed; retry in %.3f s", op.id, op.attempts, delay
        )

        def at_close() -> None:
            error = op.last_error or StoreClosedError("store")
            callback = op.callback
            if not isinstance(callback, RetryCallback):
                self.dead_letter(op, error)
                return
            # The handler's own dead() decides, as when its policy gives up;
            # if it decides nothing, the op is dead-lettered all the same.
            self.run_handler(
                op,
                lambda: callback.dead(error),
                error,
                lambda _: self.dead_letter(op, error),
            )

        self.schedule(delay, fn, at_close)

    def resubmit(self, op: Op) -> None:
        """Queue `op` again (same id, same future) at its table's owner."""
        self.store._dispatch(op)

    def dead_letter(self, op: Op, error: BaseException) -> None:
        """Park `op` in the dead letters, then fail its future with the final error."""
        store = self.store
        callback = op.callback
        policy = (callback.policy if isinstance(callback, RetryCallback) else None) or (
            store._policy_for(op) or DEFAULT_POLICY
        )
        final: BaseException = error
        if policy.is_retryable(error) or self.closed:
            final = RetriesExhaustedError(
                attempts=op.attempts, last_error=error, table=op.table, key=op.key
            )
        letter = dead_letter_for(op, error)
        logger.warning(
            "op %d %s on table %s dead-lettered after %d attempts: %s",
            op.id,
            letter.op_type,
            op.table,
            op.attempts,
            type(error).__name__,
        )

        def parked(written: bool) -> None:
            if written:
                store._inflight.count("dead_lettered")
            outcome = final
            if callback is not None and not isinstance(callback, RetryCallback):
                outcome = call_exception(callback, outcome)
            store._complete(op, None, outcome)

        park_then(self.park, letter, final, parked)

    def park(self, letter: DeadLetter) -> OpFuture[Any]:
        """Hand `letter` to the store's hook, else write it to the dead-letter table."""
        hook = self.store.dead_letter_hook
        if hook is not None:
            future: OpFuture[Any] = OpFuture()
            try:
                hook(letter)
            except Exception:
                logger.error(
                    "dead-letter hook failed; writing to the table", exc_info=True
                )
            else:
                future.set_result(None)
                return future
        return cast(OpFuture[Any], self.store.dead_letters.add(letter))

    def dead_letter_op(
        self, op_type: str, key: Any = None, value: Any = None
    ) -> OpFuture[Any]:
        """Submit an internal op on the dead-letter table (never refused by ops_max)."""
        store = self.store
        op = Op(store, DEAD_LETTER_TABLE)
        op.key, op.value = key, value
        store._prepare(op, OpType(op_type), internal=True)
        store._dispatch(op)
        assert op.future is not None
        return op.future

    def replay(self, letter: DeadLetter) -> OpFuture[Any]:
        """Submit dead letter `letter` again as a plain op.

        Raises:
            InvalidOptionError: if the letter cannot be replayed (a flow's).
        """
        if not letter.replayable:
            what = (
                f"the flow {letter.flow!r}; start the flow again"
                if letter.flow
                else f"a {letter.op_type} op, with nothing to write again"
            )
            raise InvalidOptionError(
                f"dead letter {letter.id} cannot be replayed: it is {what}; "
                "or purge the letter"
            )
        store = self.store
        table = store.directory.table(letter.table)
        # A replay waits for a free slot rather than fail on ops_max.
        op = store.new_op(letter.table, wait=True)
        if letter.key_bytes is not None:
            op.key = table.decode_key(letter.key_bytes)
        if letter.value_bytes is not None:
            op.value = table.decode_value(letter.value_bytes)
        if letter.batch is not None:
            op.value = [
                (kind, table.decode_key(kb))
                if vb is None
                else (kind, table.decode_key(kb), table.decode_value(vb))
                for kind, kb, vb in letter.batch
            ]
        return store._submit(op, OpType(letter.op_type))

    def schedule(
        self, delay: float, fn: Callable[[], object], on_close: Callable[[], object]
    ) -> None:
        """Run `fn()` after `delay` on the store's timer, or `on_close()` at close.

        So nothing scheduled is lost: if the store closes first, `on_close` runs.
        """
        with self._lock:
            if not self.closed:
                key = next(self._keys)
                call = self.store._scheduler.call_later(
                    delay, self._run_scheduled, key, fn
                )
                self._scheduled[key] = (call, on_close)
                return
        on_close()

    def _run_scheduled(self, key: int, fn: Callable[[], object]) -> None:
        with self._lock:
            if self._scheduled.pop(key, None) is None:
                return  # close() took it
        fn()

    def close(self) -> None:
        """Stop scheduling; run every pending call's `on_close` instead."""
        with self._lock:
            self.closed = True
            pending = list(self._scheduled.values())
            self._scheduled.clear()
        for call, on_close in pending:
            call.cancel()
            try:
                on_close()
            except Exception:
                logger.error("closing a scheduled call failed", exc_info=True)
