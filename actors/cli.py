"""The `actorstore` command line: inspect, edit, load, back up, triage, bench a store.

Argument parsing and printing over the public API only: every command opens
the store, calls the same methods an application would, and closes it.
Mistakes print one line and exit 2; store errors print one line and exit 1.
"""

from __future__ import annotations

import argparse
import base64
import collections
import contextlib
import datetime
import importlib.util
import io
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import IO, Any

from actorstore._open import open_store
from actorstore._text_forms import TableText
from actorstore.futures import OpFuture
from actorstore.retry import (
    DEAD_LETTER_TABLE,
    AttemptState,
    DeadLetter,
    DeadLetterSummary,
    DeadLetterTable,
    RetryPolicy,
    UnknownDeadLetterError,
)
from actorstore.storage import (
    InvalidInputError,
    NotFoundError,
    StoreError,
    StoreFullError,
    TableBusyError,
    TableInfo,
    UnknownTableError,
    registered_formats,
    validate_table_name,
)
from actorstore.storage._table_codecs import TableCodecs
from actorstore.store import Store

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
        sys.stdout.flush()
        return result
    except CliError as error:
        _error(str(error))
        return 2
    except UnknownTableError as error:
        _error(
            f"table {error.table!r} does not exist in {args.path}; create it with: "
            f"{_PROG} create {args.path} {error.table}"
        )
        return 1
    except InvalidInputError as error:  # a bad name, key or value: a mistake
        _error(_cli_text(error, args.path))
        return 2
    except StoreError as error:
        _error(_cli_text(error, args.path))
        return 1
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, as cat does. Point
        # stdout at devnull so the interpreter's last flush cannot fail too.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        _error("interrupted")
        return 130


def _error(message: str) -> None:
    print(f"{_PROG}: error: {message}", file=sys.stderr)


def _cli_text(error: BaseException, path: str) -> str:
    """Return `error`'s message with its hints naming CLI commands, each once.

    The library's messages name Python calls (`exists()`, `compact()`,
    `store.dead_letters`); on the command line the remedy is a command.
    """
    if isinstance(error, UnknownDeadLetterError):
        ids = ", ".join(map(str, error.ids))
        return (
            f"no dead letter with id {ids}; list them with: "
            f"{_PROG} dead-letters {path} list"
        )
    if isinstance(error, NotFoundError) and error.table is not None:
        return (
            f"table {error.table!r}: key {error.key!r} not found; list the keys "
            f"with: {_PROG} scan {path} {error.table}"
        )
    if isinstance(error, StoreFullError) and error.table is not None:
        return (
            f"table {error.table!r} is full: it reached its maximum size of "
            f"{error.max_map_size} bytes; remove data, then reclaim its space "
            f"with: {_PROG} compact {path} {error.table}"
        )
    if isinstance(error, TableBusyError) and error.table is not None:
        who = f"pid {error.pid}" if error.pid is not None else "pid unknown"
        return (
            f"table {error.table!r} is open in another process ({who}); close "
            f"it there, then run: {_PROG} compact {path} {error.table}"
        )
    text = str(error)
    return text.replace(
        "(see store.dead_letters)", f"(list it with: {_PROG} dead-letters {path} list)"
    )


def _escape(text: str) -> str:
    r"""Return `text` on one line: backslash, tab, newline, CR as \\, \t, \n, \r."""
    if "\\" not in text and "\t" not in text and "\n" not in text and "\r" not in text:
        return text
    return (
        text.replace("\\", "\\\\")
        .replace("\t", "\\t")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
    )


