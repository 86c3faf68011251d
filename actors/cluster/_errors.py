"""Errors of a call to a remote owner, and how Ray's failures map onto them.

```
StoreError
  TransientError
    OwnerUnavailableError   the call never reached its owner: nothing ran
  OutcomeUnknownError       the call was sent, the owner died: ops may have committed
    OwnerLostError          ... for an op sent again with its number (every op
                            but a compaction): a TransientError, retried
```
The classes live in `actors.errors` (the store's outcomes must know them
without importing ray); this module maps Ray's failures onto them.

Owners run with `max_restarts=-1, max_task_retries=0`, so Ray runs a call
at most once and reports every failure of an owner as
`ray.exceptions.ActorUnavailableError` (a `RayActorError`), whether or not
the call ran; `ActorDiedError` only once an owner is stopped for good. The
one case Ray guarantees nothing ran is a zero-retry call it failed on the
caller's side because it knew the owner was restarting ("The actor is
restarting."), so only that case is `OwnerUnavailableError`; everything
else is `OutcomeUnknownError`. Ray exposes no field for this, only the
message; `tests/cluster` pins it against a real cluster, so a Ray upgrade
that rewords it fails there rather than silently re-running writes.
"""

from __future__ import annotations

import ray.exceptions

from actorstore.errors import OutcomeUnknownError, OwnerLostError, OwnerUnavailableError

__all__ = [
    "OutcomeUnknownError",
    "OwnerLostError",
    "OwnerUnavailableError",
    "translate_call_error",
]

_NEVER_SENT = "The actor is restarting."
"""What Ray's actor task submitter says when it fails a zero-retry call locally."""


def translate_call_error(
    error: BaseException, *, label: str, idempotent: bool = False
) -> BaseException:
    """Return the store error for Ray's failure `error` of a call to owner `label`.

    A call Ray never sent is `OwnerUnavailableError`; one whose owner died
    after it was sent is `OutcomeUnknownError`, or `OwnerLostError` (which
    policies retry) for an op that is safe to send again: `idempotent`, or
    (exactly once) answered from its owner's records if it committed.
    Anything that is not an owner failure (an op's own error, a timeout of
    the caller's wait) is returned unchanged.
    """
    if not isinstance(error, ray.exceptions.RayActorError):
        return error
    reason = type(error).__name__
    if isinstance(error, ray.exceptions.ActorUnavailableError) and _NEVER_SENT in str(
        error
    ):
        return OwnerUnavailableError(label=label, reason=reason)
    if idempotent:
        return OwnerLostError(label=label, reason=reason)
    return OutcomeUnknownError(label=label, reason=reason)
