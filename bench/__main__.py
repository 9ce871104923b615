"""Run every benchmark at its default size: python -m bench (one JSON line per figure)."""

from __future__ import annotations

import subprocess
import sys

SUITES = [
    "bench.ingest",
    "bench.webhook_app",
    "bench.refresh",
    "bench.simulate",
    "bench.suite_cost",
    "bench.plugin_startup",
    "bench.http_ingest",
    "bench.shared_ingest",
    "bench.fleet_crash",
    "bench.soak",
]


def main() -> int:
    failed = 0
    for suite in SUITES:
        print(f"# {suite}", file=sys.stderr, flush=True)
        failed += subprocess.run([sys.executable, "-m", suite], check=False).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
