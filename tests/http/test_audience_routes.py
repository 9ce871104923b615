"""Visitors, refreshes, the segment builder and segments over HTTP."""

from __future__ import annotations

import json

import pytest

from tests.http.conftest import Api, assert_error
from tests.support import message


@pytest.fixture
def ready(api: Api) -> Api:
    api.setup()
    api.move_to("2026-03-02T20:00:00Z")
    return api


def _identify(api: Api, anonymous_id: str, **traits: object) -> None:
    body = json.dumps(message(anonymous_id=anonymous_id, traits=traits)).encode()
    assert api.client.post("/segment/webhook", content=body, headers=api.auth).status_code == 200


def test_visitors_201_then_200_and_lowercased(ready: Api) -> None:
    first = ready.client.post(
        f"{ready.base}/visitors", json={"visitor_id": "AbC-1", "segment_anonymous_id": "a1"}
    )
    assert first.status_code == 201
    assert first.json()["visitor_id"] == "abc-1"
    again = ready.client.post(
        f"{ready.base}/visitors", json={"visitor_id": "abc-1", "segment_anonymous_id": "a2"}
    )
    assert again.status_code == 200


@pytest.mark.parametrize(
    "visitor_id", ["", "x" * 33, "has space", "under_score", "é", 123, 1.5, True, None, ["v1"]]
)
def test_visitors_invalid_visitor_id(ready: Api, visitor_id: object) -> None:
    response = ready.client.post(
        f"{ready.base}/visitors", json={"visitor_id": visitor_id, "segment_anonymous_id": "a"}
    )
    assert_error(response, 400, "invalid_visitor_id")


@pytest.mark.parametrize(
    "body",
    [
        {"visitor_id": "v1"},
        {"visitor_id": "v1", "segment_anonymous_id": ""},
        {"visitor_id": "v1", "segment_anonymous_id": "a" * 1_001},
        {"visitor_id": "v1", "segment_anonymous_id": 42},
        {"visitor_id": "v1", "segment_anonymous_id": "a", "seen_at": "last week"},
        {"visitor_id": "v1", "segment_anonymous_id": "a", "seen_at": "2030-01-01T00:00:00Z"},
    ],
)
def test_visitors_invalid_body(ready: Api, body: dict[str, object]) -> None:
    assert_error(ready.client.post(f"{ready.base}/visitors", json=body), 400, "invalid_body")


def test_visitors_anonymous_id_of_1000_chars_accepted(ready: Api) -> None:
    response = ready.client.post(
        f"{ready.base}/visitors", json={"visitor_id": "v1", "segment_anonymous_id": "a" * 1_000}
    )
    assert response.status_code == 201


@pytest.mark.parametrize("anonymous_id", ["", "a" * 1_001])
def test_visitors_anonymous_id_limit_is_the_webhooks(ready: Api, anonymous_id: str) -> None:
    visitor = assert_error(
        ready.client.post(
            f"{ready.base}/visitors",
            json={"visitor_id": "v1", "segment_anonymous_id": anonymous_id},
        ),
        400,
        "invalid_body",
    )
    body = json.dumps(message(anonymous_id=anonymous_id, user_id="u1")).encode()
    webhook = assert_error(
        ready.client.post("/segment/webhook", content=body, headers=ready.auth),
        400,
        "invalid_message",
    )
    assert "1 to 1,000 characters" in visitor["message"]
    assert "1 to 1,000 characters" in webhook["message"]


def test_visitors_seen_at_out_of_range_says_so(ready: Api) -> None:
    body = assert_error(
        ready.client.post(
            f"{ready.base}/visitors",
            json={
                "visitor_id": "v1",
                "segment_anonymous_id": "a",
                "seen_at": "10000-01-01T00:00:00Z",
            },
        ),
        400,
        "invalid_body",
    )
    assert "year 10000 is out of range" in body["message"]


def test_refreshes_listed_oldest_first_with_next(ready: Api) -> None:
    ready.client.post(
        f"{ready.base}/visitors", json={"visitor_id": "v1", "segment_anonymous_id": "a1"}
    )
    _identify(ready, "a1", plan="pro")
    ready.move_to("2026-03-04T03:00:00Z")
    body = ready.client.get(f"{ready.base}/audiences/refreshes").json()
    assert body["refreshes"] == [
        {
            "scheduled_for": "2026-03-03T03:00:00Z",
            "cutoff": "2026-03-03T00:00:00Z",
            "messages": 1,
            "profiles": 1,
            "matched_profiles": 1,
            "cohorts": 1,
        },
        {
            "scheduled_for": "2026-03-04T03:00:00Z",
            "cutoff": "2026-03-04T00:00:00Z",
            "messages": 0,
            "profiles": 1,
            "matched_profiles": 1,
            "cohorts": 1,
        },
    ]
    assert body["next_refresh_at"] == "2026-03-05T03:00:00Z"


