"""Option checks: bad store and op options are refused before anything is written."""

from __future__ import annotations

from actorstore.retry import RetryPolicy
from actorstore.storage import InvalidOptionError

__all__ = [
    "check_flag",
    "check_int",
    "check_interval",
    "check_options",
    "check_policy",
    "check_timeout",
    "check_wait",
]


def check_options(
    *,
    threads: object,
    ops_max: object,
    wait: object,
    wait_timeout: object,
    sync_interval: object,
    retry: object,
    dead_letter_hook: object,
    callback_executor: object,
) -> None:
    """Refuse bad store options with a message naming the option and the fix."""
    check_int("threads", threads, 1)
    check_int("ops_max", ops_max, 1)
    check_wait(wait)
    check_timeout("wait_timeout", wait_timeout)
    check_interval(sync_interval)
    check_policy(retry)
    if dead_letter_hook is not None and not callable(dead_letter_hook):
        raise InvalidOptionError(
            "dead_letter_hook must be a callable taking an actorstore.DeadLetter, not "
            f"{type(dead_letter_hook).__name__}"
        )
    if callback_executor is not None and not hasattr(callback_executor, "submit"):
        raise InvalidOptionError(
            "callback_executor must be a concurrent.futures.Executor, not "
            f"{type(callback_executor).__name__}"
        )


def check_int(name: str, value: object, minimum: int) -> None:
    """Refuse `value` unless it is an int of at least `minimum`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidOptionError(f"{name} must be an int >= {minimum}, not {value!r}")


def check_timeout(name: str, value: object) -> None:
    """Refuse `value` unless it is None or a number of seconds >= 0."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise InvalidOptionError(
            f"{name} must be a number of seconds >= 0 or None, not {value!r}"
        )


def check_interval(value: object) -> None:
    """Refuse a sync interval that is not a number of seconds > 0."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise InvalidOptionError(
            f"sync_interval must be a number of seconds > 0, not {value!r}"
        )


def check_flag(name: str, value: object) -> None:
    """Refuse `value` unless it is True or False."""
    if not isinstance(value, bool):
        raise InvalidOptionError(f"{name} must be True or False, not {value!r}")


def check_wait(value: object) -> None:
    """Refuse a `wait=` that is neither None nor a bool."""
    if value is not None and not isinstance(value, bool):
        raise InvalidOptionError(
            f"wait must be True or False, not {value!r}; use wait_timeout= for "
            "a number of seconds"
        )


def check_policy(value: object) -> None:
    """Refuse a `retry=` that is neither None nor a `RetryPolicy`."""
    if value is not None and not isinstance(value, RetryPolicy):
        raise InvalidOptionError(
            f"retry must be an actorstore.RetryPolicy, not {type(value).__name__}; "
            "build one from config with RetryPolicy.from_mapping()"
        )
