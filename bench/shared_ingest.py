"""Ingest over HTTP per store and worker count: what sharing the fake costs.

    python -m bench.shared_ingest [--seconds 2] [--connections 16] [--workers 1,2,4]

For each store (memory, SQLite, PostgreSQL on a throwaway cluster) and worker count,
`harness serve --store ... --workers N` takes wrk's webhook calls (each a new identify with
a valid key); then the Tracking API takes identify calls that the fake Segment delivers to
the fake AB Tasty beside it, on each durable store. One JSON line per figure. The memory
store serves one process only (it refuses --workers); 2 cores limit how far workers scale,
so the point is the cost per store, not the speed-up.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from bench.common import report
from harness.core.protocol import basic_authorization
from harness.runtime.server import ServeProcess

WEBHOOK_LUA = r"""
local threads = 0
function setup(thread) thread:set("tid", threads); threads = threads + 1 end
function init(args) counter = 0; prefix = tostring(tid) .. "-" .. tostring(math.random(1000000000)) end
request = function()
  counter = counter + 1
  local body = string.format('{"type":"identify","messageId":"%s-%d","anonymousId":"anon-%d","traits":{"plan":"pro","seats":%d},"timestamp":"2026-03-02T11:00:00Z"}', prefix, counter, counter % 10000, counter % 50)
  return wrk.format("POST", PATH, {["Authorization"] = AUTH, ["Content-Type"] = "application/json", ["User-Agent"] = "Segment.io/1.0"}, body)
end
function done(summary, latency, requests)
  io.write(string.format('RESULT {"requests": %d, "seconds": %f, "non_2xx": %d, "errors": %d, "p50_ms": %f, "p99_ms": %f}\n',
    summary.requests, summary.duration / 1e6, summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""


def run_wrk(url: str, path: str, auth: str, seconds: float, connections: int) -> dict[str, float]:
    """wrk against ``url + path`` with a new identify per request."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(f'AUTH = "{auth}"\nPATH = "{path}"\n' + WEBHOOK_LUA)
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{int(seconds)}s", "-s", script.name, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    Path(script.name).unlink()
    line = next(line for line in out.splitlines() if line.startswith("RESULT "))
    result: dict[str, float] = json.loads(line.removeprefix("RESULT "))
    result["per_s"] = round(result["requests"] / result["seconds"])
    return result


@contextmanager
def postgres() -> Iterator[str]:
    """A throwaway PostgreSQL cluster (the tests' own), stopped afterwards."""
    from tests.postgres import ThrowawayCluster, find_bindir

    bindir = find_bindir()
    if bindir is None:
        raise SystemExit("PostgreSQL is not installed: apt-get install postgresql")
    cluster = ThrowawayCluster(bindir).start()
    try:
        yield cluster.url()
    finally:
        cluster.stop()


def _tenant(server: ServeProcess) -> tuple[str, str]:
    """An account wired for Segment and a source delivering to it: (API key, write key)."""
    http = requests.Session()
    account = http.post(f"{server.url}/api/accounts", json={"name": "Bench"}).json()["id"]
    http.post(f"{server.url}/api/accounts/{account}/integrations/pull/segment", json={"name": "S"})
    key = http.post(f"{server.url}/api/accounts/{account}/settings/integrations/api-key").json()
    source = http.post(f"{server.segment_url}/_segment/sources", json={"name": "Web"}).json()
    http.post(
        f"{server.segment_url}/_segment/sources/{source['id']}/destinations",
        json={"type": "ab_tasty", "api_key": key["api_key"]},
    ).raise_for_status()
    return key["api_key"], source["write_key"]


def measure(
    store: str, workers: int, seconds: float, connections: int
) -> dict[str, dict[str, float]]:
    """Webhook and Tracking API ingest on one store with ``workers`` workers."""
    results = {}
    with ServeProcess("--store", store, "--workers", str(workers), "--journal-size", "1000").start(
        timeout=60
    ) as server:
        api_key, write_key = _tenant(server)
        webhook = basic_authorization(api_key)
        run_wrk(server.url, "/segment/webhook", webhook, 1, connections)  # warm-up
        results["webhook"] = run_wrk(server.url, "/segment/webhook", webhook, seconds, connections)
        if not store.startswith("memory"):
            results["tracking_api"] = run_wrk(
                server.segment_url,
                "/v1/identify",
                basic_authorization(write_key),
                seconds,
                connections,
            )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", default="1,2,4", help="worker counts, comma-separated")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    counts = [int(n) for n in args.workers.split(",")]
    with postgres() as database, tempfile.TemporaryDirectory() as folder:
        stores = {"memory": ["memory"], "sqlite": [], "postgresql": []}
        for workers in counts:
            stores["sqlite"].append(f"sqlite:{folder}/bench-{workers}.sqlite")
            stores["postgresql"].append(database)
        for kind, specs in stores.items():
            for workers, spec in zip(counts, specs, strict=False):
                if kind == "memory" and workers > 1:
                    continue  # one process only
                if kind == "postgresql":
                    _wipe(database)
                for call, result in measure(spec, workers, args.seconds, args.connections).items():
                    report(f"{call}_ingest_http", store=kind, workers=workers, **result)


def _wipe(url: str) -> None:
    """Start each PostgreSQL run from an empty schema."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("DROP SCHEMA public CASCADE")
        connection.execute("CREATE SCHEMA public")


if __name__ == "__main__":
    main()
