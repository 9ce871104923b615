"""The nightly refresh at scale: time, peak memory, and growth from one size to the next.

    python -m bench.refresh [--profiles 100000] [--messages-per-profile 5] [--scale 10]
                            [--full-night-only]

Runs the refresh at --profiles, then (with --scale > 1) at --profiles x scale in a fresh
process, and reports the growth ratios: linear means time and memory grow by about the
scale. The default (100k profiles, 500k messages) runs in under a minute; 1M is
--profiles 1000000 --scale 1.

After the full night, two more nights on which 1% of the profiles got a message: the
first incremental (only the changed visitors recomputed), the second with incremental
nights turned off (every visitor recomputed, as before incremental nights) as the
baseline of the same run. ``changed_night_share`` is the incremental night's time over
the full night's. The full night's time includes a full collection right after it: the
refresh pauses the cyclic collector while it runs, so the collector's work on what the
night allocated would otherwise land on whatever runs next (measured: it did, on the
next, small, night). The 1% nights start from a collected heap and are timed alone.

``--full-night-only`` skips the 1% nights: for measuring a tree from before incremental
nights, where each recomputes every visitor (at 2ccbe03 one took over five minutes at 1M).
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import time
from datetime import timedelta

import msgspec

from bench.common import peak_rss_mb, report
from harness import ManualClock
from harness.core.clock import parse_instant
from harness.runtime.stack import Harness
from harness.testing.handles import AccountHandle


def one_size(profiles: int, per_profile: int, changed_nights: bool = True) -> dict[str, float]:
    """Ingest, then time the refresh that activates it all (and, with ``changed_nights``,
    two nights on which 1% of the profiles changed); returns the figures."""
    baseline_rss = peak_rss_mb()
    handle = AccountHandle.create(Harness(ManualClock(parse_instant("2026-03-02T12:00:00Z"))))
    service = handle.service
    for index in range(profiles):
        service.record_sighting(handle.id, f"v{index}", f"anon-{index}")
    plans = ("free", "pro", "enterprise")
    receive, auth = service.receive, handle.auth
    count = 0
    for round_ in range(per_profile):
        for index in range(profiles):
            body = {
                "type": "identify",
                "messageId": f"m-{count}",
                "anonymousId": f"anon-{index}",
                "traits": {"plan": plans[(index + round_) % 3], "visits": round_},
            }
            receive(auth, msgspec.json.encode(body))
            count += 1
    stored_rss = peak_rss_mb()
    handle.clock.move_to(handle.clock.now() + timedelta(days=1))
    started = time.perf_counter()
    (run,) = service.refreshes(handle.id)
    gc.collect()  # the collector's work on what the night allocated is the night's cost
    seconds = time.perf_counter() - started
    assert run.messages == count
    assert run.matched_profiles == profiles
    full_rss = peak_rss_mb()
    figures: dict[str, float] = {
        "profiles": profiles,
        "messages": run.messages,
        "refresh_seconds": round(seconds, 2),
        "peak_rss_mb": full_rss,
        "bytes_per_message": round((stored_rss - baseline_rss) * 1024 * 1024 / run.messages),
        "cohorts": run.cohorts,
    }
    if not changed_nights:
        return figures
    changed_seconds = []
    for incremental in (True, False):  # a 1% night incrementally, then recomputing everything
        service.incremental_nights = incremental
        changed = range(int(incremental), profiles, 100)  # other profiles each night
        for index in changed:
            body = {
                "type": "identify",
                "messageId": f"m-{count}",
                "anonymousId": f"anon-{index}",
                "traits": {"plan": "changed", "visits": per_profile},
            }
            receive(auth, msgspec.json.encode(body))
            count += 1
        handle.clock.move_to(handle.clock.now() + timedelta(days=1))
        gc.collect()  # start from a collected heap: a full collection walks every object
        started = time.perf_counter()
        night = service.refreshes(handle.id)[-1]
        changed_seconds.append(time.perf_counter() - started)
        assert night.messages == len(changed)
        assert night.entered == night.left == 2 * len(changed)
    return {
        **figures,
        "changed_night_seconds": round(changed_seconds[0], 3),
        "changed_night_recomputing_all_seconds": round(changed_seconds[1], 3),
        "changed_night_share": round(changed_seconds[0] / seconds, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profiles", type=int, default=100_000)
    parser.add_argument("--messages-per-profile", type=int, default=5)
    parser.add_argument(
        "--scale", type=int, default=1, help="also run at profiles x scale, for the growth ratio"
    )
    parser.add_argument(
        "--full-night-only", action="store_true", help="skip the two nights where 1%% changed"
    )
    parser.add_argument("--single", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.single:
        figures = one_size(args.profiles, args.messages_per_profile, not args.full_night_only)
        print(json.dumps(figures))
        return
    sizes = [args.profiles] + ([args.profiles * args.scale] if args.scale > 1 else [])
    results = []
    for size in sizes:  # each size in a fresh process, so peak RSS is its own
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.refresh",
                "--single",
                "--profiles",
                str(size),
                "--messages-per-profile",
                str(args.messages_per_profile),
                *(["--full-night-only"] if args.full_night_only else []),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
    for result in results:
        report(
            "nightly_refresh",
            **result,
            targets={
                "refresh_seconds_at_1M": 10,
                "peak_rss_mb_at_1M": 1536,
                "bytes_per_message": 300,
                "changed_night_share": 0.05,
            },
        )
    if len(results) == 2:
        small, large = results
        report(
            "nightly_refresh_growth",
            scale=args.scale,
            time_ratio=round(large["refresh_seconds"] / small["refresh_seconds"], 2),
            memory_ratio=round(large["peak_rss_mb"] / small["peak_rss_mb"], 2),
        )


if __name__ == "__main__":
    main()
