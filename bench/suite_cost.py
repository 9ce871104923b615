"""What the harness costs a test suite: fixture overhead, a scenario, server start-up.

python -m bench.suite_cost [--tests 2000]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bench.common import report
from harness import ManualClock
from harness.core.clock import parse_instant
from harness.runtime.server import ServeProcess
from harness.runtime.stack import Harness
from harness.scenarios import load_scenario, run_scenario, shared_in_process_driver
from harness.testing.handles import AccountHandle

ROOT = Path(__file__).resolve().parent.parent


def fixture_overhead(tests: int) -> float:
    """Per test: what the plugin's harness + abtasty_account fixtures do (restart, new tenant)."""
    harness = Harness(ManualClock())
    harness.abtasty_app(), harness.segment_app()  # built once per session, not per test
    start = parse_instant("2026-03-02T12:00:00Z")
    started = time.perf_counter()
    for _ in range(tests):
        harness.restart(start)
        AccountHandle.create(harness)
    return (time.perf_counter() - started) / tests


def scenario_time(repeats: int) -> tuple[float, float]:
    """The 3 am activation scenario played in-process: first play and the median after."""
    driver = shared_in_process_driver()
    scenario = load_scenario(ROOT / "scenarios" / "activation_3am.yaml")
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        assert run_scenario(scenario, driver).passed
        times.append(time.perf_counter() - started)
    return times[0], sorted(times)[len(times) // 2]


def serve_startup() -> float:
    """From launching harness serve to its first health answer."""
    server = ServeProcess()
    started = time.perf_counter()
    server.start()
    elapsed = time.perf_counter() - started
    server.stop()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tests", type=int, default=2_000)
    args = parser.parse_args()
    report(
        "fixture_overhead",
        tests=args.tests,
        ms_per_test=round(fixture_overhead(args.tests) * 1000, 3),
        target_ms=2,
    )
    first, median = scenario_time(50)
    report(
        "scenario_3am_in_process",
        first_ms=round(first * 1000, 1),
        median_ms=round(median * 1000, 1),
        target_ms=50,
    )
    startups = sorted(serve_startup() for _ in range(3))
    report(
        "serve_health_after_start",
        seconds_median=round(startups[1], 2),
        seconds_runs=[round(s, 2) for s in startups],
        target_seconds=1.5,
    )


if __name__ == "__main__":
    main()
