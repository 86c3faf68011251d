"""Sample staged flows (`retry.Flow`) shared by the flow tests.

tests/retry/test_flows.py checks a `Flow`'s arguments and stage discovery
with them; tests/actors/retries/test_flows.py runs them over the fake host
and over a real store, importing them as `tests.retry.flow_samples`. Plain
classes, no fixtures; like every module here it imports nothing above
`retry` (see test_package.py), so it takes any store a `Flow` accepts.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from actorstore.retry import Flow, Next, RetryPolicy
from actorstore.storage import StoreBusyError


class Numbered(Flow):
    """Flow `go` in three stages whose numbers sort apart from their names:
    `go1First`, `go2Second`, `go10Last`; it ends with `[1, 2, 10]`. The
    stage `other1Stage` belongs to another flow."""

    def go10Last(self, seen: list[int]) -> Any:
        return [*seen, 10]

    def go2Second(self, seen: list[int]) -> Any:
        return Next([*seen, 2])

    def go1First(self) -> Any:
        return Next([1])

    def other1Stage(self) -> Any:
        return "not part of go"


class Bump(Flow):
    """The flow of DESIGN.md: read a doc, write it back with n + 1, return the key.

    `calls` holds, per stage, when it was entered; `threads` on which thread.
    """

    def __init__(self, store: Any, *, policy: RetryPolicy | None = None) -> None:
        super().__init__(store, policy=policy)
        self.threads: dict[str, list[str]] = {}
        self.calls: dict[str, list[float]] = {}

    def _enter(self, stage: str) -> None:
        self.calls.setdefault(stage, []).append(time.monotonic())
        self.threads.setdefault(stage, []).append(threading.current_thread().name)

    def bump1Prepare(self, key: str) -> Any:
        self._enter("prepare")
        return self.store.search("docs", key), key

    def bump2Compose(self, doc: dict[str, int], key: str) -> Any:
        self._enter("compose")
        return self.store.upsert("docs", key, {"n": doc["n"] + 1}), key

    def bump3Finish(self, _: None, key: str) -> Any:
        self._enter("finish")
        return key


class FlakyCompose(Bump):
    """Compose raises `StoreBusyError` the first `failures` times.

    `failed` is set once compose has failed, for a test to wait on.
    """

    def __init__(
        self, store: Any, failures: int, *, policy: RetryPolicy | None = None
    ) -> None:
        super().__init__(store, policy=policy)
        self.failures = failures
        self.failed = threading.Event()

    def bump2Compose(self, doc: dict[str, int], key: str) -> Any:
        if len(self.calls.get("compose", [])) < self.failures:
            self._enter("compose")
            self.failed.set()
            raise StoreBusyError("the store is busy")
        return super().bump2Compose(doc, key)
