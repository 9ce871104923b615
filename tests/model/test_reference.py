"""The reference model itself, on cases worked out by hand from the documented rules."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest

from tests.model.reference import (
    ConditionRequest,
    Outcome,
    ReferenceModel,
    as_text,
    day_exists,
    first_instant_at_or_after,
    holds,
    merged,
    value_id,
)


def t(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _model(start: str, timezone: str = "UTC", refresh_hour: int = 3) -> ReferenceModel:
    model = ReferenceModel(t(start))
    model.create_account("shop", timezone, refresh_hour)
    model.create_connector("shop", "con", "Segment")
    model.generate_key("shop", "key")
    return model


def _identify(
    model: ReferenceModel, message_id: str, traits: dict[str, Any], timestamp: str | None = None
) -> str | None:
    body = {
        "type": "identify",
        "messageId": message_id,
        "anonymousId": "anon-1",
        "traits": traits,
        "timestamp": timestamp or model.now.isoformat(),
    }
    answer, _ = model.webhook("key", body)
    return answer.body.get("status")


def test_reference_first_instant_skips_the_paris_spring_gap() -> None:
    assert first_instant_at_or_after("Europe/Paris", datetime(2026, 3, 29, 2)) == t(
        "2026-03-29T01:00:00+00:00"
    )


def test_reference_first_instant_takes_the_first_of_a_repeated_hour() -> None:
    assert first_instant_at_or_after("Europe/Paris", datetime(2026, 10, 25, 2)) == t(
        "2026-10-25T00:00:00+00:00"
    )


def test_reference_apia_skipped_30_december_2011() -> None:
    assert day_exists("Pacific/Apia", date(2011, 12, 29))
    assert not day_exists("Pacific/Apia", date(2011, 12, 30))
    assert day_exists("Pacific/Apia", date(2011, 12, 31))


def test_reference_apia_runs_once_a_day_that_exists() -> None:
    model = _model("2011-12-28T12:00:00+00:00", "Pacific/Apia", 3)
    model.move_to(t("2012-01-01T12:00:00+00:00"))
    runs = [(r.scheduled_for, r.cutoff) for r in model.snapshot("shop").runs]
    # Apia was 10 hours behind UTC until 29 December 2011 ended, then 14 ahead.
    assert runs == [
        (t("2011-12-28T13:00:00+00:00"), t("2011-12-28T10:00:00+00:00")),  # 28 Dec
        (t("2011-12-29T13:00:00+00:00"), t("2011-12-29T10:00:00+00:00")),  # 29 Dec
        (t("2011-12-30T13:00:00+00:00"), t("2011-12-30T10:00:00+00:00")),  # 31 Dec
        (t("2011-12-31T13:00:00+00:00"), t("2011-12-31T10:00:00+00:00")),  # 1 Jan
    ]


def test_reference_message_at_midnight_waits_a_day() -> None:
    model = _model("2026-03-02T12:00:00+00:00")
    model.see("shop", "v1", "anon-1", model.now)
    model.move_to(t("2026-03-02T23:59:59+00:00"))
    _identify(model, "m1", {"plan": "pro"})
    model.move_to(t("2026-03-03T00:00:00+00:00"))
    _identify(model, "m2", {"seats": 2})
    model.move_to(t("2026-03-04T03:00:00+00:00"))
    assert [r.messages for r in model.snapshot("shop").runs] == [1, 1]


def test_reference_sighting_at_the_run_is_matched_by_the_next_run() -> None:
    model = _model("2026-03-02T12:00:00+00:00")
    _identify(model, "m1", {"plan": "pro"})
    model.move_to(t("2026-03-03T03:00:00+00:00"))
    model.see("shop", "v1", "anon-1", model.now)
    assert model.builder("shop")[0][2] == {}
    model.move_to(t("2026-03-04T03:00:00+00:00"))
    assert model.builder("shop")[0][2] == {("identify", ("plan",)): {("text", "pro"): 1}}


def test_reference_backdated_sighting_is_matched_by_the_next_run_only() -> None:
    model = _model("2026-03-02T12:00:00+00:00")
    _identify(model, "m1", {"plan": "pro"})
    model.move_to(t("2026-03-03T09:00:00+00:00"))
    model.see("shop", "v1", "anon-1", t("2026-03-02T13:00:00+00:00"))
    assert [r.matched_profiles for r in model.snapshot("shop").runs] == [0]
    model.move_to(t("2026-03-04T03:00:00+00:00"))
    assert [r.matched_profiles for r in model.snapshot("shop").runs] == [0, 1]


def test_reference_duplicate_within_24_hours_of_the_first_arrival() -> None:
    model = _model("2026-03-02T12:00:00+00:00")
    assert _identify(model, "m1", {"plan": "pro"}) == "accepted"
    model.move_to(t("2026-03-03T11:59:59+00:00"))
    assert _identify(model, "m1", {"plan": "pro"}) == "duplicate"
    model.move_to(t("2026-03-03T12:00:00+00:00"))
    assert _identify(model, "m1", {"plan": "pro"}) == "accepted"


def test_reference_merge_takes_the_newest_timestamp_then_the_greater_message_id() -> None:
    model = _model("2026-03-02T12:00:00+00:00")
    _identify(model, "m2", {"plan": "late", "seats": 1}, "2026-03-02T13:00:00+00:00")
    _identify(model, "m1", {"plan": "early", "seats": None}, "2026-03-02T11:00:00+00:00")
    _identify(model, "m3", {"seats": 2}, "2026-03-02T13:00:00+00:00")
    assert merged(model.messages) == {"plan": "late", "seats": 2}


def test_reference_group_traits_reach_members_apart_from_identify_traits() -> None:
    model = _model("2026-03-02T12:00:00+00:00")
    model.see("shop", "v1", "anon-1", model.now)
    _identify(model, "m1", {"group.plan": "literal"})
    group = {"type": "group", "messageId": "m2", "userId": "admin", "groupId": "acme"}
    model.webhook("key", {**group, "traits": {"plan": "pro"}, "timestamp": "2026-03-02T12:00:00Z"})
    member = {"type": "group", "messageId": "m3", "anonymousId": "anon-1", "groupId": "acme"}
    model.webhook("key", {**member, "timestamp": "2026-03-02T12:00:00Z"})
    model.move_to(t("2026-03-03T03:00:00+00:00"))
    assert model.builder("shop")[0][2] == {
        ("identify", ("group.plan",)): {("text", "literal"): 1},
        ("group", ("plan",)): {("text", "pro"): 1},
    }


def _literal_group_plan_shown(with_group_trait: bool) -> ReferenceModel:
    """The builder shows the identify trait literally named ``group.plan`` (and maybe the
    group trait ``plan``, which prints ``group.plan`` too)."""
    model = _model("2026-03-02T12:00:00+00:00")
    model.see("shop", "v1", "anon-1", model.now)
    _identify(model, "m1", {"group.plan": "literal"})
    if with_group_trait:
        member = {"type": "group", "messageId": "m2", "anonymousId": "anon-1", "groupId": "acme"}
        model.webhook(
            "key", {**member, "traits": {"plan": "pro"}, "timestamp": "2026-03-02T12:00:00Z"}
        )
    model.move_to(t("2026-03-03T03:00:00+00:00"))
    return model


def _exists(key: str, source: str | None = None) -> tuple[ConditionRequest, ...]:
    return (ConditionRequest("con", key, "exists", None, source),)


def test_reference_printed_key_alone_means_the_one_shown_trait_that_prints_it() -> None:
    """The discrepancy a long model run found (the machine's, not the fake's): with only the
    identify trait literally named ``group.plan`` shown, a condition on ``group.plan`` by
    key alone means that trait (docs/traits.md), not the absent group trait ``plan``."""
    model = _literal_group_plan_shown(with_group_trait=False)
    assert model.create_segment("shop", "s", "all", _exists("group.plan")) == Outcome(201)
    (segment,) = model.segments
    assert segment.conditions[0].criterion == ("identify", ("group.plan",))


def test_reference_printed_key_with_an_absent_source_is_not_available() -> None:
    model = _literal_group_plan_shown(with_group_trait=False)
    outcome = model.create_segment("shop", "s", "all", _exists("group.plan", "group"))
    assert outcome == Outcome(400, "criterion_not_available")


def test_reference_printed_key_shown_twice_is_ambiguous_until_source_says() -> None:
    model = _literal_group_plan_shown(with_group_trait=True)
    ambiguous = model.create_segment("shop", "s1", "all", _exists("group.plan"))
    assert ambiguous == Outcome(400, "ambiguous_trait")
    assert model.create_segment("shop", "s2", "all", _exists("group.plan", "group")) == Outcome(201)
    assert model.segments[-1].conditions[0].criterion == ("group", ("plan",))


@pytest.mark.parametrize(
    ("value", "identity"),
    [(True, ("bool", True)), (1, ("number", 1.0)), (1.0, ("number", 1.0)), ("1", ("text", "1"))],
)
def test_reference_value_id_keeps_true_1_and_text_apart(value: Any, identity: Any) -> None:
    assert value_id(value) == identity


@pytest.mark.parametrize(
    ("operator", "values", "target", "expected"),
    [
        ("equals", [42], "42", True),
        ("equals", [2.0], 2, True),
        ("equals", [True], "true", True),
        ("contains", ["Pro plan"], "PRO", True),
        ("not_equals", ["pro", "free"], "free", False),
        ("not_equals", [], "free", False),
        ("greater_than", ["10"], 5, True),
        ("greater_than", ["1_0"], 5, False),
        ("greater_than", [True], 0, False),
        ("less_than", ["2026-02-28"], "2026-03-01", True),
        ("exists", ["x"], None, True),
    ],
)
def test_reference_operators_follow_the_readme(
    operator: str, values: list[Any], target: Any, expected: bool
) -> None:
    assert holds(operator, values, target) is expected


def test_reference_as_text_writes_whole_floats_as_integers() -> None:
    assert [as_text(v) for v in (2.0, 1.5, False, "x")] == ["2", "1.5", "false", "x"]


def test_reference_deleted_connector_leaves_builder_and_counts() -> None:
    model = _model("2026-03-02T12:00:00+00:00")
    model.see("shop", "v1", "anon-1", model.now)
    _identify(model, "m1", {"plan": "pro"})
    model.move_to(model.now + timedelta(hours=1))
    model.delete_connector("shop")
    model.move_to(t("2026-03-03T03:00:00+00:00"))
    (run,) = model.snapshot("shop").runs
    assert (run.messages, run.profiles, run.cohorts) == (1, 0, 0)
    assert model.builder("shop") == []
