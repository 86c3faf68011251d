"""What JSON cannot carry back, and the one canonical form of a JSON key.

JSON object keys are text: `json` writes `{1: "a"}` as `{"1": "a"}`, which
reads back as `{"1": "a"}`, and `{1: "a", "1": "b"}` as an object with a
duplicate key, of which reading keeps one. `refuse_non_str_keys` finds such
a key in a value (cheaply, from the text already encoded, in the common
case) so that the codec refuses it instead of storing something else.

A key is one spelling of its value (`canonical_key`): object keys sorted
(done by the encoder), a float with an integral value written as that int
(`1.0` and `-0.0` are the keys `1` and `0`, as `1.0 == 1` in Python), int
and float subclasses (an `IntEnum`) written as plain numbers, tuples as
lists (JSON's convention). Bools stay bools: `True` and `1` are equal in
Python but two keys here (`true` and `1`), as JSON tells them apart.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["canonical_key", "refuse_non_str_keys"]

# A key the encoder wrote for a non-str key is a number, true, false or null
# (any other key type is refused by the encoder itself). Only real keys match:
# inside a JSON string a quote is escaped, so `":` cannot follow digits there.
# Searched for in the text reversed: the pattern then starts with the two
# bytes that end every key, and the search tries only there (a third less
# time than the pattern forwards, which tries at every quote).
_NUMBER_LIKE_KEY_REVERSED = re.compile(rb':"(?:[-+.0-9eE]+|eurt|eslaf|llun)"')
_OPEN_BRACE = ord("{")  # `int in bytes` looks for one byte, 8 times faster


def refuse_non_str_keys(obj: Any, data: bytes) -> None:
    """Raise ValueError if `obj` (encoded as the JSON `data`) has an object key
    that is not a str, naming the key, where it is and what it would become.

    Cheap in the common case: a value whose only object is its top level is
    checked in C (`str.join` of its keys); others by one regex search of
    `data` for keys that look like numbers, walked in Python only on a hit.
    """
    if type(obj) is dict and data.count(b"{") == 1:
        try:
            "".join(obj)
        except TypeError:
            pass  # a key that is not a str: found and told below
        else:
            return
    elif _OPEN_BRACE not in data or not _NUMBER_LIKE_KEY_REVERSED.search(data[::-1]):
        return
    problem = _first_non_str_key(obj)
    if problem is not None:
        raise ValueError(problem)


def _first_non_str_key(obj: Any) -> str | None:
    """Return what is wrong with the first non-str object key in `obj`, if any."""
    stack: list[tuple[Any, str]] = [(obj, "")]
    while stack:
        item, path = stack.pop()
        if isinstance(item, dict):
            for key in item:
                if not isinstance(key, str):
                    return _describe(item, key, path)
            stack.extend(
                (value, f"{path}[{key!r}]")
                for key, value in reversed(item.items())
                if isinstance(value, dict | list | tuple)
            )
        elif isinstance(item, list | tuple):
            stack.extend(
                (value, f"{path}[{index}]")
                for index, value in reversed(list(enumerate(item)))
                if isinstance(value, dict | list | tuple)
            )
    return None


def _describe(mapping: dict[Any, Any], key: Any, path: str) -> str:
    where = f" at {path}" if path else ""
    text = _as_json_text(key)
    if text in mapping:
        return (
            f"the object{where} has the keys {key!r} ({type(key).__name__}) and "
            f"{text!r} (str), which JSON writes as one key {text!r}: one value "
            "would be lost; use str keys only"
        )
    return (
        f"the object{where} has the key {key!r} ({type(key).__name__}), which "
        f"would come back as the str {text!r}: JSON object keys are text; use "
        "str keys"
    )


def _as_json_text(key: Any) -> str:
    """Return the text `json` writes for the non-str object key `key`."""
    if key is True:
        return "true"
    if key is False:
        return "false"
    if key is None:
        return "null"
    if isinstance(key, float):
        return float.__repr__(key)
    if isinstance(key, int):
        return int.__repr__(key)
    return repr(key)


def canonical_key(obj: Any) -> Any:
    """Return `obj` in the one form its key is written in (see the module docstring).

    Raises:
        ValueError: for an object key that is not a str (see
            `refuse_non_str_keys`).
    """
    try:
        return _canonical(obj)
    except _NonStrKeyError:
        raise ValueError(_first_non_str_key(obj)) from None


class _NonStrKeyError(Exception):
    """An object key that is not a str (described by `_first_non_str_key`)."""


def _canonical(obj: Any) -> Any:
    kind = type(obj)
    if kind is str or kind is int or kind is bool or obj is None:
        return obj
    if kind is float:
        return int(obj) if obj.is_integer() else obj
    if isinstance(obj, dict):
        for key in obj:
            if not isinstance(key, str):
                raise _NonStrKeyError
        return {key: _canonical(value) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return [_canonical(value) for value in obj]
    if isinstance(obj, str):
        return str(obj)
    if isinstance(obj, int):  # an IntEnum: equal to, and one key with, its int
        return int(obj)
    if isinstance(obj, float):
        return _canonical(float(obj))
    return obj  # not JSON: the encoder refuses it, naming its type
