"""actorstore's retry framework: policies, callbacks, scheduling, dead letters."""

import logging as _logging

from retry.callbacks import Callback, CallbackLike, FunctionCallback, as_callback
from retry.errors import RetriesExhaustedError
from retry.policy import DEFAULT_POLICY, RetryPolicy
from retry.scheduler import ScheduledCall, Scheduler

__all__ = [
    "DEFAULT_POLICY",
    "Callback",
    "CallbackLike",
    "FunctionCallback",
    "RetriesExhaustedError",
    "RetryPolicy",
    "ScheduledCall",
    "Scheduler",
    "as_callback",
]

_logging.getLogger(__name__).addHandler(_logging.NullHandler())
