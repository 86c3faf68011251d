"""Report: a bench result as text for a terminal (tables of figures and targets)."""

from __future__ import annotations

from actorstore.bench.engines import (
    ACTORSTORE,
    ACTORSTORE_CLUSTER,
    LATENCY_TITLES,
    PEER_ENGINES,
    RAW_LMDB,
    ROWS,
    TITLES,
)
from actorstore.bench.result import BenchResult
from actorstore.bench.targets import Check

__all__ = ["format_report"]

_DASH = "\N{EN DASH}"


def format_report(result: BenchResult) -> str:
    """Return the result as text: engines, durability, latency, memory, targets."""
    workload = result.workload
    lines = [
        f"actorstore bench: {workload.ops:,} ops per workload, "
        f"{workload.window} in flight, {workload.sync_ops:,} fsync-per-op ops, "
        f"{workload.memory_ops:,} memory ops",
        *(
            [
                f"actorstore and raw py-lmdb: the median of {workload.rounds} "
                "rounds, run in turns; the others: one run"
            ]
            if workload.rounds > 1
            else []
        ),
        "",
        *_engine_table(result),
        "",
        "SYNC upsert by ops in flight (ops/s):",
    ]
    store = result.throughput.get(ACTORSTORE, {})
    for window in workload.sync_windows:
        value = store.get(workload.durable_name(window))
        if value is not None:
            lines.append(_figure(f"actorstore, {window} in flight", f"{value:,.0f}"))
    remote = result.throughput.get(ACTORSTORE_CLUSTER, {})
    for name, value in remote.items():
        in_flight = name.rsplit("_w", 1)[-1]
        label = f"actorstore on a cluster, {in_flight} in flight"
        lines.append(_figure(label, f"{value:,.0f}"))
    raw = result.throughput.get(RAW_LMDB, {})
    if "durable_write" in raw:
        value = raw["durable_write"]
        lines.append(_figure("raw py-lmdb, fsync per commit", f"{value:,.0f}"))
    lines += ["", "round-trip latency, one op at a time (ms):"]
    for engine, figures in result.latency.items():
        for name, seconds in figures.items():
            label = f"{LATENCY_TITLES.get(engine, engine)} {name}"
            lines.append(_figure(label, f"{seconds * 1000:.3f}"))
    lines += _asyncio_lines(result)
    lines += ["", "memory (bytes):"]
    for name, value in result.memory.items():
        lines.append(_figure(name, f"{value:,.0f}"))
    lines += ["", "targets:"]
    lines += [_format_check(check, judged=result.judged) for check in result.checks]
    missed = result.missed
    names = ", ".join(check.target.name for check in missed)
    if not missed:
        lines += ["", "every measured target met"]
    elif result.judged:
        lines += ["", f"{len(missed)} target(s) missed: {names}"]
    else:
        lines += [
            "",
            f"{len(missed)} target(s) below their bound, not judged: {names}",
            f"not judged: {result.not_judged_because}",
        ]
    return "\n".join(lines)


def _asyncio_lines(result: BenchResult) -> list[str]:
    """Return the asyncio section: each workload both ways, and its ratio."""
    figures = result.asyncio
    if not figures:
        return []
    workload = result.workload
    count, one = f"{workload.asyncio_ops:,}", f"{workload.asyncio_one_ops:,}"
    lines = [
        "",
        f"asyncio against threads (ops/s; a default store, ops_max 1024, "
        f"{count} ops gathered):",
    ]
    for name, thread_form, asyncio_form in (
        ("upsert", f"sliding window of {workload.asyncio_window}", "gather"),
        ("search", f"sliding window of {workload.asyncio_window}", "gather"),
    ):
        threads, coroutines = figures[f"window_{name}"], figures[f"gather_{name}"]
        lines.append(_figure(f"{name}, {thread_form}", f"{threads:,.0f}"))
        lines.append(
            _figure(f"{name}, {asyncio_form}", f"{coroutines:,.0f}")
            + f"  {coroutines / threads:.2f}x"
        )
    gets, awaits = figures["get_one_upsert"], figures["await_one_upsert"]
    lines.append(_figure(f"upsert, one at a time, get() x {one}", f"{gets:,.0f}"))
    lines.append(
        _figure(f"upsert, one at a time, await x {one}", f"{awaits:,.0f}")
        + f"  {awaits / gets:.2f}x"
    )
    stall, own = figures["loop_stall"], figures["own_gather"]
    lines.append(_figure(f"longest loop stall, {count} upserts (s)", f"{stall:.3f}"))
    lines.append(
        _figure(f"asyncio's own gather of {count} (s)", f"{own:.3f}")
        + f"  {stall / own:.2f}x"
    )
    return lines


def _engine_table(result: BenchResult) -> list[str]:
    """Return the `| ops/s | actorstore | raw py-lmdb | … |` table's lines."""
    workload = result.workload
    engines = [
        engine
        for engine in TITLES
        if engine in result.throughput or (result.peers_run and engine in PEER_ENGINES)
    ]
    header = ["ops/s", *(TITLES[engine] for engine in engines)]
    rows = [header]
    for name, title in ROWS.items():
        row = [title.format(window=workload.window, batch_size=workload.batch_size)]
        for engine in engines:
            value = result.throughput.get(engine, {}).get(name)
            row.append(_DASH if value is None else f"{value:,.0f}")
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        padded = [cells[0].ljust(widths[0])]
        padded += [
            cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True)
        ]
        return "| " + " | ".join(padded) + " |"

    lines = [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += [line(row) for row in rows[1:]]
    lines += [
        f"{_DASH} {TITLES.get(name, name)}: {why}"
        for name, why in result.missing.items()
    ]
    if not result.peers_run:
        lines.append(
            "peers not run (--peers runs sqlite3, and RocksDB, diskcache and "
            "aiosqlite when installed)"
        )
    lines.append(
        "fsync-per-op engines write durably one op at a time; aiosqlite and "
        "the actors keep the window in flight"
    )
    return lines


def _figure(label: str, value: str) -> str:
    return f"  {label:<40} {value:>14}"


def _format_check(check: Check, *, judged: bool = True) -> str:
    target = check.target
    if check.value is None:
        outcome, value = "not measured", _DASH
    else:
        value = f"{check.value:,.2f}"
        if check.passed:
            outcome = "ok"
        elif not target.required:
            outcome = "aim not reached"
        else:
            outcome = "MISSED" if judged else "below, not judged"
    kind = "" if target.required else " (aim)"
    description = target.description + kind
    return f"  {description:<66} {value:>10}  {target.condition:<8} {outcome}"
