"""Metrics on OpenTelemetry: the store's instruments and the few calls that record them.

With the extra `actorstore[otel]` installed (`opentelemetry-api`), a store
records through the global meter provider, which is a no-op until the
application installs an SDK (`opentelemetry.metrics.set_meter_provider`):

- `db.client.operation.duration` (histogram, s): from an op's submission
  to its final outcome, retries included; attributes `db.system.name`
  ("actorstore"), `db.operation.name` (the op type: a batch is one
  operation), `db.collection.name` (the table) and, on failure,
  `error.type` (the error's class name, as a dead letter names it);
- `actorstore.group.size` (histogram, ops) and `actorstore.commit.duration`
  (histogram, s: the group's transaction and commit, its sync included),
  per group that wrote, by `db.collection.name`;
- `actorstore.retries` (counter, by `db.operation.name`);
- `actorstore.dead_letters` (counter, by `db.operation.name` and
  `db.collection.name`);
- `actorstore.ops.in_flight` (observable up-down counter, by
  `db.namespace`, the store's path) and `actorstore.table.size`
  (observable gauge, bytes used, by `db.namespace` and
  `db.collection.name`), both read when the SDK collects.

Cost: an SDK records one measurement in several microseconds (7 us on the
machine the bench ran on), about what a whole op costs, so measurements are
made per group, never per op where ops end together. Ops that a group
acknowledges together are one duration measurement per table and op type,
their mean; so are the reads run at once on callers' threads that the
store samples (one in 16), gathered `READ_RUN` samples at a time and at
each collection. An op that ends on its own (a failure
after its retries, a reply to an actor, a callback after commit) is one
measurement. Op counts are in `actorstore.group.size`. Without
opentelemetry the calls below cost a module attribute read; with the API
and no SDK, one look at the global provider per group.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from actorstore.storage import StoreError

if TYPE_CHECKING:
    from actorstore._record import OpRecord as Op
    from actorstore.storage import OpType, StoreDirectory
    from actorstore.storage._requests import TableRequest

__all__ = [
    "DURATION_BUCKETS",
    "POLL_INTERVAL",
    "READ_RUN",
    "SYSTEM",
    "dead_lettered",
    "group_ran",
    "op_ended",
    "ops_succeeded",
    "otel",
    "poll",
    "read_sampled",
    "recording",
    "retried",
    "unwatch",
    "watch",
]

logger = logging.getLogger(__name__)


def _find_api() -> Any:
    """Return `opentelemetry.metrics`, or None without actorstore[otel]."""
    try:
        return importlib.import_module("opentelemetry.metrics")
    except ImportError:
        return None


otel: Any = _find_api()
"""The OpenTelemetry metrics API, looked for once (None: never record)."""

recording = False
"""Whether a meter provider that records (an SDK's) is set. Hot paths read it
before calling in; it turns true once, when `poll()` first sees one."""

READ_RUN = 256
"""Sampled reads at once measured together: the store times one read at
once in 16 (a read takes a few microseconds, and timing each would cost it
a tenth more), and every `READ_RUN` samples (about 4,096 reads) become one
measurement per table and op type, their mean; what is left is measured at
the next collection."""

DURATION_BUCKETS = (
    0.00001,
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
"""Bucket bounds advised for the duration histograms (seconds): an op takes
microseconds to milliseconds, far below the SDK's default bounds."""

_GROUP_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)

POLL_INTERVAL = 1.0
"""Seconds between two looks at the global meter provider, at most one."""

SYSTEM = "actorstore"
"""The `db.system.name` of every duration measurement, and the meter's name."""


class _Instruments:
    """The store's instruments, made once from the meter of a recording provider."""

    def __init__(self, meter: Any) -> None:
        self.duration = _histogram(
            meter,
            "db.client.operation.duration",
            "s",
            "Duration of database client operations.",
            DURATION_BUCKETS,
        )
        self.group_size = _histogram(
            meter,
            "actorstore.group.size",
            "{op}",
            "Ops run in one group commit (one transaction, one sync).",
            _GROUP_BUCKETS,
        )
        self.commit_duration = _histogram(
            meter,
            "actorstore.commit.duration",
            "s",
            "Duration of a group's transaction and commit, its sync included.",
            DURATION_BUCKETS,
        )
        self.retries = meter.create_counter(
            "actorstore.retries", "{retry}", "Retries scheduled after a failure."
        )
        self.dead_letters = meter.create_counter(
            "actorstore.dead_letters", "{letter}", "Ops given up and dead-lettered."
        )
        meter.create_observable_up_down_counter(
            "actorstore.ops.in_flight",
            [_observe_in_flight],
            "{op}",
            "Ops submitted and not finished, retries and callbacks included.",
        )
        meter.create_observable_gauge(
            "actorstore.table.size",
            [_observe_table_sizes],
            "By",
            "Bytes a table's data file uses (up to its last page).",
        )


