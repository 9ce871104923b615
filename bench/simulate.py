"""Simulation speed: users/s and messages/s generated with a seed, the full run, and
``simulate --target`` against a live ``harness serve`` beside wrk's rate on the same server.

python -m bench.simulate [--users N] [--days D] [--target-users N] [--no-target]

The target figure starts one ``harness serve`` on a free loopback port (an account, a
Segment connector and an API key), then in interleaved rounds measures wrk posting unique
identify calls to its webhook and ``harness simulate --target`` delivering a seeded run to
the same webhook; the median of each is reported with their ratio.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time

import requests

from bench.common import report
from harness.core.protocol import ABTASTY_WEBHOOK_PATH, basic_authorization
from harness.runtime.server import ServeProcess
from harness.simulate import (
    ClientCall,
    PopulationConfig,
    StreamConfig,
    build_population,
    generate_events,
)
from harness.simulate.runner import Simulation, SimulationConfig


def generation(users: int, days: int) -> None:
    """Users and messages generated a second (the first population of a seed, Faker included)."""
    started = time.perf_counter()
    population = build_population(PopulationConfig(users=users, seed=1))
    built = time.perf_counter()
    events = generate_events(population, StreamConfig(days=days, seed=1))
    generated = time.perf_counter()
    messages = sum(isinstance(e, ClientCall) for e in events)
    report(
        "simulation_generation",
        users=users,
        days=days,
        messages=messages,
        events=len(events),
        users_per_s=round(users / (built - started)),
        messages_per_s=round(messages / (generated - built)),
        seconds=round(generated - started, 2),
        targets={"users_per_s": 200_000, "messages_per_s": 200_000},
    )


def end_to_end(users: int, days: int) -> None:
    """A whole run through the fake Segment into the in-process fake AB Tasty."""
    simulation = Simulation(
        SimulationConfig(PopulationConfig(users=users), StreamConfig(days=days))
    )
    summary = simulation.run()
    report(
        "simulation_end_to_end",
        users=users,
        messages=summary.sent,
        messages_per_s=round(summary.sent / summary.seconds) if summary.seconds else None,
        seconds=summary.seconds,
    )


def _setup_account(url: str) -> str:
    """An account with a Segment connector on a live server; its API key."""
    account = requests.post(f"{url}/api/accounts", json={"name": "Bench"}, timeout=10).json()["id"]
    base = f"{url}/api/accounts/{account}"
    requests.post(f"{base}/integrations/pull/segment", json={"name": "Segment"}, timeout=10)
    key: str = requests.post(f"{base}/settings/integrations/api-key", timeout=10).json()["api_key"]
    return key


def _simulate_rate(url: str, key: str, users: int, seed: int, *more: str) -> dict[str, float]:
    command = [sys.executable, "-m", "harness.cli", "simulate", "--users", str(users)]
    command += ["--days", "1", "--seed", str(seed), "--target", url + ABTASTY_WEBHOOK_PATH]
    command += ["--api-key", key, "--no-progress", *more]
    out = subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    summary = json.loads(out)
    return {
        "delivered": summary["delivered"],
        "seconds": summary["seconds"],
        "per_s": round(summary["delivered"] / summary["seconds"]),
    }


def target(users: int, seconds: float, rounds: int, connections: int) -> None:
    """``simulate --target`` vs wrk, against one live ``harness serve``, interleaved rounds."""
    from bench.http_ingest import run_wrk

    with ServeProcess() as server:
        key = _setup_account(server.url)
        auth = basic_authorization(key)
        run_wrk(server.port, auth, 2, connections)  # warm-up
        _simulate_rate(server.url, key, max(100, users // 10), seed=99)  # warm-up
        wrk, simulated = [], []
        for round_ in range(rounds):
            wrk.append(run_wrk(server.port, auth, seconds, connections)["per_s"])
            simulated.append(_simulate_rate(server.url, key, users, seed=round_)["per_s"])
    wrk_rate, simulate_rate = sorted(wrk)[rounds // 2], sorted(simulated)[rounds // 2]
    report(
        "simulate_target_http",
        users=users,
        rounds=rounds,
        wrk_per_s=wrk_rate,
        simulate_per_s=simulate_rate,
        all_wrk_per_s=wrk,
        all_simulate_per_s=simulated,
        share_of_wrk=round(simulate_rate / wrk_rate, 3),
        targets={"share_of_wrk": 0.5},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--run-users", type=int, default=5_000, help="users for the end-to-end run")
    parser.add_argument("--target-users", type=int, default=2_000, help="users per target round")
    parser.add_argument("--target-seconds", type=float, default=5.0, help="wrk seconds per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--target", action=argparse.BooleanOptionalAction, default=True, help="the HTTP figure"
    )
    args = parser.parse_args()
    generation(args.users, args.days)
    end_to_end(args.run_users, args.days)
    if args.target:
        if shutil.which("wrk") is None:
            sys.exit("wrk is not installed: apt-get install wrk")
        target(args.target_users, args.target_seconds, args.rounds, args.connections)


if __name__ == "__main__":
    main()
