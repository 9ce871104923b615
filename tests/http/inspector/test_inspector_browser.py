"""The inspector in a real headless Chromium, against both fakes on real uvicorn servers.

Every test also checks that the page logged no console error and asked for nothing
outside the loopback servers; each view leaves a screenshot under artifacts/inspector/.
"""

from __future__ import annotations

import re

import requests
from playwright.sync_api import expect

from tests.http.inspector.conftest import ARTIFACTS, Live, Tab

INSPECTOR = "/_inspector"


def _story(live: Live) -> None:
    """A visitor with a trait waiting for 03:00, another profile never seen, a track call."""
    live.see("v1", "anon-1")
    live.track("identify", anonymousId="anon-1", messageId="m-pro", traits={"plan": "pro"})
    live.track("identify", anonymousId="anon-9", messageId="m-free", traits={"plan": "free"})
    live.track("track", anonymousId="anon-1", event="Signed Up", messageId="m-track")


def test_inspector_home_lists_accounts_and_sources(live: Live, tab: Tab) -> None:
    tab.page.goto(live.url + INSPECTOR)
    expect(tab.page.get_by_role("heading", name="Accounts and sources")).to_be_visible()
    expect(tab.page.get_by_role("link", name="Shop")).to_be_visible()
    expect(tab.page.get_by_role("link", name="web")).to_be_visible()
    assert live.api_key not in tab.page.content()
    tab.shot("home")


def test_inspector_builder_changes_when_the_clock_passes_0300(live: Live, tab: Tab) -> None:
    _story(live)
    builder = f"{live.url}{INSPECTOR}/accounts/{live.account_id}/builder"
    tab.page.goto(builder)
    criteria = tab.page.locator(".criteria")
    expect(criteria.locator("[data-trait]")).to_have_count(0)
    expect(tab.page.locator("[data-reason=not_activated]")).to_have_count(2)
    tab.page.goto(live.url + INSPECTOR + "/clock")
    tab.page.get_by_label("Time (UTC)").fill("2026-03-03T03:00:00")
    tab.page.get_by_role("button", name="Move").click()
    expect(tab.page.locator("[data-clock]")).to_have_text("2026-03-03T03:00:00Z")
    tab.page.goto(builder)
    expect(criteria.locator("[data-trait=plan] [data-value=pro]")).to_contain_text("1 visitor")
    hidden = tab.page.locator("[data-reason=unmatched]")
    expect(hidden).to_contain_text("free")
    expect(hidden).to_contain_text("had seen none of their anonymousIds")
    tab.shot("builder")


def test_inspector_refresh_timeline_marks_catch_up_runs_and_now(live: Live, tab: Tab) -> None:
    _story(live)
    live.move_to("2026-03-06T12:00:00Z")
    tab.page.goto(f"{live.url}{INSPECTOR}/accounts/{live.account_id}/refreshes")
    expect(tab.page.locator("table.runs tbody tr")).to_have_count(4)
    expect(tab.page.locator("table.runs .badge.catchup")).to_have_count(4)
    expect(tab.page.locator("svg.chart g.run")).to_have_count(4)
    expect(tab.page.locator("svg.chart .marker.now")).to_have_count(1)
    tab.page.locator("tr[data-scheduled='2026-03-03T03:00:00Z']").get_by_role(
        "link", name="who changed"
    ).click()
    changes = tab.page.locator("#changes-heading + table")
    expect(changes).to_contain_text("v1")
    expect(changes).to_contain_text("entered")
    tab.shot("refreshes")


def test_inspector_visitor_shows_sightings_traits_segments_and_why(live: Live, tab: Tab) -> None:
    _story(live)
    live.move_to("2026-03-03T03:00:00Z")
    live.api(
        "POST",
        f"/api/accounts/{live.account_id}/segments",
        json={
            "name": "Pros",
            "match": "all",
            "conditions": [
                {
                    "connector_id": live.connector_id,
                    "trait": "plan",
                    "operator": "equals",
                    "value": "pro",
                }
            ],
        },
    )
    tab.page.goto(f"{live.url}{INSPECTOR}/accounts/{live.account_id}/visitors")
    tab.page.get_by_role("link", name="v1").click()
    expect(tab.page.get_by_role("heading", name="Visitor v1")).to_be_visible()
    expect(tab.page.locator("#sightings-heading + table")).to_contain_text("matched")
    expect(tab.page.locator(".traits-list")).to_contain_text("pro")
    segment = tab.page.locator("article.segment")
    expect(segment).to_contain_text("in")
    expect(segment).to_contain_text("'plan equals 'pro'' holds")
    tab.shot("visitor")


