"""The Segment Spec as the webhook validates it: every refusal names its field."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.abtasty import spec
from harness.abtasty.spec import MAX_MESSAGE_BYTES, parse_webhook_message, validate_message
from harness.core.errors import HarnessError
from tests.support import message


def _code(raw: Any) -> tuple[str, str]:
    with pytest.raises(HarnessError) as caught:
        validate_message(raw)
    return caught.value.code, caught.value.message


@pytest.mark.parametrize("kind", ["track", "page", "screen", "alias"])
def test_spec_unsupported_types_are_501_code(kind: str) -> None:
    assert _code(message(kind))[0] == "unsupported_type"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"type": None}, "type"),
        ({"type": 3}, "type"),
        ({"type": "purchase"}, "type"),
        ({"messageId": None}, "messageId"),
        ({"messageId": "x" * 101}, "messageId"),
        ({"messageId": 7}, "messageId"),
        ({"anonymousId": 12}, "anonymousId"),
        ({"userId": ["u"]}, "userId"),
        ({"traits": ["plan"]}, "traits"),
        ({"context": "web"}, "context"),
        ({"integrations": True}, "integrations"),
        ({"timestamp": "yesterday"}, "timestamp"),
        ({"timestamp": "2026-03-02T10:00:00"}, "timestamp"),
        ({"sentAt": 1700000000}, "sentAt"),
        ({"originalTimestamp": "2026-13-02T10:00:00Z"}, "originalTimestamp"),
    ],
)
def test_spec_invalid_field_is_named(change: dict[str, Any], field: str) -> None:
    raw = message()
    raw.update(change)
    raw = {k: v for k, v in raw.items() if v is not None}
    code, text = _code(raw)
    assert code == "invalid_message"
    assert field in text


def test_spec_group_without_group_id_is_invalid() -> None:
    assert _code(message("group"))[0] == "invalid_message"


@pytest.mark.parametrize("ids", [{}, {"anonymousId": None, "userId": None}, {"userId": ""}])
def test_spec_missing_identity(ids: dict[str, Any]) -> None:
    raw = message(anonymous_id=None)
    raw.update(ids)
    assert _code(raw)[0] == "missing_identity"


@pytest.mark.parametrize("length", [1, 1_000])
def test_spec_anonymous_id_within_limit_is_accepted(length: int) -> None:
    assert validate_message(message(anonymous_id="a" * length)).anonymous_id == "a" * length


@pytest.mark.parametrize("anonymous_id", ["", "a" * 1_001, "a" * 10_000])
def test_spec_anonymous_id_outside_limit_is_invalid_message(anonymous_id: str) -> None:
    code, text = _code(message(anonymous_id=anonymous_id, user_id="u1"))
    assert code == "invalid_message"
    assert "anonymousId" in text and "1 to 1,000 characters" in text


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("10000-01-01T00:00:00Z", "year 10000 is out of range"),
        ("0000-01-01T00:00:00Z", "year 0 is out of range"),
        ("9999-12-31T23:00:00-05:00", "out of range"),
        ("0001-01-01T00:30:00+01:00", "out of range"),
        ("2026-13-02T10:00:00Z", "month must be in 1..12"),
        ("2026-02-30T10:00:00Z", "day is out of range for month"),
    ],
)
def test_spec_timestamp_out_of_range_says_what_is_wrong(value: str, says: str) -> None:
    code, text = _code(message(timestamp=value))
    assert code == "invalid_message"
    assert "timestamp" in text and says in text
    assert "not an ISO-8601" not in text


def test_spec_message_id_of_100_chars_accepted() -> None:
    assert validate_message(message(message_id="x" * 100)).message_id == "x" * 100


def test_spec_extra_fields_and_custom_traits_are_kept() -> None:
    raw = message(
        traits={"nested": {"deep": [1, {"x": None}]}, "score": 1.5},
        context={"library": {"name": "x"}},
    )
    raw["somethingNew"] = {"a": 1}
    parsed = validate_message(raw)
    assert parsed.raw["somethingNew"] == {"a": 1}
    assert parsed.traits["nested"]["deep"][1] == {"x": None}


def test_spec_event_time_prefers_timestamp_then_original_timestamp() -> None:
    both = validate_message(
        message(timestamp="2026-01-01T00:00:00Z", originalTimestamp="2025-01-01T00:00:00+02:00")
    )
    assert both.event_time is not None and both.event_time.year == 2026
    only_original = validate_message(message(originalTimestamp="2025-01-01T00:00:00+02:00"))
    assert only_original.event_time is not None and only_original.event_time.hour == 22


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b"[]",
        b'"text"',
        b"\xff\xfe",
        b'{"a": NaN}',
        b'{"a":' + b"[" * 16_000 + b"]" * 16_000 + b"}",
    ],
)
def test_spec_undecodable_body_is_invalid_json(body: bytes) -> None:
    with pytest.raises(HarnessError) as caught:
        parse_webhook_message(body)
    assert caught.value.code == "invalid_json"


def test_spec_body_over_32kb_is_too_large_and_exactly_32kb_is_not() -> None:
    raw = message(traits={"pad": ""})
    base = len(json.dumps(raw).encode())
    raw["traits"]["pad"] = "x" * (MAX_MESSAGE_BYTES - base)
    assert len(json.dumps(raw).encode()) == MAX_MESSAGE_BYTES
    parse_webhook_message(json.dumps(raw).encode())
    raw["traits"]["pad"] += "x"
    with pytest.raises(HarnessError) as caught:
        parse_webhook_message(json.dumps(raw).encode())
    assert caught.value.code == "message_too_large"


_EDGE_VALUES: list[Any] = [
    None,
    True,
    0,
    1.5,
    "",
    "identify",
    "group",
    "track",
    "alias",
    "purchase",
    "u-1",
    "x" * 100,
    "x" * 101,
    "x" * 1_000,
    "x" * 1_001,
    "2026-03-02T11:00:00Z",
    "2026-03-02T11:00:00.123456789+02:00",
    "2026-03-02t11:00:00z",
    "2026-03-02T11:00:00",
    "0001-01-01T00:00:00+01:00",
    "yesterday",
    [],
    [1],
    {},
    {"personas": {"computation_class": "audience", "computation_key": "k"}},
]
_FIELD_VALUES = st.one_of(
    st.sampled_from(_EDGE_VALUES),
    st.text(max_size=3),
    st.dictionaries(st.sampled_from(["plan", "personas", "seats"]), st.integers(0, 3), max_size=2),
)
_SPEC_FIELDS = [
    "type",
    "messageId",
    "anonymousId",
    "userId",
    "groupId",
    "traits",
    "context",
    "integrations",
    "properties",
    "timestamp",
    "originalTimestamp",
    "sentAt",
    "receivedAt",
]


def _outcomes(raw: dict[str, Any]) -> list[object]:
    # The common case is checked by msgspec in C, anything else walked field by field:
    # both must accept the same messages with the same result, and refuse the same way.
    outcomes: list[object] = []
    for validate in (validate_message, spec._refusal):
        try:
            outcomes.append(validate(dict(raw)))
        except HarnessError as refused:
            outcomes.append((refused.code, refused.message))
    return outcomes


def _base(kind: str) -> dict[str, Any]:
    return message(
        kind,
        groupId="g-1",
        userId="u-1",
        sentAt="2026-03-02T11:00:01Z",
        originalTimestamp="2026-03-02T10:00:00Z",
        receivedAt="2026-03-02T11:00:02Z",
    )


@pytest.mark.parametrize("field", _SPEC_FIELDS)
def test_spec_c_checked_shape_and_field_walk_agree_on_each_field_edge(field: str) -> None:
    for kind in ("identify", "group"):
        for value in [*_EDGE_VALUES, "__removed__"]:
            raw = _base(kind)
            if value == "__removed__":
                raw.pop(field, None)
            else:
                raw[field] = value
            first, second = _outcomes(raw)
            assert first == second, (kind, field, value)


@given(
    base=st.sampled_from(["identify", "group"]),
    changes=st.dictionaries(st.sampled_from(_SPEC_FIELDS), _FIELD_VALUES, max_size=4),
    removed=st.sets(st.sampled_from(_SPEC_FIELDS), max_size=3),
)
def test_spec_c_checked_shape_and_field_walk_agree_on_combined_changes(
    base: str, changes: dict[str, Any], removed: set[str]
) -> None:
    raw = _base(base)
    raw.update(changes)
    for name in removed:
        raw.pop(name, None)
    first, second = _outcomes(raw)
    assert first == second


@pytest.mark.parametrize(
    "body",
    [
        b'{"type":"identify","messageId":"m","anonymousId":"a","x":"\xff"}',
        b'{"type":"identify","messageId":"m","anonymousId":"a","properties":{"n":1e999}}',
    ],
)
def test_spec_bad_json_outside_the_spec_fields_is_still_invalid_json(body: bytes) -> None:
    with pytest.raises(HarnessError) as caught:
        parse_webhook_message(body)
    assert caught.value.code == "invalid_json"
