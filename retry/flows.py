"""Flow: staged callback flows (`update1Prepare`, `update2Compose`, ...)."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from actorstore.retry._dead_letters import DeadLetterTable, give_up_error, park_then
from actorstore.retry._letters import DeadLetter
from actorstore.retry.policy import DEFAULT_POLICY, RetryPolicy
from actorstore.retry.state import AttemptState
from actorstore.storage import InvalidInputError, InvalidOptionError, StoreClosedError

if TYPE_CHECKING:
    from actorstore.retry.host import FutureLike, PendingFuture, RetryHost

__all__ = ["Flow", "Next"]

logger = logging.getLogger(__name__)


class Next:
    """What a stage returns to hand on to the next stage: `Next(request, *state)`.

    `request` is the future of a store request (the next stage runs with its
    result once it is done) or a plain value (handed on at once); `state` is
    passed after it. A stage may also return a bare future, or the tuple
    `(future, *state)`; anything else, tuples included, ends the flow whole.
    """

    __slots__ = ("request", "state")

    def __init__(self, request: Any, *state: Any) -> None:
        self.request = request
        self.state = state

    def __repr__(self) -> str:
        return f"Next({self.request!r}, *{self.state!r})"


class Flow:
    """Run a staged flow: methods `<flow><N><Stage>` in order of N.

    A stage hands on with `Next(request, *state)`, a bare future of a store
    request, or the tuple `(future, *state)`; the next stage is called with
    `(result, *state)`. Any other value, tuples included, ends the flow with
    that value. A small bridge callback links each request to the next
    stage, hopping off the worker onto the store's scheduler, so no thread
    waits between stages. A failing stage (it raised anything, or its
    request failed) is re-run after the policy's delay; when the policy
    gives up, the flow is dead-lettered with its flow and stage names and
    its future fails. Besides the op methods its stages call, the flow uses
    only its store's `RetryHost`, which it finds behind `store.dead_letters`
    (the retry layer's own view of the store).
    """

    policy: RetryPolicy | None = None
    """The flow's retry policy; None uses the store's, else the default."""

    def __init__(self, store: Any, *, policy: RetryPolicy | None = None) -> None:
        """Bind the flow to `store`, whose op methods its stages call.

        Raises:
            InvalidOptionError: if `policy` is not a `RetryPolicy`, or `store`
                is not a store (it has no `dead_letters`).
        """
        if policy is not None and not isinstance(policy, RetryPolicy):
            raise InvalidOptionError(
                f"policy must be an actorstore.RetryPolicy, not {type(policy).__name__}"
            )
        letters = getattr(store, "dead_letters", None)
        if not isinstance(letters, DeadLetterTable):
            raise InvalidOptionError(
                f"a flow needs a store (actorstore.open_store()), not "
                f"{type(store).__name__}: it has no dead_letters"
            )
        host = letters.host
        self.store = store
        self.host: RetryHost = host
        if policy is not None:
            self.policy = policy

    def stages(self, flow: str) -> list[Callable[..., Any]]:
        """Return the stage methods of `flow`, in order of their number.

        Raises:
            InvalidInputError: if the class has no stage of that flow.
        """
        pattern = re.compile(rf"{re.escape(flow)}(\d+)[A-Z]\w*")
        found = sorted(
            (int(match.group(1)), name)
            for name in dir(type(self))
            if (match := pattern.fullmatch(name))
        )
        if not found:
            raise InvalidInputError(
                f"{type(self).__name__} has no stages of flow {flow!r}; name them "
                f"{flow}1Prepare, {flow}2Compose, ..."
            )
        return [getattr(self, name) for _, name in found]

    def start(self, flow: str, *args: Any) -> PendingFuture:
        """Run flow `flow` from its first stage with `args`; return its future.

        The first stage runs on the calling thread; later stages run on the
        store's scheduler thread as their requests complete. `store.flush()`
        waits for the flow to end.

        Raises:
            InvalidInputError: if there is no such flow.
            StoreClosedError: if the store is closing or closed.
        """
        stages = self.stages(flow)
        policy = self.policy or self.host.policy or DEFAULT_POLICY
        run = _FlowRun(self.host, flow, stages, policy, self.host.track())
        run.run_stage(0, args, run.new_state())
        return run.future


class _FlowRun:
    """One run of a flow: which stage, with what, how it has fared."""

    def __init__(
        self,
        host: RetryHost,
        flow: str,
        stages: list[Callable[..., Any]],
        policy: RetryPolicy,
        future: PendingFuture,
    ) -> None:
        self.host = host
        self.flow = flow
        self.stages = stages
        self.policy = policy
        self.future = future
        self.started = time.monotonic()
        self.first_failed_at: float | None = None

    def new_state(self) -> AttemptState:
        """Return the attempt state of a stage about to run for the first time."""
        return AttemptState(self.started, first_failed_at=self.first_failed_at)

    def finish(self, result: Any) -> None:
        if not self.future.done():
            self.future.set_result(result)

    def run_stage(self, index: int, args: tuple[Any, ...], state: AttemptState) -> None:
        try:
            returned = self.stages[index](*args)
        except BaseException as exc:  # noqa: BLE001 - user code fails its flow only
            self.stage_failed(index, args, state, exc)
            return
        if isinstance(returned, Next):
            request, carried = returned.request, returned.state
        elif _is_future(returned):
            request, carried = returned, ()
        elif isinstance(returned, tuple) and returned and _is_future(returned[0]):
            request, carried = returned[0], tuple(returned[1:])
        else:
            self.finish(returned)
            return
        last = index == len(self.stages) - 1
        if not _is_future(request):
            if last:
                self.finish(request)
            else:
                self.run_stage(index + 1, (request, *carried), self.new_state())
            return

        def bridge(done: FutureLike[Any]) -> None:
            # Runs on the worker that finished the request: hop off it at once.
            self.host.schedule(
                0,
                lambda: self.after_request(index, args, state, done, carried),
                lambda: self.after_request(
                    index, args, state, done, carried, closing=True
                ),
            )

        request.add_completion_callback(bridge)

    def after_request(
        self,
        index: int,
        args: tuple[Any, ...],
        state: AttemptState,
        done: FutureLike[Any],
        carried: tuple[Any, ...],
        *,
        closing: bool = False,
    ) -> None:
        """Go on after stage `index`'s request; if `closing`, park instead."""
        error = done.exception(0)
        if error is not None:
            if closing:
                # No retry can run now: if the policy would have retried,
                # the error says close() cut its retries short.
                state.failed(error)
                retried = self.retry_delay(state, error) is not None
                self.give_up(index, args, state, cut_short=retried)
            else:
                self.stage_failed(index, args, state, error)
        elif index == len(self.stages) - 1:
            self.finish(done.get(0))
        elif closing:
            # The store closed before the next stage could run: park that one.
            following = self.new_state()
            following.failed(StoreClosedError("store"))
            self.give_up(index + 1, (done.get(0), *carried), following)
        else:
            self.run_stage(index + 1, (done.get(0), *carried), self.new_state())

    def stage_failed(
        self,
        index: int,
        args: tuple[Any, ...],
        state: AttemptState,
        error: BaseException,
    ) -> None:
        state.failed(error)
        delay = self.retry_delay(state, error)
        if delay is None:
            self.give_up(index, args, state)
            return
        logger.debug(
            "flow %s stage %s failed; retry in %.3f s",
            self.flow,
            self.stages[index].__name__,
            delay,
        )
        self.host.schedule(
            delay,
            lambda: self.run_stage(index, args, state),
            lambda: self.give_up(index, args, state, cut_short=True),
        )

    def retry_delay(self, state: AttemptState, error: BaseException) -> float | None:
        """Return the policy's delay before the next attempt (None: give up).

        A policy that raises gives up, with its failure as the last error.
        """
        self.first_failed_at = state.first_failed_at
        try:
            return self.policy.next_delay_for(state)
        except BaseException as exc:  # a user policy's bug fails its flow
            logger.error("flow %s: retry policy failed", self.flow, exc_info=True)
            exc.__context__ = error
            state.last_error = exc
            return None

    def give_up(
        self,
        index: int,
        args: tuple[Any, ...],
        state: AttemptState,
        *,
        cut_short: bool = False,
    ) -> None:
        stage = self.stages[index].__name__
        letter = DeadLetter.new(
            op_type="flow",
            table="",
            key=self.flow,
            value=list(args),
            state=state,
            flow=self.flow,
            stage=stage,
        )
        error = state.last_error
        assert error is not None  # a stage is given up on only after it failed
        logger.warning("flow %s dead-lettered at stage %s: %r", self.flow, stage, error)

        def parked(problem: BaseException | None, where: str | None) -> None:
            if not self.future.done():
                self.future.set_exception(
                    give_up_error(
                        state,
                        letter,
                        problem,
                        self.policy,
                        where=where,
                        cut_short=cut_short,
                    )
                )

        park_then(self.host.park, letter, parked)


def _is_future(obj: object) -> bool:
    """Whether a stage returned the future of a store request."""
    return callable(getattr(obj, "add_completion_callback", None)) and callable(
        getattr(obj, "get", None)
    )
