"""Deadlines: timeouts turned into points in time, and back."""

from __future__ import annotations

import math
import time

__all__ = ["deadline", "finite", "left"]


def finite(timeout: float | None) -> float | None:
    """Return `timeout`, with an infinite one as None (wait for ever)."""
    return None if timeout is None or math.isinf(timeout) else timeout


def deadline(timeout: float | None) -> float | None:
    """Return when `timeout` seconds from now end (None: never)."""
    timeout = finite(timeout)
    return None if timeout is None else time.monotonic() + timeout


def left(until: float | None) -> float | None:
    """Return the seconds left before `until` (None: no deadline)."""
    return None if until is None else max(0.0, until - time.monotonic())