def test_inspector_source_funnel_and_message_attempts(live: Live, tab: Tab) -> None:
    _story(live)
    tab.page.goto(f"{live.url}{INSPECTOR}/sources/{live.source_id}/deliveries")
    expect(tab.page.locator("[data-stage=received] .count")).to_have_text("3")
    expect(tab.page.locator("[data-stage=filtered_at_destination] .count")).to_have_text("1")
    expect(tab.page.locator("[data-stage=delivered] .count")).to_have_text("2")
    tab.shot("deliveries")
    tab.page.get_by_role("link", name="m-pro").click()
    expect(tab.page.locator("svg.attempts circle.attempt.ok")).to_have_count(1)
    expect(tab.page.get_by_role("cell", name="delivered")).to_be_visible()
    tab.shot("message")


def test_inspector_live_stream_shows_a_new_message(live: Live, tab: Tab) -> None:
    tab.page.goto(live.url + INSPECTOR + "/events")
    expect(tab.page.locator("[data-live-status]")).to_contain_text("Live")
    live.track("identify", anonymousId="anon-live", messageId="m-live", traits={"plan": "gold"})
    first = tab.page.locator("[data-events] > li").first
    expect(first).to_contain_text("identify anon-live {plan}")
    first.locator("summary").click()
    expect(first.locator("pre.json").first).to_contain_text('"plan": "gold"')
    assert live.write_key not in tab.page.content()
    tab.shot("events")


def test_inspector_live_stream_pause_holds_events_until_resumed(live: Live, tab: Tab) -> None:
    tab.page.goto(live.url + INSPECTOR + "/events?type=identify")
    expect(tab.page.locator("[data-live-status]")).to_contain_text("Live")
    pause = tab.page.get_by_role("button", name="Pause")
    pause.focus()
    tab.page.keyboard.press("Enter")
    expect(tab.page.get_by_role("button", name="Resume")).to_have_attribute("aria-pressed", "true")
    live.track("identify", anonymousId="anon-held", messageId="m-held")
    live.track("track", anonymousId="anon-held", event="Ignored", messageId="m-ignored")
    # The identify reaches both fakes (Tracking API, then webhook); the track call is filtered.
    expect(tab.page.locator("[data-live-status]")).to_contain_text("2 new event(s) held")
    expect(tab.page.locator("[data-events] > li.event")).to_have_count(0)
    tab.page.get_by_role("button", name="Resume").click()
    expect(tab.page.locator("[data-events] > li.event")).to_have_count(2)


def test_inspector_journal_filters_by_fake_and_status(live: Live, tab: Tab) -> None:
    requests.get(live.url + "/api/accounts/nope", timeout=5)
    tab.page.goto(live.url + INSPECTOR + "/journal")
    tab.page.get_by_label("Status").select_option("4xx")
    tab.page.get_by_role("button", name="Filter").click()
    rows = tab.page.locator("table.journal tbody tr")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("/api/accounts/nope")
    tab.shot("journal")


def test_inspector_clock_advances_from_the_keyboard(live: Live, tab: Tab) -> None:
    tab.page.goto(live.url + INSPECTOR + "/clock")
    tab.page.get_by_role("button", name="+1 hour").focus()
    tab.page.keyboard.press("Enter")
    expect(tab.page.locator("[data-clock]")).to_have_text("2026-03-02T13:00:00Z")
    tab.shot("clock")


def test_inspector_static_views_readable_without_javascript(live: Live, browser: object) -> None:
    _story(live)
    live.move_to("2026-03-03T03:00:00Z")
    context = browser.new_context(java_script_enabled=False)  # type: ignore[attr-defined]
    try:
        page = context.new_page()
        page.goto(f"{live.url}{INSPECTOR}/accounts/{live.account_id}/builder")
        expect(page.locator("[data-trait=plan] [data-value=pro]")).to_contain_text("1 visitor")
        page.goto(live.url + INSPECTOR + "/events")
        expect(page.locator("[data-events] > li.event").first).to_be_visible()
    finally:
        context.close()


def test_inspector_asks_for_the_admin_token_once(guarded: Live, tab: Tab) -> None:
    tab.page.goto(guarded.url + INSPECTOR + "/journal")
    expect(tab.page).to_have_url(re.compile(r"/_inspector/login\?next="))
    assert "Shop" not in tab.page.content()
    tab.page.get_by_label("Admin token").fill("wrong")
    tab.page.get_by_role("button", name="Open the inspector").click()
    expect(tab.page.get_by_role("alert")).to_contain_text("not this server's admin token")
    tab.errors.clear()  # the 401 answer is logged by Chromium as a failed resource
    tab.page.get_by_label("Admin token").fill(guarded.token or "")
    tab.page.get_by_role("button", name="Open the inspector").click()
    expect(tab.page.get_by_role("heading", name="Request journal")).to_be_visible()
    (cookie,) = tab.page.context.cookies()
    assert (cookie["httpOnly"], cookie["sameSite"], cookie["path"]) == (
        True,
        "Strict",
        "/_inspector",
    )
    tab.page.goto(guarded.url + INSPECTOR)
    expect(tab.page.get_by_role("link", name="Shop")).to_be_visible()
    tab.shot("login-then-home")


