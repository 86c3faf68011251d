"""Tests for actors/_decide.py: what happens after an attempt, as plain data.

The grid is callback style x where callbacks run x outcome x policy; no
store, no LMDB, no threads: `decide()` is a pure function, tested the way
tenacity tests its strategies, over a built attempt state.
"""

from __future__ import annotations

import itertools

import pytest

from actorstore import KeyExistsError, OutcomeUnknownError, StoreBusyError
from actorstore._decide import (
    Action,
    CallbackSite,
    CallbackStyle,
    Decision,
    Ending,
    decide,
)
from actorstore.retry import AttemptState, RetryPolicy
from actorstore.storage import OpType

STYLES = list(CallbackStyle)
SITES = list(CallbackSite)
POLICY = RetryPolicy(max_attempts=3, initial_wait=0.01, multiplier=2.0)


def failed(attempts: int, error: BaseException) -> AttemptState:
    """Return the attempt state of an op whose `attempts` attempts all failed."""
    state = AttemptState(0.0)
    for _ in range(attempts):
        state.failed(error)
    return state


def ending(
    style: CallbackStyle,
    site: CallbackSite,
    error: BaseException | None = None,
    *,
    attempts: int = 1,
    policy: RetryPolicy | None = POLICY,
    op_type: OpType = OpType.UPSERT,
    **more: object,
) -> Ending:
    state = failed(attempts, error) if error is not None else None
    return Ending(style, site, op_type, error, policy, state, **more)  # type: ignore[arg-type]


@pytest.mark.parametrize(("style", "site"), list(itertools.product(STYLES, SITES)))
def test_a_success_completes_or_runs_its_callback_after_commit(
    style: CallbackStyle, site: CallbackSite
) -> None:
    decision = decide(ending(style, site))

    if style is CallbackStyle.NONE or site is CallbackSite.IN_TXN:
        # In the transaction the callback already ran, before the commit.
        assert decision == Decision(Action.COMPLETE)
    else:
        assert decision.action is Action.RUN_CALLBACK
        assert decision.on_executor is (site is CallbackSite.EXECUTOR)


@pytest.mark.parametrize("style", [s for s in STYLES if s is not CallbackStyle.NONE])
def test_a_compaction_runs_its_callback_after_it_even_in_transactions(
    style: CallbackStyle,
) -> None:
    decision = decide(ending(style, CallbackSite.IN_TXN, op_type=OpType.COMPACT))

    assert decision.action is Action.RUN_CALLBACK


@pytest.mark.parametrize("site", SITES)
def test_a_retry_callback_decides_every_failure_itself(site: CallbackSite) -> None:
    for error in (
        StoreBusyError("the store is busy"),
        KeyExistsError(table="t", key="k"),
    ):
        decision = decide(ending(CallbackStyle.RETRY, site, error, attempts=9))

        assert decision.action is Action.ASK_HANDLER
        assert decision.on_executor is (site is CallbackSite.EXECUTOR)


@pytest.mark.parametrize(
    ("style", "site"),
    list(itertools.product([s for s in STYLES if s is not CallbackStyle.RETRY], SITES)),
)
def test_a_transient_failure_is_retried_after_the_policy_s_delay(
    style: CallbackStyle, site: CallbackSite
) -> None:
    busy = StoreBusyError("the store is busy")

    first = decide(ending(style, site, busy, attempts=1))
    second = decide(ending(style, site, busy, attempts=2))

    assert (first.action, first.delay) == (Action.RETRY, pytest.approx(0.01))
    assert (second.action, second.delay) == (Action.RETRY, pytest.approx(0.02))
    assert first.notify_first is (style is CallbackStyle.NOTIFY)


@pytest.mark.parametrize("has_hook", [False, True])
def test_a_policy_that_gives_up_dead_letters_or_hands_to_the_hook(
    has_hook: bool,
) -> None:
    busy = StoreBusyError("the store is busy")

    decision = decide(
        ending(
            CallbackStyle.CALLBACK,
            CallbackSite.IN_TXN,
            busy,
            attempts=3,
            has_hook=has_hook,
        )
    )

    assert decision.action is (Action.HAND_TO_HOOK if has_hook else Action.DEAD_LETTER)


@pytest.mark.parametrize(("style", "site"), list(itertools.product(STYLES, SITES)))
def test_a_permanent_failure_completes_the_op_with_its_error(
    style: CallbackStyle, site: CallbackSite
) -> None:
    exists = KeyExistsError(table="t", key="k")

    decision = decide(ending(style, site, exists))

    if style is CallbackStyle.RETRY:
        assert decision.action is Action.ASK_HANDLER
    else:
        assert decision.action is Action.COMPLETE
        assert decision.on_executor is (site is CallbackSite.EXECUTOR)


def test_without_a_policy_a_failure_completes_but_an_unknown_outcome_is_parked() -> (
    None
):
    busy, unknown = StoreBusyError("the store is busy"), OutcomeUnknownError(label="a")

    plain = decide(
        ending(CallbackStyle.NONE, CallbackSite.AFTER_COMMIT, busy, policy=None)
    )
    lost = decide(
        ending(CallbackStyle.NONE, CallbackSite.AFTER_COMMIT, unknown, policy=None)
    )

    assert plain.action is Action.COMPLETE
    assert lost.action is Action.DEAD_LETTER


def test_an_op_on_the_dead_letter_table_is_never_dead_lettered_nor_retried() -> None:
    busy = StoreBusyError("the store is busy")

    decision = decide(
        ending(CallbackStyle.NONE, CallbackSite.IN_TXN, busy, attempts=3, internal=True)
    )

    assert decision.action is Action.COMPLETE


@pytest.mark.parametrize("vetoed", [False, True])
def test_an_async_callback_is_told_of_a_failure_unless_it_vetoed_it(
    vetoed: bool,
) -> None:
    exists = KeyExistsError(table="t", key="k")

    decision = decide(
        ending(CallbackStyle.NOTIFY, CallbackSite.IN_TXN, exists, vetoed=vetoed)
    )

    assert decision.notify_first is not vetoed


def test_a_raising_predicate_propagates_to_the_executor() -> None:
    def boom(error: BaseException) -> bool:
        raise RuntimeError("predicate")

    policy = RetryPolicy(retry_on=boom)

    with pytest.raises(RuntimeError, match="predicate"):
        decide(
            ending(
                CallbackStyle.NONE,
                CallbackSite.IN_TXN,
                StoreBusyError("the store is busy"),
                policy=policy,
            )
        )


def test_decide_changes_nothing_it_reads() -> None:
    busy = StoreBusyError("the store is busy")
    seen = ending(CallbackStyle.CALLBACK, CallbackSite.EXECUTOR, busy, attempts=2)
    before = (seen.state.attempts, seen.state.last_error)  # type: ignore[union-attr]

    assert decide(seen) == decide(seen)
    assert (seen.state.attempts, seen.state.last_error) == before  # type: ignore[union-attr]
