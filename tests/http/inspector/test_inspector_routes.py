"""The inspector's routes without a browser: JSON forms, the guard, forms, the stream."""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from litestar.testing import TestClient

from harness import ManualClock
from harness.runtime.stack import Harness
from tests.http.conftest import assert_error
from tests.http.inspector.conftest import Live
from tests.support import START

TOKEN = "s3cret-admin-token"


@dataclass
class Fakes:
    harness: Harness
    abtasty: TestClient[Any]
    segment: TestClient[Any]
    account_id: str
    source_id: str
    write_key: str
    api_key: str
    admin: dict[str, str]

    def track(self, **body: Any) -> None:
        auth = base64.b64encode(f"{self.write_key}:".encode()).decode()
        response = self.segment.post(
            "/v1/identify", json=body, headers={"Authorization": f"Basic {auth}"}
        )
        assert response.status_code == 200


def _fakes(token: str | None) -> Iterator[Fakes]:
    harness = Harness(ManualClock(START))
    admin = {"Authorization": f"Bearer {token}"} if token else {}
    with (
        TestClient(harness.abtasty_app(token)) as abtasty,
        TestClient(harness.segment_app(token)) as segment,
    ):
        account = abtasty.post("/api/accounts", json={"name": "Shop"}, headers=admin).json()["id"]
        base = f"/api/accounts/{account}"
        abtasty.post(f"{base}/integrations/pull/segment", json={"name": "Segment"}, headers=admin)
        key = abtasty.post(f"{base}/settings/integrations/api-key", headers=admin).json()["api_key"]
        source = segment.post("/_segment/sources", json={"name": "web"}, headers=admin).json()
        segment.post(
            f"/_segment/sources/{source['id']}/destinations", json={"api_key": key}, headers=admin
        )
        abtasty.post(
            f"{base}/visitors",
            json={"visitor_id": "v1", "segment_anonymous_id": "anon-1"},
            headers=admin,
        )
        yield Fakes(
            harness, abtasty, segment, account, source["id"], source["write_key"], key, admin
        )


@pytest.fixture
def fakes() -> Iterator[Fakes]:
    yield from _fakes(None)


@pytest.fixture
def guarded() -> Iterator[Fakes]:
    yield from _fakes(TOKEN)


def test_inspector_builder_json_is_the_builder_and_hidden_cohorts(fakes: Fakes) -> None:
    fakes.track(anonymousId="anon-1", traits={"plan": "pro"})
    fakes.track(anonymousId="anon-2", traits={"plan": "free"})
    fakes.harness.move_to(START.replace(day=3, hour=3))
    view = fakes.abtasty.get(f"/_inspector/accounts/{fakes.account_id}/builder.json").json()
    (item,) = view["items"]
    assert item["traits"] == [
        {
            "id": f'["{item["connector_id"]}","identify",["plan"]]',
            "key": "plan",
            "values": [{"value": "pro", "label": "pro", "visitors": 1}],
            "values_pager": {"page": 1, "per_page": 20, "total": 1, "pages": 1},
            "source": "identify",
            "note": "",
        }
    ]
    assert [(h["value"], h["reason"]) for h in view["hidden"]] == [("free", "unmatched")]


def _many_plans(fakes: Fakes, count: int) -> None:
    for index in range(count):
        anonymous_id = f"anon-many-{index}"
        fakes.abtasty.post(
            f"/api/accounts/{fakes.account_id}/visitors",
            json={"visitor_id": f"vm{index}", "segment_anonymous_id": anonymous_id},
        )
        fakes.track(anonymousId=anonymous_id, traits={"plan": f"plan-{index:02d}"})
    fakes.harness.move_to(START.replace(day=3, hour=3))


def test_inspector_builder_long_trait_shows_its_first_values(fakes: Fakes) -> None:
    _many_plans(fakes, 45)
    view = fakes.abtasty.get(f"/_inspector/accounts/{fakes.account_id}/builder.json").json()
    (trait,) = view["items"][0]["traits"]
    assert [v["value"] for v in trait["values"]] == [f"plan-{i:02d}" for i in range(20)]
    assert trait["values_pager"] == {"page": 1, "per_page": 20, "total": 45, "pages": 3}


def test_inspector_builder_trait_values_page_by_trait_id(fakes: Fakes) -> None:
    _many_plans(fakes, 45)
    base = f"/_inspector/accounts/{fakes.account_id}/builder.json"
    first = fakes.abtasty.get(base).json()["items"][0]["traits"][0]
    view = fakes.abtasty.get(base, params={"trait": first["id"], "values_page": 3}).json()
    (trait,) = view["items"][0]["traits"]
    assert [v["value"] for v in trait["values"]] == [f"plan-{i:02d}" for i in range(40, 45)]