def test_swagger_ui_renders_offline_on_both_fakes(live: Live, tab: Tab) -> None:
    for url, title in ((live.url, "Fake AB Tasty"), (live.segment_url, "Fake Segment")):
        tab.page.goto(url + "/schema/swagger")
        expect(tab.page.locator(".swagger-ui .info .title")).to_contain_text(title)
    tab.shot("swagger")


def _tenant(live: Live) -> str:
    """Tenant clock ``team-a`` at 2026-05-01T10:00:00Z and an account bound to it."""
    live.api("PUT", "/_harness/clocks/team-a", json={"now": "2026-05-01T10:00:00Z"})
    account = live.api("POST", "/api/accounts", json={"name": "Team A", "clock": "team-a"})
    return str(account["id"])


def test_inspector_tenant_clock_advances_from_the_keyboard(live: Live, tab: Tab) -> None:
    account_id = _tenant(live)
    tab.page.goto(live.url + INSPECTOR + "/clock")
    card = tab.page.locator("section[data-clock-name=team-a]")
    expect(card).to_contain_text("2026-05-01T10:00:00Z")
    expect(card).to_contain_text("Team A")
    card.get_by_role("button", name="+1 day").focus()
    tab.page.keyboard.press("Enter")
    card = tab.page.locator("section[data-clock-name=team-a]")
    expect(card).to_contain_text("2026-05-02T10:00:00Z")
    expect(tab.page.locator("[data-clock]")).to_have_text("2026-03-02T12:00:00Z")  # global
    tab.shot("clock-tenants")
    tab.page.goto(f"{live.url}{INSPECTOR}/accounts/{account_id}/refreshes")
    expect(tab.page.locator("p.lead")).to_contain_text("2026-05-02T10:00:00Z")
    expect(tab.page.locator("p.lead")).to_contain_text("on its own clock team-a")
    expect(tab.page.locator("[data-clock-name=team-a]")).to_have_text("2026-05-02T10:00:00Z")
    tab.shot("refreshes-tenant-clock")


def test_inspector_tenant_clock_moved_from_a_form(live: Live, tab: Tab) -> None:
    account_id = _tenant(live)
    tab.page.goto(live.url + INSPECTOR + "/clock")
    card = tab.page.locator("section[data-clock-name=team-a]")
    card.get_by_label("Time (UTC)").fill("2026-05-03T03:00:00")
    card.get_by_role("button", name="Move").click()
    expect(tab.page.locator("section[data-clock-name=team-a]")).to_contain_text(
        "2026-05-03T03:00:00Z"
    )
    live.api("GET", f"/api/accounts/{account_id}")
    tab.page.goto(f"{live.url}{INSPECTOR}/journal?account={account_id}")
    row = tab.page.locator("table.journal tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("2026-05-03T03:00:00Z clock team-a")
    tab.shot("journal-tenant-clock")


def test_inspector_builder_value_pages_follow_without_javascript(
    live: Live, browser: object
) -> None:
    for index in range(21):
        live.see(f"v{index}", f"anon-{index}")
        live.track(
            "identify", anonymousId=f"anon-{index}", messageId=f"m-{index}", traits={"n": index}
        )
    live.move_to("2026-03-03T03:00:00Z")
    context = browser.new_context(java_script_enabled=False)  # type: ignore[attr-defined]
    try:
        page = context.new_page()
        page.goto(f"{live.url}{INSPECTOR}/accounts/{live.account_id}/builder")
        trait = page.locator("[data-trait=n]")
        expect(trait.locator("[data-value]")).to_have_count(20)
        expect(trait.get_by_role("navigation")).to_contain_text("Values 1 to 20 of 21")
        trait.get_by_role("link", name="Next values").focus()
        page.keyboard.press("Enter")
        trait = page.locator("[data-trait=n]")
        expect(trait.get_by_role("navigation")).to_contain_text("Values 21 to 21 of 21")
        expect(trait.locator("[data-value]")).to_have_count(1)
        assert "values_page=2" in page.url
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "builder-values-page-2.png"), full_page=True)
    finally:
        context.close()
