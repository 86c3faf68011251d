"""actorstore's retry framework: policies, callbacks, scheduling, dead letters."""

import logging as _logging

from actorstore.retry.attempts import Attempt, current_attempt, handling
from actorstore.retry.callbacks import (
    AsyncCallback,
    Callback,
    CallbackLike,
    FunctionCallback,
    RetryCallback,
    as_callback,
)
from actorstore.retry.dead_letters import DeadLetters, give_up_error, park_then
from actorstore.retry.errors import RetriesExhaustedError, UnknownDeadLetterError
from actorstore.retry.flows import Flow, Next
from actorstore.retry.host import FutureLike, PendingFuture, RetryHost
from actorstore.retry.letters import DEAD_LETTER_TABLE, DeadLetter, DeadLetterHook
from actorstore.retry.policy import DEFAULT_POLICY, RetryPolicy
from actorstore.retry.scheduler import ScheduledCall, Scheduler, on_timer_thread
from actorstore.retry.state import AttemptState

__all__ = [
    "DEAD_LETTER_TABLE",
    "DEFAULT_POLICY",
    "AsyncCallback",
    "Attempt",
    "AttemptState",
    "Callback",
    "CallbackLike",
    "DeadLetter",
    "DeadLetterHook",
    "DeadLetters",
    "Flow",
    "FunctionCallback",
    "FutureLike",
    "Next",
    "PendingFuture",
    "RetriesExhaustedError",
    "RetryCallback",
    "RetryHost",
    "RetryPolicy",
    "ScheduledCall",
    "Scheduler",
    "UnknownDeadLetterError",
    "as_callback",
    "current_attempt",
    "give_up_error",
    "handling",
    "on_timer_thread",
    "park_then",
]

_logging.getLogger(__name__).addHandler(_logging.NullHandler())
