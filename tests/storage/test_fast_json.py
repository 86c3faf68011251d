"""storage.FastJsonCodec: the json format through orjson (an optional extra)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actorstore import storage
from actorstore.storage import JsonCodec, StoreDirectory, get_codec, register_codec

orjson = pytest.importorskip(
    "orjson", reason='orjson is not installed (pip install "actorstore[orjson]")'
)

FAST_SAMPLES: list[Any] = [
    {"name": "Norma", "age": 31, "tags": ["a", "b"], "ok": True, "none": None},
    'é\n\t"quoted"',
    [1.5, -0.0, 1e16, 12345678901234567890, 2**70],
    {"1": [], "nested": {"deeper": [{}]}},
    None,
]


@pytest.mark.parametrize("value", FAST_SAMPLES)
def test_fast_json_reads_what_the_stdlib_wrote_and_the_other_way_round(
    value: Any,
) -> None:
    fast, stdlib = storage.FastJsonCodec(), JsonCodec()
    assert fast.decode(stdlib.encode(value)) == value
    assert stdlib.decode(fast.encode(value)) == value
    assert fast.decode(fast.encode(value)) == value


@given(
    st.lists(
        st.integers(min_value=-(2**80), max_value=2**80)
        | st.sampled_from([2**63, 2**64 - 1, 2**64, -(2**63) - 1, 10**18, 10**19])
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(alphabet="0123456789 x", max_size=30),
        max_size=6,
    )
)
def test_fast_json_reads_back_every_int_whatever_its_digits(value: list[Any]) -> None:
    fast, stdlib = storage.FastJsonCodec(), JsonCodec()
    for written in (stdlib.encode(value), fast.encode(value)):
        read = fast.decode(written)
        assert read == value
        assert [type(item) for item in read] == [type(item) for item in value]


@pytest.mark.parametrize(
    "value",
    [math.nan, {"x": math.inf}, [-math.inf]],
    ids=["nan", "inf in a dict", "-inf in a list"],
)
def test_fast_json_refuses_what_the_stdlib_refuses(value: Any) -> None:
    with pytest.raises(ValueError, match="Out of range float"):
        storage.FastJsonCodec().encode(value)


def test_fast_json_takes_what_orjson_does_not_through_the_stdlib() -> None:
    fast = storage.FastJsonCodec()
    assert JsonCodec().decode(fast.encode({"t": (1, 2)})) == {"t": [1, 2]}
    with pytest.raises(ValueError, match="JSON object keys are text"):
        fast.encode({1: "int key"})  # orjson refuses it; the stdlib too
    deep: Any = 0
    for _ in range(300):  # deeper than orjson's limit, within ours
        deep = [deep]
    assert fast.decode(fast.encode(deep)) == deep


def test_fast_json_is_the_json_format_of_a_table_when_registered(
    tmp_path: Path,
) -> None:
    stdlib = get_codec("json")
    register_codec("json", storage.FastJsonCodec(), replace=True)
    try:
        with StoreDirectory(tmp_path / "s") as store:
            store.create_table("t")
            session = store.session("t")
            session.upsert("k", {"big": 2**70})
            assert session.search("k") == {"big": 2**70}
    finally:
        register_codec("json", stdlib, replace=True)
    with StoreDirectory(tmp_path / "s") as store:  # the stdlib reads it back
        assert store.session("t").search("k") == {"big": 2**70}
