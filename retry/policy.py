"""Decide whether and when to retry a failed op, with strategies built on tenacity."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NoReturn, TypeGuard

import tenacity
from tenacity.wait import wait_base

import actorstore.storage as storage
from actorstore.storage import InvalidOptionError, TransientError

if TYPE_CHECKING:
    from tenacity.retry import RetryBaseT
    from tenacity.stop import StopBaseT
    from tenacity.wait import WaitBaseT

    from actorstore.retry.state import AttemptState

__all__ = ["DEFAULT_POLICY", "RetryPolicy"]

_FLOAT_FIELDS = ("initial_wait", "max_wait", "multiplier", "jitter")
_MAPPING_KEYS = ("max_attempts", *_FLOAT_FIELDS, "retry_on")
# `retry_on` names in config resolve only against the project's error tree, so a
# config file can never make us import (and run) an arbitrary module.
# Longest first: the first prefix that matches is removed. The folder-name
# spellings ("storage.") are kept so that configs written before the package
# was named actorstore still load.
_ERROR_PREFIXES = (
    "actorstore.storage.errors.",
    "actorstore.storage.",
    "actorstore.",
    "storage.errors.",
    "storage.",
)
_ERROR_CLASSES: dict[str, type[BaseException]] = {
    name: obj
    for name in storage.__all__
    if isinstance(obj := getattr(storage, name), type)
    and issubclass(obj, BaseException)
}
_RENAMED_ERRORS = {"StorageError": "LmdbError"}
"""Old names of error classes: a table's policy in a catalog written before a
rename still names the class as it was then."""


class _CappedWait(wait_base):
    """Cap another wait strategy at `cap` seconds."""

    def __init__(self, wait: WaitBaseT, cap: float) -> None:
        self.wait = wait
        self.cap = cap

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        return min(float(self.wait(retry_state)), self.cap)


@dataclass(frozen=True)
class RetryPolicy:
    """Say whether a failed op is retried and how long to wait first.

    `max_attempts` counts every attempt, the first included. The wait after failed
    attempt `n` is `initial_wait * multiplier ** (n - 1)` plus up to `jitter`
    seconds of random extra, never more than `max_wait`. Errors matching
    `retry_on` (a tuple of exception types, or a predicate over the error) are
    retried. Raw tenacity strategies given as `wait`, `stop` or `retry` are used
    unchanged instead of the ones built from the other fields.
    """

    max_attempts: int = 10
    initial_wait: float = 0.001
    max_wait: float = 60.0
    multiplier: float = 2.0
    jitter: float = 0.0
    retry_on: tuple[type[BaseException], ...] | Callable[[BaseException], bool] = (
        TransientError,
    )
    wait: WaitBaseT | None = None
    stop: StopBaseT | None = None
    retry: RetryBaseT | None = None
    _wait: WaitBaseT = field(init=False, repr=False, compare=False)
    _stop: StopBaseT = field(init=False, repr=False, compare=False)
    _retry: RetryBaseT = field(init=False, repr=False, compare=False)
    _retrying: tenacity.Retrying = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Validate the fields and build the tenacity strategies.

        Raises:
            InvalidOptionError: if a field has an invalid value; the message names
                the field, shows the value and says what to use instead.
        """
        self._validate()
        built_wait: wait_base
        if self.initial_wait == 0:
            # wait_exponential(multiplier=0) overflows to `max` after ~1000
            # attempts (0 * 2.0**1100 raises OverflowError, caught as "use max"),
            # so a zero initial wait is a fixed zero wait instead.
            built_wait = tenacity.wait_fixed(0)
        else:
            built_wait = tenacity.wait_exponential(
                multiplier=self.initial_wait,
                exp_base=self.multiplier,
                max=self.max_wait,
            )
        if self.jitter > 0:
            built_wait = _CappedWait(
                built_wait + tenacity.wait_random(0, self.jitter), self.max_wait
            )
        wait = built_wait if self.wait is None else self.wait
        stop = (
            tenacity.stop_after_attempt(self.max_attempts)
            if self.stop is None
            else self.stop
        )
        retry = (
            tenacity.retry_if_exception(self._matches)
            if self.retry is None
            else self.retry
        )
        # Frozen: the built strategies are set once, here, and never change.
        object.__setattr__(self, "_wait", wait)
        object.__setattr__(self, "_stop", stop)
        object.__setattr__(self, "_retry", retry)
        # Every RetryCallState needs a Retrying to belong to; it is never run.
        object.__setattr__(
            self, "_retrying", tenacity.Retrying(wait=wait, stop=stop, retry=retry)
        )

    def _validate(self) -> None:
        attempts = self.max_attempts
        if not isinstance(attempts, int) or isinstance(attempts, bool):
            _invalid("max_attempts", attempts, "use a whole number of 1 or more")
        if attempts < 1:
            _invalid(
                "max_attempts",
                attempts,
                "it counts every attempt, the first included; use 1 or more",
            )
        for name in _FLOAT_FIELDS:
            value = getattr(self, name)
            if not _is_number(value) or not math.isfinite(value) or value < 0:
                _invalid(name, value, "use a finite number of seconds, 0 or more")
        if self.multiplier < 1:
            _invalid(
                "multiplier",
                self.multiplier,
                "use 1 (a constant wait) or more (a growing wait)",
            )
        if self.initial_wait > self.max_wait:
            _invalid(
                "initial_wait",
                self.initial_wait,
                f"it exceeds max_wait={self.max_wait!r}; lower it or raise max_wait",
            )
        retry_on = self.retry_on
        if isinstance(retry_on, tuple):
            for item in retry_on:
                if not (isinstance(item, type) and issubclass(item, BaseException)):
                    _invalid(
                        "retry_on",
                        retry_on,
                        f"{item!r} is not an exception type; "
                        "list exception classes only",
                    )
        elif isinstance(retry_on, type) or not callable(retry_on):
            # An exception class is callable too, but calling it builds an
            # instance, which is truthy: it would retry every error.
            _invalid(
                "retry_on",
                retry_on,
                "use a tuple of exception types, such as (TransientError,), "
                "or a function error -> bool",
            )

    def _matches(self, error: BaseException) -> bool:
        if isinstance(self.retry_on, tuple):
            return isinstance(error, self.retry_on)
        return bool(self.retry_on(error))

    def _state(
        self, attempt: int, error: BaseException | None, elapsed: float
    ) -> tenacity.RetryCallState:
        """Build the tenacity state right after failed attempt `attempt`."""
        if not isinstance(attempt, int) or isinstance(attempt, bool) or attempt < 1:
            _invalid("attempt", attempt, "attempts are numbered from 1")
        if not _is_number(elapsed) or not math.isfinite(elapsed) or elapsed < 0:
            _invalid("elapsed", elapsed, "use a finite number of seconds, 0 or more")
        state = tenacity.RetryCallState(self._retrying, None, (), {})
        state.attempt_number = attempt
        if error is not None:
            outcome = tenacity.Future(attempt)
            outcome.set_exception(error)
            state.outcome = outcome
        # seconds_since_start is outcome_timestamp - start_time.
        state.outcome_timestamp = state.start_time + elapsed
        return state

    def delay(self, attempt: int) -> float:
        """Return the seconds to wait after failed attempt number `attempt` (1-based).

        Does not sleep. A wait strategy that reads the error (`wait_exception`)
        needs `next_delay()`, which has one.

        Raises:
            InvalidOptionError: if `attempt` is not a whole number of 1 or more.
        """
        return float(self._wait(self._state(attempt, None, 0.0)))

    def next_delay(
        self, error: BaseException, attempt: int, *, elapsed: float = 0.0
    ) -> float | None:
        """Return the seconds to wait before retrying, or None to stop retrying.

        `attempt` is the number of the attempt that just failed with `error` (the
        first is 1), `elapsed` the seconds since the first attempt started. The
        checks run in tenacity's order: retry, then wait, then stop, so a stop
        strategy sees the upcoming sleep.

        Raises:
            InvalidOptionError: if `attempt` or `elapsed` is invalid.
        """
        state = self._state(attempt, error, elapsed)
        if not self._retry(state):
            return None
        state.upcoming_sleep = float(self._wait(state))
        if self._stop(state):
            return None
        return state.upcoming_sleep

    def next_delay_for(self, state: AttemptState) -> float | None:
        """Return the seconds to wait before the next attempt, or None to give up.

        `state` is the op's (or flow run's) attempt state right after a failed
        attempt: `next_delay()` over its last error, attempt count and
        elapsed time.

        Raises:
            InvalidOptionError: if `state` records no failed attempt.
        """
        if state.last_error is None:
            _invalid("state", state, "it records no failed attempt")
        return self.next_delay(state.last_error, state.attempts, elapsed=state.elapsed)

    def should_retry(
        self, error: BaseException, attempt: int, *, elapsed: float = 0.0
    ) -> bool:
        """Return whether to retry after attempt `attempt` failed with `error`.

        True when the error is retryable and attempts remain (by default, when
        `attempt < max_attempts`).

        Raises:
            InvalidOptionError: if `attempt` or `elapsed` is invalid.
        """
        return self.next_delay(error, attempt, elapsed=elapsed) is not None

    def is_retryable(self, error: BaseException) -> bool:
        """Return whether `error` is of a kind this policy retries, attempts aside.

        This is `retry_on`, or the raw `retry` strategy when one was given.
        """
        return bool(self._retry(self._state(1, error, 0.0)))

    def to_mapping(self) -> dict[str, object]:
        """Return the policy as config that `from_mapping()` turns back into it.

        Policies are data: a table's is kept in the store's catalog this way.

        Raises:
            InvalidOptionError: if the policy holds code rather than data (a
                `retry_on` predicate, raw tenacity strategies, or error types
                outside `storage`'s tree); keep such a policy per store or
                per op instead.
        """
        if self.wait is not None or self.stop is not None or self.retry is not None:
            _invalid(
                "wait/stop/retry",
                (self.wait, self.stop, self.retry),
                "raw tenacity strategies are code and cannot be saved as config; "
                "give such a policy per store or per op",
            )
        if not isinstance(self.retry_on, tuple):
            _invalid(
                "retry_on",
                self.retry_on,
                "a predicate is code and cannot be saved as config; list error "
                "types instead, or give this policy per store or per op",
            )
        names = []
        for error_type in self.retry_on:
            name = error_type.__name__
            if _ERROR_CLASSES.get(name) is not error_type:
                _invalid(
                    "retry_on",
                    self.retry_on,
                    f"{name} is not an error class of storage, so config cannot "
                    "name it; give this policy per store or per op",
                )
            names.append(name)
        mapping: dict[str, object] = {
            name: getattr(self, name) for name in _MAPPING_KEYS
        }
        mapping["retry_on"] = names
        return mapping

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, object]) -> RetryPolicy:
        """Build a policy from config loaded from TOML, JSON or the environment.

        Keys are `max_attempts`, `initial_wait`, `max_wait`, `multiplier`,
        `jitter` and `retry_on`; missing keys keep their defaults. Numbers may be
        given as strings ("5", "0.5"). `retry_on` is a list (or a comma-separated
        string) of names of the classes in `storage.errors`, such as
        "TransientError" or "actorstore.StoreBusyError".

        Raises:
            InvalidOptionError: for an unknown key, a value of the wrong type, an
                invalid value or an unknown exception name.
        """
        if not isinstance(mapping, Mapping):
            raise InvalidOptionError(
                f"retry policy config {mapping!r} is not a mapping; "
                "use a table (TOML) or an object (JSON) of options"
            )
        unknown = sorted(repr(key) for key in mapping if key not in _MAPPING_KEYS)
        if unknown:
            raise InvalidOptionError(
                f"unknown retry policy option {', '.join(unknown)}; "
                f"use one of {', '.join(_MAPPING_KEYS)}"
            )
        defaults = cls()

        def number(name: str) -> float:
            if name in mapping:
                return _parse_float(name, mapping[name])
            return float(getattr(defaults, name))

        return cls(
            max_attempts=(
                _parse_int("max_attempts", mapping["max_attempts"])
                if "max_attempts" in mapping
                else defaults.max_attempts
            ),
            initial_wait=number("initial_wait"),
            max_wait=number("max_wait"),
            multiplier=number("multiplier"),
            jitter=number("jitter"),
            retry_on=(
                _parse_error_types(mapping["retry_on"])
                if "retry_on" in mapping
                else defaults.retry_on
            ),
        )