def _histogram(
    meter: Any, name: str, unit: str, description: str, buckets: Sequence[float]
) -> Any:
    try:
        return meter.create_histogram(
            name, unit, description, explicit_bucket_boundaries_advisory=buckets
        )
    except TypeError:  # opentelemetry-api before 1.23 takes no advice
        return meter.create_histogram(name, unit, description)


_lock = threading.Lock()
_polled_at = -math.inf
_seen: object = None
"""The global meter provider `poll()` looked at last."""
_instruments: _Instruments | None = None
_op_attributes: dict[tuple[str, OpType, str | None], dict[str, str]] = {}
_table_attributes: dict[str, dict[str, str]] = {}
_read_samples: deque[tuple[str, OpType | None, float]] = deque()
"""Sampled reads at once not measured yet: (table, op type, seconds)."""
_reads_lock = threading.Lock()
_watched: dict[int, tuple[str, Callable[[], int], StoreDirectory | None]] = {}


def poll() -> bool:
    """Look at the global meter provider; return whether to record (`recording`).

    Looks at most once in `POLL_INTERVAL` seconds (asking the API for the
    provider costs about a microsecond; a group is polled until one records),
    so a provider set after a store opened is seen within that much. The
    instruments are made the first time a recording provider is seen.
    """
    global recording, _seen, _instruments, _polled_at
    if otel is None or recording:
        return recording
    now = time.monotonic()
    if now - _polled_at < POLL_INTERVAL:
        return False
    _polled_at = now
    provider = otel.get_meter_provider()
    if provider is _seen:
        return recording
    with _lock:
        if provider is not _seen and not recording and _records(provider):
            try:
                meter = provider.get_meter(SYSTEM, _version())
                _instruments = _Instruments(meter)
            except Exception:
                logger.error("making the store's instruments failed", exc_info=True)
            else:
                recording = True
        _seen = provider
    return recording


def _version() -> str | None:
    try:
        return importlib.metadata.version("actorstore")
    except importlib.metadata.PackageNotFoundError:
        return None


def _records(provider: object) -> bool:
    """Whether `provider` records: neither the API's no-op nor its proxy."""
    assert otel is not None
    if isinstance(provider, otel.NoOpMeterProvider):
        return False
    return not type(provider).__module__.startswith("opentelemetry.metrics")


def watch(
    store: object,
    namespace: str,
    in_flight: Callable[[], int],
    directory: StoreDirectory | None,
) -> None:
    """Report `store`'s ops in flight, and the sizes of its tables open in
    `directory` (None: its tables are on other hosts, which report their
    own), at each collection until `unwatch(store)`."""
    global _polled_at
    with _lock:
        _watched[id(store)] = (namespace, in_flight, directory)
        _polled_at = -math.inf  # a new store looks at once
    poll()


def unwatch(store: object) -> None:
    """Stop reporting `store` (it closed)."""
    with _lock:
        _watched.pop(id(store), None)


# -- the calls on an op's path (each checks `recording` first, or its caller does)


def group_ran(
    table: str, size: int, requests: Iterable[TableRequest | None], seconds: float
) -> None:
    """Record a group of `size` `requests` that ran on `table` in `seconds` (its
    commit and sync included), if one of them wrote: a group of reads
    commits nothing."""
    instruments = _instruments
    if instruments is None:
        return
    if not any(request is not None and request.writes for request in requests):
        return
    attributes = _table_attributes.get(table)
    if attributes is None:
        attributes = _table_attributes.setdefault(table, {"db.collection.name": table})
    instruments.group_size.record(size, attributes)
    instruments.commit_duration.record(seconds, attributes)


def ops_succeeded(ops: Sequence[Op]) -> None:
    """Record ops a group acknowledged together: their mean duration, one
    measurement per table and op type."""
    instruments = _instruments
    if instruments is None:
        return
    now = time.monotonic()
    first = ops[0]
    op_type, table = first.type, first.table
    submitted = 0.0
    for op in ops:  # a group is one table's, and mostly of one op type
        if op.type is not op_type or op.table != table:
            _mixed_succeeded(instruments, ops, now)
            return
        submitted += op.submitted_at
    if op_type is not None:
        mean = now - submitted / len(ops)
        instruments.duration.record(mean, _attributes(table, op_type, None))


