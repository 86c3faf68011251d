"""Three styles: one demo (write, update, read, remove, close) run three ways.

Usage: python examples/three_styles.py [STORE_DIR]   (default: a temp directory)

As the Aerospike Node.js client demos its API with promises, callbacks and
async/await, this runs the same steps three times on a real store, opening
and closing it each time:

1. futures: each op returns an `OpFuture` at once; `.get()` waits for it;
2. callbacks: functions `fn(error, result)` chain the steps, and a
   `actorstore.Callback` subclass ends the chain; the main thread waits on a
   `threading.Event`;
3. asyncio: `await` each op; the event loop is never blocked (even `close()`
   runs in a thread).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import threading
from typing import Any

import actorstore

TABLE = "people"
KEY = "norma"
RECORD = {"name": "Norma", "age": 31}
UPDATED = {"name": "Norma", "age": 32}


def open_people(path: str) -> actorstore.Store:
    store = actorstore.open_store(path, threads=2)
    store.create_table(TABLE, key_format="str", value_format="json", exist_ok=True)
    return store


def with_futures(path: str) -> None:
    store = open_people(path)
    store.insert(TABLE, KEY, RECORD).get(timeout=5)
    print(f"futures: wrote {KEY}")
    store.update(TABLE, KEY, UPDATED).get(timeout=5)
    print(f"futures: updated {KEY}")
    print(f"futures: read {store.search(TABLE, KEY).get(timeout=5)}")
    store.remove(TABLE, KEY).get(timeout=5)
    exists = store.exists(TABLE, KEY).get(timeout=5)
    print(f"futures: removed {KEY}; exists: {exists}")
    store.close()
    print(f"futures: closed: {store.is_closed}")


class Removed(actorstore.Callback):
    """End of the callback chain: report the removal and wake the main thread."""

    def __init__(self, done: threading.Event) -> None:
        self.done = done
        self.error: BaseException | None = None

    def callback(self, result: Any) -> None:
        # Runs on the table's worker, inside the remove's transaction.
        print(f"callbacks: removed {KEY}")
        self.done.set()

    def exception(self, error: BaseException) -> None:
        self.error = error
        self.done.set()


def with_callbacks(path: str) -> None:
    store = open_people(path)
    done = threading.Event()
    removed = Removed(done)
    errors: list[BaseException] = []

    def failed(error: BaseException) -> None:
        errors.append(error)
        done.set()

    # Each step submits the next from its callback, as Node.js code nests them.
    # A callback runs inside its op's transaction: returning False would veto
    # the op, so these return None.
    def on_write(error: BaseException | None, _: object) -> None:
        if error is not None:
            return failed(error)
        print(f"callbacks: wrote {KEY}")
        store.update(TABLE, KEY, UPDATED, callback=on_update)

    def on_update(error: BaseException | None, _: object) -> None:
        if error is not None:
            return failed(error)
        print(f"callbacks: updated {KEY}")
        store.search(TABLE, KEY, callback=on_read)

    def on_read(error: BaseException | None, record: object) -> None:
        if error is not None:
            return failed(error)
        print(f"callbacks: read {record}")
        store.remove(TABLE, KEY, callback=removed)

    store.insert(TABLE, KEY, RECORD, callback=on_write)
    if not done.wait(5):
        raise TimeoutError("the callback chain did not finish in 5 s")
    error = errors[0] if errors else removed.error
    if error is not None:
        raise error
    store.close()
    print(f"callbacks: closed: {store.is_closed}")


async def with_asyncio(path: str) -> None:
    store = open_people(path)
    await store.insert(TABLE, KEY, RECORD)
    print(f"async: wrote {KEY}")
    await store.update(TABLE, KEY, UPDATED)
    print(f"async: updated {KEY}")
    print(f"async: read {await store.search(TABLE, KEY)}")
    await store.remove(TABLE, KEY)
    exists = await store.exists(TABLE, KEY)
    print(f"async: removed {KEY}; exists: {exists}")
    # close() flushes and joins the workers: keep that wait off the event loop.
    await asyncio.to_thread(store.close)
    print(f"async: closed: {store.is_closed}")


def main(path: str) -> None:
    with_futures(path)
    with_callbacks(path)
    asyncio.run(with_asyncio(path))


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(sys.argv[1])
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(tmp)
