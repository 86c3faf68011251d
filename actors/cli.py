"""The `actorstore` command line: inspect, edit, load, compact, bench a store."""

from __future__ import annotations

import argparse
import base64
import collections
import json
import os
import sys
from collections.abc import Sequence
from typing import IO, Any

from actors.futures import OpFuture
from actors.store import Store, open_store
from retry import (
    DEAD_LETTER_TABLE,
    AttemptState,
    DeadLetter,
    RetryPolicy,
    UnknownDeadLetterError,
)
from storage import InvalidInputError, StoreError, TableInfo

__all__ = ["main"]

_PROG = "actorstore"
_TARGET_MISSED = 3  # `bench`: a measured target was missed


class CliError(Exception):
    """A user mistake the CLI reports in one line (exit code 2)."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with `argv` (default: the process's); return the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.run(args)
        return result
    except CliError as error:
        print(f"{_PROG}: error: {error}", file=sys.stderr)
        return 2
    except StoreError as error:
        print(f"{_PROG}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{_PROG}: interrupted", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=_PROG,
        description="Inspect and edit a store, load data, run the benchmark.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    info = commands.add_parser("info", help="tables, formats, counts, sizes")
    info.add_argument("path", help="the store directory")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(run=_info)

    get = commands.add_parser("get", help="print the value of a key")
    get.add_argument("path")
    get.add_argument("table")
    get.add_argument("key")
    get.set_defaults(run=_get)

    put = commands.add_parser("put", help="write a key (value parsed per the table)")
    put.add_argument("path")
    put.add_argument("table")
    put.add_argument("key")
    put.add_argument(
        "value", help="JSON for json tables, text for str, base64 for bytes"
    )
    put.set_defaults(run=_put)

    scan = commands.add_parser("scan", help="list records in key order")
    scan.add_argument("path")
    scan.add_argument("table")
    scan.add_argument("--prefix", help="only keys starting with this")
    scan.add_argument("--limit", type=int, help="at most this many records")
    scan.add_argument("--json", action="store_true", help="print JSON lines")
    scan.set_defaults(run=_scan)

    load = commands.add_parser("load", help="load a JSON-lines file into a table")
    load.add_argument("path")
    load.add_argument("table")
    load.add_argument("file", help="one JSON object per line")
    load.add_argument("--key", default="id", help="the field holding the key (id)")
    load.add_argument(
        "--window", type=int, default=256, help="most pending writes at once (256)"
    )
    load.set_defaults(run=_load)

    compact = commands.add_parser("compact", help="reclaim free pages of tables")
    compact.add_argument("path")
    compact.add_argument("tables", nargs="*", help="tables to compact (all)")
    compact.add_argument("--timeout", type=float, default=300.0, help="seconds")
    compact.set_defaults(run=_compact)

    dead = commands.add_parser(
        "dead-letters", help="list, replay or purge dead letters"
    )
    dead.add_argument("path")
    dead.add_argument("action", choices=["list", "replay", "purge"])
    dead.add_argument("--id", type=int, action="append", dest="ids", metavar="ID")
    dead.add_argument("--json", action="store_true", help="print JSON (list)")
    dead.set_defaults(run=_dead_letters)

    bench = commands.add_parser(
        "bench",
        help="measure the store against raw py-lmdb, an actor, peers",
        description=(
            "Run the same JSON workload on actorstore, raw py-lmdb and a "
            "hand-written pykka actor (and with --peers on sqlite3, RocksDB, "
            "diskcache, aiosqlite), print ops/s, latency, memory, and every "
            "ratio next to its target."
        ),
        epilog=(
            "Targets are enforced: when a measured target is missed, bench "
            f"exits {_TARGET_MISSED} after printing the figures; --no-targets "
            "makes them informative (exit 0). Timings depend on the machine: "
            "run it on an idle one."
        ),
    )
    bench.add_argument(
        "--ops", type=int, help="ops per workload (50,000; 5,000 with --quick)"
    )
    bench.add_argument(
        "--sync-ops", type=int, help="ops of fsync-per-op workloads (300; 50)"
    )
    bench.add_argument(
        "--memory-ops",
        type=int,
        help="upserts of the RSS check (1,000,000; 100,000)",
    )
    bench.add_argument(
        "--quick", action="store_true", help="a run ten times smaller, for a look"
    )
    bench.add_argument(
        "--peers",
        action="store_true",
        help="also run sqlite3, and RocksDB, diskcache, aiosqlite when installed "
        '(pip install "actorstore[peers]")',
    )
    bench.add_argument(
        "--no-targets",
        action="store_true",
        help="report missed targets but exit 0",
    )
    bench.add_argument("--dir", help="where to put the temporary stores")
    bench.add_argument("--json", action="store_true", help="print JSON")
    bench.add_argument(
        "--plot", metavar="FILE.png", help="draw throughput vs in-flight"
    )
    bench.set_defaults(run=_bench)
    return parser


# -- helpers -------------------------------------------------------------------


def _open(path: str, **options: Any) -> Store:
    if not os.path.isdir(os.path.join(path, "catalog")):
        raise CliError(f"no store at {path}; give the directory of an existing store")
    return open_store(path, threads=1, **options)


def _table_info(store: Store, table: str) -> TableInfo:
    return store.directory.table_info(table)


def _parse_key(info: TableInfo, text: str) -> Any:
    return _parse(info.name, info.key_format, "key", text)


def _parse_value(info: TableInfo, text: str) -> Any:
    return _parse(info.name, info.value_format, "value", text)


def _parse(table: str, format_: str, what: str, text: str) -> Any:
    """Return command-line `text` as a `what` of format `format_`."""
    if format_ == "int":
        try:
            return int(text)
        except ValueError:
            raise CliError(
                f"table {table!r} has int {what}s; {text!r} is not one"
            ) from None
    if format_ == "json":
        return _parse_json(text, what)
    if format_ == "bytes" and what == "key":
        return text.encode()
    if format_ == "bytes":
        try:
            return base64.b64decode(text, validate=True)
        except ValueError:
            raise CliError(
                f"table {table!r} has bytes values; give them in base64"
            ) from None
    return text


def _parse_json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise CliError(
            f"the {what} is not valid JSON ({error}); quote strings"
        ) from None


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _jsonable(value: Any) -> Any:
    return base64.b64encode(value).decode() if isinstance(value, bytes) else value


# -- commands ------------------------------------------------------------------


def _info(args: argparse.Namespace) -> int:
    with _open(args.path) as store:
        stats = store.directory.stats()
        dead = stats.pop(DEAD_LETTER_TABLE, {}).get("records", 0)
        report = {"path": store.path, "tables": stats, "dead_letters": dead}
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
        return 0
    print(f"store {report['path']}")
    if not stats:
        print("  no tables")
    for name, table in stats.items():
        print(
            f"  {name}: {table['records']} records, key {table['key_format']}, "
            f"value {table['value_format']}, durability {table['durability']}, "
            f"file {table['file_size']:,} bytes ({table['used_size']:,} used), "
            f"map {table['map_size']:,} bytes"
        )
    print(f"  dead letters: {dead}")
    return 0


def _get(args: argparse.Namespace) -> int:
    with _open(args.path) as store:
        info = _table_info(store, args.table)
        value = store.search(args.table, _parse_key(info, args.key)).get()
    print(_show(value))
    return 0


def _put(args: argparse.Namespace) -> int:
    with _open(args.path) as store:
        info = _table_info(store, args.table)
        key = _parse_key(info, args.key)
        store.upsert(args.table, key, _parse_value(info, args.value)).get()
    return 0


def _scan(args: argparse.Namespace) -> int:
    if args.limit is not None and args.limit < 0:
        raise CliError(f"--limit must be >= 0, not {args.limit}")
    with _open(args.path) as store:
        info = _table_info(store, args.table)
        prefix = _parse_key(info, args.prefix) if args.prefix is not None else None
        pairs = store.scan(args.table, prefix=prefix, limit=args.limit).get()
    for key, value in pairs:
        if args.json:
            print(json.dumps({"key": _jsonable(key), "value": _jsonable(value)}))
        else:
            print(f"{_show(key)}\t{_show(value)}")
    return 0


def _load(args: argparse.Namespace) -> int:
    if args.window < 1:
        raise CliError(f"--window must be >= 1, not {args.window}")
    try:
        source = open(args.file, encoding="utf-8")  # noqa: SIM115 - closed below
    except OSError as error:
        raise CliError(f"cannot read {args.file}: {error.strerror}") from None
    total_bytes = os.fstat(source.fileno()).st_size
    policy = RetryPolicy(max_attempts=5)
    with source, open_store(args.path, threads=1, retry=policy) as store:
        store.create_table(args.table, exist_ok=True)
        info = _table_info(store, args.table)
        progress = _Progress(total_bytes, sys.stderr)
        pending: collections.deque[tuple[int, OpFuture[None]]] = collections.deque()
        loaded = failed = 0

        def settle(number: int, future: OpFuture[None]) -> None:
            nonlocal loaded, failed
            error = future.exception()
            if error is None:
                loaded += 1
            else:
                failed += 1
                print(f"line {number}: {error}", file=sys.stderr)

        for number, line in enumerate(source, 1):
            progress.advance(len(line.encode()))
            if not line.strip():
                continue
            try:
                key, record = _parse_line(line, args.key, info)
                future = store.upsert(args.table, key, record, wait=True)
            except (InvalidInputError, CliError) as error:
                failed += 1
                _park_line(store, args.table, number, line, error)
                print(f"line {number}: {error}", file=sys.stderr)
                continue
            pending.append((number, future))
            while len(pending) >= args.window:
                settle(*pending.popleft())
        while pending:
            settle(*pending.popleft())
        progress.finish()
        store.flush()
    print(f"loaded {loaded} records into {args.table!r}; {failed} failed")
    if failed:
        print(
            f"{failed} failed lines are in the dead letters: "
            f"{_PROG} dead-letters {args.path} list",
            file=sys.stderr,
        )
    return 1 if failed else 0


def _parse_line(line: str, key_field: str, info: TableInfo) -> tuple[Any, Any]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise CliError(f"not valid JSON ({error})") from None
    if not isinstance(record, dict) or key_field not in record:
        raise CliError(f"not a JSON object with a {key_field!r} field")
    key = record[key_field]
    if info.key_format == "str" and isinstance(key, int | float):
        key = str(key)
    return key, record


def _park_line(
    store: Store, table: str, number: int, line: str, error: BaseException
) -> None:
    state = AttemptState()
    state.failed(error)
    letter = DeadLetter.new(
        op_type="upsert",
        table=table,
        key=f"line {number}",
        value=line.rstrip("\n"),
        state=state,
    )
    store.dead_letters.park(letter).get()


class _Progress:
    """A progress bar on a terminal; silent when the stream is not one."""

    def __init__(self, total: int, stream: IO[str]) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.stream = stream
        self.enabled = stream.isatty()
        self._shown = -1

    def advance(self, size: int) -> None:
        self.done += size
        percent = min(100, self.done * 100 // self.total)
        if self.enabled and percent != self._shown:
            self._shown = percent
            bar = "#" * (percent // 4)
            self.stream.write(f"\r[{bar:<25}] {percent:3d}%")
            self.stream.flush()

    def finish(self) -> None:
        if self.enabled:
            self.stream.write("\n")


def _compact(args: argparse.Namespace) -> int:
    if args.timeout <= 0:
        raise CliError(f"--timeout must be > 0 seconds, not {args.timeout}")
    with _open(args.path) as store:
        names = args.tables or store.tables()
        for name in names:
            reclaimed = store.compact(name, timeout=args.timeout)
            print(f"{name}: {reclaimed:,} bytes reclaimed")
    return 0


def _dead_letters(args: argparse.Namespace) -> int:
    with _open(args.path) as store:
        letters = store.dead_letters
        try:
            if args.action == "list":
                chosen = letters.list()
                if args.ids:
                    chosen = [letters.get(i) for i in args.ids]
                for letter in chosen:
                    print(_format_letter(letter, as_json=args.json))
                if not chosen and not args.json:
                    print("no dead letters")
                return 0
            if args.action == "replay":
                outcomes = letters.replay(args.ids)
                for letter_id, error in outcomes.items():
                    print(f"{letter_id}: {'replayed' if error is None else error}")
                return 1 if any(outcomes.values()) else 0
            purged = letters.purge(args.ids)
            print(f"purged {purged} dead letters")
            return 0
        except UnknownDeadLetterError as error:
            raise CliError(str(error)) from None


def _format_letter(letter: DeadLetter, *, as_json: bool) -> str:
    if as_json:
        return json.dumps(letter.to_json(), sort_keys=True)
    where = f"flow {letter.flow} stage {letter.stage}" if letter.flow else letter.table
    return (
        f"{letter.id}: {letter.op_type} {where} key={letter.key!r} "
        f"after {letter.attempts} attempts: {letter.error['type']}: "
        f"{letter.error['message']}"
    )


def _bench(args: argparse.Namespace) -> int:
    # Imported here: `import actors.cli` never loads the bench or its peers.
    from actors.bench import Workload, format_report, plot, run_bench

    minimums = {"ops": 1000, "sync_ops": 1, "memory_ops": 10}
    for name, minimum in minimums.items():
        given = getattr(args, name)
        if given is not None and given < minimum:
            flag = "--" + name.replace("_", "-")
            raise CliError(f"{flag} must be >= {minimum}, not {given}")
    base = Workload.quick() if args.quick else Workload()
    workload = base.replace(
        ops=args.ops, sync_ops=args.sync_ops, memory_ops=args.memory_ops
    )
    if args.plot:
        try:
            import matplotlib  # noqa: F401 - checked before the long run
        except ImportError:
            raise CliError(
                '--plot needs matplotlib: pip install "actorstore[plot]"'
            ) from None
    result = run_bench(workload, path=args.dir, peers=args.peers)
    if args.plot:
        plot(result, args.plot)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        print(format_report(result))
    if result.missed and not args.no_targets:
        return _TARGET_MISSED
    return 0
