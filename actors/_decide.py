"""decide: what happens to an op once an attempt has ended, as a pure function.

After tenacity's `BaseRetrying.iter`, which turns a `RetryCallState` into
`DoAttempt` or `DoSleep`: `decide()` reads one `Ending` (the op's callback
style, where its callbacks run, the attempt's outcome, its policy and attempt
state) and returns one `Decision`. It changes nothing and calls nothing but
the policy's own strategies, so the whole grid is tested as plain data; the
executor (`_executor.py`) carries each decision out.

```
success ─ callback to run after commit? ──▶ RUN_CALLBACK, else COMPLETE
failure ─ RetryCallback? ─────────────────▶ ASK_HANDLER (its exception() decides)
        ─ no policy / not retryable ───────▶ COMPLETE (an unknown outcome: park it)
        ─ policy has a delay ──────────────▶ RETRY after it
        ─ policy gave up ──────────────────▶ DEAD_LETTER (or HAND_TO_HOOK)
```
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

from actorstore.errors import OutcomeUnknownError
from actorstore.storage import OpType

if TYPE_CHECKING:
    from actorstore.retry import AttemptState, RetryPolicy

__all__ = ["Action", "CallbackSite", "CallbackStyle", "Decision", "Ending", "decide"]


class CallbackStyle(enum.Enum):
    """How an op tells its caller: the styles of `callback=`."""

    NONE = "none"
    FUNCTION = "function"
    """`fn(error, result)`, adapted to a `Callback`."""
    CALLBACK = "callback"
    """A `Callback` object: `callback(result)` / `exception(error)`."""
    RETRY = "retry"
    """A `RetryCallback`: its `exception(error)` decides about a failure."""
    NOTIFY = "notify"
    """An `AsyncCallback`: `notify(op, error, result)`, once per attempt."""


class CallbackSite(enum.Enum):
    """Where an op's callbacks run."""

    IN_TXN = "in the transaction"
    """By the owner, inside the op's transaction: a success's callback already
    ran (and could veto) before the group committed."""
    EXECUTOR = "on the executor"
    """After commit, on the store's `callback_executor`."""
    AFTER_COMMIT = "after commit"
    """After commit, on the thread that reports the group (a remote owner's)."""


class Action(enum.Enum):
    """What the executor does next with an op."""

    COMPLETE = "complete"
    """End the op: its future, its `reply_to`, its slot (a plain `Callback`'s
    `exception()` is told of a failure first)."""
    RUN_CALLBACK = "run callback"
    """Run the success callback after commit, then complete the op."""
    ASK_HANDLER = "ask handler"
    """Hand the failure to the `RetryCallback`'s `exception()`, which retries,
    gives up or fails the op itself."""
    RETRY = "retry"
    """Run the op again after `Decision.delay` seconds, on the store's timer."""
    DEAD_LETTER = "dead-letter"
    """Park the op in the dead-letter table, then fail it with the final error."""
    HAND_TO_HOOK = "hand to hook"
    """Give the op's dead letter to the store's `dead_letter_hook`, then fail it."""


@dataclass(frozen=True, slots=True)
class Ending:
    """An op whose attempt has just ended, as `decide()` reads it.

    `state` already counts the attempt; `vetoed` says an `AsyncCallback`
    rolled the attempt back inside the transaction (it answered already).
    """

    style: CallbackStyle
    site: CallbackSite
    op_type: OpType | None
    error: BaseException | None = None
    policy: RetryPolicy | None = None
    state: AttemptState | None = None
    vetoed: bool = False
    has_hook: bool = False
    internal: bool = False
    """An op on the dead-letter table itself: it is never dead-lettered."""


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with an op: an `Action`, and how."""

    action: Action
    delay: float | None = None
    """Seconds to wait before a `RETRY`."""
    notify_first: bool = False
    """Tell the op's `AsyncCallback` of the failed attempt first."""
    on_executor: bool = False
    """Run the user code of this step on the callback executor."""


COMPLETE = Decision(Action.COMPLETE)


def decide(ending: Ending) -> Decision:
    """Return what happens next to the op of `ending`.

    Raises:
        whatever the op's policy raises (a user predicate): the executor then
        fails the op with it.
    """
    on_executor = ending.site is CallbackSite.EXECUTOR
    style = ending.style
    error = ending.error
    if error is None:
        after_commit = ending.site is not CallbackSite.IN_TXN
        # A compaction runs outside any transaction: its callback runs after it.
        if style is not CallbackStyle.NONE and (
            after_commit or ending.op_type is OpType.COMPACT
        ):
            return Decision(Action.RUN_CALLBACK, on_executor=on_executor)
        return COMPLETE
    notify_first = style is CallbackStyle.NOTIFY and not ending.vetoed
    if style is CallbackStyle.RETRY:
        return Decision(Action.ASK_HANDLER, on_executor=on_executor)
    complete = Decision(
        Action.COMPLETE, notify_first=notify_first, on_executor=on_executor
    )
    if ending.internal:
        return complete
    # An op whose outcome is unknown (its remote owner died mid-call) is
    # parked when it is not retried: it may be lost otherwise.
    unknown = isinstance(error, OutcomeUnknownError)
    policy = ending.policy
    if policy is None or not policy.is_retryable(error):
        return _give_up(ending, notify_first, on_executor) if unknown else complete
    assert ending.state is not None, "a failed op has an attempt state"
    delay = policy.next_delay_for(ending.state)
    if delay is None:
        return _give_up(ending, notify_first, on_executor)
    return Decision(
        Action.RETRY, delay=delay, notify_first=notify_first, on_executor=on_executor
    )


def _give_up(ending: Ending, notify_first: bool, on_executor: bool) -> Decision:
    action = Action.HAND_TO_HOOK if ending.has_hook else Action.DEAD_LETTER
    return Decision(action, notify_first=notify_first, on_executor=on_executor)
