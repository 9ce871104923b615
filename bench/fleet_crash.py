"""Messages acknowledged, lost and doubled across kill -9, per durable store.

    python -m bench.fleet_crash [--messages 150] [--workers 3]

For SQLite and PostgreSQL (a throwaway cluster), ``harness serve --workers 3`` takes a
stream of Tracking API identifies from three clients; a third of the way in one worker is
killed with SIGKILL, two thirds in every process of the fleet; a new fleet on the same
store gets what the clients never saw acknowledged and makes every waiting retry (the
scenario of ``tests/runtime/test_workers.py``, which asserts nothing is lost or doubled).
One JSON line per store: acknowledged before the kills, lost, doubled, and messages that a
worker committed but never acknowledged (resent by their client, kept twice by Segment,
taken once by AB Tasty).
"""

from __future__ import annotations

import argparse
import tempfile

from bench.common import report
from bench.shared_ingest import postgres
from tests.runtime.fleet import kill_9_mid_stream


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=150)
    parser.add_argument("--workers", type=int, default=3)
    args = parser.parse_args()
    with postgres() as database, tempfile.TemporaryDirectory() as folder:
        for store in (f"sqlite:{folder}/crash.sqlite", database):
            outcome = kill_9_mid_stream(store, workers=args.workers, messages=args.messages)
            report(
                "kill_9_fleet",
                store=outcome.store,
                workers=outcome.workers,
                sent=outcome.sent,
                acknowledged=len(outcome.acknowledged),
                lost=outcome.lost,
                doubled=outcome.doubled,
                unacknowledged_resent_kept_twice=outcome.resent_and_kept_twice,
                taken_by_nightly_run=outcome.refreshed,
            )


if __name__ == "__main__":
    main()
