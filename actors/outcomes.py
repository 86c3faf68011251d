"""Outcomes: what happens to an op once its group has ended.

An owner hands each group's ops here (`finish_group`). A success completes
its future (its callback already ran inside the transaction, or runs now on
the `callback_executor`); a failure is recorded in the op's `AttemptState`
and goes to its `RetryCallback`, or to the narrowest retry policy, which
schedules a retry on the store's timer (never on a worker) or gives up and
parks a dead letter; only the final outcome completes the future, tells
`reply_to` and frees the op's slot. `Outcomes` is the store's
`OwnerReports` and its `retry.RetryHost`.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import pykka

from actorstore.errors import OutcomeUnknownError
from actorstore.futures import OpFuture
from actorstore.messages import OpCompleted
from actorstore.op import Op
from actorstore.threads import run_as_store_thread
from actorstore.retry import (
    DEAD_LETTER_TABLE,
    DEFAULT_POLICY,
    AsyncCallback,
    AttemptState,
    Callback,
    DeadLetter,
    DeadLetterTable,
    RetryCallback,
)
from actorstore.retry._attempts import handling
from actorstore.retry._dead_letters import give_up_error, park_then
from actorstore.storage import OpType, StoreClosedError
from actorstore.storage._requests import Batch

if TYPE_CHECKING:
    import concurrent.futures

    from actorstore.inflight import InFlight
    from actorstore.policies import Policies
    from actorstore.retry import DeadLetterHook, RetryPolicy, Scheduler
    from actorstore.storage._requests import BeforeCommit, Outcome

__all__ = ["OpAttempt", "Outcomes", "Resubmitter", "dead_letter_for"]

logger = logging.getLogger(__name__)


class Resubmitter(Protocol):
    """What outcomes need of the store's submission path."""

    def dispatch(self, op: Op) -> None:
        """Queue an admitted op (again) at its owner; failing that, end it."""
        ...

    def submit_internal(
        self,
        op_type: str,
        key: Any = None,
        value: Any = None,
        options: Mapping[str, Any] | None = None,
    ) -> OpFuture[Any]:
        """Run an op on the dead-letter table, never refused by `ops_max`."""
        ...

    def replay(self, letter: DeadLetter) -> OpFuture[Any]:
        """Submit a dead letter's op again as a plain op."""
        ...

    def check_open(self) -> None:
        """Raise `StoreClosedError` if the store is closing or closed."""
        ...


