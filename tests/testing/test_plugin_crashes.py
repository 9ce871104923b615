"""A crash inside a fake fails the test that caused it, with the original traceback.

Each test runs a small test file in a sandbox pytest (pytester). The crash is provoked the
way a user's would happen: a store method that raises, patched in with ``monkeypatch``.
"""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

BROKEN_STORE = """
import pytest
import requests


class StoreBroke(Exception):
    pass


@pytest.fixture
def broken_store(harness, monkeypatch):
    def get_account(account_id):
        raise StoreBroke(f"the disk is on fire reading {account_id}")

    monkeypatch.setattr(harness.abtasty.store, "get_account", get_account)
"""


def _run(pytester: pytest.Pytester, tests: str) -> pytest.RunResult:
    pytester.makeconftest(BROKEN_STORE)
    pytester.makepyfile(test_crash=tests)
    return pytester.runpytest("-p", "no:cacheprovider")


def test_plugin_crash_in_a_fake_fails_the_test_with_the_original_error(
    pytester: pytest.Pytester,
) -> None:
    result = _run(
        pytester,
        """
def test_reads_an_account(abtasty_account, broken_store, abtasty_client):
    reply = abtasty_client.get(f"/api/accounts/{abtasty_account.id}")
    assert reply.status == 500  # the client sees internal_error; the test still fails
""",
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*StoreBroke: the disk is on fire reading *",
            "*A fake crashed while answering a request*",
            "FAILED test_crash.py::test_reads_an_account - *StoreBroke*",
        ]
    )
    result.stdout.fnmatch_lines(['*raise StoreBroke(f"the disk is on fire*'])  # its traceback


def test_plugin_clean_test_passes(pytester: pytest.Pytester) -> None:
    result = _run(
        pytester,
        """
def test_reads_an_account(abtasty_account, abtasty_client):
    assert abtasty_client.get(f"/api/accounts/{abtasty_account.id}").status == 200
""",
    )
    result.assert_outcomes(passed=1)


def test_plugin_checked_crash_does_not_fail_the_test_again(pytester: pytest.Pytester) -> None:
    result = _run(
        pytester,
        """
import pytest
from conftest import StoreBroke


def test_expects_the_crash(abtasty_account, broken_store, abtasty_client, harness):
    assert abtasty_client.get(f"/api/accounts/{abtasty_account.id}").status == 500
    with pytest.raises(StoreBroke, match="on fire"):
        harness.check()
    harness.check()  # consumed: nothing left to raise


def test_clears_the_crash(abtasty_account, broken_store, abtasty_client, harness):
    assert abtasty_client.get(f"/api/accounts/{abtasty_account.id}").status == 500
    assert [type(crash).__name__ for crash in harness.crashes] == ["StoreBroke"]
    harness.crashes.clear()


def test_next_test_starts_without_crashes(harness):
    assert len(harness.crashes) == 0
""",
    )
    result.assert_outcomes(passed=3)


def test_plugin_crash_is_noted_on_a_test_that_failed_anyway(pytester: pytest.Pytester) -> None:
    result = _run(
        pytester,
        """
def test_expects_an_account(abtasty_account, broken_store, abtasty_client):
    reply = abtasty_client.get(f"/api/accounts/{abtasty_account.id}")
    assert reply.status == 200
""",
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*assert 500 == 200*", "*A fake crashed during this test:*", "*StoreBroke: the disk*"]
    )


def test_plugin_crash_in_fixture_teardown_fails_the_teardown(pytester: pytest.Pytester) -> None:
    result = _run(
        pytester,
        """
import pytest


@pytest.fixture
def reads_at_teardown(abtasty_account, abtasty_client, broken_store):
    yield
    abtasty_client.get(f"/api/accounts/{abtasty_account.id}")


def test_body_passes(reads_at_teardown):
    pass
""",
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["ERROR test_crash.py::test_body_passes - *StoreBroke*"])


def test_plugin_crash_behind_the_live_server_fails_the_test(pytester: pytest.Pytester) -> None:
    result = _run(
        pytester,
        """
import requests


def test_reads_over_loopback(harness_live, abtasty_account, broken_store):
    url = f"{harness_live.abtasty_url}/api/accounts/{abtasty_account.id}"
    assert requests.get(url, timeout=5).status_code == 500
""",
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["FAILED test_crash.py::test_reads_over_loopback - *StoreBroke*"])


def test_plugin_crash_on_the_segment_side_fails_the_test(pytester: pytest.Pytester) -> None:
    result = _run(
        pytester,
        """
from conftest import StoreBroke


def test_tracks(harness, simulated_segment, segment_client, monkeypatch):
    def receive(*args, **kwargs):
        raise StoreBroke("segment lost its queue")

    monkeypatch.setattr(harness.segment, "ingest", receive)
    segment_client.post("/v1/identify", json={"anonymousId": "a", "writeKey": simulated_segment.write_key})
""",
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*StoreBroke: segment lost its queue*"])


SCENARIO = """
name: An account, then its builder
steps:
  - account: {name: shop}
  - expect:
      builder: {account: shop, exactly: {}}
"""

BROKEN_SERVICE = """
from harness.abtasty.service import AbTasty


class StoreBroke(Exception):
    pass


def _create_account(self, *args, **kwargs):
    raise StoreBroke("the accounts table is gone")


AbTasty.create_account = _create_account  # this subprocess only
"""


def test_plugin_crash_during_a_scenario_file_is_shown_with_the_step(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(BROKEN_SERVICE)
    (pytester.path / "scenarios").mkdir()
    (pytester.path / "scenarios" / "story.yaml").write_text(SCENARIO)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*A fake crashed during this scenario:*", "*StoreBroke: the accounts table is gone*"]
    )


def test_plugin_clean_scenario_file_passes(pytester: pytest.Pytester) -> None:
    (pytester.path / "scenarios").mkdir()
    (pytester.path / "scenarios" / "story.yaml").write_text(SCENARIO)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