_ONE_LINE_FORMATS = frozenset({"json", "int", "bytes"})
"""Formats whose text form never holds a tab or a line break (JSON text,
decimal digits, base64), so `scan` prints it as it is."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=_PROG,
        description="Inspect and edit a store, load data, check and compact it, "
        "run the benchmark.",
        epilog="Mistakes print one line and exit 2; store errors exit 1.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    store_help = "the store's directory"

    info = commands.add_parser("info", help="tables, formats, counts, sizes")
    info.add_argument("path", help=store_help)
    info.add_argument("--json", action="store_true", help="print one JSON object")
    info.set_defaults(run=_info)

    stats = commands.add_parser(
        "stats",
        help="each table's records, bytes, last sync, dead letters",
        description="Print one row per table: records, bytes used, bytes mapped, "
        "last sync and dead letters (those whose op was on the table).",
    )
    stats.add_argument("path", help=store_help)
    stats.add_argument("--json", action="store_true", help="print one JSON object")
    stats.set_defaults(run=_stats)

    create = commands.add_parser("create", help="create a table")
    create.add_argument("path", help=store_help + " (created if missing)")
    create.add_argument("table", help="the new table's name")
    formats = ", ".join(registered_formats())
    create.add_argument(
        "--key-format", default="str", help=f"how keys are stored ({formats}; str)"
    )
    create.add_argument(
        "--value-format",
        default="json",
        help=f"how values are stored ({formats}; json)",
    )
    create.add_argument(
        "--durability",
        choices=["sync", "none"],
        help="sync: on disk before acknowledged; none: synced lazily (the "
        "store's default: sync)",
    )
    create.set_defaults(run=_create)

    get = commands.add_parser("get", help="print the value of a key")
    get.add_argument("path", help=store_help)
    get.add_argument("table", help="the table")
    get.add_argument("key", help="the key, as its format writes text")
    get.set_defaults(run=_get)

    put = commands.add_parser("put", help="write a key (value parsed per the table)")
    put.add_argument("path", help=store_help)
    put.add_argument("table", help="the table")
    put.add_argument("key", help="the key, as its format writes text")
    put.add_argument(
        "value",
        help="as its format writes text: JSON for json, the text for str, a "
        "number for int, base64 for bytes",
    )
    put.set_defaults(run=_put)

    scan = commands.add_parser(
        "scan",
        help="list records in key order",
        description="Print one record per line: key TAB value (or JSON lines "
        "with --json), streamed page by page. A key or value in a format whose "
        "text may hold a tab or a line break (str, or your own codec's) is "
        "escaped so that it stays one field on one line: backslash, tab, "
        "newline and carriage return are written \\\\, \\t, \\n and \\r "
        "(printf '%b' undoes it). JSON, int and bytes (base64) text is "
        "printed as it is.",
    )
    scan.add_argument("path", help=store_help)
    scan.add_argument("table", help="the table")
    scan.add_argument("--prefix", help="only keys starting with this")
    scan.add_argument("--start", help="the first key (inclusive)")
    scan.add_argument("--end", help="stop before this key (exclusive)")
    scan.add_argument(
        "--reverse", action="store_true", help="from the last key to the first"
    )
    scan.add_argument("--limit", type=int, help="at most this many records")
    scan.add_argument(
        "--json", action="store_true", help='print {"key": ..., "value": ...} lines'
    )
    scan.set_defaults(run=_scan)

    load = commands.add_parser(
        "load",
        help="load a JSON-lines file into a table",
        description="Upsert each line's JSON object under its key field. A line "
        "that cannot be loaded (not JSON, no key field, a key or value the table "
        "refuses) is reported with its number, and kept with --rejects to fix "
        "and load again; a write that fails (after retries) becomes a dead "
        "letter, which dead-letters replay runs again. A numeric key loaded "
        "into a table of str keys is stored as its text, and said so.",
    )
    load.add_argument("path", help=store_help + " (created if missing)")
    load.add_argument("table", help="the table (created if missing)")
    load.add_argument("file", help="one JSON object per line; - reads standard input")
    load.add_argument("--key", default="id", help="the field holding the key (id)")
    load.add_argument(
        "--window", type=int, default=256, help="most pending writes at once (256)"
    )
    load.add_argument(
        "--rejects",
        metavar="FILE",
        help="write the lines that could not be loaded to FILE, as they were",
    )
    load.set_defaults(run=_load)

    check = commands.add_parser(
        "check",
        help="verify tables in full",
        description="Walk every page of each table (or the one given) and "
        "compare with LMDB's own counts; exit 1 if any table is damaged.",
    )
    check.add_argument("path", help=store_help)
    check.add_argument("table", nargs="?", help="only this table (all)")
    check.set_defaults(run=_check)

    compact = commands.add_parser("compact", help="reclaim free pages of tables")
    compact.add_argument("path", help=store_help)
    compact.add_argument("tables", nargs="*", help="tables to compact (all)")
    compact.add_argument(
        "--timeout", type=float, default=300.0, help="seconds to wait at most (300)"
    )
    compact.set_defaults(run=_compact)

    backup = commands.add_parser(
        "backup",
        help="copy a store, while it serves, into a new directory",
        description="Copy every table, the catalog and the dead letters, each "
        "under one read transaction, into DEST (which must not exist), fsynced; "
        "the copy opens as a store. Writers of the store keep going.",
    )
    backup.add_argument("path", metavar="SRC", help=store_help)
    backup.add_argument("dest", metavar="DEST", help="the new directory")
    backup.add_argument(
        "--no-compact",
        dest="compact",
        action="store_false",
        help="copy data files as they are, free pages included",
    )
    backup.set_defaults(run=_backup)

    dead = commands.add_parser(
        "dead-letters",
        help="list, replay, purge or summarize dead letters",
        description="list prints one letter per line, tab-separated: id, op "
        "type, table (or flow.stage), key (JSON), attempts, error type, error "
        "message. replay runs letters again and removes those that commit; "
        "purge removes them; summary counts them by table, op and error. The "
        "filters narrow each action: a letter must meet each filter given.",
        epilog="Times (--since, --until) are ISO 8601 (2024-05-01, "
        "2024-05-01T12:30:00+02:00; without a zone, local time), seconds since "
        "the epoch, or an age: 90s, 15m, 2h, 7d ago.",
    )
    dead.add_argument("path", help=store_help)
    dead.add_argument(
        "action", choices=["list", "replay", "purge", "summary"], help="what to do"
    )
    dead.add_argument(
        "--id",
        type=int,
        nargs="+",
        action="extend",
        dest="ids",
        metavar="ID",
        help="only these letters (all); --id A B or --id A --id B",
    )
    dead.add_argument("--table", help="only letters of this table")
    dead.add_argument(
        "--op", help="only letters of this op type: upsert, insert, ..., flow"
    )
    dead.add_argument(
        "--error",
        help="only letters whose last error is of this class, as StoreBusyError",
    )
    dead.add_argument("--since", help="only letters that last failed at or after")
    dead.add_argument("--until", help="only letters that last failed at or before")
    dead.add_argument(
        "--rate",
        type=float,
        metavar="PER_SECOND",
        help="replay: start at most this many replays a second",
    )
    dead.add_argument(
        "--json", action="store_true", help="print JSON (list: lines; summary)"
    )
    dead.set_defaults(run=_dead_letters)

    bench = commands.add_parser(
        "bench",
        help="measure the store against raw py-lmdb, an actor, peers",
        description=(
            "Run the same JSON workload on actorstore, raw py-lmdb and a "
            "hand-written pykka actor (and with --peers on sqlite3, RocksDB, "
            "diskcache, aiosqlite), and asyncio against threads on the same "
            "store, print ops/s, latency, memory, and every ratio next to its "
            "target."
        ),
        epilog=(
            "Targets are enforced: when a measured target is missed, bench "
            f"exits {_TARGET_MISSED} after printing the figures; --no-targets "
            "makes them informative (exit 0), and so does a run too short to "
            "judge them (fewer than 3 rounds, such as --quick: it says so). "
            "Timings depend on the machine: run it on an idle one."
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
        "--rounds",
        type=int,
        help="runs of actorstore's and raw py-lmdb's workloads, in turns; each "
        "figure is their median (3; 1 with --quick)",
    )
    bench.add_argument(
        "--quick",
        action="store_true",
        help="one round ten times smaller, for a look: targets shown, not enforced",
    )
    bench.add_argument(
        "--peers",
        action="store_true",
        help="also run sqlite3, and RocksDB, diskcache, aiosqlite when installed "
        '(pip install "actorstore[peers]")',
    )
    bench.add_argument(
        "--cluster",
        action="store_true",
        help="also run SYNC upserts and single-op latency through connect_store on "
        'a simulated Ray cluster (pip install "actorstore[cluster]")',
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
    validate_table_name(table)  # internal tables are not the CLI's to edit
    return store.table_info(table)


def _text_forms(store: Store, table: str) -> TableText:
    """Return the text forms of a user table's keys and values."""
    info = _table_info(store, table)
    return TableText(info.name, info.key_format, info.value_format)


