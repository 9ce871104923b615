"""In-process ingest through the domain API: Spec validation and the store, no HTTP.

    python -m bench.ingest [--messages 200000]

Measures AbTasty.receive (auth, JSON decode, validation, dedup, store) and, as the
baseline in the same run, msgspec decoding the same bodies alone. Beside the wall-clock
rate it gives the rate per CPU-second of the process, which other work on a shared machine
disturbs less.
"""

from __future__ import annotations

import argparse
import time

import msgspec

from bench.common import report
from harness import ManualClock
from harness.core.clock import parse_instant
from harness.runtime.stack import Harness
from harness.testing.handles import AccountHandle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=200_000)
    args = parser.parse_args()
    handle = AccountHandle.create(Harness(ManualClock(parse_instant("2026-03-02T12:00:00Z"))))
    bodies = [
        msgspec.json.encode(
            {
                "type": "identify",
                "messageId": f"m-{i}",
                "anonymousId": f"anon-{i % 10_000}",
                "traits": {"plan": "pro", "seats": i % 50, "email": f"user{i}@example.com"},
                "timestamp": "2026-03-02T11:00:00Z",
            }
        )
        for i in range(args.messages)
    ]
    started = time.perf_counter()
    for body in bodies:
        msgspec.json.decode(body)
    baseline = time.perf_counter() - started

    receive, auth = handle.service.receive, handle.auth
    started, cpu_started = time.perf_counter(), time.process_time()
    for body in bodies:
        receive(auth, body)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    report(
        "ingest_in_process",
        messages=args.messages,
        messages_per_s=round(args.messages / elapsed),
        messages_per_cpu_s=round(args.messages / cpu),
        baseline_decode_only_per_s=round(args.messages / baseline),
        ratio_to_decode=round(baseline / elapsed, 3),
        target_messages_per_s=250_000,
    )


if __name__ == "__main__":
    main()
