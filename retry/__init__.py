"""actorstore's retry framework: policies, callbacks, scheduling, dead letters.

It talks to whatever hosts it through `RetryHost` (schedule, park, submit),
so it runs without actors; what only a host calls (handing a letter to the
dead-letter hook, making an attempt current, the timer's own checks) is
plumbing, in private modules that the layer above imports by module path.
"""

import logging as _logging

from actorstore.retry._attempts import RetryAttempt, current_attempt
from actorstore.retry._callbacks import (
    AsyncCallback,
    Callback,
    CallbackLike,
    RetryCallback,
)
from actorstore.retry._dead_letters import DeadLetterTable
from actorstore.retry._letters import DEAD_LETTER_TABLE, DeadLetter, DeadLetterHook
from actorstore.retry._scheduler import Scheduler
from actorstore.retry._triage import DeadLetterSummary, ReplayReport
from actorstore.retry.errors import RetriesExhaustedError, UnknownDeadLetterError
from actorstore.retry.flows import Flow, Next
from actorstore.retry.host import FutureLike, PendingFuture, RetryHost
from actorstore.retry.policy import DEFAULT_POLICY, RetryPolicy
from actorstore.retry.state import AttemptState

__all__ = [
    "DEAD_LETTER_TABLE",
    "DEFAULT_POLICY",
    "AsyncCallback",
    "AttemptState",
    "Callback",
    "CallbackLike",
    "DeadLetter",
    "DeadLetterHook",
    "DeadLetterSummary",
    "DeadLetterTable",
    "Flow",
    "FutureLike",
    "Next",
    "PendingFuture",
    "ReplayReport",
    "RetriesExhaustedError",
    "RetryAttempt",
    "RetryCallback",
    "RetryHost",
    "RetryPolicy",
    "Scheduler",
    "UnknownDeadLetterError",
    "current_attempt",
]

_logging.getLogger(__name__).addHandler(_logging.NullHandler())
