"""Retries and dead letters: a flaky dependency, backoff, give up, replay.

Usage: python examples/retry_dead_letter.py [STORE_DIR]   (default: a temp dir)

Each write is audited by a fake service called from a `actorstore.RetryCallback`
subclass, inside the op's transaction: when the service fails (with
`actorstore.StoreBusyError`, a transient error) the op rolls back and is
retried after a doubling pause. The callback prints each attempt's time, and
the "actors" and "retry" loggers are set to DEBUG so the store's own account
of the backoff shows too.

1. The service fails 3 calls: the op succeeds on its 4th attempt.
2. The service is down: the op exhausts `RetryPolicy(max_attempts=4)`, is
   written to the durable dead-letter table, and its future raises
   `actorstore.RetriesExhaustedError`.
3. List the dead letters, fix the service, `replay()` them: the record is
   written and the dead-letter list is empty.

Note: a replay runs the op again as a plain op, without its callback.
"""

from __future__ import annotations

import logging
import sys
import tempfile
import threading
import time
from typing import Any

import actorstore

TABLE = "orders"


class FlakyService:
    """A fake dependency that fails its next `failures` calls."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.failures = 0
        self.calls = 0

    def audit(self, key: str) -> None:
        with self._lock:
            self.calls += 1
            if self.failures > 0:
                self.failures -= 1
                raise actorstore.StoreBusyError(
                    "the audit service is busy; try again later", key=key
                )


class Audited(actorstore.RetryCallback):
    """Audit each write inside its transaction; retry it while the audit fails."""

    def __init__(
        self, service: FlakyService, key: str, policy: actorstore.RetryPolicy
    ) -> None:
        super().__init__(policy)
        self.service = service
        self.key = key
        self.started = time.perf_counter()

    def _elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000

    def callback(self, result: Any) -> None:
        # Raising here rolls the write back and counts as a failed attempt.
        self.service.audit(self.key)
        print(f"  {self.key}: audited at {self._elapsed_ms():6.1f} ms, committed")

    def exception(self, error: BaseException) -> None:
        attempt = self.attempt.attempts
        print(
            f"  {self.key}: attempt {attempt} failed at {self._elapsed_ms():6.1f} ms: "
            f"{type(error).__name__}"
        )
        super().exception(error)

    def dead(self, error: BaseException) -> None:
        print(f"  {self.key}: giving up after {self.attempt.attempts} attempts")
        super().dead(error)


def main(path: str) -> None:
    service = FlakyService()
    policy = actorstore.RetryPolicy(max_attempts=4, initial_wait=0.01)
    print("backoff after attempts 1, 2, 3:", [policy.delay(n) for n in (1, 2, 3)])
    with actorstore.open_store(path, threads=2) as store:
        store.create_table(TABLE, exist_ok=True)

        print("1. the service fails 3 times, then recovers")
        service.failures = 3
        future = store.upsert(
            TABLE, "order-1", {"qty": 1}, callback=Audited(service, "order-1", policy)
        )
        future.get(timeout=5)
        print("order-1 written:", store.search(TABLE, "order-1").get(timeout=5))

        print("2. the service is down")
        service.failures = 1_000
        future = store.upsert(
            TABLE, "order-2", {"qty": 2}, callback=Audited(service, "order-2", policy)
        )
        try:
            future.get(timeout=5)
        except actorstore.RetriesExhaustedError as error:
            print(f"order-2 failed: {type(error).__name__}: {error}")
        print("order-2 exists:", store.exists(TABLE, "order-2").get(timeout=5))

        print("3. dead letters")
        letters = store.dead_letters.list()
        for letter in letters:
            print(
                f"dead letter {letter.id}: {letter.op_type} {letter.table}/"
                f"{letter.key} = {letter.value}, {letter.attempts} attempts, "
                f"last error {letter.error['type']}"
            )
        service.failures = 0
        print("service fixed; replaying", len(letters), "dead letter(s)")
        outcomes = store.dead_letters.replay()
        print("replayed:", {i: error is None for i, error in outcomes.items()})
        print("order-2 written:", store.search(TABLE, "order-2").get(timeout=5))
        print("dead letters left:", store.dead_letters.list())
        print("service calls:", service.calls)


if __name__ == "__main__":
    logging.basicConfig(
        stream=sys.stdout,
        level=logging.WARNING,
        format="  [log %(relativeCreated)5.0f ms] %(name)s: %(message)s",
    )
    logging.getLogger("actorstore").setLevel(logging.DEBUG)
    logging.getLogger("actorstore.retry").setLevel(logging.DEBUG)
    if len(sys.argv) > 1:
        main(sys.argv[1])
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(tmp)
