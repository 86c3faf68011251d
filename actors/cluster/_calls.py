"""Calls to the cluster's owners that are not ops: each waits, with a deadline.

A call's own error is raised as itself; an owner that does not answer in
time, or is gone, is `OwnerUnavailableError` (or what `translate_call_error`
makes of Ray's error). Once this process has disconnected from Ray nothing
is called: touching Ray then would start a new local session.
"""

from __future__ import annotations

from typing import Any

import ray
import ray.exceptions

from actorstore.cluster._errors import OwnerUnavailableError, translate_call_error

__all__ = ["BACKUP_TIMEOUT", "CALL_TIMEOUT", "DIRECTORY_CALLS", "call", "wait"]

CALL_TIMEOUT = 60.0
"""Seconds a call that is not an op (create a table, stats, sync) waits."""

BACKUP_TIMEOUT = 3600.0
"""Seconds `backup()` waits for a node's copy (a large store takes long)."""

DIRECTORY_CALLS = "__directory__"
"""The label calls to the directory owner (dead letters) go under."""


def call(
    method: Any, *args: Any, label: str, timeout: float = CALL_TIMEOUT, **kwargs: Any
) -> Any:
    """Call remote `method` with `args` and wait for its result; raise its own
    error, or the owner's failure.

    Once this process has disconnected from Ray, nothing is called (touching
    Ray then would start a new local session): the owner is unavailable.
    """
    if not ray.is_initialized():
        raise OwnerUnavailableError(
            label=label, reason="this client has disconnected from Ray"
        )
    return wait(method.remote(*args, **kwargs), label=label, timeout=timeout)


def wait(ref: Any, *, label: str, timeout: float = CALL_TIMEOUT) -> Any:
    """Wait for the result of a call made (`ref`); raise its own error, or the
    owner's failure."""
    try:
        return ray.get(ref, timeout=timeout)
    except ray.exceptions.RayTaskError as exc:
        cause = exc.cause
        if isinstance(cause, BaseException):
            raise cause from None
        raise
    except ray.exceptions.GetTimeoutError as exc:
        raise OwnerUnavailableError(
            label=label, reason=f"no answer within {timeout} s"
        ) from exc
    except ray.exceptions.RayActorError as exc:
        raise translate_call_error(exc, label=label) from exc
