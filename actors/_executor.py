"""OutcomeExecutor: carry out what `decide()` says once an op's attempt has ended.

An owner hands each group's ops here (`finish_group`). Each op's ending is
read by the pure `decide()` (`_decide.py`), and this module only acts on
the answer: it completes futures and tells `reply_to`, runs callbacks
through their style's adapter (`_callback_styles.py`), here or on the
callback executor, schedules retries on the store's timer (never on an
owner), and parks dead letters (the store's hook, else the dead-letter
table, see `_parking.py`). Only an op's final outcome completes its future
and frees its slot.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import actorstore._metrics as _metrics
from actorstore._attempt import StoreAttempt
from actorstore._callback_errors import keep_letter_named
from actorstore._callback_styles import Adapter, Notifier, adapters
from actorstore._dead_replies import DeadReplies
from actorstore._decide import (
    Action,
    CallbackSite,
    CallbackStyle,
    Decision,
    Ending,
    decide,
)
from actorstore._exactly_once import answered_from_record
from actorstore._loop_inbox import WakeupBatch
from actorstore._parking import LetterParking
from actorstore._record import OpRecord
from actorstore._threads import run_as_store_thread
from actorstore.futures import OpFuture
from actorstore.messages import reply
from actorstore.retry import (
    DEAD_LETTER_TABLE,
    DEFAULT_POLICY,
    AttemptState,
    DeadLetter,
    RetryCallback,
)
from actorstore.retry._attempts import handling
from actorstore.storage import OpType, StoreClosedError
from actorstore.storage._requests import Outcome

if TYPE_CHECKING:
    import concurrent.futures

    from actorstore._exactly_once import ClientSession
    from actorstore._inflight import InFlight
    from actorstore._lifecycle import Lifecycle
    from actorstore._policies import PolicyChooser
    from actorstore._timer import Timer
    from actorstore._transports.base import Transport
    from actorstore.retry import DeadLetterHook, RetryPolicy
    from actorstore.storage._requests import BeforeCommit

__all__ = ["OutcomeExecutor"]

logger = logging.getLogger(__name__)


class OutcomeExecutor:
    """End ops: futures, callbacks, retries and dead letters, as decided.

    Thread-safe: owners, the timer and executors call in concurrently. Never
    raises into an owner; user code raising anything fails its own op.

    Args:
        site: where callbacks run (`IN_TXN` needs owners that call
            `before_commit`; an executor, if given, wins).
        spool: keeps a dead letter the dead-letter table cannot take (an
            unreachable remote table) and says where; None: the op's error
            then says it is lost to the store.
        session: the store's session, which numbers its ops (exactly once):
            a retry of an op whose outcome is unknown keeps its number, and
            its dead letter carries it.
    """

    def __init__(
        self,
        inflight: InFlight,
        policies: PolicyChooser,
        scheduler: Timer,
        transport: Transport,
        lifecycle: Lifecycle,
        *,
        site: CallbackSite,
        callback_executor: concurrent.futures.Executor | None = None,
        dead_letter_hook: DeadLetterHook | None = None,
        spool: Callable[[DeadLetter], object] | None = None,
        session: ClientSession,
    ) -> None:
        self.inflight = inflight
        self.session = session
        self.policies = policies
        self.scheduler = scheduler
        self._transport = transport
        self._lifecycle = lifecycle
        self.callback_executor = callback_executor
        self.dead_letter_hook = dead_letter_hook
        self.site = CallbackSite.EXECUTOR if callback_executor is not None else site
        self._styles = adapters(self._attempt_for)
        self.dead_replies = DeadReplies(scheduler)
        self.parking = LetterParking(
            transport,
            inflight,
            lifecycle,
            dispatch=self.dispatch,
            dead_letter_hook=dead_letter_hook,
            spool=spool,
            session=session,
        )

    def _attempt_for(self, record: OpRecord) -> StoreAttempt:
        return StoreAttempt(self, record)

    # -- what owners call -------------------------------------------------------------

    def before_commit(self, record: OpRecord) -> BeforeCommit | None:
        """Return `record`'s callback as it runs inside the op's transaction."""
        return self._styles[record.style].in_txn(record)

    def finish_group(self, records: list[OpRecord], outcomes: list[Outcome]) -> None:
        """Take over the ops of a group that has ended; never raises.

        Plain successes (no reply_to, no callback left to run) are completed
        in bulk; every other op goes through `decide()` one by one. Each
        event loop awaiting ops of the group is woken once, at the end.
        """
        with WakeupBatch():
            self._finish_group(records, outcomes)

    def _finish_group(self, records: list[OpRecord], outcomes: list[Outcome]) -> None:
        plain: list[OpRecord] = []
        results: list[Any] = []
        futures: list[OpFuture[Any]] = []
        in_txn = self.site is CallbackSite.IN_TXN
        none, search, compact = CallbackStyle.NONE, OpType.SEARCH, OpType.COMPACT
        for record, outcome in zip(records, outcomes, strict=True):
            if outcome.recorded:
                outcome = answered_from_record(record, outcome)
            if (
                outcome.error is None
                and record.reply_to is None
                and (record.style is none or (in_txn and record.type is not compact))
                and record.future is not None
            ):
                result = outcome.result
                if record.type is search:
                    record.found(result)
                if record.state is not None:
                    record.state.succeeded()
                plain.append(record)
                futures.append(record.future)
                results.append(result)
            else:
                self.finish(record, outcome)
        if not plain:
            return
        try:
            self._admit(self.inflight.release(plain))
            OpFuture.set_results(futures, results)
        except BaseException as exc:
            logger.error("finishing a group failed", exc_info=True)
            for record in plain:
                self.complete(record, None, exc)
        finally:
            # Even if a done callback raised: these ops are finished.
            self._admit(self.inflight.remove(plain, failed=False))
        if _metrics.recording:
            _metrics.ops_succeeded(plain)

    # -- one op ---------------------------------------------------------------------

    def finish(self, record: OpRecord, outcome: Outcome) -> None:
        """End one attempt of `record` as `decide()` says; never raises."""
        try:
            error = outcome.error
            if error is None:
                if record.state is not None:
                    record.state.succeeded()
                if record.type is OpType.SEARCH:
                    record.found(outcome.result)
                ending = Ending(record.style, self.site, record.type)
            else:
                state = record.state
                if state is None:
                    state = record.state = AttemptState(record.submitted_at)
                state.failed(error)
                vetoed, record.notified = record.notified, False
                ending = Ending(
                    record.style,
                    self.site,
                    record.type,
                    error,
                    policy=self.policies.for_op(record),
                    state=state,
                    vetoed=vetoed,
                    has_hook=self.dead_letter_hook is not None,
                    internal=record.table == DEAD_LETTER_TABLE,
                )
            try:
                decision = decide(ending)
            except BaseException as exc:
                logger.error("op %d: its retry policy failed", record.id, exc_info=True)
                exc.__context__ = error
                outcome = Outcome(error=exc)
                decision = Decision(
                    Action.COMPLETE,
                    notify_first=record.style is CallbackStyle.NOTIFY
                    and not ending.vetoed,
                    on_executor=self.site is CallbackSite.EXECUTOR,
                )
            self._carry_out(record, outcome, decision)
        except BaseException as exc:
            logger.error("op %d: finishing failed", record.id, exc_info=True)
            self.complete(record, None, exc)

    def _carry_out(
        self, record: OpRecord, outcome: Outcome, decision: Decision
    ) -> None:
        error = outcome.error
        if decision.notify_first and error is not None:
            self._notify_failure(record, error, decision.on_executor)
        action = decision.action
        if action is Action.COMPLETE:
            if error is None or not self._style(record).tells_failure:
                self.complete(record, outcome.result, error)
            elif not decision.on_executor or not self._run_on_executor(
                record, self._tell_failure, record, error, outcome=outcome
            ):
                self._tell_failure(record, error)
        elif action is Action.RUN_CALLBACK:
            if not decision.on_executor or not self._run_on_executor(
                record, self._run_callback, record, outcome.result, outcome=outcome
            ):
                self._run_callback(record, outcome.result)
        elif action is Action.ASK_HANDLER:
            assert error is not None
            if not decision.on_executor or not self._run_on_executor(
                record, self._ask_handler, record, error
            ):
                self._ask_handler(record, error)  # here, rather than never
        elif action is Action.RETRY:
            assert decision.delay is not None
            self.schedule_retry(
                record, decision.delay, functools.partial(self.dispatch, record)
            )
        else:  # DEAD_LETTER or HAND_TO_HOOK: park() picks the hook if there is one
            assert error is not None
            self.dead_letter(record, error)

    def _style(self, record: OpRecord) -> Adapter:
        return self._styles[record.style]

    def _tell_failure(self, record: OpRecord, error: BaseException) -> None:
        self.complete(record, None, self._style(record).told(record, error))

    def _run_callback(self, record: OpRecord, result: Any) -> None:
        """Run the success callback of an op that has committed, then end it."""
        error: BaseException | None = None
        try:
            self._style(record).after_commit(record, result)
        except BaseException as exc:  # noqa: BLE001 - it reaches the future
            exc.add_note(
                f"op {record.id} committed: its callback raised after the commit, "
                "so this error does not undo the op"
            )
            self.inflight.count("callback_failed")
            error = exc
        self.complete(record, result, error)

    def _notify_failure(
        self, record: OpRecord, error: BaseException, on_executor: bool
    ) -> None:
        """Tell an `AsyncCallback` its op's attempt failed."""
        notifier = self._style(record)
        assert isinstance(notifier, Notifier)
        if on_executor:  # refused (shut down), it is lost: logged and counted
            self._run_on_executor(record, notifier.notify_failure, record, error)
        else:
            notifier.notify_failure(record, error)

    def _run_on_executor(
        self,
        record: OpRecord,
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
                record.id,
                exc_info=True,
            )
            self.inflight.count("callback_failed")
            if outcome is not None:
                self.complete(record, outcome.result, outcome.error)
                return True
            return False
        return True

    def complete(
        self, record: OpRecord, result: Any, error: BaseException | None
    ) -> None:
        """Resolve the op's future, tell its `reply_to`, free its slot; never raises."""
        future = record.future
        if future is None or future.finished():
            return
        if error is not None:
            logger.debug(
                "op %d %s failed: %r",
                record.id,
                record.type and record.type.value,
                error,
            )
        if record.reply_to is not None and not reply(record, result, error):
            self.dead_replies.note(record.id, record.reply_to)  # told once, counted
        # Free the slot first, so code woken by the future can submit at once;
        # flush() still waits until the future and its callbacks are done.
        try:
            self._admit(self.inflight.release([record]))
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)
        except BaseException:
            logger.error("op %d: a done callback failed", record.id, exc_info=True)
        finally:
            # Even if a done callback raised: the op is finished.
            self._admit(self.inflight.remove([record], failed=error is not None))
        if _metrics.recording:
            _metrics.op_ended(record, error)

    # -- queueing -------------------------------------------------------------------

    def dispatch(self, record: OpRecord) -> None:
        """Queue an admitted op (again) at its owner; failing that, end it.

        A retry keeps its number while its outcome is unknown, else takes a
        new one (`actors._exactly_once`). Never raises: whatever keeps the op
        from its owner (the store closing, a remote owner that cannot be
        found) becomes its error.
        """
        try:
            if record.state is not None:
                self.session.before_retry(record)
            self._transport.put(record)
        except BaseException as exc:  # noqa: BLE001 - the op ends with it
            self.complete(record, None, exc)

    def _admit(self, admitted: list[OpRecord]) -> None:
        """Queue the parked ops that were given a slot, in order."""
        if not admitted:
            return
        try:
            for record in admitted:
                hook = record.on_admitted
                try:
                    if hook is not None:
                        hook(record)
                    else:
                        self.dispatch(record)
                except BaseException:
                    logger.error("admitting op %d failed", record.id, exc_info=True)
        finally:
            self.inflight.admitted(len(admitted))

    def track(self) -> OpFuture[Any]:
        """Return a pending future (a flow's run) that `flush()` waits for."""
        run = OpRecord("")  # never queued: it only tracks the flow
        self.inflight.track(run)
        future: OpFuture[Any] = OpFuture(run.id)

        def finished(done: OpFuture[Any]) -> None:
            failed = done.exception(0) is not None
            self._admit(self.inflight.remove([run], failed=failed))

        future.add_completion_callback(finished)
        return future

    # -- retries and dead letters ------------------------------------------------

    def policy_for(self, record: OpRecord) -> RetryPolicy | None:
        """Return the op's narrowest retry policy, if any."""
        return self.policies.for_op(record)

    def _ask_handler(self, record: OpRecord, error: BaseException) -> None:
        callback = record.callback
        assert isinstance(callback, RetryCallback)
        self.run_handler(
            record,
            lambda: callback.exception(error),
            error,
            lambda e: self.complete(record, None, e),
        )

    def run_handler(
        self,
        record: OpRecord,
        call: Callable[[], object],
        error: BaseException,
        undecided: Callable[[BaseException], object],
        *,
        cut_short: bool = False,
    ) -> None:
        """Run a RetryCallback hook for an op (which failed with `error`) in an
        attempt of its own.

        If the hook neither retried, gave up nor failed the op, `undecided`
        ends it: with `error`, or with the hook's own exception if it raised
        first (chained to `error`). A hook that raised after deciding is logged.
        """
        attempt = StoreAttempt(self, record, cut_short=cut_short)
        try:
            with handling(attempt):
                call()
        except BaseException as exc:
            if not attempt.decided:
                exc.__context__ = error
                undecided(exc)
                return
            logger.error("op %d: retry handler failed", record.id, exc_info=True)
        if not attempt.decided:
            undecided(error)

    def schedule_retry(
        self, record: OpRecord, delay: float, fn: Callable[[], object]
    ) -> None:
        """Run `fn` (a retry of the op) after `delay` on the timer; if the store
        closes first, dead-letter the op as cut short instead."""
        self.inflight.count("retried")
        if _metrics.recording:
            _metrics.retried(record.type)
        state = record.state
        assert state is not None  # a retry follows a failed attempt
        logger.debug(
            "op %d: attempt %d failed; retry in %.3f s",
            record.id,
            state.attempts,
            delay,
        )

        def at_close() -> None:
            error = state.last_error or StoreClosedError("store")
            callback = record.callback
            if not isinstance(callback, RetryCallback):
                self.dead_letter(record, error, cut_short=True)
                return
            # The handler's own dead() decides, as when its policy gives up;
            # if it decides nothing, the op is dead-lettered all the same.
            self.run_handler(
                record,
                lambda: callback.dead(error),
                error,
                lambda _: self.dead_letter(record, error, cut_short=True),
                cut_short=True,
            )

        self.scheduler.call_later(delay, fn, on_close=at_close)

    def dead_letter(
        self, record: OpRecord, error: BaseException, *, cut_short: bool = False
    ) -> None:
        """Park the op in the dead letters, then fail its future with the final
        error (see `LetterParking.give_up`)."""
        callback = record.callback
        policy = (callback.policy if isinstance(callback, RetryCallback) else None) or (
            self.policies.for_op(record) or DEFAULT_POLICY
        )
        self.parking.give_up(
            record, error, policy, self._end_given_up, cut_short=cut_short
        )

    def _end_given_up(self, record: OpRecord, final: BaseException) -> None:
        told = self._style(record).told(record, final)
        self.complete(record, None, keep_letter_named(told, final))
