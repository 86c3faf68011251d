"""Actor app: the application's own pykka actors talk to the store by message.

Usage: python examples/actor_app.py [STORE_DIR]   (default: a temp directory)

Two application actors (`pykka.ThreadingActor`s on daemon threads):

- a `Cataloguer` is told to shelve some books; it submits an upsert per book
  with `reply_to=self.actor_ref`, and handles the `actorstore.OpCompleted`
  messages in `on_receive`: each stored book is read back (again by
  message), and each read goes on to the reporter. One lookup of a book that
  was never shelved comes back as an `OpCompleted` whose `error` is a
  `actorstore.NotFoundError`.
- a `Reporter` collects what it is told and sets a `threading.Event` when
  the cataloguer says it is finished.

The main thread waits on the event, asks the reporter for its report (a
pykka ask), and stops both actors at the end. No thread blocks on a future.
"""

from __future__ import annotations

import sys
import tempfile
import threading
from dataclasses import dataclass
from typing import Any

import pykka

import actorstore

TABLE = "books"
BOOKS = {
    "dune": {"title": "Dune", "year": 1965},
    "emma": {"title": "Emma", "year": 1815},
    "ubik": {"title": "Ubik", "year": 1969},
}


@dataclass(frozen=True)
class Shelve:
    """Tell a Cataloguer to store these books, then read each back."""

    books: dict[str, dict[str, Any]]
    missing: str


@dataclass(frozen=True)
class Finished:
    """Told to the Reporter when every op the Cataloguer issued has completed."""

    errors: int


class GetReport:
    """Ask the Reporter for the lines it collected."""


class Reporter(pykka.ThreadingActor):
    """Collect report lines; set `done` when told the work is finished."""

    use_daemon_thread = True

    def __init__(self, done: threading.Event) -> None:
        super().__init__()
        self.done = done
        self.lines: list[str] = []

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, str):
            self.lines.append(message)
        elif isinstance(message, Finished):
            self.lines.append(f"finished with {message.errors} error(s)")
            self.done.set()
        elif isinstance(message, GetReport):
            return sorted(self.lines)
        return None


class Cataloguer(pykka.ThreadingActor):
    """Shelve books in the store and check them, all by message."""

    use_daemon_thread = True

    def __init__(
        self, store: actorstore.Store, reporter: pykka.ActorRef[Reporter]
    ) -> None:
        super().__init__()
        self.store = store
        self.reporter = reporter
        self.pending = 0
        self.errors = 0

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, Shelve):
            for key, book in message.books.items():
                self._submit(self.store.upsert, TABLE, key, book)
            self._submit(self.store.search, TABLE, message.missing)
        elif isinstance(message, actorstore.OpCompleted):
            self.pending -= 1
            self._completed(message)
            if self.pending == 0:
                self.reporter.tell(Finished(self.errors))
        return None

    def _submit(self, method: Any, *args: Any) -> None:
        # Count before submitting: the reply may arrive before this returns.
        self.pending += 1
        method(*args, reply_to=self.actor_ref)

    def _completed(self, message: actorstore.OpCompleted) -> None:
        if message.error is not None:
            self.errors += 1
            self.reporter.tell(
                f"{message.op_type.value} {message.key!r} (op {message.op_id}) "
                f"failed: {type(message.error).__name__}"
            )
        elif message.op_type is actorstore.OpType.UPSERT:
            self._submit(self.store.search, TABLE, message.key)
        elif message.op_type is actorstore.OpType.SEARCH:
            self.reporter.tell(f"search {message.key!r}: {message.result}")


def main(path: str) -> None:
    with actorstore.open_store(path, threads=2) as store:
        store.create_table(TABLE, exist_ok=True)
        done = threading.Event()
        reporter = Reporter.start(done)
        cataloguer = Cataloguer.start(store, reporter)
        try:
            cataloguer.tell(Shelve(BOOKS, missing="nope"))
            if not done.wait(5):
                raise TimeoutError("the actors did not finish within 5 s")
            for line in reporter.ask(GetReport(), timeout=5):
                print(line)
            print("records in store:", store.count(TABLE).get(timeout=5))
        finally:
            cataloguer.stop(timeout=5)
            reporter.stop(timeout=5)
        print("actors alive:", cataloguer.is_alive() or reporter.is_alive())
    print("store closed:", store.is_closed)


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(sys.argv[1])
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(tmp)
