"""Segment conditions: how a visitor's activated traits are tested.

Values compare as text for ``equals``/``not_equals`` (so the builder's ``42`` and a typed
``"42"`` agree), case-insensitively for ``contains``, and as numbers or ISO-8601 dates for
``greater_than``/``less_than``. A visitor without the trait fails every operator,
``not_equals`` included (as SQL's ``<>`` does); use ``exists`` to test for presence.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import cast

from harness.abtasty.records import (
    OPERATORS,
    TRAIT_SOURCES,
    Condition,
    JsonValue,
    Operator,
    TraitKey,
)
from harness.core.codes import ErrorCode
from harness.core.errors import HarnessError

MAX_PATH_PARTS = 16


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


@dataclass(frozen=True, slots=True)
class ConditionRequest:
    """One condition as a create-segment request names it, before it is tied to a trait.

    Attributes:
        connector_id: The connector whose item the trait is dragged from.
        trait: The trait's key as the builder prints it (``plan``, ``group.plan``,
            ``company.name``); may be left out when ``path`` is given.
        operator: One of :data:`~harness.abtasty.records.OPERATORS`.
        value: What the operator compares with (ignored by ``exists``).
        source: ``identify`` or ``group``: which of two traits printed alike.
        path: The trait's path in its traits object (``["company", "name"]`` for a nested
            object, ``["company.name"]`` for a literal dotted key).
    """

    connector_id: str
    trait: str | None
    operator: str
    value: JsonValue = None
    source: str | None = None
    path: Sequence[str] | None = None

    def matches(self, key: TraitKey) -> bool:
        """Whether ``key`` is a trait this request could mean (it may fit several)."""
        if self.source is not None and key.source != self.source:
            return False
        if self.path is not None and key.path != tuple(self.path):
            return False
        return self.trait is None or key.label == self.trait


ConditionInput = ConditionRequest | tuple[str, str, str, JsonValue]
"""A condition as :class:`ConditionRequest`, or as (connector id, trait, operator, value)."""


def make_condition(index: int, condition: ConditionInput) -> ConditionRequest:
    """Check one condition of a create-segment request (not yet which trait it names).

    Raises:
        HarnessError: ``invalid_body`` naming the condition and field at fault.
    """
    request = condition if isinstance(condition, ConditionRequest) else ConditionRequest(*condition)
    where = f"conditions[{index}]"
    connector_id, trait, operator, value = (
        request.connector_id,
        request.trait,
        request.operator,
        request.value,
    )
    if not isinstance(connector_id, str) or not connector_id.strip():
        raise HarnessError(
            ErrorCode.INVALID_BODY, f"{where}.connector_id must be a non-empty string."
        )
    if trait is not None and (not isinstance(trait, str) or not trait.strip()):
        raise HarnessError(ErrorCode.INVALID_BODY, f"{where}.trait must be a non-empty string.")
    if request.source is not None and request.source not in TRAIT_SOURCES:
        raise HarnessError(
            ErrorCode.INVALID_BODY,
            f"{where}.source must be 'identify' (a trait of identify calls) or 'group' (a trait "
            "of the visitor's groups).",
        )
    path = request.path
    if path is not None:
        if (
            isinstance(path, str)
            or not path
            or not all(isinstance(part, str) for part in path)
            or len(path) > MAX_PATH_PARTS
        ):
            raise HarnessError(
                ErrorCode.INVALID_BODY,
                f"{where}.path must be a list of 1 to {MAX_PATH_PARTS} strings, the trait's keys "
                'from the top of its traits object (["company", "name"] for a nested object, '
                '["company.name"] for one key with a dot in it).',
            )
        path = tuple(path)
    elif trait is None:
        raise HarnessError(
            ErrorCode.INVALID_BODY,
            f"{where} names no trait: give trait (the key the builder shows), or path.",
        )
    if operator not in OPERATORS:
        raise HarnessError(
            ErrorCode.INVALID_BODY,
            f"{where}.operator {str(operator)[:30]!r} is not one of {', '.join(OPERATORS)}.",
        )
    checked: Operator = operator
    if checked == "exists":
        value = None
    elif value is None or isinstance(value, dict | list):
        raise HarnessError(
            ErrorCode.INVALID_BODY,
            f"{where}.value must be a string, number or boolean for {operator}.",
        )
    elif (
        checked in ("greater_than", "less_than")
        and _as_number(value) is None
        and _as_instant(value) is None
    ):
        raise HarnessError(
            ErrorCode.INVALID_BODY,
            f"{where}.value must be a number or an ISO-8601 date for {operator}.",
        )
    return ConditionRequest(connector_id, trait, checked, value, request.source, path)


def resolve_condition(
    index: int, request: ConditionRequest, shown: Sequence[TraitKey]
) -> Condition | None:
    """Tie a checked request to the one trait, among those the builder shows, that it names.

    Args:
        index: The condition's place in the request, for messages.
        request: What :func:`make_condition` returned.
        shown: The traits the builder shows for the condition's connector.

    Raises:
        HarnessError: ``ambiguous_trait`` when it fits several shown traits (say ``source``
            or ``path``); ``invalid_body`` when ``trait`` is not the printed key of ``path``.

    Returns:
        The condition on that trait; None when it fits no shown trait (the caller says why:
        ``criterion_not_available``).
    """
    if request.path is not None and request.trait is not None:
        sources = TRAIT_SOURCES if request.source is None else (request.source,)
        printed = {TraitKey(source, tuple(request.path)).label for source in sources}  # type: ignore[arg-type]
        if request.trait not in printed:
            raise HarnessError(
                ErrorCode.INVALID_BODY,
                f"conditions[{index}].trait {request.trait[:60]!r} is not how the builder prints "
                f"path {list(request.path)!r}; give the key it shows, or leave trait out.",
            )
    found = [key for key in shown if request.matches(key)]
    if len(found) > 1:
        raise HarnessError(
            ErrorCode.AMBIGUOUS_TRAIT,
            f"conditions[{index}] fits {len(found)} traits the builder shows: "
            + "; ".join(f"source {k.source!r} path {list(k.path)!r}" for k in found)
            + ". Add source and/or path to say which.",
        )
    if not found:
        return None
    key = found[0]
    operator = cast(Operator, request.operator)
    return Condition(request.connector_id, key.label, operator, request.value, key.source, key.path)


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