def _mixed_succeeded(instruments: _Instruments, ops: Sequence[Op], now: float) -> None:
    """Record ops of several tables or types: one mean per table and type."""
    runs: dict[tuple[str, OpType], list[float]] = {}
    for op in ops:
        if op.type is None:
            continue  # never: an op that ended was submitted with its type
        key = (op.table, op.type)
        run = runs.get(key)
        if run is None:
            runs[key] = [1, now - op.submitted_at]
        else:
            run[0] += 1
            run[1] += now - op.submitted_at
    for (table, op_type), (count, seconds) in runs.items():
        instruments.duration.record(seconds / count, _attributes(table, op_type, None))


def op_ended(op: Op, error: BaseException | None) -> None:
    """Record one op that ended on its own, with its error's class if it failed."""
    instruments = _instruments
    if instruments is None or op.type is None:
        return
    kind = None if error is None else type(error).__name__
    instruments.duration.record(
        time.monotonic() - op.submitted_at, _attributes(op.table, op.type, kind)
    )


def read_sampled(table: str, op_type: OpType | None, seconds: float) -> None:
    """Keep the time of a read that ran at once on a caller's thread, one of
    those the store samples (`stats()` takes one in 16 for its latencies;
    this takes the same ones). Every `READ_RUN` samples, and at each
    collection, each table and op type's samples are one measurement, their
    mean."""
    samples = _read_samples
    samples.append((table, op_type, seconds))  # atomic: no lock on a read
    if len(samples) >= READ_RUN:
        _flush_reads()


def retried(op_type: OpType | None) -> None:
    """Count a retry scheduled for an op of `op_type`."""
    instruments = _instruments
    if instruments is not None and op_type is not None:
        instruments.retries.add(1, {"db.operation.name": op_type.value})


def dead_lettered(table: str, op_type: OpType | None) -> None:
    """Count an op of `op_type` on `table` dead-lettered."""
    instruments = _instruments
    if instruments is not None:
        name = op_type.value if op_type is not None else "unknown"
        instruments.dead_letters.add(
            1, {"db.operation.name": name, "db.collection.name": table}
        )


def _attributes(table: str, op_type: OpType, error: str | None) -> dict[str, str]:
    """Return the (shared, never changed) attributes of a duration measurement."""
    key = (table, op_type, error)
    attributes = _op_attributes.get(key)
    if attributes is None:
        attributes = {
            "db.system.name": SYSTEM,
            "db.operation.name": op_type.value,
            "db.collection.name": table,
        }
        if error is not None:
            attributes["error.type"] = error
        attributes = _op_attributes.setdefault(key, attributes)
    return attributes


# -- what the SDK reads when it collects ---------------------------------------------


def _flush_reads() -> None:
    """Measure the reads at once sampled since the last measurement."""
    samples = _read_samples
    runs: dict[tuple[str, OpType], list[float]] = {}
    with _reads_lock:  # one flush at a time; reads append meanwhile
        for _ in range(len(samples)):
            table, op_type, seconds = samples.popleft()
            if op_type is None:
                continue  # never: a read is submitted with its type
            run = runs.get((table, op_type))
            if run is None:
                runs[table, op_type] = [1, seconds]
            else:
                run[0] += 1
                run[1] += seconds
    instruments = _instruments
    if instruments is None:
        return
    for (table, op_type), (count, total) in runs.items():
        instruments.duration.record(total / count, _attributes(table, op_type, None))


def _observe_in_flight(options: Any) -> Iterable[Any]:
    assert otel is not None
    _flush_reads()  # collections see every read at once made before them
    with _lock:
        watched = list(_watched.values())
    observations = []
    for namespace, in_flight, _ in watched:
        try:
            observations.append(
                otel.Observation(in_flight(), {"db.namespace": namespace})
            )
        except Exception:
            logger.debug("in-flight count of %s failed", namespace, exc_info=True)
    return observations


def _observe_table_sizes(options: Any) -> Iterable[Any]:
    assert otel is not None
    with _lock:
        watched = list(_watched.values())
    observations = []
    for namespace, _, directory in watched:
        if directory is None:
            continue
        for table in directory.open_tables():
            try:
                size = table.used_size()
            except StoreError:  # closed meanwhile: nothing to report
                continue
            observations.append(
                otel.Observation(
                    size, {"db.namespace": namespace, "db.collection.name": table.name}
                )
            )
    return observations
