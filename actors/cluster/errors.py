"""Errors of a call to a remote owner, and how Ray's failures map onto them.

```
StoreError
  TransientError
    OwnerUnavailableError   the call never reached its owner: nothing ran
  OutcomeUnknownError       the call was sent, the owner died: ops may have committed
```

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

from storage import StoreError, TransientError

__all__ = ["OutcomeUnknownError", "OwnerUnavailableError", "translate_call_error"]

_NEVER_SENT = "The actor is restarting."
"""What Ray's actor task submitter says when it fails a zero-retry call locally."""


class OwnerUnavailableError(TransientError):
    """Raised when a call never reached the owner of node `label`: none of it ran."""

    def __init__(self, *, label: str, reason: str = "") -> None:
        super().__init__(
            f"the owner of node {label!r} is unavailable (its node is down or it "
            f"is restarting){': ' + reason if reason else ''}; nothing ran, "
            "retry later or bring the node back"
        )
        self.label = label


class OutcomeUnknownError(StoreError):
    """Raised when the owner of node `label` died after a call was sent to it.

    Each op of the call may or may not have committed: retrying is safe only
    for idempotent ops (upsert, search, exists, count, scan).
    """

    def __init__(self, *, label: str, reason: str = "") -> None:
        super().__init__(
            f"the owner of node {label!r} died after the call was sent"
            f"{': ' + reason if reason else ''}; its ops may or may not have "
            "committed, check the data before writing it again"
        )
        self.label = label


def translate_call_error(error: BaseException, *, label: str) -> BaseException:
    """Return the store error for Ray's failure `error` of a call to owner `label`.

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
    return OutcomeUnknownError(label=label, reason=reason)
