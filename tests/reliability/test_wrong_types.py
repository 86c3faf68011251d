"""Every public method, every parameter, a wrong-typed argument: an error from the tree.

The methods are found by introspection (`Store`, the serialized client,
`OpFuture`, `store.dead_letters`, `open_store`, and the `Op` handle's
settable fields), so a new method or parameter is walked too, and a
parameter this file knows nothing of fails the test until it gets a row in
`PARAMETERS`. Each call passes valid values for every other parameter and
one wrong value for the one under test; it must raise an `InvalidInputError`
(the bad-input branch of `StoreError`: `InvalidOptionError`,
`InvalidKeyError`, `EncodeError`, ...), never a bare `TypeError`, and the
store must keep working. The refusal comes at once, except where the
method's result is lazy by design (an iterator, a coroutine): then when it
is first used.
"""

from __future__ import annotations

import asyncio
import inspect
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import actorstore
from actorstore import OpFuture, Store
from actorstore._scan import ScanIterator
from actorstore.op import OP_OPTIONS
from actorstore.retry import DeadLetter, DeadLetterTable
from actorstore.serialized import SerializedClient
from actorstore.storage import InvalidInputError

WAIT = 10.0


@dataclass(frozen=True)
class Parameter:
    """What a parameter of that name takes: one valid value, and wrong ones."""

    valid: Callable[[Env], Any]
    wrong: list[Any]


@dataclass
class Env:
    store: Store
    tmp_path: Path
    letter_id: int = 0
    made: list[Any] = field(default_factory=list)


class NotJson:
    """An object no codec can write."""


def letter(env: Env) -> DeadLetter:
    return env.store.dead_letters.get(env.letter_id, timeout=WAIT)


NAN = math.nan
PARAMETERS: dict[str, Parameter] = {
    # tables and records (table `docs`: str keys, JSON values)
    "table": Parameter(lambda env: "docs", [5, b"docs", ["docs"], 2.5]),
    "name": Parameter(lambda env: "fresh", [7, b"fresh", None, ("a",)]),
    "key": Parameter(lambda env: "k", [5, None, NotJson(), b"k"]),
    "value": Parameter(lambda env: {"v": 1}, [NotJson(), {1: 2}, {"x": {1, 2}}, NAN]),
    "writes": Parameter(
        lambda env: [("upsert", "w", 1)], [5, "upsert", [5], None, [("upsert",)]]
    ),
    "prefix": Parameter(lambda env: "k", [5, NotJson(), b"k"]),
    "start": Parameter(lambda env: "a", [5, NotJson(), b"a"]),
    "end": Parameter(lambda env: "z", [5, NotJson(), b"z"]),
    "limit": Parameter(lambda env: 10, ["3", 1.5, True, NAN, -1]),
    "reverse": Parameter(lambda env: False, ["no", 1, 0, None, "False"]),
    "page_size": Parameter(lambda env: 10, ["10", 0.5, True, 0, None]),
    # tables' settings
    "key_format": Parameter(lambda env: "str", [5, None, "yaml", b"str"]),
    "value_format": Parameter(lambda env: "json", [5, None, "yaml", b"json"]),
    "durability": Parameter(
        lambda env: actorstore.Durability.SYNC, [5, "sometimes", True, NotJson()]
    ),
    "retry": Parameter(
        lambda env: actorstore.RetryPolicy(max_attempts=2),
        [{"max_attempts": 3}, 3, "fast", True],
    ),
    "exist_ok": Parameter(lambda env: True, ["yes", 1, None, 0.0]),
    # op options
    "callback": Parameter(lambda env: None, [42, "print", NotJson()]),
    "reply_to": Parameter(lambda env: None, ["me", 5, NotJson()]),
    "wait": Parameter(lambda env: True, ["yes", 1, 0]),
    "wait_timeout": Parameter(lambda env: 5.0, ["5", NAN, -1, True, [5]]),
    # waiting
    "timeout": Parameter(lambda env: WAIT, ["5", NAN, -1, True, [5], -math.inf]),
    # futures
    "fn": Parameter(lambda env: lambda future: None, [5, "f", None]),
    "context": Parameter(lambda env: None, ["ctx", 5]),
    # dead letters
    "ids": Parameter(lambda env: [env.letter_id], [5, "12", [1.5], ["a"], [True]]),
    "letter_id": Parameter(lambda env: env.letter_id, ["x", 1.5, None, True]),
    "letter": Parameter(letter, [5, {}, "letter", None]),
    # dead-letter filters (each takes one value) and replay's pace
    "op": Parameter(lambda env: "upsert", [5, "upsret", b"upsert", ["upsert"]]),
    "error": Parameter(
        lambda env: "StoreBusyError", [5, "no such class!", int, ["StoreBusyError"]]
    ),
    "since": Parameter(lambda env: 0.0, ["yesterday", NAN, True, [1.0]]),
    "until": Parameter(lambda env: math.inf, ["tomorrow", NAN, True, [1.0]]),
    "per_second": Parameter(lambda env: None, ["5", 0, -1, NAN, math.inf, True]),
    # backup
    "dest": Parameter(lambda env: env.tmp_path / "backup", [5, None, "bad\x00path"]),
    "compact": Parameter(lambda env: True, ["yes", 1, None]),
    "progress": Parameter(lambda env: None, [5, "print"]),
    # open_store
    "path": Parameter(lambda env: env.tmp_path / "other", [5, None, b"\x00"]),
    "threads": Parameter(lambda env: 1, ["2", 1.5, True, 0]),
    "ops_max": Parameter(lambda env: 16, ["16", 1.5, True, 0]),
    "sync_interval": Parameter(lambda env: 1.0, ["1", NAN, 0, True]),
    "callback_executor": Parameter(lambda env: None, ["pool", 5]),
    "dead_letter_hook": Parameter(lambda env: None, ["hook", 5]),
    "initial_map_size": Parameter(lambda env: 1 << 20, ["1M", 1.5, True, 0]),
    "max_map_size": Parameter(lambda env: 1 << 30, ["1G", 1.5, True, 0]),
    "outcome_window": Parameter(
        lambda env: 3600.0, ["1h", NAN, 0, -1, True, float("inf"), [60]]
    ),
}
"""Every parameter name of the public API, with what is wrong for it."""