def _jsonable(value: Any) -> Any:
    return base64.b64encode(value).decode() if isinstance(value, bytes) else value


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


# -- commands ------------------------------------------------------------------


def _info(args: argparse.Namespace) -> int:
    with _open(args.path) as store:
        stats = store.stats()["tables"]
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


def _stats(args: argparse.Namespace) -> int:
    with _open(args.path) as store:
        tables = store.stats()["tables"]
        by_table = store.dead_letters.summary().by_table
        path = store.path
    report: dict[str, Any] = {
        "path": path,
        "tables": {
            name: {
                "records": table["records"],
                "used_size": table["used_size"],
                "map_size": table["map_size"],
                "file_size": table["file_size"],
                "durability": table["durability"],
                "last_sync": table["last_sync"],
                "dead_letters": by_table.get(name, 0),
            }
            for name, table in tables.items()
            if not name.startswith("_")
        },
        "dead_letters": sum(by_table.values()),
    }
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
        return 0
    header = (
        "table",
        "records",
        "bytes used",
        "bytes mapped",
        "last sync",
        "dead letters",
    )
    rows = [header] + [
        (
            name,
            f"{table['records']:,}",
            f"{table['used_size']:,}",
            f"{table['map_size']:,}",
            _local_time(table["last_sync"]),
            f"{table['dead_letters']:,}",
        )
        for name, table in report["tables"].items()
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        cells = [row[0].ljust(widths[0])]
        cells += [
            cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)
        ]
        print("  ".join(cells))
    tables_total = sum(table["dead_letters"] for table in report["tables"].values())
    others = report["dead_letters"] - tables_total
    elsewhere = f" ({others} of flows or dropped tables)" if others else ""
    print(f"dead letters: {report['dead_letters']:,}{elsewhere}")
    return 0


