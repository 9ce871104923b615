"""Engage routes of the fake Segment: audiences and computed traits over HTTP."""

from __future__ import annotations

import pytest


@pytest.fixture
def base(simulated_segment):
    return f"/_segment/sources/{simulated_segment.source.id}"


def test_engage_audience_routes_enter_exit_and_members(segment_client, simulated_segment, base):
    created = segment_client.request("POST", f"{base}/audiences", json={"key": "vip_users"})
    assert created.status == 201
    audience = created.json()
    assert audience["computation_class"] == "audience"
    assert audience["warning"] is None
    enter = segment_client.request(
        "POST", f"{base}/audiences/{audience['id']}/enter", json={"anonymous_id": "anon-1"}
    )
    assert enter.status == 200
    assert enter.json()["sent"] is True
    members = segment_client.request("GET", f"{base}/audiences/{audience['id']}/members")
    assert members.json() == {"members": ["anon-1"]}
    again = segment_client.request(
        "POST", f"{base}/audiences/{audience['id']}/enter", json={"anonymous_id": "anon-1"}
    )
    assert again.json() == {"sent": False, "message_ids": []}
    out = segment_client.request(
        "POST", f"{base}/audiences/{audience['id']}/exit", json={"anonymous_id": "anon-1"}
    )
    assert out.json()["sent"] is True
    assert simulated_segment.stages()["delivered"] == 2


def test_engage_audience_key_reuse_warns_and_live_key_conflicts(segment_client, base):
    first = segment_client.request("POST", f"{base}/audiences", json={"key": "vip"}).json()
    clash = segment_client.request("POST", f"{base}/computed-traits", json={"key": "vip"})
    assert clash.status == 409
    assert clash.json()["code"] == "computation_key_exists"
    assert segment_client.request("DELETE", f"{base}/audiences/{first['id']}").status == 204
    reused = segment_client.request("POST", f"{base}/audiences", json={"key": "vip"})
    assert reused.status == 201
    assert first["id"] in reused.json()["warning"]
    listed = segment_client.request("GET", f"{base}/engage").json()
    assert [a["id"] for a in listed["audiences"]] == [reused.json()["id"]]


def test_engage_computed_trait_account_values(segment_client, simulated_segment, base):
    trait = segment_client.request(
        "POST", f"{base}/computed-traits", json={"key": "seats", "level": "account"}
    ).json()
    sent = segment_client.request(
        "POST",
        f"{base}/computed-traits/{trait['id']}/values",
        json={"group_id": "acme", "members": ["anon-1", "anon-2"], "value": 5},
    )
    assert sent.status == 200
    assert len(sent.json()["message_ids"]) == 2
    assert simulated_segment.stages()["delivered"] == 2


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("POST", "/audiences", {"key": "Not A Key"}, 400, "invalid_body"),
        ("POST", "/audiences", {"name": "no key"}, 400, "invalid_body"),
        ("POST", "/computed-traits", {"key": "k", "level": "galaxy"}, 400, "invalid_body"),
        ("POST", "/audiences/aud_missing/enter", {"anonymous_id": "a"}, 404, "audience_not_found"),
        ("DELETE", "/audiences/aud_missing", None, 404, "audience_not_found"),
        (
            "POST",
            "/computed-traits/ct_missing/values",
            {"value": 1, "anonymous_id": "a"},
            404,
            "computed_trait_not_found",
        ),
    ],
)
def test_engage_routes_refuse_bad_input(segment_client, base, method, path, body, status, code):
    answer = segment_client.request(method, f"{base}{path}", json=body)
    assert answer.status == status
    assert answer.json()["code"] == code
    assert answer.json()["message"]


def test_engage_routes_unknown_source_is_404(segment_client):
    answer = segment_client.request(
        "POST", "/_segment/sources/src_nope/audiences", json={"key": "vip"}
    )
    assert answer.status == 404
    assert answer.json()["code"] == "source_not_found"


def test_engage_enter_with_an_over_long_anonymous_id_is_400(segment_client, base):
    audience = segment_client.request("POST", f"{base}/audiences", json={"key": "vip"}).json()
    answer = segment_client.request(
        "POST", f"{base}/audiences/{audience['id']}/enter", json={"anonymous_id": "a" * 1001}
    )
    assert answer.status == 400
    assert answer.json()["code"] == "invalid_body"
