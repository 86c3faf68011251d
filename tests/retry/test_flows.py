"""Tests for retry/flows.py that need no running flow: a `Flow`'s arguments,
its stage discovery, `Next`.

How flows run (stages, hops, retries, dead letters, close) is tested once,
over this package's fake host and over a real store:
tests/actors/retries/test_flows.py (it imports the fakes from fakes.py).
"""

from __future__ import annotations

import pytest

from actorstore.retry import Flow, Next
from actorstore.storage import InvalidInputError, InvalidOptionError

from .fakes import FakeStore
from .flow_samples import Bump, Numbered


def test_stages_are_found_in_numeric_order(store: FakeStore) -> None:
    flow = Numbered(store)
    assert [stage.__name__ for stage in flow.stages("go")] == [
        "go1First",
        "go2Second",
        "go10Last",
    ]
    assert [stage.__name__ for stage in flow.stages("other")] == ["other1Stage"]


def test_an_unknown_flow_is_refused_with_the_naming_rule(store: FakeStore) -> None:
    with pytest.raises(InvalidInputError, match="nope1Prepare, nope2Compose"):
        Bump(store).start("nope")
    with pytest.raises(InvalidInputError, match="no stages of flow 'bump'"):
        Flow(store).start("bump")


def test_a_flow_refuses_a_policy_that_is_not_a_retry_policy(store: FakeStore) -> None:
    with pytest.raises(InvalidOptionError, match=r"actorstore\.RetryPolicy"):
        Bump(store, policy={"max_attempts": 3})  # type: ignore[arg-type]


def test_a_flow_refuses_something_that_is_not_a_store() -> None:
    with pytest.raises(InvalidOptionError, match="object: it has no dead_letters"):
        Flow(object())


def test_next_shows_its_request_and_state() -> None:
    assert repr(Next("r", 1, "s")) == "Next('r', *(1, 's'))"
