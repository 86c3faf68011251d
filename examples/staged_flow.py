"""Staged flows: `update1Prepare`, `update2Compose`, `update3Commit`, chained.

Usage: python examples/staged_flow.py [STORE_DIR]   (default: a temp directory)

After the staged callbacks of the MongoDB async driver guide: a `actorstore.Flow`
subclass whose stage methods run in order of their number. Each stage ends
with at most one store request and returns `(future, *state)`; the next
stage is called with `(result, *state)` once the request is done, so no
thread waits between stages. `Flow(store).start("update", ...)` returns the
run's future.

1. A deposit: read the account, compose the new record and journal it,
   commit the new balance, report it.
2. The same flow whose compose stage fails twice with a transient error: the
   stage is re-run after the flow's backoff and the flow succeeds.
"""

from __future__ import annotations

import sys
import tempfile
import threading
from typing import Any

import actorstore

ACCOUNTS = "accounts"
JOURNAL = "journal"


class Deposit(actorstore.Flow):
    """Add an amount to an account's balance, journaling each change."""

    def update1Prepare(self, account: str, amount: int) -> tuple[Any, ...]:
        print(f"  update1Prepare: read {account}")
        return self.store.search(ACCOUNTS, account), account, amount

    def update2Compose(
        self, record: dict[str, Any], account: str, amount: int
    ) -> tuple[Any, ...]:
        new = {"balance": record["balance"] + amount, "version": record["version"] + 1}
        print(f"  update2Compose: {record} -> {new}; journal it")
        entry = {"account": account, "amount": amount, "balance": new["balance"]}
        journaled = self.store.insert(JOURNAL, f"{account}:{new['version']:06d}", entry)
        return journaled, account, new

    def update3Commit(
        self, _: None, account: str, new: dict[str, Any]
    ) -> tuple[Any, ...]:
        print(f"  update3Commit: write {account} = {new}")
        return self.store.update(ACCOUNTS, account, new), account, new

    def update4Report(self, _: None, account: str, new: dict[str, Any]) -> str:
        # A plain value (no request) ends the flow; it is the run's result.
        return f"{account} balance {new['balance']} (version {new['version']})"


class FlakyDeposit(Deposit):
    """A deposit whose compose stage fails twice before it works."""

    def __init__(self, store: actorstore.Store, *, failures: int) -> None:
        super().__init__(
            store, policy=actorstore.RetryPolicy(max_attempts=5, initial_wait=0.01)
        )
        self._lock = threading.Lock()
        self.failures = failures
        self.attempts = 0

    def update2Compose(
        self, record: dict[str, Any], account: str, amount: int
    ) -> tuple[Any, ...]:
        with self._lock:
            self.attempts += 1
            attempt = self.attempts
            if self.failures > 0:
                self.failures -= 1
                print(f"  update2Compose attempt {attempt}: service busy (transient)")
                raise actorstore.StoreBusyError("the pricing service is busy")
        print(f"  update2Compose attempt {attempt}: ok")
        return super().update2Compose(record, account, amount)


def main(path: str) -> None:
    with actorstore.open_store(path, threads=2) as store:
        store.create_table(ACCOUNTS, exist_ok=True)
        store.create_table(JOURNAL, exist_ok=True)
        store.upsert(ACCOUNTS, "alice", {"balance": 100, "version": 0}).get(5)

        print("1. deposit 25 into alice")
        result = Deposit(store).start("update", "alice", 25).get(timeout=5)
        print("flow result:", result)

        print("2. deposit 10 into alice, compose fails twice")
        flaky = FlakyDeposit(store, failures=2)
        result = flaky.start("update", "alice", 10).get(timeout=5)
        print("flow result:", result)
        print(f"compose ran {flaky.attempts} times")

        print("alice:", store.search(ACCOUNTS, "alice").get(timeout=5))
        for key, entry in store.scan(JOURNAL, prefix="alice:").get(timeout=5):
            print(f"journal {key}: {entry}")
        print("dead letters:", store.dead_letters.list())


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(sys.argv[1])
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(tmp)
