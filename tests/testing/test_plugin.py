"""The pytest plugin, run in a sandbox pytest with pytester."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

FIXTURE_TESTS = """
import pytest
import requests


def test_activation_at_3am(harness_clock, abtasty_account):
    abtasty_account.see("v1", "anon-1")
    harness_clock.move_to("2026-03-02T23:00:00Z")
    abtasty_account.identify("anon-1", plan="pro")
    harness_clock.move_to("2026-03-03T02:59:59Z")
    assert abtasty_account.shown() == {}
    harness_clock.advance("1s")
    assert abtasty_account.shown() == {"plan": {"pro": 1}}


def test_each_test_starts_fresh(harness, abtasty_account):
    assert len(abtasty_account.refreshes()) == 0
    assert harness.clock.now().isoformat() == "2026-03-02T12:00:00+00:00"


@pytest.mark.harness_clock("2026-10-24T21:30:00Z")
def test_marker_sets_the_start(harness_clock):
    assert harness_clock.now().isoformat() == "2026-10-24T21:30:00+00:00"


def test_simulated_segment_outage_is_retried(harness_clock, abtasty_account, simulated_segment):
    abtasty_account.see("v1", "anon-1")
    simulated_segment.outage(until="2026-03-02T14:00:00Z")
    simulated_segment.identify("anon-1", plan="pro")
    assert simulated_segment.stages()["delivered"] == 0
    harness_clock.advance("3h")
    assert simulated_segment.stages()["delivered"] == 1


def test_http_clients_without_socket(abtasty_client, abtasty_account):
    reply = abtasty_client.request("GET", f"/api/accounts/{abtasty_account.id}")
    assert reply.status == 200


def test_live_servers_on_loopback(harness_live, abtasty_account):
    answer = requests.get(f"{harness_live.abtasty_url}/api/accounts/{abtasty_account.id}", timeout=5)
    assert answer.json()["id"] == abtasty_account.id
    assert harness_live.abtasty_url.startswith("http://127.0.0.1:")
"""


def test_plugin_fixtures_and_marker(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_fixtures=FIXTURE_TESTS)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=6)


def test_plugin_under_xdist(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_fixtures=FIXTURE_TESTS)
    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=6)


PASSING = """\
name: passes
start: 2026-03-02T12:00:00Z
steps:
  - account: {name: shop}
  - expect:
      builder: {account: shop, exactly: {}}
"""

FAILING = """\
name: fails
start: 2026-03-02T12:00:00Z
steps:
  - account: {name: shop}
  - visitor: {account: shop, visitor_id: v1, anonymous_id: anon-1}
  - identify: {account: shop, anonymous_id: anon-1, traits: {plan: pro}}
  - expect:
      builder: {account: shop, shows: {plan: {pro: 1}}}
"""

INVALID = """\
name: invalid
steps:
  - identify: {account: shop, anonymous_id: 42}
"""


def test_plugin_collects_scenario_files_one_test_each(pytester: pytest.Pytester) -> None:
    pytester.mkdir("scenarios")
    pytester.path.joinpath("scenarios", "ok_story.yaml").write_text(PASSING)
    pytester.path.joinpath("elsewhere.yaml").write_text(FAILING)  # not in a scenarios folder
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_plugin_scenario_failure_cites_file_line_expected_actual(pytester: pytest.Pytester) -> None:
    pytester.mkdir("scenarios")
    pytester.path.joinpath("scenarios", "not_activated.yaml").write_text(FAILING)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*scenarios/not_activated.yaml:7: step 4 (expect): expected trait 'plan' shown*got traits shown: none*"
        ]
    )


def test_plugin_invalid_scenario_names_line_and_field(pytester: pytest.Pytester) -> None:
    pytester.mkdir("scenarios")
    pytester.path.joinpath("scenarios", "broken.yaml").write_text(INVALID)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*scenarios/broken.yaml:3: steps[[]0].identify.anonymous_id: expected text or null, got the number *"
        ]
    )


def test_http_client_fixture_works_from_async_code(abtasty_client, abtasty_account) -> None:
    import asyncio

    async def from_a_coroutine() -> int:
        reply = abtasty_client.request("GET", f"/api/accounts/{abtasty_account.id}")
        return int(reply.status)

    assert asyncio.run(from_a_coroutine()) == 200