class Outcomes:
    """Acknowledge groups, run callbacks, complete futures, retry, dead-letter.

    Thread-safe: owners, the timer and executors call in concurrently. Never
    raises into an owner; user code raising anything fails its own op.
    """

    def __init__(
        self,
        inflight: InFlight,
        policies: Policies,
        scheduler: Scheduler,
        *,
        callback_executor: concurrent.futures.Executor | None,
        dead_letter_hook: DeadLetterHook | None,
        in_txn: bool = True,
        spool: Callable[[DeadLetter], object] | None = None,
    ) -> None:
        """Finish ops for a store.

        Args:
            in_txn: callbacks run inside ops' transactions (by the owners,
                see `before_commit`); else after commit, on the executor if
                there is one, else on the thread that reports the group.
            spool: keeps a dead letter the dead-letter table cannot take (an
                unreachable remote table); None: the op's error says it is
                lost to the store.
        """
        self.inflight = inflight
        self.policies = policies
        self.scheduler = scheduler
        self.callback_executor = callback_executor
        self.dead_letter_hook = dead_letter_hook
        self.in_txn = in_txn and callback_executor is None
        self.spool = spool
        self.dead_letters = DeadLetterTable(self)
        self._submission: Resubmitter | None = None

    def attach(self, submission: Resubmitter) -> None:
        """Give outcomes the submission path that retries and dead letters use."""
        self._submission = submission

    @property
    def submission(self) -> Resubmitter:
        """The submission path (set by `attach`)."""
        assert self._submission is not None, "Outcomes.attach() was not called"
        return self._submission

    # -- OwnerReports -------------------------------------------------------------

    def before_commit(self, op: Op) -> BeforeCommit | None:
        """Return `op`'s callback as it runs inside the op's transaction."""
        callback = op.callback
        if isinstance(callback, AsyncCallback):
            return functools.partial(self._notify_in_txn, op, callback)
        if isinstance(callback, RetryCallback):
            return functools.partial(self._retry_callback_in_txn, op, callback)
        if callback is None:
            return None
        return callback.callback

    def _notify_in_txn(self, op: Op, callback: AsyncCallback, result: Any) -> object:
        if op.type is OpType.SEARCH:
            op.value = result
        # `notified` marks a veto: its failure is the callback's own answer, so
        # it is not told again. An attempt it accepted whose commit then fails
        # (a full disk) is told of that failure.
        op.notified = True
        answer = callback.notify(op, None, result)
        if answer is not False:
            op.notified = False
        return answer

    def _retry_callback_in_txn(
        self, op: Op, callback: RetryCallback, result: Any
    ) -> object:
        with handling(OpAttempt(self, op)):
            return callback.callback(result)

    def finish_group(self, ops: list[Op], outcomes: list[Outcome]) -> None:
        """Acknowledge the ops of a group that has ended; never raises.

        Plain successes (no reply_to, callback already run in the
        transaction) are acknowledged in bulk; every other op one by one.
        """
        plain: list[Op] = []
        results: list[Any] = []
        futures: list[OpFuture[Any]] = []
        in_txn = self.in_txn
        search, compact = OpType.SEARCH, OpType.COMPACT
        for op, outcome in zip(ops, outcomes, strict=True):
            if (
                outcome.error is None
                and op.reply_to is None
                and (op.callback is None or (in_txn and op.type is not compact))
                and op.future is not None
            ):
                result = outcome.result
                if op.type is search:
                    op.value = result
                if op.state is not None:
                    op.state.succeeded()
                plain.append(op)
                futures.append(op.future)
                results.append(result)
            else:
                self.finish(op, outcome)
        if not plain:
            return
        try:
            self.inflight.release(plain)
            OpFuture.set_results(futures, results)
        except BaseException as exc:
            logger.error("finishing a group failed", exc_info=True)
            for op in plain:
                self.complete(op, None, exc)
        finally:
            # Even if a done callback raised: these ops are finished.
            self.inflight.remove(plain, failed=False)

    # -- one op -------------------------------------------------------------------

    def finish(self, op: Op, outcome: Outcome) -> None:
        """Acknowledge one op whose group has ended; never raises.

        A failed op goes to its retry handler or policy first; the future is
        completed only with the final outcome.
        """
        try:
            error = outcome.error
            callback = op.callback
            if error is not None:
                state = op.state
                if state is None:
                    state = op.state = AttemptState(op.submitted_at)
                state.failed(error)
                if isinstance(callback, AsyncCallback):
                    self._notify_failure(op, callback, error)
                if self._handle_failure(op, error):
                    return
            else:
                if op.state is not None:
                    op.state.succeeded()
                if op.type is OpType.SEARCH:
                    op.value = outcome.result
            told = error is not None and isinstance(callback, AsyncCallback)
            if (
                callback is not None
                and not told  # a failed AsyncCallback op was told above
                and (not self.in_txn or op.type is OpType.COMPACT)
            ):
                # Compaction runs outside any transaction: its callback runs
                # after it, as with an executor (and cannot veto).
                self._after_commit(op, callback, outcome)
                return
            if error is not None and isinstance(callback, Callback):
                error = call_exception(callback, error)
            self.complete(op, outcome.result, error)
        except BaseException as exc:
            logger.error("op %d: finishing failed", op.id, exc_info=True)
            self.complete(op, None, exc)

    def _notify_failure(
        self, op: Op, callback: AsyncCallback, error: BaseException
    ) -> None:
        """Tell an `AsyncCallback` its op's attempt failed, unless it vetoed it."""
        notified, op.notified = op.notified, False
        if notified:
            return  # it vetoed (or raised) inside the transaction: no second call
        if self.callback_executor is None:
            _notify_quietly(op, callback, error, None)  # (a cluster's: no txn)
        else:  # refused (shut down), it is lost: logged and counted
            self._run_on_executor(op, _notify_quietly, op, callback, error, None)

    def _after_commit(
        self, op: Op, callback: Callback | AsyncCallback, outcome: Outcome
    ) -> None:
        """Run the callback of an op that has ended, then complete the op."""
        if self.callback_executor is None:
            self._run_after_commit(op, callback, outcome)
        else:
            self._run_on_executor(
                op, self._run_after_commit, op, callback, outcome, outcome=outcome
            )

    def _run_on_executor(
        self,
        op: Op,
        fn: Callable[..., object],
        *args: Any,
        outcome: Outcome | None = None,
    ) -> bool:
        """Run `fn(*args)` on the callback executor, as a store thread.

        Return False if the executor refused (it was shut down). A refused
        callback is lost: that is logged and counted once, and an op whose
        `outcome` is given is completed with it (a committed op is reported
        as committed).
        """
        assert self.callback_executor is not None
        try:
            self.callback_executor.submit(run_as_store_thread, fn, *args)
        except BaseException:
            logger.error(
                "op %d: the callback executor refused its callback",
                op.id,
                exc_info=True,
            )
            self.inflight.count("callback_failed")
            if outcome is not None:
                self.complete(op, outcome.result, outcome.error)
            return False
        return True

    def _run_after_commit(
        self, op: Op, callback: Callback | AsyncCallback, outcome: Outcome
    ) -> None:
        error = outcome.error
        if error is None:
            try:
                if isinstance(callback, AsyncCallback):
                    callback.notify(op, None, outcome.result)
                elif isinstance(callback, RetryCallback):
                    with handling(OpAttempt(self, op)):
                        callback.callback(outcome.result)
                else:
                    callback.callback(outcome.result)
            except BaseException as exc:  # noqa: BLE001 - it reaches the future
                exc.add_note(
                    f"op {op.id} committed: its callback raised after the commit, "
                    "so this error does not undo the op"
                )
                self.inflight.count("callback_failed")
                error = exc
        elif isinstance(callback, Callback):
            error = call_exception(callback, error)
        self.complete(op, outcome.result, error)

    def complete(self, op: Op, result: Any, error: BaseException | None) -> None:
        """Resolve the op's future, tell its `reply_to`, free its slot; never raises."""
        future = op.future
        if future is None or future.done():
            return
        if error is not None:
            logger.debug("op %d %s failed: %r", op.id, op.type and op.type.value, error)
        if op.reply_to is not None:
            self._reply(op, result, error)
        # Free the slot first, so code woken by the future can submit at once;
        # flush() still waits until the future and its callbacks are done.
        try:
            self.inflight.release([op])
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)
        except BaseException:
            logger.error("op %d: a done callback failed", op.id, exc_info=True)
        finally:
            # Even if a done callback raised: the op is finished.
            self.inflight.remove([op], failed=error is not None)

    def _reply(self, op: Op, result: Any, error: BaseException | None) -> None:
        assert op.reply_to is not None and op.type is not None
        message = OpCompleted(
            op.id, op.type, op.table, op.key, None if error else result, error
        )
        try:
            op.reply_to.tell(message)
        except pykka.ActorDeadError:
            logger.warning(
                "op %d: reply_to actor is dead; result kept in future", op.id
            )

    # -- retries and dead letters ----------------------------------------------------

    def _handle_failure(self, op: Op, error: BaseException) -> bool:
        """Retry or dead-letter a failed op if asked to; True if that took the op."""
        callback = op.callback
        if isinstance(callback, RetryCallback):
            if self.callback_executor is None or not self._run_on_executor(
                op, self._ask_handler, op, callback, error
            ):
                self._ask_handler(op, callback, error)  # here, rather than never
            return True
        if op.table == DEAD_LETTER_TABLE:
            return False
        # An op whose outcome is unknown (its remote owner died) is parked
        # when it is not retried: it may be lost otherwise.
        unknown = isinstance(error, OutcomeUnknownError)
        policy = self.policies.for_op(op)
        if policy is None:
            if unknown:
                self.dead_letter(op, error)
            return unknown
        assert op.state is not None  # recorded by finish()
        try:
            if not policy.is_retryable(error):
                if unknown:
                    self.dead_letter(op, error)
                return unknown
            delay = policy.next_delay_for(op.state)
        except BaseException as exc:
            logger.error("op %d: its retry policy failed", op.id, exc_info=True)
            exc.__context__ = error
            self.complete(op, None, exc)
            return True
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
            lambda e: self.complete(op, None, e),
        )

    def run_handler(
        self,
        op: Op,
        call: Callable[[], object],
        error: BaseException,
        undecided: Callable[[BaseException], object],
        *,
        cut_short: bool = False,
    ) -> None:
        """Run a RetryCallback hook for `op` (which failed with `error`) in an attempt.

        If the hook neither retried, gave up nor failed the op, `undecided`
        ends it: with `error`, or with the hook's own exception if it raised
        first (chained to `error`). A hook that raised after deciding is logged.
        """
        attempt = OpAttempt(self, op, cut_short=cut_short)
        try:
            with handling(attempt):
                call()
        except BaseException as exc:
            if not attempt.decided:
                exc.__context__ = error
                undecided(exc)
                return
            logger.error("op %d: retry handler failed", op.id, exc_info=True)
        if not attempt.decided:
            undecided(error)

    def schedule_retry(self, op: Op, delay: float, fn: Callable[[], object]) -> None:
        """Run `fn` (a retry of `op`) after `delay` on the timer; if the store
        closes first, dead-letter `op` as cut short instead."""
        self.inflight.count("retried")
        state = op.state
        assert state is not None  # a retry follows a failed attempt
        logger.debug(
            "op %d: attempt %d failed; retry in %.3f s", op.id, state.attempts, delay
        )

        def at_close() -> None:
            error = state.last_error or StoreClosedError("store")
            callback = op.callback
            if not isinstance(callback, RetryCallback):
                self.dead_letter(op, error, cut_short=True)
                return
            # The handler's own dead() decides, as when its policy gives up;
            # if it decides nothing, the op is dead-lettered all the same.
            self.run_handler(
                op,
                lambda: callback.dead(error),
                error,
                lambda _: self.dead_letter(op, error, cut_short=True),
                cut_short=True,
            )

        self.scheduler.call_later(delay, fn, on_close=at_close)

    def resubmit(self, op: Op) -> None:
        """Queue `op` again (same id, same future) at its table's owner."""
        self.submission.dispatch(op)

    def dead_letter(
        self, op: Op, error: BaseException, *, cut_short: bool = False
    ) -> None:
        """Park `op` in the dead letters, then fail its future with the final error.

        The final error says whether the letter was written and, if not,
        carries the op so the caller can keep it.
        """
        callback = op.callback
        policy = (callback.policy if isinstance(callback, RetryCallback) else None) or (
            self.policies.for_op(op) or DEFAULT_POLICY
        )
        state = op.state
        if state is None:
            state = op.state = AttemptState(op.submitted_at)
        if state.last_error is not error:
            state.last_error = error
        letter = dead_letter_for(op, state)
        logger.warning(
            "op %d %s on table %s dead-lettered after %d attempt%s: %s",
            op.id,
            letter.op_type,
            op.table,
            state.attempts,
            "" if state.attempts == 1 else "s",
            type(error).__name__,
        )

        def parked(problem: BaseException | None, where: str | None) -> None:
            if problem is None:
                self.inflight.count("dead_lettered")
            final = give_up_error(
                state,
                letter,
                problem,
                policy,
                where=where,
                cut_short=cut_short,
                table=op.table,
                key=op.key,
            )
            if isinstance(callback, Callback) and not isinstance(
                callback, RetryCallback
            ):
                final = call_exception(callback, final)
            self.complete(op, None, final)

        park_then(self.park, letter, parked)

    # -- retry.RetryHost ------------------------------------------------------------

    @property
    def policy(self) -> RetryPolicy | None:
        """The store's own retry policy."""
        return self.policies.store

    def schedule(
        self, delay: float, fn: Callable[[], object], on_close: Callable[[], object]
    ) -> None:
        """Run `fn()` after `delay` on the store's timer, or `on_close()` at close."""
        self.scheduler.call_later(delay, fn, on_close=on_close)

    def park(self, letter: DeadLetter) -> OpFuture[Any]:
        """Hand `letter` to the store's hook, else write it to the dead-letter table.

        A hook raising anything (even `KeyboardInterrupt`) falls back to the
        table, so the letter is still written.
        """
        hook = self.dead_letter_hook
        if hook is not None:
            try:
                hook(letter)
            except BaseException:
                logger.error(
                    "dead-letter hook failed; writing to the table", exc_info=True
                )
            else:
                return OpFuture.resolved(0, "the dead-letter hook")
        written: OpFuture[Any] = self.dead_letters.add(letter)  # type: ignore[assignment]
        if self.spool is None:
            return written
        spool = self.spool
        kept: OpFuture[Any] = OpFuture()

        def spool_if_refused(done: OpFuture[Any]) -> None:
            error = done.exception(0)
            if error is None:
                kept.set_result(None)
                return
            try:
                where = spool(letter)
            except BaseException as exc:  # noqa: BLE001 - the op's error says it
                exc.__context__ = error
                kept.set_exception(exc)
                return
            logger.warning(
                "dead letter %d spooled at %s (%r); it is forwarded later",
                letter.id,
                where,
                error,
            )
            kept.set_result(f"the local spool {where}, until it is forwarded")

        written.add_completion_callback(spool_if_refused)
        return kept

    def submit(
        self,
        op_type: str,
        key: Any = None,
        value: Any = None,
        options: Mapping[str, Any] | None = None,
    ) -> OpFuture[Any]:
        """Run an op on the dead-letter table, never refused by `ops_max`."""
        return self.submission.submit_internal(op_type, key, value, options)

    def replay(self, letter: DeadLetter) -> OpFuture[Any]:
        """Submit dead letter `letter`'s op again as a plain op."""
        return self.submission.replay(letter)

    def track(self) -> OpFuture[Any]:
        """Return a pending future (a flow's run) that `flush()` waits for.

        Raises:
            StoreClosedError: if the store is closing or closed.
        """
        self.submission.check_open()
        run = Op(_Untracked(), "")  # never queued: it only tracks the flow
        self.inflight.track(run)
        future: OpFuture[Any] = OpFuture(run.id)

        def finished(done: OpFuture[Any]) -> None:
            self.inflight.remove([run], failed=done.exception(0) is not None)

        future.add_completion_callback(finished)
        return future


