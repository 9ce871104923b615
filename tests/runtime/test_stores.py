"""``open_stores``: what each ``--store`` opens, on a real SQLite file."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from harness.runtime.stores import open_stores
from harness.segment.ratelimit import RateLimiter
from harness.segment.scripted_faults import FaultRows, HeldMessage
from tests.support import t

NOW = t("2026-03-02T12:00:00Z")


def _open_handles(path: Path) -> int:
    """File descriptors of this process open on ``path`` (one per SQLite connection)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == str(path):
                count += 1
        except OSError:
            continue  # closed since it was listed
    return count


def test_open_stores_sqlite_opens_no_rate_limit_connection_until_a_limit_takes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "harness.sqlite"
    stores = open_stores(f"sqlite:{path}")
    try:
        assert stores.rate_bucket is not None
        without_limit = _open_handles(path)
        limiter = RateLimiter(5, bucket=stores.rate_bucket)
        limiter.take()  # a limit is set and a request comes in: now the bucket's file opens
        assert _open_handles(path) == without_limit + 1
        limiter.take()
        assert _open_handles(path) == without_limit + 1  # opened once
    finally:
        stores.close()
    assert _open_handles(path) == 0


HANDOVER = """
import sys, time
from datetime import datetime, UTC
from harness.runtime.stores import open_stores
stores = open_stores(sys.argv[1])
with stores.faults.claim_held(datetime(2100, 1, 1, tzinfo=UTC)) as held:
    print(held.body.decode() if held else "none", flush=True)
    time.sleep(600)  # killed here, mid-handover
"""


def _take_held(rows: FaultRows, within: float = 30.0) -> HeldMessage | None:
    deadline = time.monotonic() + within
    while True:
        with rows.claim_held(NOW) as held:
            if held is not None or time.monotonic() > deadline:
                return held
        time.sleep(0.05)


def test_open_stores_held_message_of_a_process_killed_mid_handover_is_handed_over_again(
    store_spec: str,
) -> None:
    stores = open_stores(store_spec)
    handover = None
    try:
        assert stores.faults is not None
        stores.faults.hold(HeldMessage(NOW, "http://127.0.0.1:9/hook", {"A": "b"}, b"held-1"))
        handover = subprocess.Popen(
            [sys.executable, "-c", HANDOVER, store_spec], stdout=subprocess.PIPE, text=True
        )
        assert handover.stdout is not None and handover.stdout.readline() == "held-1\n"
        with stores.faults.claim_held(NOW) as held:
            assert held is None  # the other process is handing it over: not taken twice
        assert stores.faults.held_count() == 1
        handover.send_signal(signal.SIGKILL)
        handover.wait(30)
        # Its claim died with it (PostgreSQL: once the server saw its session end).
        assert _take_held(stores.faults) == HeldMessage(
            NOW, "http://127.0.0.1:9/hook", {"A": "b"}, b"held-1"
        )
        assert stores.faults.held_count() == 0
    finally:
        if handover is not None:
            handover.kill()
            handover.wait()
        stores.close()


def test_open_stores_sqlite_file_from_before_held_claims_keeps_its_held_messages(
    tmp_path: Path,
) -> None:
    path = tmp_path / "harness.sqlite"
    with sqlite3.connect(path) as old:  # segment_held as release 0005 made it
        old.execute(
            "CREATE TABLE segment_held (seq INTEGER PRIMARY KEY AUTOINCREMENT, due TEXT NOT NULL,"
            " url TEXT NOT NULL, headers BLOB NOT NULL, body BLOB NOT NULL)"
        )
        old.execute(
            "INSERT INTO segment_held (due, url, headers, body)"
            " VALUES ('2026-03-02T11:00:00Z', 'http://127.0.0.1:9/hook', '{}', X'7B7D')"
        )
    old.close()
    stores = open_stores(f"sqlite:{path}")
    try:
        assert stores.faults is not None
        assert _take_held(stores.faults) == HeldMessage(
            t("2026-03-02T11:00:00Z"), "http://127.0.0.1:9/hook", {}, b"{}"
        )
    finally:
        stores.close()
