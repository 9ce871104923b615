"""The fake Segment workspace: ingest, delivery, retries on the clock, the overview."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import pytest

from harness import ManualClock
from harness.core.errors import HarnessError
from harness.core.timeline import advance_clock
from harness.segment import FakeSegment
from tests.support import ScriptedDestination, t


class Workspace:
    def __init__(self, script: list[int | None] | None = None, then: int = 200) -> None:
        self.clock = ManualClock(t("2026-03-02T20:00:00Z"))
        self.destination = ScriptedDestination(script, then)
        self.segment = FakeSegment(
            self.clock, self.destination, default_endpoint="http://receiver.test/hook"
        )
        self.source, self.write_key = self.segment.create_source("web")
        self.target = self.segment.add_destination(self.source.id, "abt_key")

    def send(self, call: str, **body: Any) -> None:
        auth = "Basic " + base64.b64encode(f"{self.write_key}:".encode()).decode()
        self.segment.track(call, auth, json.dumps(body).encode())

    def advance(self, seconds: float) -> None:
        advance_clock(self.clock, seconds, [self.segment])

    def stages(self) -> dict[str, int]:
        return self.segment.overview(self.source.id).stages


def test_fake_segment_first_attempt_when_accepted() -> None:
    ws = Workspace()
    ws.send("identify", anonymousId="a", traits={"plan": "pro"})
    url, headers, body = ws.destination.calls[0]
    assert url == "http://receiver.test/hook"
    assert headers["User-Agent"] == "Segment.io/1.0"
    assert body["type"] == "identify" and body["traits"] == {"plan": "pro"}
    assert ws.stages() == {
        "received": 1,
        "failed_on_ingest": 0,
        "filtered_at_destination": 0,
        "failed_delivery": 0,
        "delivered": 1,
    }


def test_fake_segment_only_identify_and_group_reach_ab_tasty() -> None:
    ws = Workspace()
    for call in ("identify", "group", "track", "page", "screen", "alias"):
        ws.send(call, anonymousId="a", groupId="g", userId="u", previousId="p", event="e")
    assert [c[2]["type"] for c in ws.destination.calls] == ["identify", "group"]
    assert ws.stages()["filtered_at_destination"] == 4


def test_fake_segment_integrations_false_skips_destination() -> None:
    ws = Workspace()
    ws.send("identify", anonymousId="a", integrations={"AB Tasty client side": False})
    assert ws.destination.calls == []
    assert ws.stages()["filtered_at_destination"] == 1


def test_fake_segment_retries_5xx_until_delivered() -> None:
    ws = Workspace(script=[503, 500, None, 429])
    ws.send("identify", anonymousId="a")
    record = ws.segment.overview(ws.source.id).messages[0]
    assert (record.stage, record.attempts, record.last_status) == ("retrying", 1, 503)
    ws.advance(4 * 3600)
    record = ws.segment.overview(ws.source.id).messages[0]
    assert (record.stage, record.attempts, record.last_status) == ("delivered", 5, 200)


def test_fake_segment_gives_up_after_4_hours() -> None:
    ws = Workspace(then=500)
    ws.send("identify", anonymousId="a")
    ws.advance(10 * 3600)
    record = ws.segment.overview(ws.source.id).messages[0]
    assert record.stage == "failed_delivery"
    assert record.next_attempt_at is None
    assert 5 <= record.attempts <= 12
    assert len(ws.destination.calls) == record.attempts


def test_fake_segment_no_retry_on_4xx() -> None:
    ws = Workspace(script=[401])
    ws.send("identify", anonymousId="a")
    ws.advance(5 * 3600)
    record = ws.segment.overview(ws.source.id).messages[0]
    assert (record.stage, record.attempts, record.last_status) == ("failed_delivery", 1, 401)


def test_fake_segment_retry_waits_for_clock() -> None:
    ws = Workspace(script=[503])
    ws.send("identify", anonymousId="a")
    ws.advance(29)
    assert len(ws.destination.calls) == 1  # the first retry waits at least 30 s
    due = ws.segment.next_due()
    assert due is not None and due - ws.clock.now() <= timedelta(seconds=16)
    ws.advance(16)
    assert len(ws.destination.calls) == 2


def test_fake_segment_failed_on_ingest_counts_as_received() -> None:
    ws = Workspace()
    ws.send("identify")  # neither userId nor anonymousId: 200, then failed on ingest
    ws.send("batch", batch=[{"type": "identify", "anonymousId": "a"}, "junk"])
    overview = ws.segment.overview(ws.source.id)
    assert overview.stages["received"] == 3
    assert overview.stages["failed_on_ingest"] == 2
    assert overview.stages["delivered"] == 1
    assert overview.messages[0].destination_id is None


def test_fake_segment_unknown_write_key_is_refused() -> None:
    ws = Workspace()
    with pytest.raises(HarnessError) as caught:
        ws.segment.track("identify", "Basic " + base64.b64encode(b"nope:").decode(), b"{}")
    assert caught.value.code == "invalid_write_key"
    assert "nope" not in caught.value.message or "****" in caught.value.message


def test_fake_segment_each_destination_gets_the_message_once() -> None:
    ws = Workspace()
    ws.segment.add_destination(ws.source.id, "abt_other", endpoint="http://second.test/hook")
    ws.send("identify", anonymousId="a")
    assert sorted(c[0] for c in ws.destination.calls) == [
        "http://receiver.test/hook",
        "http://second.test/hook",
    ]


def test_fake_segment_reset_source_stops_its_retries() -> None:
    ws = Workspace(then=503)
    ws.send("identify", anonymousId="a")
    ws.segment.reset(ws.source.id)
    ws.advance(3600)
    assert len(ws.destination.calls) == 1
    with pytest.raises(HarnessError):
        ws.segment.overview(ws.source.id)


def test_fake_segment_destination_setup_validation() -> None:
    ws = Workspace()
    for kwargs in (
        {"api_key": ""},
        {"api_key": "k", "type": "amplitude"},
        {"api_key": "k", "endpoint": "not a url"},
    ):
        with pytest.raises(HarnessError) as caught:
            ws.segment.add_destination(ws.source.id, **kwargs)
        assert caught.value.code == "invalid_body"
    with pytest.raises(HarnessError) as missing:
        ws.segment.add_destination("src_nope", "k")
    assert missing.value.code == "source_not_found"


def test_fake_segment_attempt_history_records_each_attempt_and_retry() -> None:
    ws = Workspace(script=[503, None], then=200)
    ws.send("identify", anonymousId="a", messageId="m1")
    ws.advance(4 * 3600)
    (record,) = ws.segment.deliveries(ws.source.id).messages
    assert [(a.status, a.outcome) for a in record.history] == [
        (503, "retry"),
        (None, "retry"),
        (200, "delivered"),
    ]
    assert record.history[0].at == t("2026-03-02T20:00:00Z") == record.received_at
    assert record.history[0].next_attempt_at == record.history[1].at
    assert record.history[2].next_attempt_at is None


def test_fake_segment_attempt_history_refused_is_failed() -> None:
    ws = Workspace(script=[400])
    ws.send("identify", anonymousId="a")
    (record,) = ws.segment.deliveries(ws.source.id).messages
    assert [(a.status, a.outcome) for a in record.history] == [(400, "failed")]


def test_fake_segment_deliveries_newest_first_paged_and_filtered() -> None:
    ws = Workspace()
    for n in range(5):
        ws.send("identify", anonymousId="a", messageId=f"m{n}")
    ws.send("track", anonymousId="a", event="e", messageId="t1")
    page = ws.segment.deliveries(ws.source.id, offset=1, limit=2)
    assert [r.message_id for r in page.messages] == ["m4", "m3"]
    assert page.total == 6
    assert page.stages == ws.stages()
    filtered = ws.segment.deliveries(ws.source.id, stage="filtered_at_destination")
    assert [r.message_id for r in filtered.messages] == ["t1"]
    assert [
        r.message_id for r in ws.segment.deliveries(ws.source.id, message_id="m2").messages
    ] == ["m2"]


def test_fake_segment_deliveries_count_retrying_apart() -> None:
    ws = Workspace(script=[503])
    ws.send("identify", anonymousId="a")
    page = ws.segment.deliveries(ws.source.id)
    assert page.retrying == 1
    assert page.stages["delivered"] == 0


def test_fake_segment_deliveries_unknown_stage_is_invalid_body() -> None:
    ws = Workspace()
    with pytest.raises(HarnessError) as raised:
        ws.segment.deliveries(ws.source.id, stage="received")
    assert raised.value.code == "invalid_body"


def test_fake_segment_sources_oldest_first() -> None:
    ws = Workspace()
    other, _ = ws.segment.create_source("app")
    assert [s.id for s in ws.segment.sources()] == [ws.source.id, other.id]
