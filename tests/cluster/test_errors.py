"""Ray's failures of a call, mapped to OwnerUnavailableError or OutcomeUnknownError.

The messages below are the ones Ray 2.60 gives (recorded against a real
cluster in `test_failover.py`, which checks the mapping there too).
"""

from __future__ import annotations

import pickle

import pytest
from ray.exceptions import ActorDiedError, ActorUnavailableError, GetTimeoutError

from actorstore.cluster._errors import (
    OutcomeUnknownError,
    OwnerUnavailableError,
    translate_call_error,
)
from actorstore.storage import KeyExistsError, StoreError, TransientError

ACTOR_ID = bytes(16)


def test_a_call_ray_failed_locally_while_the_owner_restarts_never_reached_it() -> None:
    error = ActorUnavailableError(
        "The actor is temporarily unavailable: IOError: The actor is restarting.",
        ACTOR_ID,
    )
    translated = translate_call_error(error, label="a")
    assert isinstance(translated, OwnerUnavailableError)
    assert isinstance(translated, TransientError)
    assert translated.label == "a"
    assert "nothing ran" in str(translated)


@pytest.mark.parametrize(
    "error",
    [
        ActorUnavailableError(
            "The actor is temporarily unavailable: RpcError: RPC error: Socket "
            "closed rpc_code: 14",
            ACTOR_ID,
        ),
        ActorUnavailableError(
            "The actor is temporarily unavailable: IOError: The actor was restarted",
            ACTOR_ID,
        ),
        ActorDiedError(),
    ],
    ids=["socket-closed", "was-restarted", "died"],
)
def test_a_call_whose_owner_failed_after_sending_has_an_unknown_outcome(
    error: BaseException,
) -> None:
    translated = translate_call_error(error, label="b")
    assert isinstance(translated, OutcomeUnknownError)
    assert not isinstance(translated, TransientError)
    assert "may or may not have committed" in str(translated)


@pytest.mark.parametrize(
    "error",
    [KeyExistsError(table="t", key="k"), GetTimeoutError("waited"), ValueError()],
)
def test_anything_else_is_returned_unchanged(error: BaseException) -> None:
    assert translate_call_error(error, label="a") is error


def test_both_errors_are_store_errors() -> None:
    for cls in (OwnerUnavailableError, OutcomeUnknownError):
        error = cls(label="a", reason="why")
        assert isinstance(error, StoreError)
        assert "node 'a'" in str(error)
        assert "why" in str(error)


def test_both_errors_pickle() -> None:
    for cls in (OwnerUnavailableError, OutcomeUnknownError):
        copy = pickle.loads(pickle.dumps(cls(label="a")))
        assert copy.label == "a"