def _create(args: argparse.Namespace) -> int:
    with open_store(args.path, threads=1) as store:
        store.create_table(
            args.table,
            key_format=args.key_format,
            value_format=args.value_format,
            durability=args.durability,
            exist_ok=True,
        )
        info = _table_info(store, args.table)
    print(
        f"table {info.name!r}: key {info.key_format}, value {info.value_format}, "
        f"durability {info.durability.value}"
    )
    return 0


def _get(args: argparse.Namespace) -> int:
    with _open(args.path) as store:
        forms = _text_forms(store, args.table)
        value = store.search(args.table, forms.parse_text(args.key, what="key")).get()
    print(forms.format_text(value))
    return 0


def _put(args: argparse.Namespace) -> int:
    with _open(args.path) as store:
        forms = _text_forms(store, args.table)
        key = forms.parse_text(args.key, what="key")
        store.upsert(args.table, key, forms.parse_text(args.value)).get()
    return 0


def _scan(args: argparse.Namespace) -> int:
    if args.limit is not None and args.limit < 0:
        raise CliError(f"--limit must be >= 0, not {args.limit}")
    with _open(args.path) as store:
        forms = _text_forms(store, args.table)
        bounds = {
            name: forms.parse_text(text, what="key") if text is not None else None
            for name, text in (
                ("prefix", args.prefix),
                ("start", args.start),
                ("end", args.end),
            )
        }
        if bounds["prefix"] is not None and forms.key_format in ("int", "json"):
            raise CliError(
                f"table {args.table!r} has {forms.key_format} keys, which have no "
                "prefixes; scan with --start and --end instead"
            )
        key_text = _text_of(forms, "key")
        value_text = _text_of(forms, "value")
        pairs = store.scan_iter(
            args.table,
            prefix=bounds["prefix"],
            start=bounds["start"],
            end=bounds["end"],
            reverse=args.reverse,
        )
        for count, (key, value) in enumerate(pairs):
            if args.limit is not None and count >= args.limit:
                break
            if args.json:
                print(json.dumps({"key": _jsonable(key), "value": _jsonable(value)}))
            else:
                print(f"{key_text(key)}\t{value_text(value)}")
    return 0


