"""Simulation speed: users/s and messages/s generated with a seed, and the full run.

python -m bench.simulate [--users N] [--days D]
"""

from __future__ import annotations

import argparse
import time

from bench.common import report
from harness.simulate import (
    ClientCall,
    PopulationConfig,
    StreamConfig,
    build_population,
    generate_events,
)
from harness.simulate.runner import Simulation, SimulationConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--run-users", type=int, default=5_000, help="users for the end-to-end run")
    args = parser.parse_args()

    started = time.perf_counter()
    population = build_population(PopulationConfig(users=args.users, seed=1))
    built = time.perf_counter()
    events = generate_events(population, StreamConfig(days=args.days, seed=1))
    generated = time.perf_counter()
    messages = sum(isinstance(e, ClientCall) for e in events)
    report(
        "simulation_generation",
        users=args.users,
        days=args.days,
        messages=messages,
        users_per_s=round(args.users / (built - started)),
        messages_per_s=round(messages / (generated - built)),
        seconds=round(generated - started, 2),
        targets={"users_per_s": 100_000, "messages_per_s": 200_000},
    )

    simulation = Simulation(
        SimulationConfig(PopulationConfig(users=args.run_users), StreamConfig(days=args.days))
    )
    summary = simulation.run()
    report(
        "simulation_end_to_end",
        users=args.run_users,
        messages=summary.sent,
        messages_per_s=round(summary.sent / summary.seconds) if summary.seconds else None,
        seconds=summary.seconds,
    )


if __name__ == "__main__":
    main()
