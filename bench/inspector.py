"""The inspector on a big tenant: how long each view takes to render, HTML and JSON.

    python -m bench.inspector [--profiles 100000] [--messages-per-profile 10] [--deliveries N]
                              [--nights 30]

Builds one account with ``--profiles`` profiles from profiles x messages-per-profile
webhook messages (half the profiles matched to a visitor, each with a unique email so the
builder's ``email`` trait and the hidden-cohort list are long), runs the nightly refresh,
then ``--nights`` more (idle) nights for the refresh timeline, gives the Segment source as
many delivery records (default: as many as messages) and fills both request journals to
their capacity. Then renders every view through the app and prints one JSON line per view
and form: the first render (cold: the builder's counts and hidden cohorts are computed
then), the median of the next three (warm), and the same in CPU seconds of this process
(steadier than wall time on a shared machine). ``builder_after_change`` renders the builder
after a new sighting (the hidden cohorts are recounted, the profiles are not re-read).
The target is under a second for each.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import msgspec
from litestar.testing import TestClient

from bench.common import peak_rss_mb, report
from harness import ManualClock
from harness.core.clock import parse_instant
from harness.http.journal import record_call
from harness.runtime.stack import Harness
from harness.segment.records import Attempt, DeliveryRecord
from harness.testing.handles import AccountHandle

TARGET_SECONDS = 1.0
START = parse_instant("2026-03-02T12:00:00Z")
JOURNAL_SIZE = 1_000
"""Requests each fake's journal keeps (``harness serve``'s default)."""


def build(
    profiles: int, per_profile: int, deliveries: int, nights: int = 0
) -> tuple[Harness, dict[str, str]]:
    """The big tenant; returns the harness and the ids the views need."""
    harness = Harness(ManualClock(START), journal_size=JOURNAL_SIZE)
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
    harness.move_to(START + timedelta(days=1 + nights))
    service.refreshes(handle.id)  # idle nights: the timeline's runs
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
    fill_journals(harness, handle.id, source.id)
    return harness, {
        "account": handle.id,
        "source": source.id,
        "visitor": "v0",
        "message": f"seg-{deliveries - 1}",
    }


def fill_journals(harness: Harness, account_id: str, source_id: str) -> None:
    """Both request journals at their capacity, with calls like a busy tenant's."""
    body = b'{"type":"identify","anonymousId":"anon-1","messageId":"m","traits":{"plan":"pro"}}'
    for journal, path, tenant in (
        (harness.abtasty_journal, "/api/integrations/segment/webhook", account_id),
        (harness.segment_journal, "/v1/identify", source_id),
    ):
        for _ in range(JOURNAL_SIZE):
            record_call(
                journal,
                harness.clock,
                method="POST",
                path=path,
                status=200,
                account_id=tenant,
                headers=[("content-type", "application/json"), ("authorization", "Basic eHh4Og==")],
                body=body,
                response=b'{"status":"accepted"}',
            )


def views(ids: dict[str, str]) -> dict[str, str]:
    """Every view's path."""
    account = f"/_inspector/accounts/{ids['account']}"
    source = f"/_inspector/sources/{ids['source']}"
    return {
        "home": "/_inspector/",
        "builder": f"{account}/builder",
        "builder_values": f"{account}/builder",
        "builder_hidden_last_page": f"{account}/builder?page=1000",
        "refreshes": f"{account}/refreshes",
        "visitors": f"{account}/visitors",
        "visitor": f"{account}/visitors/{ids['visitor']}",
        "deliveries": f"{source}/deliveries",
        "message": f"{source}/message?id={ids['message']}",
        "events": "/_inspector/events",
        "journal": "/_inspector/journal",
        "clock": "/_inspector/clock",
    }


FULL_COLLECTIONS = [0]
"""Full (generation 2) garbage collections so far: on a 1 GB heap one costs 1-2 s of CPU
whenever CPython's allocation counters call for it, whatever the code then running."""


def _count_full_collections(phase: str, info: dict[str, Any]) -> None:
    if phase == "stop" and info["generation"] == 2:
        FULL_COLLECTIONS[0] += 1


def full_collection_cost(rounds: int = 3) -> dict[str, float | int]:
    """CPU seconds of one full collection of the heap as built, and with it frozen.

    Interleaved, ``rounds`` times each: ``gc.collect()`` walks every tracked object;
    after ``gc.freeze()`` it walks only those made since (none here). The heap is left
    unfrozen, as the server runs it.
    """
    plain: list[float] = []
    frozen: list[float] = []
    for _ in range(rounds):
        started = time.process_time()
        gc.collect()
        plain.append(time.process_time() - started)
        gc.freeze()
        started = time.process_time()
        gc.collect()
        frozen.append(time.process_time() - started)
        gc.unfreeze()
    return {
        "tracked_objects": len(gc.get_objects()),
        "full_gc_cpu_seconds": round(statistics.median(plain), 3),
        "frozen_full_gc_cpu_seconds": round(statistics.median(frozen), 4),
    }