def _text_of(forms: TableText, what: str) -> Callable[[Any], str]:
    """Return how `scan` prints a key or value (`what`) of the table: its text
    form, escaped unless that never holds a tab or a line break."""
    format_ = forms.key_format if what == "key" else forms.value_format
    if format_ in _ONE_LINE_FORMATS:
        return lambda obj: forms.format_text(obj, what=what)
    return lambda obj: _escape(forms.format_text(obj, what=what))


def _load(args: argparse.Namespace) -> int:
    if args.window < 1:
        raise CliError(f"--window must be >= 1, not {args.window}")
    policy = RetryPolicy(max_attempts=5)
    with contextlib.ExitStack() as closing:
        source, total_bytes = _open_source(args.file, closing)
        rejects = _open_rejects(args.rejects, closing) if args.rejects else None
        store = closing.enter_context(open_store(args.path, threads=1, retry=policy))
        store.create_table(args.table, exist_ok=True)
        info = _table_info(store, args.table)
        codecs = TableCodecs(
            info.name, info.key_format, info.value_format, info.key_encoding
        )
        progress = _Progress(total_bytes, sys.stderr)
        pending: collections.deque[tuple[int, Any, Any, OpFuture[None]]] = (
            collections.deque()
        )
        loaded = rejected = failed = converted = 0

        def settle(number: int, key: Any, record: Any, future: OpFuture[None]) -> None:
            nonlocal loaded, failed
            error = future.exception()
            if error is None:
                loaded += 1
                return
            failed += 1
            print(f"line {number}: {_cli_text(error, args.path)}", file=sys.stderr)
            if not _kept_by_the_store(error):
                _park_failed_write(store, codecs, key, record, error)

        for number, line in enumerate(source, 1):
            progress.advance(len(line.encode()))
            if not line.strip():
                continue
            try:
                key, record, as_text = _parse_line(line, args.key, info)
                future = store.upsert(args.table, key, record)
            except (InvalidInputError, CliError) as error:
                rejected += 1
                print(f"line {number}: {_cli_text(error, args.path)}", file=sys.stderr)
                if rejects is not None:
                    rejects.write(line if line.endswith("\n") else line + "\n")
                continue
            if as_text:
                converted += 1
                if converted == 1:
                    print(
                        f"note: line {number}: the key {record[args.key]!r} is a "
                        f"number and table {args.table!r} has str keys: it is "
                        f"stored as the text {key!r} (and so is every numeric key "
                        "after it; create the table with --key-format int to keep "
                        "numbers)",
                        file=sys.stderr,
                    )
            pending.append((number, key, record, future))
            while len(pending) >= args.window:
                settle(*pending.popleft())
        while pending:
            settle(*pending.popleft())
        progress.finish()
        store.flush()
    print(
        f"loaded {_plural(loaded, 'record')} into {args.table!r}; "
        f"{rejected + failed} failed"
    )
    if converted:
        print(f"{_plural(converted, 'numeric key')} stored as text", file=sys.stderr)
    if rejected:
        kept = (
            f"they are in {args.rejects}: fix them and load that file"
            if rejects is not None
            else "keep them with --rejects FILE, fix them and load that file"
        )
        print(
            f"{_plural(rejected, 'line')} could not be loaded (see above); {kept}",
            file=sys.stderr,
        )
    if failed:
        print(
            f"{_plural(failed, 'write')} failed and are in the dead letters; "
            f"replay them with: {_PROG} dead-letters {args.path} replay",
            file=sys.stderr,
        )
    return 1 if rejected or failed else 0


