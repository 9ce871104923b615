"""Webhook ingest over real HTTP under wrk, side by side with a ceiling and the usual alternative.

    python -m bench.http_ingest [--seconds 5] [--connections 16] [--latency-connections 32]

Three servers, each on loopback with one process: `harness serve` (the fake AB Tasty, every
request a new identify with a valid key), a bare Litestar endpoint that only parses the JSON
(the ceiling), and pytest-httpserver answering the same request. wrk (Debian package `wrk`)
drives each in turn: throughput at ``--connections``, then (for the fake and the ceiling) the
latency percentiles at ``--latency-connections``. Each run also reads the server's own CPU
time per request (from /proc): on a busy shared machine the rates move with everyone else's
load, the CPU a request costs much less. One JSON line per server and one with the ratios
and the p99 latencies.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

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


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_wrk(
    port: int, auth: str, seconds: float, connections: int, server_pid: int | None = None
) -> dict[str, float]:
    cpu_before = cpu_seconds(server_pid) if server_pid else 0.0
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
    if server_pid:
        # the server's own CPU per request: what its throughput is on a quiet machine
        used = cpu_seconds(server_pid) - cpu_before
        result["cpu_us_per_request"] = round(used / max(result["requests"], 1) * 1e6, 1)
    return result


SERVERS = ("harness_serve", "bare_litestar", "pytest_httpserver")
LATENCY_SERVERS = ("harness_serve", "bare_litestar")


def measure(
    name: str, seconds: float, connections: int, latency_connections: int
) -> dict[str, Any]:
    """Start one server, warm it up, and measure it under wrk (throughput, then latency)."""
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
        result: dict[str, Any] = dict(run_wrk(port, auth, seconds, connections, server.pid))
        if name in LATENCY_SERVERS:
            loaded = run_wrk(port, auth, seconds, latency_connections)
            result[f"at_{latency_connections}_connections"] = {
                key: loaded[key] for key in ("per_s", "p50_ms", "p99_ms", "non_2xx", "errors")
            }
        return result
    finally:
        server.terminate()
        server.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--latency-connections",
        type=int,
        default=32,
        help="connections for the latency run (p50/p99 reported beside the throughput)",
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved rounds; the median is reported"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in SERVERS}
    for _ in range(args.rounds):  # interleaved rounds, then the median: the machine is noisy
        for name in SERVERS:
            runs[name].append(
                measure(name, args.seconds, args.connections, args.latency_connections)
            )
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
    latency = f"at_{args.latency_connections}_connections"

    def p99(name: str) -> float:
        # the median round's p99 (rounds ordered by their p99), like the throughput
        values = sorted(run[latency]["p99_ms"] for run in runs[name])
        return float(values[len(values) // 2])

    def cpu(name: str) -> float:
        # the median round's server CPU per request
        values = sorted(run["cpu_us_per_request"] for run in runs[name])
        return float(values[len(values) // 2])

    report(
        "http_ingest_ratios",
        share_of_ceiling=round(ours["per_s"] / ceiling["per_s"], 3),
        cpu_share_of_ceiling=round(cpu("bare_litestar") / cpu("harness_serve"), 3),
        times_pytest_httpserver=round(ours["per_s"] / alternative["per_s"], 2),
        connections=args.connections,
        latency_connections=args.latency_connections,
        harness_p99_ms=p99("harness_serve"),
        bare_litestar_p99_ms=p99("bare_litestar"),
        p99_over_ceiling=round(p99("harness_serve") / p99("bare_litestar"), 2),
        targets={"share_of_ceiling": 0.75, "times_pytest_httpserver": 2},
    )


if __name__ == "__main__":
    main()