def test_inspector_builder_value_page_links_work_without_javascript(fakes: Fakes) -> None:
    _many_plans(fakes, 45)
    page = fakes.abtasty.get(f"/_inspector/accounts/{fakes.account_id}/builder").text
    assert "Values 1 to 20 of 45" in page
    link = re.search(r'<a href="([^"]+)" rel="next">Next values', page)
    assert link is not None
    following = fakes.abtasty.get(html.unescape(link.group(1)).split("#")[0]).text
    assert "Values 21 to 40 of 45" in following
    assert 'data-value="plan-20"' in following
    assert 'data-value="plan-19"' not in following


def test_inspector_builder_numeric_values_in_numeric_order(fakes: Fakes) -> None:
    fakes.track(anonymousId="anon-1", traits={"seats": [2, 10, 9]})
    fakes.harness.move_to(START.replace(day=3, hour=3))
    view = fakes.abtasty.get(f"/_inspector/accounts/{fakes.account_id}/builder.json").json()
    (trait,) = view["items"][0]["traits"]
    assert [v["label"] for v in trait["values"]] == ["2", "9", "10"]


def test_inspector_builder_mixed_values_numbers_then_strings_then_booleans(
    fakes: Fakes,
) -> None:
    fakes.track(anonymousId="anon-1", traits={"mixed": [True, "b", 10, "10", False, 2.5]})
    fakes.harness.move_to(START.replace(day=3, hour=3))
    view = fakes.abtasty.get(f"/_inspector/accounts/{fakes.account_id}/builder.json").json()
    (trait,) = view["items"][0]["traits"]
    assert [v["value"] for v in trait["values"]] == [2.5, 10, "10", "b", False, True]


def test_inspector_builder_numeric_value_pages_follow_numeric_order(fakes: Fakes) -> None:
    numbers = [(index * 37) % 45 for index in range(45)]  # 0..44, shuffled
    fakes.track(anonymousId="anon-1", traits={"seats": numbers})
    fakes.harness.move_to(START.replace(day=3, hour=3))
    base = f"/_inspector/accounts/{fakes.account_id}/builder.json"
    ident = fakes.abtasty.get(base).json()["items"][0]["traits"][0]["id"]
    shown = []
    for page in (1, 2, 3):
        view = fakes.abtasty.get(base, params={"trait": ident, "values_page": page}).json()
        shown += [v["value"] for v in view["items"][0]["traits"][0]["values"]]
    assert shown == list(range(45))


def test_inspector_builder_hidden_cohorts_in_numeric_order(fakes: Fakes) -> None:
    fakes.track(anonymousId="anon-unseen", traits={"seats": [10, 2, 9]})
    fakes.harness.move_to(START.replace(day=3, hour=3))
    view = fakes.abtasty.get(f"/_inspector/accounts/{fakes.account_id}/builder.json").json()
    assert [(h["label"], h["reason"]) for h in view["hidden"]] == [
        ("2", "unmatched"),
        ("9", "unmatched"),
        ("10", "unmatched"),
    ]


def test_inspector_builder_bad_values_page_is_invalid_body(fakes: Fakes) -> None:
    response = fakes.abtasty.get(
        f"/_inspector/accounts/{fakes.account_id}/builder.json", params={"values_page": "0"}
    )
    assert_error(response, 400, "invalid_body")
    assert "values_page" in response.json()["message"]


def test_inspector_look_alike_traits_shown_apart_with_source_and_path(fakes: Fakes) -> None:
    fakes.track(anonymousId="anon-1", traits={"company": {"name": "Acme"}, "company.name": "Beta"})
    fakes.harness.move_to(START.replace(day=3, hour=3))
    base = f"/_inspector/accounts/{fakes.account_id}"
    view = fakes.abtasty.get(f"{base}/visitors/v1.json").json()
    assert [(t["key"], t["source"], t["note"], t["values"]) for t in view["traits"]] == [
        ("company.name", "identify", "", ["Acme"]),
        ("company.name", "identify", 'identify ["company.name"]', ["Beta"]),
    ]
    builder = fakes.abtasty.get(f"{base}/builder.json").json()
    (item,) = builder["items"]
    assert [(t["key"], t["note"]) for t in item["traits"]] == [
        ("company.name", ""),
        ("company.name", 'identify ["company.name"]'),
    ]
    page = fakes.abtasty.get(f"{base}/visitors/v1").text
    assert '<small class="trait-source">identify [&#34;company.name&#34;]</small>' in page