def _open_source(name: str, closing: contextlib.ExitStack) -> tuple[IO[str], int]:
    """Return the lines to load (standard input for "-", left open) and their
    size in bytes (0: unknown); a file is closed with `closing`."""
    if name == "-":
        buffer = getattr(sys.stdin, "buffer", None)
        if buffer is None:  # a stream without bytes underneath
            return sys.stdin, 0
        stdin = io.TextIOWrapper(buffer, encoding="utf-8")
        closing.callback(stdin.detach)  # else, collected, it would close stdin
        return stdin, 0
    try:
        source = closing.enter_context(open(name, encoding="utf-8"))  # noqa: SIM115
    except OSError as error:
        raise CliError(f"cannot read {name}: {error.strerror}") from None
    return source, os.fstat(source.fileno()).st_size


def _open_rejects(name: str, closing: contextlib.ExitStack) -> IO[str]:
    try:
        return closing.enter_context(open(name, "w", encoding="utf-8"))
    except OSError as error:
        raise CliError(f"cannot write {name}: {error.strerror}") from None


def _parse_line(line: str, key_field: str, info: TableInfo) -> tuple[Any, Any, bool]:
    """Return a line's key and record, and whether its numeric key became text.

    Raises:
        CliError: for a line that is not a JSON object with the key field, or
            whose key is a bool for a table of str keys.
    """
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise CliError(f"not valid JSON ({error})") from None
    if not isinstance(record, dict) or key_field not in record:
        raise CliError(f"not a JSON object with a {key_field!r} field")
    key = record[key_field]
    if info.key_format == "str" and isinstance(key, int | float):
        if isinstance(key, bool):
            raise CliError(
                f"its key {key_field!r} is {json.dumps(key)}, and table "
                f"{info.name!r} has str keys; give the key as a string"
            )
        return str(key), record, True
    return key, record, False


def _kept_by_the_store(error: BaseException) -> bool:
    """Whether a failed write's error says the store dead-lettered it."""
    return getattr(error, "dead_letter", None) is not None and getattr(
        error, "written", True
    )


def _park_failed_write(
    store: Store, codecs: TableCodecs, key: Any, record: Any, error: BaseException
) -> None:
    """Park an upsert that failed for good (a full disk, say) as a dead letter
    that `dead-letters replay` runs again."""
    state = AttemptState()
    state.failed(error)
    letter = DeadLetter.new(
        op_type="upsert",
        table=codecs.name,
        key=key,
        value=record,
        state=state,
        key_bytes=codecs.encode_key(key),
        value_bytes=codecs.encode_value(record),
    )
    store.dead_letters.park(letter).get()


class _Progress:
    """A progress bar on a terminal; silent when the stream is not one."""

    def __init__(self, total: int, stream: IO[str]) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.stream = stream
        self.enabled = total > 0 and stream.isatty()  # 0: standard input
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


def _check(args: argparse.Namespace) -> int:
    with _open(args.path) as store:
        reports = store.check(args.table)
    damaged = 0
    for name, report in reports.items():
        if report.ok:
            print(f"{name}: ok, {_plural(report.records, 'record')}")
        else:
            damaged += 1
            print(f"{name}: DAMAGED: {report.problem}")
            if report.remedy:
                print(f"  remedy: {report.remedy}")
    if damaged:
        _error(f"{_plural(damaged, 'table')} damaged; the remedy is above")
    return 1 if damaged else 0