ANY_VALUE = {"msg"}
"""Parameters that take any object (asyncio's cancel message)."""

PLUMBING = {
    (OpFuture, "set_result"),
    (OpFuture, "set_exception"),
    (OpFuture, "set_results"),
    (OpFuture, "resolved"),
    (SerializedClient, "submit"),
}
"""Public for the store's own parts, not for users: the store sets futures'
results, and the serialized client is the submitter of its ops."""


def public_methods(cls: type) -> list[str]:
    return sorted(
        name
        for name, member in inspect.getmembers(cls)
        if not name.startswith("_")
        and callable(member)
        and not isinstance(inspect.getattr_static(cls, name), property)
        and (cls, name) not in PLUMBING
    )


def parameters_of(fn: Callable[..., Any]) -> list[str]:
    names = []
    for parameter in inspect.signature(fn).parameters.values():
        if parameter.name == "self":
            continue
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            names += ["callback", *sorted(OP_OPTIONS)]  # the op options
        elif parameter.kind is not inspect.Parameter.VAR_POSITIONAL:
            names.append(parameter.name)
    return names


def target(env: Env, owner: str) -> Any:
    store = env.store
    if owner == "Store":
        return store
    if owner == "SerializedClient":
        return store.serialized()
    if owner == "DeadLetters":
        return store.dead_letters
    if owner == "OpFuture":
        future = store.count("docs")
        future.get(timeout=WAIT)
        return future
    return actorstore  # open_store


OWNERS: dict[str, type | None] = {
    "Store": Store,
    "SerializedClient": SerializedClient,
    "OpFuture": OpFuture,
    "DeadLetters": DeadLetterTable,
}


def cases() -> Iterator[Any]:
    calls: list[tuple[str, str, Callable[..., Any]]] = [
        (owner, name, getattr(cls, name))
        for owner, cls in OWNERS.items()
        if cls is not None
        for name in public_methods(cls)
    ]
    calls.append(("actorstore", "open_store", actorstore.open_store))
    for owner, method, fn in calls:
        for parameter in parameters_of(fn):
            if parameter in ANY_VALUE:
                continue
            wrong = PARAMETERS[parameter].wrong if parameter in PARAMETERS else [None]
            for index, value in enumerate(wrong):
                yield pytest.param(
                    owner,
                    method,
                    parameter,
                    value,
                    id=f"{owner}.{method}-{parameter}-{index}",
                )


