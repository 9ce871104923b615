"""The inspector on a big tenant: how long each view takes to render, HTML and JSON.

    python -m bench.inspector [--profiles 100000] [--messages-per-profile 10] [--deliveries N]

Builds one account with ``--profiles`` profiles from profiles x messages-per-profile
webhook messages (half the profiles matched to a visitor, each with a unique email so the
hidden-cohort list is long), runs the nightly refresh, and gives the Segment source as many
delivery records (default: as many as messages). Then renders every view through the app
and prints one JSON line per view: the first render (cold: the hidden cohorts are computed
then) and the median of the next three. The target is under a second for each.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import timedelta
from typing import Any

import msgspec
from litestar.testing import TestClient

from bench.common import peak_rss_mb, report
from harness import ManualClock
from harness.core.clock import parse_instant
from harness.runtime.stack import Harness
from harness.segment.records import Attempt, DeliveryRecord
from harness.testing.handles import AccountHandle

TARGET_SECONDS = 1.0
START = parse_instant("2026-03-02T12:00:00Z")


def build(profiles: int, per_profile: int, deliveries: int) -> tuple[Harness, dict[str, str]]:
    """The big tenant; returns the harness and the ids the views need."""
    harness = Harness(ManualClock(START))
    handle = AccountHandle.create(harness)
    service = handle.service
    for index in range(0, profiles, 2):
        service.record_sighting(handle.id, f"v{index}", f"anon-{index}")
    plans = ("free", "pro", "enterprise")
    receive, auth, encode = service.receive, handle.auth, msgspec.json.encode
    count = 0
    for round_ in range(per_profile):
        for index in range(profiles):
            traits: dict[str, Any] = {"plan": plans[(index + round_) % 3], "visits": round_}
            if round_ == 0:
                traits["email"] = f"user{index}@example.com"
            receive(
                auth,
                encode(
                    {
                        "type": "identify",
                        "messageId": f"m-{count}",
                        "anonymousId": f"anon-{index}",
                        "traits": traits,
                    }
                ),
            )
            count += 1
    harness.move_to(START + timedelta(days=1))
    service.refreshes(handle.id)
    service.create_segment(
        handle.id, "Pros", "all", [(handle.connector.id, "plan", "equals", "pro")]
    )
    source, _ = harness.segment.create_source("web")
    harness.segment.add_destination(source.id, handle.api_key)
    store = harness.segment.store
    (destination,) = harness.segment.destinations(source.id)
    now = harness.clock.now()
    batch: list[DeliveryRecord] = []
    for index in range(deliveries):
        batch.append(
            DeliveryRecord(
                source.id,
                f"seg-{index}",
                "identify",
                destination.id,
                "delivered" if index % 10 else "failed_delivery",
                attempts=1,
                last_status=200 if index % 10 else 400,
                last_body='{"status":"accepted"}',
                first_attempt_at=now,
                payload=b'{"type":"identify","anonymousId":"anon-1","traits":{"plan":"pro"}}',
                received_at=now,
                history=(Attempt(now, 200, "delivered", '{"status":"accepted"}'),),
            )
        )
        if len(batch) == 10_000:
            store.receive(source.id, len(batch), batch)
            batch = []
    if batch:
        store.receive(source.id, len(batch), batch)
    return harness, {
        "account": handle.id,
        "source": source.id,
        "visitor": "v0",
        "message": f"seg-{deliveries - 1}",
    }


def views(ids: dict[str, str]) -> dict[str, str]:
    """Every view's path."""
    account = f"/_inspector/accounts/{ids['account']}"
    source = f"/_inspector/sources/{ids['source']}"
    return {
        "home": "/_inspector/",
        "builder": f"{account}/builder",
        "refreshes": f"{account}/refreshes",
        "visitors": f"{account}/visitors",
        "visitor": f"{account}/visitors/{ids['visitor']}",
        "deliveries": f"{source}/deliveries",
        "message": f"{source}/message?id={ids['message']}",
        "events": "/_inspector/events",
        "journal": "/_inspector/journal",
        "clock": "/_inspector/clock",
    }


def timed(client: TestClient[Any], path: str) -> float:
    started = time.perf_counter()
    response = client.get(path)
    seconds = time.perf_counter() - started
    assert response.status_code == 200, (path, response.text[:300])
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profiles", type=int, default=100_000)
    parser.add_argument("--messages-per-profile", type=int, default=10)
    parser.add_argument("--deliveries", type=int, default=None, help="default: every message")
    args = parser.parse_args()
    messages = args.profiles * args.messages_per_profile
    deliveries = messages if args.deliveries is None else args.deliveries
    started = time.perf_counter()
    harness, ids = build(args.profiles, args.messages_per_profile, deliveries)
    built = time.perf_counter() - started
    with TestClient(harness.abtasty_app()) as client:
        for name, path in views(ids).items():
            for form, target in (("html", path), ("json", _json(path))):
                cold = timed(client, target)
                warm = statistics.median(timed(client, target) for _ in range(3))
                report(
                    "inspector_view",
                    view=name,
                    form=form,
                    cold_seconds=round(cold, 3),
                    warm_seconds=round(warm, 3),
                    target_seconds=TARGET_SECONDS,
                    profiles=args.profiles,
                    messages=messages,
                    deliveries=deliveries,
                )
    report(
        "inspector_tenant",
        profiles=args.profiles,
        messages=messages,
        deliveries=deliveries,
        build_seconds=round(built, 1),
        peak_rss_mb=peak_rss_mb(),
    )


def _json(path: str) -> str:
    base, _, query = path.partition("?")
    base = base.rstrip("/") + ("/index.json" if base.rstrip("/") == "/_inspector" else ".json")
    return base + (f"?{query}" if query else "")


if __name__ == "__main__":
    main()