def _invalid(name: str, value: object, fix: str) -> NoReturn:
    raise InvalidOptionError(f"retry policy: {name}={value!r} is invalid; {fix}")


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _parse_int(name: str, value: object) -> int:
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    elif isinstance(value, int) and not isinstance(value, bool):
        return value
    _invalid(name, value, 'use a whole number, such as 5 or "5"')


def _parse_float(name: str, value: object) -> float:
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    elif _is_number(value):
        return float(value)
    _invalid(name, value, 'use a number of seconds, such as 0.5 or "0.5"')


def _parse_error_types(value: object) -> tuple[type[BaseException], ...]:
    names: list[object]
    if isinstance(value, str):
        names = [name.strip() for name in value.split(",") if name.strip()]
    elif isinstance(value, list | tuple):
        names = list(value)
    else:
        _invalid(
            "retry_on",
            value,
            'use a list of error class names, such as ["TransientError"]',
        )
    return tuple(_resolve_error_type(name) for name in names)


def _resolve_error_type(name: object) -> type[BaseException]:
    if isinstance(name, str):
        short = name
        for prefix in _ERROR_PREFIXES:
            if short.startswith(prefix):
                short = short.removeprefix(prefix)
                break
        candidate = _ERROR_CLASSES.get(_RENAMED_ERRORS.get(short, short))
        if candidate is not None:
            return candidate
    _invalid(
        "retry_on",
        name,
        f"it is not an error class of storage; use one of "
        f"{', '.join(sorted(_ERROR_CLASSES))}",
    )


DEFAULT_POLICY = RetryPolicy()
"""The policy used when none is given: 10 attempts, 1 ms doubling to 60 s."""