def test_every_parameter_of_the_public_api_is_known_here() -> None:
    unknown = {
        (owner, method, parameter)
        for owner, method, parameter, _ in (case.values for case in cases())
        if parameter not in PARAMETERS
    }
    assert not unknown, (
        f"add a row to PARAMETERS (or ANY_VALUE) for {sorted(unknown)}: every "
        "public parameter is checked with wrong-typed values"
    )


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, int]]:
    """One store for the module (a refused call leaves it as it was; each test
    checks that): table `docs` and one dead letter."""
    store = actorstore.open_store(tmp_path_factory.mktemp("wrong") / "store")
    try:
        store.create_table("docs", durability="none")
        store.upsert("docs", "k", {"v": 0}).get(timeout=WAIT)
        store.dead_letters.park(
            DeadLetter.new(
                op_type="count",
                table="docs",
                key=None,
                value=None,
                state=actorstore.AttemptState(),
            )
        ).get(timeout=WAIT)
        yield store, store.dead_letters.list(timeout=WAIT)[0].id
    finally:
        store.close()


@pytest.fixture
def env(shared: tuple[Store, int], tmp_path: Path) -> Iterator[Env]:
    store, letter_id = shared
    environment = Env(store, tmp_path, letter_id)
    yield environment
    for made in environment.made:
        if isinstance(made, Store):
            made.close()
    store.flush(timeout=WAIT)


def call_with(env: Env, owner: str, method: str, parameter: str, value: Any) -> Any:
    """Call `owner.method` with `value` as `parameter` and valid others."""
    obj = target(env, owner)
    fn = getattr(obj, method)
    kwargs: dict[str, Any] = {}
    for p in inspect.signature(fn).parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.name == parameter:
            kwargs[p.name] = value
        elif p.default is p.empty:
            kwargs[p.name] = PARAMETERS[p.name].valid(env)
    if parameter not in kwargs:  # an op option, through **options
        kwargs[parameter] = value
    return fn(**kwargs)


def use(result: Any) -> Any:
    """Run what a lazy result defers: iterate an iterator, await a coroutine."""
    if inspect.iscoroutine(result):
        return asyncio.run(asyncio.wait_for(result, WAIT))
    if isinstance(result, ScanIterator):
        return list(result)
    return result


@pytest.mark.parametrize(("owner", "method", "parameter", "value"), list(cases()))
def test_a_wrong_argument_is_refused_from_the_error_tree(
    env: Env, owner: str, method: str, parameter: str, value: Any
) -> None:
    before = env.store.scan("docs").get(timeout=WAIT)
    try:
        result = call_with(env, owner, method, parameter, value)
        if isinstance(result, Store):
            env.made.append(result)
        use(result)
    except InvalidInputError as error:
        assert parameter in str(error) or str(error), error  # says what was wrong
    except BaseException as error:  # noqa: BLE001 - anything else is the bug
        pytest.fail(
            f"{owner}.{method}({parameter}={value!r}) raised "
            f"{type(error).__name__}: {error}, not an InvalidInputError"
        )
    else:
        pytest.fail(f"{owner}.{method}({parameter}={value!r}) was accepted")
    store = env.store
    assert not store.is_closed
    assert store.scan("docs").get(timeout=WAIT) == before
    store.upsert("docs", "after", {"ok": True}).get(timeout=WAIT)
    assert store.search("docs", "after").get(timeout=WAIT) == {"ok": True}


OP_FIELDS = {
    "key": [5, None, NotJson()],
    "value": [NotJson(), {1: 2}],
    "options": [5, "prefix", {"colour": "red"}, {"reverse": "no"}],
}


@pytest.mark.parametrize(
    ("field_name", "value"),
    [(name, value) for name, values in OP_FIELDS.items() for value in values],
)
@pytest.mark.parametrize(
    "op_type", ["insert", "update", "upsert", "remove", "search", "exists", "scan"]
)
def test_a_wrong_field_of_an_op_handle_is_refused_when_submitted(
    env: Env, field_name: str, value: Any, op_type: str
) -> None:
    before = env.store.scan("docs").get(timeout=WAIT)
    op = env.store.new_op("docs")
    op.key, op.value = "absent", {"v": 1}  # what runs (an ignored field) is harmless
    if op_type == "scan":
        op.key = None
    setattr(op, field_name, value)
    try:
        future = getattr(op, op_type)()
    except InvalidInputError:
        pass
    except BaseException as error:  # noqa: BLE001 - anything else is the bug
        pytest.fail(f"op.{field_name}={value!r}, {op_type}(): {error!r}")
    else:
        # Only a field the op type ignores may pass (a search has no value).
        assert (field_name, op_type) in IGNORED, (field_name, op_type)
        future.exception(timeout=WAIT)  # it ran: its outcome is not the point
    assert env.store.scan("docs").get(timeout=WAIT) == before


IGNORED = {
    ("value", "remove"),
    ("value", "search"),
    ("value", "exists"),
    ("value", "scan"),
    ("key", "scan"),  # a scan's key is its prefix, given in its options
}
"""Fields an op type does not read, so any value there is fine."""
