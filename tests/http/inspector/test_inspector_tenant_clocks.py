"""The inspector and tenant clocks, over plain HTTP: the clock page, the timeline, the journal."""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from litestar.testing import TestClient

from harness import ManualClock
from harness.runtime.stack import Harness
from tests.http.conftest import assert_error
from tests.support import START

TEAM_START = "2026-05-01T10:00:00Z"


@dataclass
class Tenants:
    harness: Harness
    abtasty: TestClient[Any]
    segment: TestClient[Any]
    account_id: str
    source_id: str
    write_key: str

    def track(self, **body: Any) -> None:
        auth = base64.b64encode(f"{self.write_key}:".encode()).decode()
        response = self.segment.post(
            "/v1/identify", json=body, headers={"Authorization": f"Basic {auth}"}
        )
        assert response.status_code == 200, response.text


@pytest.fixture
def tenants() -> Iterator[Tenants]:
    """An account and a source on tenant clock ``team-a`` (at TEAM_START); the global at START."""
    harness = Harness(ManualClock(START))
    with (
        TestClient(harness.abtasty_app()) as abtasty,
        TestClient(harness.segment_app()) as segment,
    ):
        assert abtasty.put("/_harness/clocks/team-a", json={"now": TEAM_START}).status_code == 201
        account = abtasty.post("/api/accounts", json={"name": "Team A", "clock": "team-a"})
        account_id = account.json()["id"]
        base = f"/api/accounts/{account_id}"
        abtasty.post(f"{base}/integrations/pull/segment", json={"name": "Segment"})
        key = abtasty.post(f"{base}/settings/integrations/api-key").json()["api_key"]
        source = segment.post("/_segment/sources", json={"name": "web", "clock": "team-a"}).json()
        segment.post(f"/_segment/sources/{source['id']}/destinations", json={"api_key": key})
        yield Tenants(harness, abtasty, segment, account_id, source["id"], source["write_key"])


def _team_now(tenants: Tenants) -> str:
    return str(tenants.abtasty.get("/_harness/clocks/team-a").json()["now"])


def test_inspector_clock_page_lists_each_tenant_clock_with_its_tenants(tenants: Tenants) -> None:
    view = tenants.abtasty.get("/_inspector/clock.json").json()
    assert view["clock"] == {"now": "2026-03-02T12:00:00Z", "mode": "manual", "name": ""}
    assert view["tenants"] == [
        {
            "name": "team-a",
            "now": TEAM_START,
            "mode": "manual",
            "accounts": [[tenants.account_id, "Team A"]],
            "accounts_pager": {"page": 1, "per_page": 20, "total": 1, "pages": 1},
            "sources": [[tenants.source_id, "web"]],
        }
    ]
    assert view["pager"] == {"page": 1, "per_page": 50, "total": 1, "pages": 1}


def test_inspector_clock_page_offers_controls_per_tenant_clock(tenants: Tenants) -> None:
    page = tenants.abtasty.get("/_inspector/clock").text
    assert 'action="/_inspector/clocks/team-a/advance"' in page
    assert 'action="/_inspector/clocks/team-a/move"' in page
    assert 'data-clock-name="team-a"' in page


def test_inspector_tenant_clock_advance_moves_only_that_clock(tenants: Tenants) -> None:
    response = tenants.abtasty.post(
        "/_inspector/clocks/team-a/advance",
        data={"seconds": "3600", "next": "/_inspector/clock"},
        follow_redirects=False,
    )
    assert (response.status_code, response.headers["location"]) == (303, "/_inspector/clock")
    assert _team_now(tenants) == "2026-05-01T11:00:00Z"
    assert tenants.harness.clock.now() == START


def test_inspector_tenant_clock_move_answers_json_when_asked(tenants: Tenants) -> None:
    response = tenants.abtasty.post(
        "/_inspector/clocks/team-a/move",
        data={"now": "2026-05-02T03:00:00"},
        headers={"Accept": "application/json"},
    )
    assert response.json() == {"now": "2026-05-02T03:00:00Z", "mode": "manual", "name": "team-a"}
    assert tenants.harness.clock.now() == START


def test_inspector_tenant_clock_move_backwards_is_refused(tenants: Tenants) -> None:
    response = tenants.abtasty.post("/_inspector/clocks/team-a/move", data={"now": "2026-04-01"})
    assert response.status_code == 409
    assert "clock_backwards" in response.text
    assert _team_now(tenants) == TEAM_START


def test_inspector_unknown_tenant_clock_is_not_found(tenants: Tenants) -> None:
    response = tenants.abtasty.post(
        "/_inspector/clocks/nope/advance",
        data={"seconds": "60"},
        headers={"Accept": "application/json"},
    )
    assert_error(response, 404, "clock_not_found")


def test_inspector_tenant_clock_advance_runs_its_accounts_night(tenants: Tenants) -> None:
    tenants.abtasty.post(
        f"/api/accounts/{tenants.account_id}/visitors",
        json={"visitor_id": "v1", "segment_anonymous_id": "anon-1"},
    )
    tenants.track(anonymousId="anon-1", traits={"plan": "pro"})
    tenants.abtasty.post("/_inspector/clocks/team-a/move", data={"now": "2026-05-02T03:00:00"})
    builder = tenants.abtasty.get(f"/_inspector/accounts/{tenants.account_id}/builder.json")
    (item,) = builder.json()["items"]
    assert [v["value"] for v in item["traits"][0]["values"]] == ["pro"]


