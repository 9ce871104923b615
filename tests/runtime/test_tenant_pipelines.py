"""Parallel pipelines against one live shared fake, each on its own tenant clock."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import requests

from harness.core.clock import format_instant, parse_instant
from harness.runtime.server import live_session
from tests.runtime.fleet import Pipeline, Receiver, serving

PIPELINES = 4


def _pipeline(server: Any, receiver: Receiver, index: int) -> dict[str, Any]:
    """One CI pipeline: its own clock, account and source; it moves only its own time."""
    name = f"pipeline-{index}"
    t0 = parse_instant("2026-03-02T08:00:00Z") + timedelta(days=3 * index, minutes=index)
    http = live_session()

    def move(when: Any) -> None:
        answer = http.put(
            f"{server.url}/_harness/clocks/{name}", json={"now": format_instant(when)}
        )
        assert answer.status_code in (200, 201), answer.text

    def receiver_record() -> dict[str, Any]:
        records = [
            m
            for m in tenant.overview()["messages"]
            if m["destination_id"] == tenant.destinations[1]
        ]
        assert len(records) == 1
        record: dict[str, Any] = records[0]
        return record

    move(t0)
    tenant = Pipeline(server.url, server.segment_url, clock=name, endpoints=(None, receiver.url))
    http.post(
        f"{server.url}/api/accounts/{tenant.account}/visitors",
        json={"visitor_id": "v1", "segment_anonymous_id": "anon-1"},
    ).raise_for_status()
    assert tenant.track(http, {"anonymousId": "anon-1", "traits": {"plan": f"p{index}"}})
    first = receiver_record()
    due1 = parse_instant(first["next_attempt_at"])
    move(t0 + timedelta(seconds=50))  # past the first retry, before the second
    second = receiver_record()
    due2 = parse_instant(second["next_attempt_at"])
    day_after = (t0 + timedelta(days=1)).replace(hour=3, minute=0, second=0, microsecond=0)
    move(day_after - timedelta(seconds=1))
    shown_before = tenant.shown()
    move(day_after)
    journals = {
        "abtasty": http.get(
            f"{server.url}/_harness/requests", params={"account_id": tenant.account}
        ).json()["requests"],
        "segment": http.get(
            f"{server.segment_url}/_harness/requests", params={"account_id": tenant.source}
        ).json()["requests"],
    }
    return {
        "journals": journals,
        "t0": t0,
        "first": (first["attempts"], due1),
        "second": (second["attempts"], due2),
        "last": receiver_record(),
        "shown_before": shown_before,
        "shown": tenant.shown(),
        "runs": tenant.refreshes(),
        "day_after": day_after,
    }


def test_parallel_pipelines_each_see_their_own_3am_and_retry_schedule(postgres_url: str) -> None:
    with (
        Receiver() as receiver,
        serving(
            "--store",
            postgres_url,
            "--workers",
            "2",
            "--clock",
            "manual",
            "--now",
            "2026-03-01T00:00:00Z",
        ) as server,
    ):
        with ThreadPoolExecutor(PIPELINES) as pool:
            results = list(pool.map(lambda i: _pipeline(server, receiver, i), range(PIPELINES)))
        global_now = requests.get(f"{server.url}/_harness/clock", timeout=10).json()["now"]
    for index, result in enumerate(results):
        t0 = result["t0"]
        attempts, due1 = result["first"]
        assert attempts == 1
        assert t0 + timedelta(seconds=30) <= due1 < t0 + timedelta(seconds=45)  # on its own clock
        attempts, due2 = result["second"]
        assert attempts == 2
        assert due1 + timedelta(seconds=60) <= due2 < due1 + timedelta(seconds=90)
        last = result["last"]
        assert last["stage"] == "failed_delivery"  # its 4-hour window ran out on its own clock
        assert result["shown_before"] == {}  # 02:59:59: nothing yet
        assert result["shown"] == {"plan": {f"p{index}": 1}}  # 03:00: exactly its own
        assert [r["scheduled_for"] for r in result["runs"]] == [format_instant(result["day_after"])]
        assert [r["messages"] for r in result["runs"]] == [1]
        # One journal across both workers, each entry at its own tenant's time.
        abtasty, segment = result["journals"]["abtasty"], result["journals"]["segment"]
        webhooks = [e for e in abtasty if e["path"] == "/segment/webhook"]
        assert [e["at"] for e in webhooks] == [format_instant(t0)]  # delivered once, at its t0
        tracked = [e for e in segment if e["path"] == "/v1/identify"]
        assert [e["at"] for e in tracked] == [format_instant(t0)]
        for entry in abtasty + segment:
            assert t0 <= parse_instant(entry["at"]) <= result["day_after"], entry["path"]
    assert global_now == "2026-03-01T00:00:00Z"  # nobody moved the global clock