class OpAttempt:
    """A failed op as a `retry.RetryAttempt`: what a RetryCallback may do with it.

    It records whether the handler decided (retry scheduled, dead-lettered
    or failed), so the store can end an op whose handler decided nothing.
    """

    __slots__ = ("_op", "_outcomes", "cut_short", "decided")

    def __init__(self, outcomes: Outcomes, op: Op, *, cut_short: bool = False) -> None:
        self._outcomes = outcomes
        self._op = op
        self.cut_short = cut_short
        self.decided = False

    @property
    def op(self) -> Op:
        """The op handle itself."""
        return self._op

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
    def state(self) -> AttemptState:
        """The op's attempt state."""
        if self._op.state is None:
            self._op.state = AttemptState(self._op.submitted_at)
        return self._op.state

    @property
    def attempts(self) -> int:
        """Attempts made so far, the failed one included."""
        return self.state.attempts

    @property
    def elapsed(self) -> float:
        """Seconds since the op was first submitted."""
        return self.state.elapsed

    @property
    def policy(self) -> RetryPolicy:
        """The op's policy: its own, its table's, the store's or the default."""
        return self._outcomes.policies.for_op(self._op) or DEFAULT_POLICY

    def schedule(self, delay: float, fn: Callable[[], object]) -> None:
        """Run `fn()` after `delay` s on the timer; at close, dead-letter."""
        self.decided = True
        outcomes, op = self._outcomes, self._op
        error = self.state.last_error or StoreClosedError("store")

        def run() -> None:
            # retry() runs later on the timer, with a fresh attempt current.
            outcomes.run_handler(
                op, fn, error, lambda e: outcomes.complete(op, None, e)
            )

        outcomes.schedule_retry(op, delay, run)

    def resubmit(self) -> None:
        """Queue the same op again at its owner."""
        self.decided = True
        self._outcomes.resubmit(self._op)

    def dead_letter(self, error: BaseException) -> None:
        """Park the op in the dead-letter table; its future then fails."""
        self.decided = True
        self._outcomes.dead_letter(self._op, error, cut_short=self.cut_short)

    def fail(self, error: BaseException) -> None:
        """End the op with `error`, no dead letter."""
        self.decided = True
        self._outcomes.complete(self._op, None, error)


