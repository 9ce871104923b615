"""The benchmarks this project's figures come from still run, with every flag they take.

At toy sizes and with no look at the times (speed targets live in bench/, never in
tests): a benchmark nothing runs rots until the day its figure is needed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _figures(*argv: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        [sys.executable, "-m", *argv], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2_000:]
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def test_bench_inspector_runs_frozen_with_a_gen2_threshold() -> None:
    figures = _figures(
        "bench.inspector",
        "--profiles",
        "200",
        "--messages-per-profile",
        "2",
        "--deliveries",
        "100",
        "--nights",
        "2",
        "--freeze",
        "--gen2-threshold",
        "100",
    )
    (tenant,) = [f for f in figures if f["figure"] == "inspector_tenant"]
    assert (tenant["frozen"], tenant["gen2_threshold"]) == (True, 100)
    assert (tenant["profiles"], tenant["messages"], tenant["deliveries"]) == (200, 400, 100)
    views = {(f["view"], f["form"]) for f in figures if f["figure"] == "inspector_view"}
    assert {("builder", "html"), ("builder", "json"), ("clock", "html")} <= views
    assert [f["figure"] for f in figures].count("inspector_full_gc") == 1


def test_bench_refresh_runs_two_sizes_and_reports_growth() -> None:
    figures = _figures(
        "bench.refresh", "--profiles", "300", "--messages-per-profile", "2", "--scale", "2"
    )
    nights = [f for f in figures if f["figure"] == "nightly_refresh"]
    assert [(n["profiles"], n["messages"]) for n in nights] == [(300, 600), (600, 1_200)]
    # Times and RSS barely move at this size: every figure is there, and the cohorts are
    # three plans and two visit counts.
    assert all(n["cohorts"] == 5 for n in nights)
    wanted = {"refresh_seconds", "peak_rss_mb", "bytes_per_message", "changed_night_share"}
    assert all(wanted <= n.keys() for n in nights)
    (growth,) = [f for f in figures if f["figure"] == "nightly_refresh_growth"]
    assert growth["scale"] == 2


def test_bench_refresh_full_night_only_skips_the_changed_nights() -> None:
    figures = _figures("bench.refresh", "--profiles", "300", "--full-night-only")
    (night,) = [f for f in figures if f["figure"] == "nightly_refresh"]
    assert (night["profiles"], night["messages"], night["cohorts"]) == (300, 1_500, 5)
    assert not any(key.startswith("changed_night") for key in night)