def test_criteria_external_data_hides_empty_cohorts(ready: Api) -> None:
    ready.client.post(
        f"{ready.base}/visitors", json={"visitor_id": "v1", "segment_anonymous_id": "a1"}
    )
    _identify(ready, "a1", plan="pro")
    _identify(ready, "a-unseen", plan="free", tier="gold")
    assert (
        ready.client.get(f"{ready.base}/segment-builder/criteria").json()["groups"][0]["items"][0][
            "traits"
        ]
        == []
    )
    ready.move_to("2026-03-03T03:00:00Z")
    assert ready.client.get(f"{ready.base}/segment-builder/criteria").json() == {
        "groups": [
            {
                "name": "EXTERNAL DATA",
                "items": [
                    {
                        "connector_id": ready.connector_id,
                        "connector_name": "Segment",
                        "integration": "segment",
                        "traits": [
                            {
                                "key": "plan",
                                "source": "identify",
                                "path": ["plan"],
                                "values": [{"value": "pro", "visitors": 1}],
                            }
                        ],
                    }
                ],
            }
        ]
    }


def test_segments_create_membership_and_explain(ready: Api) -> None:
    ready.client.post(
        f"{ready.base}/visitors", json={"visitor_id": "v1", "segment_anonymous_id": "a1"}
    )
    ready.client.post(
        f"{ready.base}/visitors", json={"visitor_id": "v2", "segment_anonymous_id": "a2"}
    )
    _identify(ready, "a1", plan="pro")
    _identify(ready, "a2", plan="free")
    ready.move_to("2026-03-03T03:00:00Z")
    condition = {
        "connector_id": ready.connector_id,
        "trait": "plan",
        "operator": "equals",
        "value": "pro",
    }
    created = ready.client.post(
        f"{ready.base}/segments", json={"name": "Pros", "match": "all", "conditions": [condition]}
    )
    assert created.status_code == 201
    segment = created.json()
    assert segment["conditions"] == [{**condition, "source": "identify", "path": ["plan"]}]
    assert segment["match"] == "all"
    assert ready.client.get(f"{ready.base}/visitors/v1/segments").json() == {
        "segments": [segment["id"]]
    }
    assert ready.client.get(f"{ready.base}/visitors/v2/segments").json() == {"segments": []}
    explained = ready.client.get(
        f"{ready.base}/segments/{segment['id']}/explain", params={"visitor_id": "v2"}
    ).json()
    assert explained["matches"] is False
    assert any("value differs" in reason for reason in explained["reasons"])


def test_segments_criterion_not_available(ready: Api) -> None:
    condition = {"connector_id": ready.connector_id, "trait": "plan", "operator": "exists"}
    response = ready.client.post(
        f"{ready.base}/segments", json={"name": "P", "conditions": [condition]}
    )
    body = assert_error(response, 400, "criterion_not_available")
    assert "next refresh" not in body["message"]


def test_segments_criterion_pending_names_next_refresh(ready: Api) -> None:
    _identify(ready, "a1", plan="pro")
    condition = {"connector_id": ready.connector_id, "trait": "plan", "operator": "exists"}
    response = ready.client.post(
        f"{ready.base}/segments", json={"name": "P", "conditions": [condition]}
    )
    body = assert_error(response, 400, "criterion_not_available")
    assert "next refresh at 2026-03-03T03:00:00Z" in body["message"]


def test_segments_unknown_connector(ready: Api) -> None:
    other = ready.client.post("/api/accounts", json={"name": "Other"}).json()["id"]
    theirs = ready.client.post(
        f"/api/accounts/{other}/integrations/pull/segment", json={"name": "Segment"}
    ).json()["id"]
    for connector in ("con_nope", theirs):
        condition = {"connector_id": connector, "trait": "plan", "operator": "exists"}
        response = ready.client.post(
            f"{ready.base}/segments", json={"name": "P", "conditions": [condition]}
        )
        body = assert_error(response, 400, "unknown_connector")
        assert connector in body["message"] and "next refresh" not in body["message"]


@pytest.mark.parametrize(
    "body",
    [
        {"name": "P", "conditions": []},
        {"name": "P", "match": "most", "conditions": []},
        {"name": "P"},
        {"name": "P", "conditions": [{"trait": "plan"}]},
        {"name": "P", "conditions": "plan"},
    ],
)
def test_segments_invalid_body(ready: Api, body: dict[str, object]) -> None:
    assert_error(ready.client.post(f"{ready.base}/segments", json=body), 400, "invalid_body")