class _Untracked:
    """The submitter of a flow's tracking op, which is never submitted."""

    def submit(self, op: Op, op_type: OpType) -> OpFuture[Any]:
        raise RuntimeError("a flow's tracking op is never submitted")


def dead_letter_for(op: Op, state: AttemptState) -> DeadLetter:
    """Return the dead-letter record of `op`, given up on in `state`."""
    operation = op.operation
    return DeadLetter.new(
        op_type=op.type.value if op.type else "unknown",
        table=op.table,
        key=op.key,
        value=op.value,
        state=state,
        key_bytes=getattr(operation, "key_bytes", None),
        value_bytes=getattr(operation, "value_bytes", None),
        batch=operation.encoded() if isinstance(operation, Batch) else None,
    )


def call_exception(callback: Callback, error: BaseException) -> BaseException:
    """Tell `callback` about `error`; return the error the future should carry."""
    try:
        callback.exception(error)
    except BaseException as exc:  # noqa: BLE001 - the handler's own failure reaches the future
        exc.__context__ = error
        return exc
    return error


def _notify_quietly(
    op: Op, callback: AsyncCallback, error: BaseException | None, result: Any
) -> None:
    """Tell an AsyncCallback of a failed attempt; what it raises is only logged."""
    try:
        callback.notify(op, error, result)
    except BaseException:
        logger.error("op %d: notify() failed", op.id, exc_info=True)