def _compact(args: argparse.Namespace) -> int:
    if args.timeout <= 0:
        raise CliError(f"--timeout must be > 0 seconds, not {args.timeout}")
    with _open(args.path) as store:
        names = args.tables or store.tables()
        for name in names:
            reclaimed = store.compact(name, timeout=args.timeout)
            print(f"{name}: {reclaimed:,} bytes reclaimed")
    return 0


def _backup(args: argparse.Namespace) -> int:
    progress = _TableProgress(sys.stderr)
    with _open(args.path) as store:
        result = store.backup(args.dest, compact=args.compact, progress=progress)
    progress.finish()
    print(
        f"backed up {_plural(len(result.tables), 'table')} "
        f"({_plural(result.records, 'record')}, {result.bytes:,} bytes) "
        f"to {result.path} in {result.seconds:.2f} s"
    )
    return 0


class _TableProgress:
    """A progress line, one table at a time: rewritten in place on a terminal,
    one line per table otherwise."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.in_place = stream.isatty()
        self.shown = False

    def __call__(self, table: str, done: int, total: int) -> None:
        line = f"backup: {done}/{total} tables copied ({table})"
        if self.in_place:
            self.stream.write(f"\r\x1b[K{line}")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
        self.shown = True

    def finish(self) -> None:
        if self.in_place and self.shown:
            self.stream.write("\n")


def _dead_letters(args: argparse.Namespace) -> int:
    if args.rate is not None and args.action != "replay":
        raise CliError(f"--rate paces replay only; leave it out of {args.action}")
    if args.rate is not None and not 0 < args.rate < float("inf"):
        raise CliError(
            f"--rate must be a number of replays a second > 0, not {args.rate}"
        )
    filters = _letter_filters(args)
    with _open(args.path) as store:
        letters = store.dead_letters
        try:
            if args.action == "list":
                return _list_letters(letters, args.ids, filters, as_json=args.json)
            if args.action == "replay":
                return _replay_letters(letters, args.ids, filters, args.rate, args.path)
            if args.action == "summary":
                if args.ids:
                    chosen = letters.list(ids=args.ids, **filters)
                    summary = DeadLetterSummary.of(chosen)
                else:
                    summary = letters.summary(**filters)
                print(_format_summary(summary, as_json=args.json))
                return 0
            purged = letters.purge(args.ids, **filters)
            print(f"purged {_plural(purged, 'dead letter')}")
            return 0
        except UnknownDeadLetterError as error:
            raise CliError(_cli_text(error, args.path)) from None


def _letter_filters(args: argparse.Namespace) -> dict[str, Any]:
    """Return the dead-letter filters the arguments give, as keyword arguments."""
    given = {
        "table": args.table,
        "op": args.op,
        "error": args.error,
        "since": _parse_time("--since", args.since),
        "until": _parse_time("--until", args.until),
    }
    return {name: value for name, value in given.items() if value is not None}


_AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _parse_time(flag: str, text: str | None) -> float | None:
    """Return `text` (ISO 8601, epoch seconds, or an age such as 15m) as
    seconds since the epoch."""
    if text is None:
        return None
    text = text.strip()
    unit = _AGE_UNITS.get(text[-1:].lower())
    if unit is not None:
        try:
            return time.time() - float(text[:-1]) * unit
        except ValueError:
            pass  # not an age: perhaps a date
    try:
        return float(text)
    except ValueError:
        pass  # not a number: perhaps a date
    try:
        return datetime.datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise CliError(
            f"{flag} {text!r} is not a time: give ISO 8601 (2024-05-01T12:30), "
            "seconds since the epoch, or an age (90s, 15m, 2h, 7d)"
        ) from None


def _list_letters(
    letters: DeadLetterTable,
    ids: list[int] | None,
    filters: dict[str, Any],
    *,
    as_json: bool,
) -> int:
    chosen = letters.list(ids=ids, **filters) if ids else letters.iter(**filters)
    shown = 0
    for letter in chosen:
        print(_format_letter(letter, as_json=as_json))
        shown += 1
    if not shown and not as_json:
        print("no dead letters", file=sys.stderr)
    return 0


def _replay_letters(
    letters: DeadLetterTable,
    ids: list[int] | None,
    filters: dict[str, Any],
    rate: float | None,
    path: str,
) -> int:
    report = letters.replay(ids, per_second=rate, **filters)
    for letter_id, error in report.items():
        if error is not None:
            told = _cli_text(error, path)
            if "purge the letter" in told:
                told = told.replace(
                    "or purge the letter",
                    f"or purge it with: {_PROG} dead-letters {path} "
                    f"purge --id {letter_id}",
                )
        elif report.was_already_applied(letter_id):
            told = "already applied"
        else:
            told = "replayed"
        print(f"{letter_id}\t{' '.join(told.split())}")
    print(
        f"{report.replayed} replayed, {report.failed_again} failed again, "
        f"{report.already_applied} already applied",
        file=sys.stderr,
    )
    return 1 if report.failed_again else 0


def _format_summary(summary: DeadLetterSummary, *, as_json: bool) -> str:
    if as_json:
        return json.dumps(summary.to_json(), indent=2, sort_keys=True)
    if not summary.total:
        return "no dead letters"
    lines = [
        f"{_plural(summary.total, 'dead letter')}, last failed from "
        f"{_local_time(summary.oldest)} to {_local_time(summary.newest)}"
    ]
    for title, counts in (
        ("by table", summary.by_table),
        ("by op", summary.by_op),
        ("by error", summary.by_error),
    ):
        shown = ", ".join(f"{name} {count}" for name, count in counts.items())
        lines.append(f"  {title + ':':<10} {shown}")
    return "\n".join(lines)


def _local_time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    moment = datetime.datetime.fromtimestamp(seconds)
    return moment.isoformat(sep=" ", timespec="seconds")


def _format_letter(letter: DeadLetter, *, as_json: bool) -> str:
    """One letter: JSON, or tab-separated fields without tabs or newlines inside."""
    if as_json:
        return json.dumps(letter.to_json(), sort_keys=True)
    where = f"{letter.flow}.{letter.stage}" if letter.flow else letter.table
    fields = [
        str(letter.id),
        letter.op_type,
        where,
        json.dumps(letter.key, ensure_ascii=False),
        str(letter.attempts),
        letter.error.get("type", ""),
        letter.error.get("message", ""),
    ]
    return "\t".join(" ".join(field.split()) for field in fields)


def _bench(args: argparse.Namespace) -> int:
    # Imported here: `import actors.cli` never loads the bench or its peers.
    from actorstore.bench import Workload, format_report, plot, run_bench

    minimums = {"ops": 1000, "sync_ops": 1, "memory_ops": 10, "rounds": 1}
    for name, minimum in minimums.items():
        given = getattr(args, name)
        if given is not None and given < minimum:
            flag = "--" + name.replace("_", "-")
            raise CliError(f"{flag} must be >= {minimum}, not {given}")
    base = Workload.quick() if args.quick else Workload()
    workload = base.replace(
        ops=args.ops,
        sync_ops=args.sync_ops,
        memory_ops=args.memory_ops,
        rounds=args.rounds,
    )
    if args.plot:
        try:
            import matplotlib  # noqa: F401 - checked before the long run
        except ImportError:
            raise CliError(
                '--plot needs matplotlib: pip install "actorstore[plot]"'
            ) from None
    # Looked for, not imported: ray must first be imported by the bench, which
    # sets what ray reads at import for a cluster on this machine.
    if args.cluster and importlib.util.find_spec("ray") is None:
        raise CliError('--cluster needs ray: pip install "actorstore[cluster]"')
    result = run_bench(workload, path=args.dir, peers=args.peers, cluster=args.cluster)
    if args.plot:
        plot(result, args.plot)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        print(format_report(result))
    if result.missed and result.judged and not args.no_targets:
        return _TARGET_MISSED
    return 0
