"""actorstore's retry framework: policies, callbacks, scheduling, dead letters."""

import logging as _logging

from retry.attempts import Attempt, current_attempt, handling
from retry.callbacks import (
    Callback,
    CallbackLike,
    FunctionCallback,
    RetryCallback,
    as_callback,
)
from retry.dead_letters import (
    DEAD_LETTER_TABLE,
    DeadLetter,
    DeadLetterHook,
    DeadLetters,
    park_then,
)
from retry.errors import RetriesExhaustedError, UnknownDeadLetterError
from retry.flows import Flow
from retry.policy import DEFAULT_POLICY, RetryPolicy
from retry.scheduler import ScheduledCall, Scheduler, on_timer_thread

__all__ = [
    "DEAD_LETTER_TABLE",
    "DEFAULT_POLICY",
    "Attempt",
    "Callback",
    "CallbackLike",
    "DeadLetter",
    "DeadLetterHook",
    "DeadLetters",
    "Flow",
    "FunctionCallback",
    "RetriesExhaustedError",
    "RetryCallback",
    "RetryPolicy",
    "ScheduledCall",
    "Scheduler",
    "UnknownDeadLetterError",
    "as_callback",
    "current_attempt",
    "handling",
    "on_timer_thread",
    "park_then",
]

_logging.getLogger(__name__).addHandler(_logging.NullHandler())
