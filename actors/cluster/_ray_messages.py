"""Ray's messages to a driver: into actorstore's log, not the client's terminal.

A Ray driver prints what the cluster publishes for it: when a node dies,
its raylet's last 20 log lines (a "state dump" of some 40 lines), on the
client's stdout and stderr, whatever `log_to_driver` says. A client of a
store learns what matters from its ops (`OwnerLostError`, retries, dead
letters); so, when `connect_store` starts the client's Ray connection
itself, the raylet's messages go to this module's logger instead: the
first line at INFO, the rest at DEBUG. Ray offers no setting for it; this
wraps the function its listener thread prints with, and leaves everything
else Ray prints alone.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Any

__all__ = ["route_raylet_messages"]

logger = logging.getLogger(__name__)

_ROUTED = "_actorstore_routed"


def route_raylet_messages() -> bool:
    """Send the raylet's messages to this driver into the log; return whether
    they are (False: this Ray prints them some other way, left alone)."""
    try:
        worker = importlib.import_module("ray._private.worker")
    except ImportError:
        return False
    printing: Callable[..., Any] | None = getattr(worker, "print_to_stdstream", None)
    if printing is None:
        return False
    if getattr(printing, _ROUTED, False):
        return True

    def print_or_log(data: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(data, dict) and data.get("pid") == "raylet":
            _log(data.get("lines") or ())
            return None
        return printing(data, *args, **kwargs)

    setattr(print_or_log, _ROUTED, True)
    # Looked up by name each time Ray's listener thread prints.
    setattr(worker, "print_to_stdstream", print_or_log)  # noqa: B010 - not typed there
    return True


def _log(lines: Any) -> None:
    text = "\n".join(str(line) for line in lines).strip()
    if not text:
        return
    first, _, rest = text.partition("\n")
    logger.info("ray: %s", first)
    if rest:
        logger.debug("ray: %s", rest)
