"""Flow: staged callback flows (`update1Prepare`, `update2Compose`, ...)."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any, Protocol

from retry.dead_letters import DeadLetter, park_then
from retry.errors import RetriesExhaustedError
from retry.policy import DEFAULT_POLICY, RetryPolicy
from storage import InvalidInputError, InvalidOptionError, StoreClosedError

__all__ = ["Flow", "FlowFuture", "FlowStore"]

logger = logging.getLogger(__name__)


class FlowFuture(Protocol):
    """What a flow needs of a future: completion and a done callback."""

    def done(self) -> bool:
        """Whether it is done."""
        ...

    def get(self, timeout: float | None = None) -> Any:
        """Return the result or raise the error."""
        ...

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """Return the error, or None."""
        ...

    def set_result(self, result: Any) -> None:
        """Complete with a result."""
        ...

    def set_exception(self, error: BaseException) -> None:
        """Complete with an error."""
        ...

    def add_done_callback(self, fn: Callable[[Any], object]) -> None:
        """Call `fn(future)` once done."""
        ...


class FlowStore(Protocol):
    """What a flow needs of its store besides the op methods its stages call."""

    retry: RetryPolicy | None

    def _new_future(self) -> FlowFuture:
        """Return a new, pending future."""
        ...

    def _schedule(
        self, delay: float, fn: Callable[[], object], on_close: Callable[[], object]
    ) -> None: ...

    def _park(self, letter: DeadLetter) -> FlowFuture: ...


class Flow:
    """Run a staged flow: methods `<flow><N><Stage>` in order of N.

    A stage returns a plain value (the flow ends with it), a future of a store
    request, or a tuple `(future or value, *state)`; the next stage is called
    with `(result, *state)`. A small bridge callback links each request to
    the next stage, hopping off the worker onto the store's scheduler, so no
    thread waits between stages. A failing stage (it raised, or its request
    failed) is re-run after the policy's delay; when the policy gives up the
    flow is dead-lettered with its flow and stage names and its future fails.
    """

    policy: RetryPolicy | None = None
    """The flow's retry policy; None uses the store's, else the default."""

    def __init__(self, store: Any, *, policy: RetryPolicy | None = None) -> None:
        if policy is not None and not isinstance(policy, RetryPolicy):
            raise InvalidOptionError(
                f"policy must be a retry.RetryPolicy, not {type(policy).__name__}"
            )
        self.store = store
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

    def start(self, flow: str, *args: Any) -> FlowFuture:
        """Run flow `flow` from its first stage with `args`; return its future.

        The first stage runs on the calling thread; later stages run on the
        store's scheduler thread as their requests complete.

        Raises:
            InvalidInputError: if there is no such flow.
        """
        stages = self.stages(flow)
        host: FlowStore = self.store
        policy = self.policy or host.retry or DEFAULT_POLICY
        run = _FlowRun(host, flow, stages, policy, host._new_future())
        run.run_stage(0, args, 1)
        return run.future


class _FlowRun:
    """One run of a flow: which stage, with what, how many attempts."""

    def __init__(
        self,
        host: FlowStore,
        flow: str,
        stages: list[Callable[..., Any]],
        policy: RetryPolicy,
        future: FlowFuture,
    ) -> None:
        self.host = host
        self.flow = flow
        self.stages = stages
        self.policy = policy
        self.future = future
        self.started = time.monotonic()
        self.first_failed_at: float | None = None

    def run_stage(self, index: int, args: tuple[Any, ...], attempt: int) -> None:
        try:
            returned = self.stages[index](*args)
        except Exception as exc:  # noqa: BLE001 - a failed stage is retried or parked
            self.stage_failed(index, args, attempt, exc)
            return
        last = index == len(self.stages) - 1
        if isinstance(returned, tuple) and returned:
            request, state = returned[0], tuple(returned[1:])
        elif _is_future(returned):
            request, state = returned, ()
        else:
            self.future.set_result(returned)
            return
        if not _is_future(request):
            if last:
                self.future.set_result(request)
            else:
                self.run_stage(index + 1, (request, *state), 1)
            return

        def bridge(done: FlowFuture) -> None:
            # Runs on the worker that finished the request: hop off it at once.
            self.host._schedule(
                0,
                lambda: self.after_request(index, args, attempt, done, state),
                lambda: self.after_request(
                    index, args, attempt, done, state, closing=True
                ),
            )

        request.add_done_callback(bridge)

    def after_request(
        self,
        index: int,
        args: tuple[Any, ...],
        attempt: int,
        done: FlowFuture,
        state: tuple[Any, ...],
        *,
        closing: bool = False,
    ) -> None:
        """Go on after stage `index`'s request; if `closing`, park instead."""
        error = done.exception(0)
        if error is not None:
            if closing:
                self.give_up(index, args, attempt, error)
            else:
                self.stage_failed(index, args, attempt, error)
        elif index == len(self.stages) - 1:
            self.future.set_result(done.get(0))
        elif closing:
            # The store closed before the next stage could run: park that one.
            closed = StoreClosedError("store")
            self.give_up(index + 1, (done.get(0), *state), 1, closed)
        else:
            self.run_stage(index + 1, (done.get(0), *state), 1)

    def stage_failed(
        self, index: int, args: tuple[Any, ...], attempt: int, error: BaseException
    ) -> None:
        self.first_failed_at = self.first_failed_at or time.time()
        elapsed = time.monotonic() - self.started
        delay = self.policy.next_delay(error, attempt, elapsed=elapsed)
        stage = self.stages[index].__name__
        if delay is None:
            self.give_up(index, args, attempt, error)
            return
        logger.debug(
            "flow %s stage %s failed; retry in %.3f s", self.flow, stage, delay
        )
        self.host._schedule(
            delay,
            lambda: self.run_stage(index, args, attempt + 1),
            lambda: self.give_up(index, args, attempt, error),
        )

    def give_up(
        self, index: int, args: tuple[Any, ...], attempt: int, error: BaseException
    ) -> None:
        stage = self.stages[index].__name__
        letter = DeadLetter.new(
            op_type="flow",
            table="",
            key=self.flow,
            value=list(args),
            error=error,
            attempts=attempt,
            first_failed_at=self.first_failed_at,
            flow=self.flow,
            stage=stage,
        )
        logger.warning("flow %s dead-lettered at stage %s: %r", self.flow, stage, error)
        final: BaseException = error
        if self.policy.is_retryable(error):
            final = RetriesExhaustedError(attempts=attempt, last_error=error)

        def parked(_: bool) -> None:
            if not self.future.done():
                self.future.set_exception(final)

        park_then(self.host._park, letter, final, parked)


def _is_future(obj: object) -> bool:
    return callable(getattr(obj, "add_done_callback", None)) and callable(
        getattr(obj, "get", None)
    )
