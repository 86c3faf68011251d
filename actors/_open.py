"""open_store: a store on a directory of this host, served by local owners."""

from __future__ import annotations

import concurrent.futures
import os

from actorstore._options import check_options
from actorstore._transports.local import LocalTransport
from actorstore.retry import DeadLetterHook, RetryPolicy
from actorstore.storage import Durability, StoreDirectory
from actorstore.storage._session_records import DEFAULT_WINDOW as DEFAULT_OUTCOME_WINDOW
from actorstore.storage._store_directory import (
    DEFAULT_INITIAL_MAP_SIZE,
    DEFAULT_MAX_MAP_SIZE,
)
from actorstore.store import DEFAULT_WAIT_TIMEOUT, Store

__all__ = ["open_store"]


def open_store(
    path: str | os.PathLike[str],
    *,
    threads: int = 2,
    ops_max: int = 1024,
    durability: Durability | str = Durability.SYNC,
    retry: RetryPolicy | None = None,
    callback_executor: concurrent.futures.Executor | None = None,
    sync_interval: float = 1.0,
    wait: bool = True,
    wait_timeout: float | None = DEFAULT_WAIT_TIMEOUT,
    dead_letter_hook: DeadLetterHook | None = None,
    initial_map_size: int = DEFAULT_INITIAL_MAP_SIZE,
    max_map_size: int = DEFAULT_MAX_MAP_SIZE,
    outcome_window: float = DEFAULT_OUTCOME_WINDOW,
) -> Store:
    """Open (creating if needed) the store in directory `path` and start its workers.

    Args:
        threads: worker actors; each table is owned by one of them.
        ops_max: most ops outstanding. Past it a submitter waits for a slot
            (up to `wait_timeout` seconds, then `OpsMaxExceededError`); on a
            running event loop's thread the op is parked and admitted in
            order instead, so the loop never blocks; on a store thread, or
            with `wait=False`, it is refused at once.
        durability: default for new tables (`SYNC`: acknowledged once on disk;
            `NONE`: synced within `sync_interval` seconds, on flush and close).
        retry: the store-wide retry policy (tables and ops can narrow it);
            failed ops it retries are dead-lettered when it gives up.
        dead_letter_hook: called with each `DeadLetter` instead of
            writing it to the dead-letter table (if it raises, the table is
            written after all).
        callback_executor: run callbacks after commit on this executor
            instead of inside the op's transaction (they can no longer veto).
        initial_map_size, max_map_size: a table's map starts at the first and
            doubles when full, up to the second (then `StoreFullError`).
        outcome_window: seconds each table keeps the outcomes a client's ops
            had after its last group (exactly once: an op sent again is
            answered from them; a local store records only replayed dead
            letters), and the age past which a dead letter carrying its op's
            number is no longer replayed.

    Raises:
        InvalidOptionError: for a bad option (the message says which).
        StorageError: if the directory cannot be opened.
    """
    # Checked before the directory is created: bad options write nothing.
    check_options(
        threads=threads,
        ops_max=ops_max,
        wait=wait,
        wait_timeout=wait_timeout,
        sync_interval=sync_interval,
        retry=retry,
        dead_letter_hook=dead_letter_hook,
        callback_executor=callback_executor,
    )
    directory = StoreDirectory(
        path,
        durability=Durability.coerce(durability),
        initial_map_size=initial_map_size,
        max_map_size=max_map_size,
        outcome_window=outcome_window,
    )
    try:
        return Store(
            LocalTransport(directory, threads),
            ops_max=ops_max,
            wait=wait,
            wait_timeout=wait_timeout,
            retry=retry,
            callback_executor=callback_executor,
            sync_interval=sync_interval,
            dead_letter_hook=dead_letter_hook,
            outcome_window=outcome_window,
        )
    except BaseException:
        directory.close()
        raise
