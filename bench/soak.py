"""Soak: harness serve on loopback under a steady webhook stream, memory watched.

    python -m bench.soak [--seconds 120] [--store memory|sqlite:PATH]

The clock moves 4 simulated hours every 500 requests (about two simulated weeks in two
minutes), so the 24-hour dedup window, the nightly refreshes and the 7-day message
retention all roll over. Prints one JSON line: requests served and the server's RSS after
warm-up (past the retention horizon) and at the end.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import requests

from bench.common import report
from harness.core.protocol import ABTASTY_WEBHOOK_PATH, CONTROL_PATH_PREFIX, basic_authorization
from harness.runtime.server import ServeProcess


def rss_mb(pid: int) -> float:
    """Resident memory of a process, in MB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument(
        "--warmup",
        type=float,
        default=60.0,
        help="seconds before the first RSS reading (past the retention)",
    )
    parser.add_argument(
        "--hours-per-500", type=float, default=4.0, help="simulated hours per 500 requests"
    )
    parser.add_argument("--store", default="memory")
    parser.add_argument("--profiles", type=int, default=5_000)
    args = parser.parse_args()

    server = ServeProcess(
        "--clock", "manual", "--now", "2026-03-02T00:00:00Z", "--store", args.store
    ).start()
    assert server.process is not None
    url = server.url
    http = requests.Session()
    try:
        account = http.post(f"{url}/api/accounts", json={"name": "Soak"}).json()["id"]
        http.post(
            f"{url}/api/accounts/{account}/integrations/pull/segment", json={"name": "Segment"}
        )
        key = http.post(f"{url}/api/accounts/{account}/settings/integrations/api-key").json()[
            "api_key"
        ]
        for index in range(0, args.profiles, 10):
            http.post(
                f"{url}/api/accounts/{account}/visitors",
                json={"visitor_id": f"v{index}", "segment_anonymous_id": f"anon-{index}"},
            )
        headers = {
            "Authorization": basic_authorization(key),
            "Content-Type": "application/json",
        }
        started = time.monotonic()
        sent = 0
        rss_after_warmup = None
        while time.monotonic() - started < args.seconds:
            body = {
                "type": "identify",
                "messageId": f"m-{sent}",
                "anonymousId": f"anon-{sent % args.profiles}",
                "traits": {"plan": ("free", "pro", "enterprise")[sent % 3], "n": sent % 97},
            }
            answer = http.post(
                url + ABTASTY_WEBHOOK_PATH, data=json.dumps(body), headers=headers, timeout=10
            )
            assert answer.status_code == 200, answer.text
            sent += 1
            if sent % 500 == 0:
                http.post(
                    f"{url}{CONTROL_PATH_PREFIX}/clock/advance",
                    json={"seconds": args.hours_per_500 * 3_600},
                ).raise_for_status()
                http.get(
                    f"{url}/api/accounts/{account}/segment-builder/criteria"
                ).raise_for_status()
            if rss_after_warmup is None and time.monotonic() - started >= args.warmup:
                rss_after_warmup = rss_mb(server.process.pid)
        elapsed = time.monotonic() - started
        rss_end = rss_mb(server.process.pid)
        simulated_days = sent / 500 * args.hours_per_500 / 24
        report(
            "soak",
            store=args.store,
            seconds=round(elapsed, 1),
            requests=sent,
            requests_per_s=round(sent / elapsed),
            simulated_days=round(simulated_days, 1),
            rss_mb_after_warmup=rss_after_warmup,
            rss_mb_end=rss_end,
            rss_growth_mb=round(rss_end - (rss_after_warmup or rss_end), 1),
        )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
