"""Integrity: verify a table's whole file without trusting it.

The walk is py-lmdb's offline verifier (`lmdb.verify`): it reads the data
file with plain reads, never through LMDB's map, so a damaged file cannot
crash the process. It visits every page reachable from the committed meta
page (both B-trees: the records and the free list), checks each page's
number, type and key order, that no page lies past the file's end, and that
the counts recorded in the meta page (records, pages, depth) are the ones
the walk found.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from lmdb import verify as lmdb_verify

from actorstore.storage._lmdb import DATA_FILE

__all__ = ["CheckResult", "find_problem"]


@dataclass(frozen=True, slots=True)
class CheckResult:
    """What a full check of one table found.

    `ok` is whether the table is sound, `records` its record count (0 when
    it could not be read), `problem` what is wrong with it and `remedy`
    what to do about it, or None.
    """

    ok: bool
    records: int
    problem: str | None = None
    remedy: str | None = None


def find_problem(path: str) -> str | None:
    """Walk the data file of the environment in directory `path`.

    Returns None if it is sound, else the first problem found (and how many
    more there are). No process may commit to the file while this runs (hold
    its write transaction, or be its only user), or the walk may see a page
    being rewritten.
    """
    data_file = os.path.join(path, DATA_FILE)
    if not os.path.exists(data_file):
        return None  # a table never opened: nothing to damage
    try:
        # py-lmdb ships lmdb/verify.py without annotations.
        problems: list[str] = lmdb_verify.verify(  # type: ignore[no-untyped-call]
            data_file, subdir=False
        )
    except lmdb_verify.VerifyError as exc:
        return str(exc)
    except OSError as exc:
        return f"cannot read {data_file}: {exc.strerror or exc}"
    if not problems:
        return None
    more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
    return problems[0] + more