def test_inspector_every_page_has_a_json_form(fakes: Fakes) -> None:
    fakes.track(anonymousId="anon-1", messageId="m1", traits={"plan": "pro"})
    account, source = fakes.account_id, fakes.source_id
    for path in (
        "/_inspector/index.json",
        f"/_inspector/accounts/{account}/builder.json",
        f"/_inspector/accounts/{account}/refreshes.json",
        f"/_inspector/accounts/{account}/visitors.json",
        f"/_inspector/accounts/{account}/visitors/v1.json",
        f"/_inspector/sources/{source}/deliveries.json",
        f"/_inspector/sources/{source}/message.json?id=m1",
        "/_inspector/events.json",
        "/_inspector/journal.json",
        "/_inspector/clock.json",
    ):
        response = fakes.abtasty.get(path)
        assert response.status_code == 200, (path, response.text)
        assert response.headers["content-type"].startswith("application/json")
        html = fakes.abtasty.get(path.replace(".json", "").replace("/index", "/"))
        assert html.headers["content-type"].startswith("text/html"), path


def test_inspector_unknown_account_json_is_a_404_error(fakes: Fakes) -> None:
    response = fakes.abtasty.get("/_inspector/accounts/nope/builder.json")
    assert_error(response, 404, "account_not_found")


def test_inspector_unknown_account_html_is_a_404_page(fakes: Fakes) -> None:
    response = fakes.abtasty.get("/_inspector/accounts/nope/builder")
    assert response.status_code == 404
    assert "account_not_found" in response.text


def test_inspector_bad_page_number_is_invalid_body(fakes: Fakes) -> None:
    response = fakes.abtasty.get("/_inspector/index.json", params={"page": "0"})
    assert_error(response, 400, "invalid_body")
    response = fakes.abtasty.get("/_inspector/journal.json", params={"per_page": "x"})
    assert_error(response, 400, "invalid_body")


def test_inspector_accounts_paginated(fakes: Fakes) -> None:
    for n in range(4):
        fakes.abtasty.post("/api/accounts", json={"name": f"Other {n}"})
    view = fakes.abtasty.get("/_inspector/index.json", params={"per_page": 2, "page": 3}).json()
    assert [a["name"] for a in view["accounts"]] == ["Other 3"]
    assert view["pager"] == {"page": 3, "per_page": 2, "total": 5, "pages": 3}


def test_inspector_never_shows_a_secret_in_full(fakes: Fakes) -> None:
    fakes.track(anonymousId="anon-1", writeKey=fakes.write_key, traits={"plan": "pro"})
    for path in (
        "/_inspector/",
        "/_inspector/events",
        "/_inspector/journal",
        f"/_inspector/sources/{fakes.source_id}/deliveries",
    ):
        page = fakes.abtasty.get(path).text
        assert fakes.write_key not in page and fakes.api_key not in page, path
        assert fakes.write_key[-4:] in page or fakes.api_key[-4:] in page, path


def test_inspector_events_filter_by_type_and_account(fakes: Fakes) -> None:
    fakes.track(anonymousId="anon-1", traits={"plan": "pro"})
    events = fakes.abtasty.get(
        "/_inspector/events.json", params={"type": "identify", "account": fakes.account_id}
    ).json()["events"]
    assert [(e["fake"], e["kind"]) for e in events] == [
        ("abtasty", "webhook"),
        ("segment", "tracking"),
    ] or [(e["fake"], e["kind"]) for e in events] == [
        ("segment", "tracking"),
        ("abtasty", "webhook"),
    ]
    assert {e["source_id"] for e in events if e["fake"] == "segment"} == {fakes.source_id}
    response = fakes.abtasty.get("/_inspector/events.json", params={"type": "nope"})
    assert_error(response, 400, "invalid_body")


