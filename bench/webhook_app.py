"""The webhook's CPU per request inside the app, beside a bare Litestar endpoint.

    python -m bench.webhook_app [--requests 10000] [--rounds 3]

Drives both ASGI apps directly (no socket, no server): the fake AB Tasty as ``harness
serve`` builds it (journal, header limit, every check, the store) taking a new identify
per request with a valid key, and the bare endpoint of ``bench.servers.bare_litestar``
taking the same bodies. It measures process CPU time, so a busy shared machine disturbs it
far less than the wrk benchmark; what the HTTP server and the socket cost comes on top of
both, equally. Medians of interleaved rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from litestar import Litestar

from bench.common import report
from bench.servers.bare_litestar import webhook
from harness import ManualClock
from harness.core.clock import parse_instant
from harness.core.protocol import ABTASTY_WEBHOOK_PATH
from harness.runtime.stack import Harness
from harness.testing.handles import AccountHandle


def _body(index: int) -> bytes:
    return (
        b'{"type":"identify","messageId":"m-%d","anonymousId":"anon-%d",'
        b'"traits":{"plan":"pro","seats":%d},"timestamp":"2026-03-02T11:00:00Z"}'
        % (index, index % 10_000, index % 50)
    )


def _one_body(body: bytes) -> Any:
    events = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> Any:
        return events.pop() if events else {"type": "http.disconnect"}

    return receive


async def drive(app: Any, authorization: bytes, requests: int, first: int) -> float:
    """CPU microseconds per request for ``requests`` webhook calls; every answer must be 200."""
    statuses: dict[int, int] = {}

    async def send(event: Any) -> None:
        if event["type"] == "http.response.start":
            statuses[event["status"]] = statuses.get(event["status"], 0) + 1

    started = time.process_time()
    for index in range(first, first + requests):
        body = _body(index)
        receive = _one_body(body)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": ABTASTY_WEBHOOK_PATH,
            "raw_path": ABTASTY_WEBHOOK_PATH.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"host", b"127.0.0.1:8080"),
                (b"authorization", authorization),
                (b"content-type", b"application/json"),
                (b"user-agent", b"Segment.io/1.0"),
                (b"content-length", str(len(body)).encode()),
            ],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8080),
            "state": {},
        }
        await app(scope, receive, send)
    elapsed = time.process_time() - started
    if list(statuses) != [200]:
        raise SystemExit(f"the app answered {statuses}, not 200 to every call")
    return elapsed / requests * 1e6


async def measure(requests: int, rounds: int) -> None:
    harness = Harness(ManualClock(parse_instant("2026-03-02T12:00:00Z")))
    authorization = AccountHandle.create(harness).auth.encode()
    apps = {"harness": harness.abtasty_app(), "bare_litestar": Litestar([webhook])}
    runs: dict[str, list[float]] = {name: [] for name in apps}
    for round_ in range(rounds):  # interleaved, then the median
        for name, app in apps.items():
            runs[name].append(await drive(app, authorization, requests, round_ * requests))
    median = {name: sorted(values)[len(values) // 2] for name, values in runs.items()}
    report(
        "webhook_app_cpu",
        requests=requests,
        rounds=rounds,
        harness_us_per_request=round(median["harness"], 1),
        bare_litestar_us_per_request=round(median["bare_litestar"], 1),
        share_of_ceiling=round(median["bare_litestar"] / median["harness"], 3),
        all_us={name: [round(v, 1) for v in values] for name, values in runs.items()},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(measure(args.requests, args.rounds))


if __name__ == "__main__":
    main()