def test_explain_not_found_codes(ready: Api) -> None:
    ready.client.post(
        f"{ready.base}/visitors", json={"visitor_id": "v1", "segment_anonymous_id": "a1"}
    )
    assert_error(
        ready.client.get(f"{ready.base}/segments/seg_x/explain", params={"visitor_id": "v1"}),
        404,
        "segment_not_found",
    )
    _identify(ready, "a1", plan="pro")
    ready.move_to("2026-03-03T03:00:00Z")
    condition = {"connector_id": ready.connector_id, "trait": "plan", "operator": "exists"}
    segment = ready.client.post(
        f"{ready.base}/segments", json={"name": "P", "conditions": [condition]}
    ).json()["id"]
    assert_error(
        ready.client.get(
            f"{ready.base}/segments/{segment}/explain", params={"visitor_id": "ghost"}
        ),
        404,
        "visitor_not_found",
    )
    assert_error(
        ready.client.get(
            f"{ready.base}/segments/{segment}/explain", params={"visitor_id": "bad id"}
        ),
        400,
        "invalid_visitor_id",
    )
    assert_error(ready.client.get(f"{ready.base}/segments/{segment}/explain"), 400, "invalid_body")


def _collisions(api: Api) -> None:
    for visitor, anonymous_id in (("v1", "a1"), ("v2", "a2")):
        api.client.post(
            f"{api.base}/visitors",
            json={"visitor_id": visitor, "segment_anonymous_id": anonymous_id},
        )
    _identify(api, "a1", **{"group.plan": "literal", "company.name": "Acme"})
    _identify(api, "a2", company={"name": "Acme"})
    group = json.dumps(
        message("group", anonymous_id="a2", group_id="acme", traits={"plan": "enterprise"})
    )
    assert api.client.post("/segment/webhook", content=group, headers=api.auth).status_code == 200
    api.move_to("2026-03-03T03:00:00Z")


def test_criteria_keeps_look_alike_traits_apart_by_source_and_path(ready: Api) -> None:
    _collisions(ready)
    items = ready.client.get(f"{ready.base}/segment-builder/criteria").json()["groups"][0]["items"]
    traits = [(t["key"], t["source"], t["path"], t["values"]) for t in items[0]["traits"]]
    assert traits == [
        ("company.name", "identify", ["company", "name"], [{"value": "Acme", "visitors": 1}]),
        ("company.name", "identify", ["company.name"], [{"value": "Acme", "visitors": 1}]),
        ("group.plan", "group", ["plan"], [{"value": "enterprise", "visitors": 1}]),
        ("group.plan", "identify", ["group.plan"], [{"value": "literal", "visitors": 1}]),
    ]


def test_segments_look_alike_trait_needs_source_or_path(ready: Api) -> None:
    _collisions(ready)
    condition = {"connector_id": ready.connector_id, "trait": "group.plan", "operator": "exists"}
    body = assert_error(
        ready.client.post(f"{ready.base}/segments", json={"name": "P", "conditions": [condition]}),
        400,
        "ambiguous_trait",
    )
    assert "source" in body["message"] and "path" in body["message"]
    created = ready.client.post(
        f"{ready.base}/segments",
        json={"name": "P", "conditions": [{**condition, "source": "group"}]},
    )
    assert created.status_code == 201
    expected = {**condition, "source": "group", "path": ["plan"], "value": None}
    assert created.json()["conditions"][0] == expected
    segment = created.json()["id"]
    assert ready.client.get(f"{ready.base}/visitors/v2/segments").json()["segments"] == [segment]
    assert ready.client.get(f"{ready.base}/visitors/v1/segments").json()["segments"] == []


def test_segments_path_alone_names_the_literal_key(ready: Api) -> None:
    _collisions(ready)
    condition = {
        "connector_id": ready.connector_id,
        "path": ["company.name"],
        "operator": "equals",
        "value": "Acme",
    }
    created = ready.client.post(
        f"{ready.base}/segments", json={"name": "Literal", "conditions": [condition]}
    )
    assert created.status_code == 201, created.text
    assert created.json()["conditions"][0]["trait"] == "company.name"
    segment = created.json()["id"]
    assert ready.client.get(f"{ready.base}/visitors/v1/segments").json()["segments"] == [segment]
    assert ready.client.get(f"{ready.base}/visitors/v2/segments").json()["segments"] == []


@pytest.mark.parametrize(
    "extra",
    [
        {"source": "track"},
        {"source": 1},
        {"path": "company.name"},
        {"path": []},
        {"path": ["company", 1]},
        {"trait": None},
    ],
)
def test_segments_malformed_source_or_path_is_invalid_body(
    ready: Api, extra: dict[str, object]
) -> None:
    _collisions(ready)
    condition = {"connector_id": ready.connector_id, "trait": "group.plan", "operator": "exists"}
    response = ready.client.post(
        f"{ready.base}/segments", json={"name": "P", "conditions": [{**condition, **extra}]}
    )
    assert_error(response, 400, "invalid_body")
