"""Measure the JSON codecs: value encoding (with its refusals) and key encoding.

Not a test (pytest does not collect it): run `python tests/storage/json_speed.py`.
Each figure is the best of 15 rounds, in microseconds per call: on a shared
machine the best round is the one least disturbed. Values: the bench's small
dict, a small nested document and a 1.3 kB nested one; keys: str, int, dict
and list, spelled canonically (tables created now) and as tables created
before canonical keys spell them.
"""

from __future__ import annotations

import timeit
from collections.abc import Callable
from typing import Any

from actorstore.storage import JsonCodec
from actorstore.storage._table_codecs import TableCodecs
from actorstore.storage.codecs import CANONICAL_KEYS, LEGACY_KEYS

VALUES: dict[str, Any] = {
    "small value (the bench's)": {"name": "user1", "age": 1, "tags": ["a", "b"]},
    "nested value": {"name": "Norma", "age": 31, "address": {"city": "Oslo"}},
    "1.3 kB nested value": {
        f"field{i}": {"name": f"n{i}", "vals": [i, i * 2.5, "x" * 10], "flag": True}
        for i in range(20)
    },
}
KEYS: dict[str, Any] = {
    "str key": "user00000001",
    "int key": 123456,
    "dict key": {"user": 7, "day": "2024-01-02"},
    "list key": ["eu", 2024, 7],
}


def best(fn: Callable[[], object], number: int) -> float:
    """Return the best of 15 rounds of `number` calls, in us per call."""
    return min(timeit.repeat(fn, number=number, repeat=15)) / number * 1e6


def main() -> None:
    codecs: list[Any] = [JsonCodec()]
    try:
        from actorstore.storage import FastJsonCodec

        codecs.append(FastJsonCodec())
    except Exception:  # noqa: BLE001 - orjson is optional
        print("(orjson is not installed: FastJsonCodec is not measured)")
    for label, value in VALUES.items():
        for codec in codecs:
            took = best(lambda c=codec, v=value: c.encode(v), 20000)
            print(f"{type(codec).__name__}.encode {label:28} {took:7.3f} us")
    canonical = TableCodecs("t", "json", "json", CANONICAL_KEYS)
    legacy = TableCodecs("t", "json", "json", LEGACY_KEYS)
    for label, key in KEYS.items():
        now = best(lambda k=key: canonical.encode_key(k), 20000)
        before = best(lambda k=key: legacy.encode_key(k), 20000)
        print(
            f"encode_key {label:10} canonical {now:6.3f} us, "
            f"as tables created before {before:6.3f} us"
        )


if __name__ == "__main__":
    main()