def test_inspector_stream_sends_new_events_after_the_cursor(live: Live) -> None:
    cursor = requests.get(live.url + "/_inspector/events.json", timeout=5).json()["cursor"]
    live.track("identify", anonymousId="anon-1", messageId="m-stream", traits={"plan": "pro"})
    with requests.get(
        live.url + "/_inspector/events/stream",
        params={"after": cursor, "type": "tracking"},
        stream=True,
        timeout=10,
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.iter_lines(decode_unicode=True)
        for line in lines:
            if line == "event: request":
                data = next(lines)
                break
    assert data.startswith("data: ") and '"m-stream"' in data


def test_inspector_stream_bad_cursor_is_invalid_body(fakes: Fakes) -> None:
    response = fakes.abtasty.get("/_inspector/events/stream", params={"after": "x:1"})
    assert_error(response, 400, "invalid_body")


def test_inspector_clock_form_advances_and_redirects(fakes: Fakes) -> None:
    response = fakes.abtasty.post(
        "/_inspector/clock/advance",
        data={"seconds": "3600", "next": "/_inspector/clock"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/_inspector/clock"
    assert fakes.harness.clock.now() == START.replace(hour=13)


def test_inspector_clock_form_backwards_is_refused_on_the_page(fakes: Fakes) -> None:
    response = fakes.abtasty.post("/_inspector/clock/move", data={"now": "2026-03-01T00:00:00"})
    assert response.status_code == 409
    assert "clock_backwards" in response.text


def test_inspector_form_from_another_site_is_refused(fakes: Fakes) -> None:
    response = fakes.abtasty.post(
        "/_inspector/clock/advance",
        data={"seconds": "60"},
        headers={"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
    )
    assert_error(response, 403, "cross_site_request")
    assert fakes.harness.clock.now() == START


def test_inspector_redirect_after_post_stays_in_the_inspector(fakes: Fakes) -> None:
    response = fakes.abtasty.post(
        "/_inspector/clock/advance",
        data={"seconds": "1", "next": "https://evil.example/"},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/_inspector"


def test_inspector_with_token_shows_nothing_without_a_session(guarded: Fakes) -> None:
    page = guarded.abtasty.get("/_inspector/journal", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"].startswith("/_inspector/login?next=")
    assert_error(guarded.abtasty.get("/_inspector/index.json"), 401, "missing_admin_token")
    assert_error(guarded.abtasty.get("/_inspector/events/stream"), 401, "missing_admin_token")
    refused = guarded.abtasty.post("/_inspector/clock/advance", data={"seconds": "60"})
    assert_error(refused, 401, "missing_admin_token")


def test_inspector_with_token_bearer_header_is_enough_for_json(guarded: Fakes) -> None:
    response = guarded.abtasty.get("/_inspector/index.json", headers=guarded.admin)
    assert response.status_code == 200


def test_inspector_login_sets_a_strict_httponly_session_cookie(guarded: Fakes) -> None:
    wrong = guarded.abtasty.post("/_inspector/login", data={"token": "nope"})
    assert wrong.status_code == 401
    response = guarded.abtasty.post(
        "/_inspector/login",
        data={"token": TOKEN, "next": "/_inspector/journal"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/_inspector/journal"
    cookie = response.headers["set-cookie"]
    assert (
        "HttpOnly" in cookie
        and "samesite=strict" in cookie.lower()
        and "Path=/_inspector" in cookie
    )
    assert TOKEN not in cookie
    assert guarded.abtasty.get("/_inspector/index.json").status_code == 200


def test_inspector_forged_or_expired_session_cookie_is_refused(guarded: Fakes) -> None:
    guarded.abtasty.cookies.set("harness_inspector", "9999999999.forged", path="/_inspector")
    assert guarded.abtasty.get("/_inspector/index.json").status_code == 401
    guarded.abtasty.cookies.clear()
    guarded.abtasty.cookies.set("harness_inspector", "1.abc", path="/_inspector")
    assert guarded.abtasty.get("/_inspector/index.json").status_code == 401


def test_inspector_logout_ends_the_session(guarded: Fakes) -> None:
    guarded.abtasty.post("/_inspector/login", data={"token": TOKEN})
    guarded.abtasty.post("/_inspector/logout")
    assert guarded.abtasty.get("/_inspector/index.json").status_code == 401


def test_inspector_static_files_need_no_session(guarded: Fakes) -> None:
    for name in ("inspector.css", "inspector.js", "favicon.svg"):
        assert guarded.abtasty.get(f"/_inspector/static/{name}").status_code == 200


def test_inspector_pages_load_nothing_from_another_host(fakes: Fakes) -> None:
    for path in ("/_inspector/", "/_inspector/events", "/_inspector/clock"):
        page = fakes.abtasty.get(path).text
        assert "https://" not in page and "//cdn" not in page, path


def test_inspector_requests_kept_out_of_the_journal(fakes: Fakes) -> None:
    before = len(fakes.abtasty.get("/_harness/requests").json()["requests"])
    fakes.abtasty.get("/_inspector/")
    fakes.abtasty.get("/_inspector/static/inspector.css")
    assert len(fakes.abtasty.get("/_harness/requests").json()["requests"]) == before


def test_inspector_journal_filtered_by_account_renders(fakes: Fakes) -> None:
    fakes.abtasty.get(f"/api/accounts/{fakes.account_id}")
    page = fakes.abtasty.get("/_inspector/journal", params={"account": fakes.account_id})
    assert page.status_code == 200
    assert f"GET /api/accounts/{fakes.account_id}" in page.text


def test_inspector_events_filtered_by_account_renders(fakes: Fakes) -> None:
    page = fakes.abtasty.get("/_inspector/events", params={"account": fakes.account_id})
    assert page.status_code == 200
