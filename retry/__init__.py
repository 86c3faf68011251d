"""actorstore's retry framework: policies, callbacks, scheduling, dead letters."""

import logging as _logging

from retry.attempts import Attempt, current_attempt, handling
from retry.callbacks import (
    AsyncCallback,
    Callback,
    CallbackLike,
    FunctionCallback,
    RetryCallback,
    as_callback,
)
from retry.dead_letters import DeadLetters, give_up_error, park_then
from retry.errors import RetriesExhaustedError, UnknownDeadLetterError
from retry.flows import Flow, Next
from retry.host import FutureLike, PendingFuture, RetryHost
from retry.letters import DEAD_LETTER_TABLE, DeadLetter, DeadLetterHook
from retry.policy import DEFAULT_POLICY, RetryPolicy
from retry.scheduler import ScheduledCall, Scheduler, on_timer_thread
from retry.state import AttemptState

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
