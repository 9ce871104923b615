"""How a scenario compares what it expects with what the fakes answer.

Format 1 compares builder values as text (``1``, ``"1"``; ``true``, ``"true"``). Format 2
compares JSON values with their types: a boolean, a number, a string and null are never
equal to one another, and numbers compare as numbers (``1`` equals ``1.0``).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from harness.core.clock import parse_instant

Format = int


def as_text(value: Any) -> str:
    """The text format 1 compares: ``true``, ``1`` (for ``1.0`` too), ``pro`` (as it always did)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


def typed_equal(left: Any, right: Any) -> bool:
    """JSON equality with types: ``true`` is not ``1``, ``"1"`` is not ``1``, ``1`` is ``1.0``."""
    if _kind(left) != _kind(right):
        return False
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(typed_equal(left[k], right[k]) for k in left)
    if isinstance(left, list):
        return len(left) == len(right) and all(
            typed_equal(a, b) for a, b in zip(left, right, strict=True)
        )
    return bool(left == right)


def same_value(expected: Any, actual: Any, version: Format) -> bool:
    """Whether a builder value matches, as the scenario's format compares values."""
    if version >= 2:
        return typed_equal(expected, actual)
    return as_text(expected) == as_text(actual)


def show(value: Any, version: Format) -> str:
    """A value as a failure message shows it: typed in format 2 (``"1"`` vs ``1``)."""
    if version < 2:
        return as_text(value)
    return json.dumps(value, ensure_ascii=False)


def subset_problem(expected: Any, actual: Any, version: Format, path: str = "") -> str | None:
    """Where ``actual`` does not hold ``expected``, or None.

    Mappings are subsets at every level in format 2 (in format 1, top-level fields compare
    with Python's ``==``, as they always did); lists and scalars compare whole.
    """
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"{path or 'the answer'} is {_kind(actual)}, not an object"
        for key, value in expected.items():
            where = f"{path}.{key}" if path else str(key)
            if key not in actual:
                return f"{where} is missing"
            if version >= 2:
                problem = subset_problem(value, actual[key], version, where)
                if problem is not None:
                    return problem
            elif actual[key] != value:
                return f"{where} = {actual[key]!r}, not {value!r}"
        return None
    differ = not typed_equal(expected, actual) if version >= 2 else expected != actual
    if differ:
        return f"{path or 'the value'} = {show(actual, 2)}, not {show(expected, 2)}"
    return None


def same_instant(expected: str, actual: Any) -> bool:
    """Whether two ISO-8601 texts name the same instant (text equality when either is not one)."""
    if not isinstance(actual, str):
        return False
    try:
        return parse_instant(expected) == parse_instant(actual)
    except ValueError:
        return expected == actual


def secret_fragments(secret: str) -> set[str]:
    """Pieces of ``secret`` that must never be shown: any 8 characters of it but its last 4,
    and any 8 characters of its base64 forms (``secret``, ``secret:``) but their last 8."""
    fragments: set[str] = set()
    hidden = secret[:-4]
    fragments.update(hidden[i : i + 8] for i in range(max(0, len(hidden) - 7)))
    for plain in (secret, secret + ":"):
        encoded = base64.b64encode(plain.encode()).decode()[:-8]
        fragments.update(encoded[i : i + 8] for i in range(max(0, len(encoded) - 7)))
    return fragments