def test_inspector_refresh_timeline_shows_the_accounts_own_present(tenants: Tenants) -> None:
    base = f"/_inspector/accounts/{tenants.account_id}/refreshes"
    view = tenants.abtasty.get(f"{base}.json").json()
    assert (view["now"], view["account"]["clock"]) == (TEAM_START, "team-a")
    assert view["next_refresh"] == "2026-05-02T03:00:00Z"
    page = tenants.abtasty.get(base).text
    assert f'<time datetime="{TEAM_START}"' in page
    assert "on its own clock" in page


def test_inspector_account_pages_show_the_tenant_clock_in_the_header(tenants: Tenants) -> None:
    page = tenants.abtasty.get(f"/_inspector/accounts/{tenants.account_id}/builder").text
    assert f'data-clock data-clock-name="team-a">{TEAM_START}</time>' in page


def test_inspector_journal_entries_show_their_tenants_clock(tenants: Tenants) -> None:
    tenants.track(anonymousId="anon-1", messageId="m-team", traits={"plan": "pro"})
    view = tenants.abtasty.get("/_inspector/journal.json").json()
    identify = next(r for r in view["requests"] if r["path"] == "/v1/identify")
    assert (identify["clock"], identify["at"]) == ("team-a", TEAM_START)
    webhook = next(r for r in view["requests"] if r["fake"] == "abtasty" and r["method"] == "POST")
    assert (webhook["clock"], webhook["at"][:10]) == ("team-a", "2026-05-01")
    page = tenants.abtasty.get("/_inspector/journal").text
    assert "clock team-a" in page


def test_inspector_journal_untenanted_entry_has_no_clock_name(tenants: Tenants) -> None:
    tenants.abtasty.get("/api/accounts/nope")
    view = tenants.abtasty.get("/_inspector/journal.json", params={"status": "4xx"}).json()
    (row,) = view["requests"]
    assert (row["clock"], row["at"]) == ("", "2026-03-02T12:00:00Z")


def test_inspector_clock_page_finds_accounts_past_the_first_thousand(tenants: Tenants) -> None:
    service = tenants.harness.abtasty
    for index in range(1_000):
        service.create_account(f"Global {index}")
    late = service.create_account("Late", clock="team-a")
    view = tenants.abtasty.get("/_inspector/clock.json").json()
    (team,) = view["tenants"]
    assert team["accounts"] == [[tenants.account_id, "Team A"], [late.id, "Late"]]
    assert team["accounts_pager"]["total"] == 2


def _team_accounts(tenants: Tenants, count: int) -> list[str]:
    service = tenants.harness.abtasty
    return [tenants.account_id] + [
        service.create_account(f"Team {index:02d}", clock="team-a").id for index in range(count)
    ]


def test_inspector_clock_accounts_page_by_clock_name(tenants: Tenants) -> None:
    ids = _team_accounts(tenants, 44)
    view = tenants.abtasty.get(
        "/_inspector/clock.json", params={"clock": "team-a", "accounts_page": 3}
    ).json()
    (team,) = view["tenants"]
    assert [account_id for account_id, _ in team["accounts"]] == ids[40:]
    assert team["accounts_pager"] == {"page": 3, "per_page": 20, "total": 45, "pages": 3}


def test_inspector_clock_account_page_links_work_without_javascript(tenants: Tenants) -> None:
    ids = _team_accounts(tenants, 44)
    page = tenants.abtasty.get("/_inspector/clock").text
    assert "Accounts 1 to 20 of 45" in page
    link = re.search(r'<a href="([^"]+)" rel="next">Next accounts', page)
    assert link is not None
    following = tenants.abtasty.get(html.unescape(link.group(1)).split("#")[0]).text
    assert "Accounts 21 to 40 of 45" in following
    assert f"<code>{ids[20]}</code>" in following
    assert f"<code>{ids[19]}</code>" not in following


def test_inspector_clock_page_pages_tenant_clocks(tenants: Tenants) -> None:
    for index in range(55):
        created = tenants.abtasty.put(f"/_harness/clocks/t-{index:02d}", json={"now": TEAM_START})
        assert created.status_code == 201
    view = tenants.abtasty.get("/_inspector/clock.json", params={"page": 2}).json()
    assert [t["name"] for t in view["tenants"]] == [
        "t-50",
        "t-51",
        "t-52",
        "t-53",
        "t-54",
        "team-a",
    ]
    assert view["pager"] == {"page": 2, "per_page": 50, "total": 56, "pages": 2}
    page = tenants.abtasty.get("/_inspector/clock").text
    assert 'href="/_inspector/clock?page=2" rel="next"' in page


def test_inspector_clock_bad_accounts_page_is_invalid_body(tenants: Tenants) -> None:
    response = tenants.abtasty.get("/_inspector/clock.json", params={"accounts_page": "0"})
    assert_error(response, 400, "invalid_body")
    assert "accounts_page" in response.json()["message"]
