"""Webhook ingest over real HTTP under wrk, side by side with a ceiling and the usual alternative.

    python -m bench.http_ingest [--seconds 10] [--connections 16]

Three servers, each on loopback with one process: `harness serve` (the fake AB Tasty, every
request a new identify with a valid key), a bare Litestar endpoint that only parses the JSON
(the ceiling), and pytest-httpserver answering the same request. wrk (Debian package `wrk`)
drives each in turn; one JSON line per server and one with the ratios.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import requests

from bench.common import report
from harness.core.protocol import ABTASTY_WEBHOOK_PATH, basic_authorization
from harness.runtime.server import free_port, wait_until_serving

LUA = r"""
local threads = 0
function setup(thread) thread:set("tid", threads); threads = threads + 1 end
function init(args) counter = 0; prefix = tostring(tid) .. "-" .. tostring(math.random(1000000000)) end
request = function()
  counter = counter + 1
  local body = string.format('{"type":"identify","messageId":"%s-%d","anonymousId":"anon-%d","traits":{"plan":"pro","seats":%d},"timestamp":"2026-03-02T11:00:00Z"}', prefix, counter, counter % 10000, counter % 50)
  return wrk.format("POST", "/segment/webhook", {["Authorization"] = AUTH, ["Content-Type"] = "application/json", ["User-Agent"] = "Segment.io/1.0"}, body)
end
function done(summary, latency, requests)
  io.write(string.format('RESULT {"requests": %d, "seconds": %f, "non_2xx": %d, "errors": %d, "p50_ms": %f, "p99_ms": %f}\n',
    summary.requests, summary.duration / 1e6, summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""


def run_wrk(port: int, auth: str, seconds: float, connections: int) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(f'AUTH = "{auth}"\n' + LUA)
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{int(seconds)}s",
            "-s",
            script.name,
            f"http://127.0.0.1:{port}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    Path(script.name).unlink()
    line = next(line for line in out.splitlines() if line.startswith("RESULT "))
    result: dict[str, float] = json.loads(line.removeprefix("RESULT "))
    result["per_s"] = round(result["requests"] / result["seconds"])
    return result


SERVERS = ("harness_serve", "bare_litestar", "pytest_httpserver")


def measure(name: str, seconds: float, connections: int) -> dict[str, float]:
    """Start one server, warm it up, and measure it under wrk."""
    port = free_port()
    command = {
        "harness_serve": [
            sys.executable,
            "-m",
            "harness.cli",
            "serve",
            "--port",
            str(port),
            "--segment-port",
            str(free_port()),
        ],
        "bare_litestar": [sys.executable, "-m", "bench.servers.bare_litestar", str(port)],
        "pytest_httpserver": [sys.executable, "-m", "bench.servers.httpserver", str(port)],
    }[name]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_serving(url + ABTASTY_WEBHOOK_PATH, process=server)
        auth = "Basic eDo="
        if name == "harness_serve":
            account = requests.post(f"{url}/api/accounts", json={"name": "Bench"}).json()["id"]
            requests.post(
                f"{url}/api/accounts/{account}/integrations/pull/segment", json={"name": "Segment"}
            )
            key = requests.post(
                f"{url}/api/accounts/{account}/settings/integrations/api-key"
            ).json()["api_key"]
            auth = basic_authorization(key)
        run_wrk(port, auth, 2, connections)  # warm-up
        return run_wrk(port, auth, seconds, connections)
    finally:
        server.terminate()
        server.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved rounds; the median is reported"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in SERVERS}
    for _ in range(args.rounds):  # interleaved rounds, then the median: the machine is noisy
        for name in SERVERS:
            runs[name].append(measure(name, args.seconds, args.connections))
    results = {}
    for name in SERVERS:
        results[name] = sorted(runs[name], key=lambda r: r["per_s"])[len(runs[name]) // 2]
        report(
            "http_ingest",
            server=name,
            rounds=args.rounds,
            all_per_s=[r["per_s"] for r in runs[name]],
            **results[name],
        )
    ours, ceiling, alternative = (
        results["harness_serve"],
        results["bare_litestar"],
        results["pytest_httpserver"],
    )
    report(
        "http_ingest_ratios",
        share_of_ceiling=round(ours["per_s"] / ceiling["per_s"], 3),
        times_pytest_httpserver=round(ours["per_s"] / alternative["per_s"], 2),
        targets={"share_of_ceiling": 0.6, "times_pytest_httpserver": 2},
    )


if __name__ == "__main__":
    main()
