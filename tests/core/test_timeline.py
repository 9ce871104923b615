"""Moving the clock stops at each due retry, so late deliveries land in the right refresh."""

from __future__ import annotations

import base64
import json

from harness import ManualClock
from harness.core.timeline import move_clock
from harness.runtime.stack import Harness
from tests.support import ScriptedDestination, t


def _setup(start: str) -> tuple[Harness, str, str, str]:
    harness = Harness(ManualClock(t(start)))
    ab = harness.abtasty
    account = ab.create_account("Shop")
    ab.create_segment_connector(account.id, "Segment")
    key = ab.generate_api_key(account.id)
    ab.record_sighting(account.id, "v1", "anon-1")
    source, write_key = harness.segment.create_source("web")
    harness.segment.add_destination(source.id, key)
    return (
        harness,
        account.id,
        source.id,
        "Basic " + base64.b64encode(f"{write_key}:".encode()).decode(),
    )


def _shown(harness: Harness, account_id: str) -> list[str]:
    return [trait.key for trait in harness.abtasty.criteria(account_id)[0].traits]


def test_timeline_outage_of_3_hours_is_retried_and_delivered_before_midnight() -> None:
    harness, account, source, auth = _setup("2026-03-02T20:00:00Z")
    outage = ScriptedDestination(then=503)
    real = harness.segment.transport
    harness.segment.transport = outage
    harness.segment.track(
        "identify", auth, json.dumps({"anonymousId": "anon-1", "traits": {"plan": "pro"}}).encode()
    )
    harness.move_to(t("2026-03-02T23:00:00Z"))  # three hours of 503s
    attempts_during_outage = len(outage.calls)
    harness.segment.transport = real  # AB Tasty is back
    harness.move_to(t("2026-03-03T03:00:00Z"))
    (record,) = harness.segment.overview(source).messages
    assert (record.stage, record.attempts) == ("delivered", attempts_during_outage + 1)
    assert attempts_during_outage >= 5
    # Delivered by the first retry after 23:00, before midnight: activated at 03:00 on day 2.
    assert _shown(harness, account) == ["plan"]


def test_timeline_retry_due_after_midnight_waits_a_night() -> None:
    harness, account, _, auth = _setup("2026-03-02T23:59:50Z")
    harness.segment.transport = ScriptedDestination(script=[503])  # first attempt fails
    real_after = harness.transport
    harness.segment.track(
        "identify", auth, json.dumps({"anonymousId": "anon-1", "traits": {"plan": "pro"}}).encode()
    )
    harness.segment.transport = real_after
    harness.move_to(t("2026-03-03T03:00:00Z"))
    assert _shown(harness, account) == []  # the retry reached AB Tasty after midnight
    harness.move_to(t("2026-03-04T03:00:00Z"))
    assert _shown(harness, account) == ["plan"]


def test_timeline_without_wakers_just_moves() -> None:
    clock = ManualClock(t("2026-03-02T00:00:00Z"))
    move_clock(clock, t("2026-03-03T00:00:00Z"))
    assert clock.now() == t("2026-03-03T00:00:00Z")
