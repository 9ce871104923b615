"""Segment conditions: how a visitor's activated traits are tested.

Values compare as text for ``equals``/``not_equals`` (so the builder's ``42`` and a typed
``"42"`` agree), case-insensitively for ``contains``, and as numbers or ISO-8601 dates for
``greater_than``/``less_than``. A visitor without the trait fails every operator,
``not_equals`` included (as SQL's ``<>`` does); use ``exists`` to test for presence.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

from harness.abtasty.records import OPERATORS, Condition, JsonValue, Operator
from harness.core.codes import ErrorCode
from harness.core.errors import HarnessError


def as_text(value: JsonValue) -> str:
    """The canonical text of a scalar trait value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _as_number(value: JsonValue) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _as_instant(value: JsonValue) -> datetime | None:
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        try:
            parsed = datetime.combine(date.fromisoformat(value), datetime.min.time())
        except ValueError:
            return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _compare(left: JsonValue, right: JsonValue) -> int | None:
    """-1, 0 or 1 when the values compare as numbers or as dates, else None."""
    a, b = _as_number(left), _as_number(right)
    if a is not None and b is not None:
        return (a > b) - (a < b)
    x, y = _as_instant(left), _as_instant(right)
    if x is not None and y is not None:
        return (x > y) - (x < y)
    return None


def make_condition(
    index: int, connector_id: str, trait: str, operator: str, value: JsonValue
) -> Condition:
    """Check one condition of a create-segment request and build it.

    Raises:
        HarnessError: ``invalid_body`` naming the condition and field at fault.
    """
    where = f"conditions[{index}]"
    for name, text in (("connector_id", connector_id), ("trait", trait)):
        if not text.strip():
            raise HarnessError(
                ErrorCode.INVALID_BODY, f"{where}.{name} must be a non-empty string."
            )
    if operator not in OPERATORS:
        raise HarnessError(
            ErrorCode.INVALID_BODY,
            f"{where}.operator {operator[:30]!r} is not one of {', '.join(OPERATORS)}.",
        )
    checked: Operator = operator
    if checked == "exists":
        return Condition(connector_id, trait, checked, None)
    if value is None or isinstance(value, dict | list):
        raise HarnessError(
            ErrorCode.INVALID_BODY,
            f"{where}.value must be a string, number or boolean for {operator}.",
        )
    if (
        checked in ("greater_than", "less_than")
        and _as_number(value) is None
        and _as_instant(value) is None
    ):
        raise HarnessError(
            ErrorCode.INVALID_BODY,
            f"{where}.value must be a number or an ISO-8601 date for {operator}.",
        )
    return Condition(connector_id, trait, checked, value)


def value_satisfies(operator: Operator, value: JsonValue, target: JsonValue) -> bool:
    """Whether one activated value satisfies ``operator`` against the condition's ``target``."""
    if operator == "exists":
        return True
    if operator == "equals":
        return as_text(value) == as_text(target)
    if operator == "not_equals":
        return as_text(value) != as_text(target)
    if operator == "contains":
        return as_text(target).casefold() in as_text(value).casefold()
    order = _compare(value, target)
    if order is None:
        return False
    return order > 0 if operator == "greater_than" else order < 0


def condition_holds(condition: Condition, values: tuple[JsonValue, ...]) -> bool:
    """Whether a visitor with these activated values of the trait meets the condition.

    With several values (a shared device, a list trait), ``not_equals`` needs every value to
    differ; the other operators need one value to satisfy them.
    """
    if not values:
        return False
    if condition.operator == "not_equals":
        return all(value_satisfies("not_equals", v, condition.value) for v in values)
    return any(value_satisfies(condition.operator, v, condition.value) for v in values)
