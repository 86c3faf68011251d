"""Every error of the tree pickles with its message, fields and notes.

Errors cross process boundaries (multiprocessing, Ray, logging handlers).
The classes are found through the packages' `__all__`, so a new error class
is covered as soon as it is exported; if its `__init__` takes a parameter
this file has no sample for, the test says which one to add to `SAMPLES`.
"""

from __future__ import annotations

import inspect
import json
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import actorstore
from actorstore import retry, storage
from actorstore.storage import NotFoundError, StoreError

REPO_ROOT = Path(__file__).resolve().parents[2]

SAMPLES: dict[str, Any] = {
    "message": "something went wrong; do the other thing",
    "what": "table",
    "table": "users",
    "key": ("k", 1),
    "op": "update",
    "max_map_size": 1 << 21,
    "name": "a/b",
    "reason": "it contains a character that is not allowed",
    "ops_max": 8,
    "timeout": 1.5,
    "opened_by": 4242,
    "attempts": 3,
    "last_error": NotFoundError(table="users", key="k", op="search"),
    "ids": [3, 5],
    "path": "/var/lib/store/tables/users",
    "pid": 4343,
    "problem": "its data file was truncated",
    "dead_letter": retry.DeadLetter(
        id=7,
        op_type="upsert",
        table="users",
        key="k",
        value={"n": 1},
        error={"type": "StoreBusyError", "message": "busy"},
        attempts=3,
        first_failed_at=1.0,
        last_failed_at=2.0,
    ),
    "allowed": 5,
    "label": "a",
    "cut_short": True,
    "remove_batch": 20,
    "kept_in": "the dead-letter hook",
    "session": "5e5510e1d0000000000000000000000a",
    "number": 42,
    "low": 40,
}
"""A value for every `__init__` parameter name an error class of the tree uses."""


def error_classes() -> list[type[StoreError]]:
    """Return every exception class exported by storage, retry and actors."""
    found: dict[str, type[StoreError]] = {}
    for package in (storage, retry, actorstore):
        for name in package.__all__:
            value = getattr(package, name)
            if isinstance(value, type) and issubclass(value, BaseException):
                found[f"{package.__name__}.{name}"] = value
    return [found[name] for name in sorted(found)]


def make(cls: type[StoreError]) -> StoreError:
    """Build a `cls` with every parameter its `__init__` takes, from `SAMPLES`."""
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for parameter in inspect.signature(cls).parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        assert parameter.name in SAMPLES, (
            f"{cls.__name__}.__init__ takes {parameter.name!r}: add a sample value "
            "for it to SAMPLES"
        )
        value = SAMPLES[parameter.name]
        if parameter.kind is parameter.KEYWORD_ONLY:
            kwargs[parameter.name] = value
        else:
            args.append(value)
    error = cls(*args, **kwargs)
    error.add_note("while testing pickling")
    return error


def fields(error: BaseException) -> dict[str, Any]:
    """Return the error's fields, errors among them as (type, message)."""
    return {
        name: (type(value), str(value)) if isinstance(value, BaseException) else value
        for name, value in vars(error).items()
    }


def test_every_package_exports_errors_of_the_tree() -> None:
    classes = error_classes()
    assert len(classes) >= 25
    assert all(issubclass(cls, StoreError) for cls in classes)


@pytest.mark.parametrize("cls", error_classes(), ids=lambda cls: cls.__name__)
def test_an_error_survives_a_pickle_round_trip(cls: type[StoreError]) -> None:
    error = make(cls)
    assert vars(error), "every error has at least its notes as state"
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        copy = pickle.loads(pickle.dumps(error, protocol=protocol))
        assert type(copy) is cls
        assert str(copy) == str(error)
        assert copy.args == error.args
        assert fields(copy) == fields(error)
        assert copy.__notes__ == ["while testing pickling"]


def test_a_retries_exhausted_error_keeps_its_cause() -> None:
    error = retry.RetriesExhaustedError(
        attempts=2, last_error=NotFoundError(table="t", key="k")
    )
    copy = pickle.loads(pickle.dumps(error))
    assert copy.__cause__ is copy.last_error
    assert isinstance(copy.last_error, NotFoundError)
    assert (copy.last_error.table, copy.last_error.key) == ("t", "k")


CHILD = """
import json, pickle, sys
import actorstore
from actorstore import retry
from actorstore import storage
errors = pickle.loads(sys.stdin.buffer.read())
json.dump(
    [[type(e).__name__, str(e), e.__notes__, sorted(vars(e))] for e in errors],
    sys.stdout,
)
"""


def test_errors_unpickle_in_another_process() -> None:
    errors = [make(cls) for cls in error_classes()]
    done = subprocess.run(
        [sys.executable, "-c", CHILD],
        input=pickle.dumps(errors),
        capture_output=True,
        cwd=REPO_ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert json.loads(done.stdout) == [
        [type(e).__name__, str(e), e.__notes__, sorted(vars(e))] for e in errors
    ]


class AppError(Exception):
    """A user's error whose keyword-only `__init__` cannot be rebuilt by pickle."""

    def __init__(self, *, code: int) -> None:
        super().__init__(f"code {code}")
        self.code = code


def test_an_error_carrying_a_user_error_that_cannot_travel_still_pickles() -> None:
    error = retry.RetriesExhaustedError(
        attempts=3, last_error=AppError(code=7), table="t", key="k"
    )
    copy = pickle.loads(pickle.dumps(error))
    assert str(copy) == str(error)
    assert type(copy.last_error) is StoreError
    assert str(copy.last_error) == "AppError: code 7"