def timed(client: TestClient[Any], path: str) -> tuple[float, float, int]:
    """Wall and CPU seconds of one GET (CPU of this process: the app runs in a thread of
    it), and how many full garbage collections ran meanwhile."""
    collections = FULL_COLLECTIONS[0]
    cpu, started = time.process_time(), time.perf_counter()
    response = client.get(path)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    assert response.status_code == 200, (path, response.text[:300])
    return seconds, cpu_seconds, FULL_COLLECTIONS[0] - collections


def measure(client: TestClient[Any], path: str) -> dict[str, float]:
    """The first render and the median of the next three, wall and CPU."""
    cold, cold_cpu, cold_gc = timed(client, path)
    warm = [timed(client, path) for _ in range(3)]
    return {
        "cold_seconds": round(cold, 3),
        "warm_seconds": round(statistics.median(w for w, _, _ in warm), 3),
        "cold_cpu_seconds": round(cold_cpu, 3),
        "warm_cpu_seconds": round(statistics.median(c for _, c, _ in warm), 3),
        "full_gc_during": cold_gc + sum(g for _, _, g in warm),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profiles", type=int, default=100_000)
    parser.add_argument("--messages-per-profile", type=int, default=10)
    parser.add_argument("--deliveries", type=int, default=None, help="default: every message")
    parser.add_argument("--nights", type=int, default=30, help="idle nights after the first")
    parser.add_argument(
        "--freeze",
        action="store_true",
        help="gc.freeze() the built heap before rendering (to compare full_gc_during)",
    )
    parser.add_argument(
        "--gen2-threshold",
        type=int,
        default=None,
        help="gc.set_threshold's third value while rendering (CPython's default: 10)",
    )
    args = parser.parse_args()
    messages = args.profiles * args.messages_per_profile
    deliveries = messages if args.deliveries is None else args.deliveries
    started = time.perf_counter()
    harness, ids = build(args.profiles, args.messages_per_profile, deliveries, args.nights)
    built = time.perf_counter() - started
    size = {"profiles": args.profiles, "messages": messages, "deliveries": deliveries}
    gc.collect()  # the build's garbage: a full collection of this heap is not a view's cost
    report("inspector_full_gc", **full_collection_cost(), **size)
    if args.freeze:
        gc.freeze()
    if args.gen2_threshold is not None:
        first, second, _ = gc.get_threshold()
        gc.set_threshold(first, second, args.gen2_threshold)
    gc.callbacks.append(_count_full_collections)
    with TestClient(harness.abtasty_app()) as client:
        for name, path in views(ids).items():
            if name == "builder_values":  # the email trait's last page of values
                builder = client.get(_json(views(ids)["builder"])).json()
                email = next(t for t in builder["items"][0]["traits"] if t["key"] == "email")
                last_page = email["values_pager"]["pages"]
                query = urlencode({"trait": email["id"], "values_page": last_page})
                path = f"{path}?{query}"
            for form, target in (("html", path), ("json", _json(path))):
                figures = measure(client, target)
                report(
                    "inspector_view",
                    view=name,
                    form=form,
                    **figures,
                    target_seconds=TARGET_SECONDS,
                    **size,
                )
        account_path = views(ids)["builder"]
        for form, target in (("html", account_path), ("json", _json(account_path))):
            harness.abtasty.record_sighting(ids["account"], f"late-{form}", "anon-1")
            seconds, cpu_seconds, collections = timed(client, target)
            report(
                "inspector_view",
                view="builder_after_change",
                form=form,
                cold_seconds=round(seconds, 3),
                cold_cpu_seconds=round(cpu_seconds, 3),
                full_gc_during=collections,
                target_seconds=TARGET_SECONDS,
                **size,
            )
    report(
        "inspector_tenant",
        **size,
        nights=args.nights + 1,
        frozen=args.freeze,
        gen2_threshold=gc.get_threshold()[2],
        journal_entries=len(harness.abtasty_journal.entries())
        + len(harness.segment_journal.entries()),
        build_seconds=round(built, 1),
        peak_rss_mb=peak_rss_mb(),
    )


def _json(path: str) -> str:
    """The JSON form of a view's path."""
    base, _, query = path.partition("?")
    base = base.rstrip("/") + ("/index.json" if base.rstrip("/") == "/_inspector" else ".json")
    return base + (f"?{query}" if query else "")


if __name__ == "__main__":
    main()
