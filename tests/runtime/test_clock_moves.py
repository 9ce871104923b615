"""Moves of one clock through several workers at once: serialised, none lost, none backwards.

Each "worker" here opens the store on its own (its own rows object, as a worker process
does); threads stand in for requests arriving together. A waker with work every 30 s makes
each move stop on the way, as Segment's retries do, so a move reads the clock, then moves
it several times: the window in which two unserialised moves would trample each other.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from harness.core.clock import ClockRows, ManualClock, MemoryClockRows, StoredClock
from harness.core.errors import HarnessError
from harness.core.timeline import advance_clock, move_clock
from harness.runtime.stores import PostgresSharedRows, SqliteSharedRows, open_stores
from tests.postgres import migrated_pool
from tests.support import t

START = t("2026-03-02T08:00:00Z")
WORKERS = 2
MOVES = 10


class EveryThirtySeconds:
    """Work due every 30 s from START, run slowly (a Segment retry takes a moment)."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._now = clock

    def next_due(self) -> datetime | None:
        now = self._now()
        return START + timedelta(seconds=30 * ((now - START).total_seconds() // 30 + 1))

    def run_due(self) -> int:
        time.sleep(0.002)
        return 1


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def worker_rows(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[ClockRows]]:
    """One rows object per worker, over one store, the global clock at START."""
    if request.param == "memory":
        shared = MemoryClockRows()
        rows: list[ClockRows] = [shared] * WORKERS
        shared.write_clock("", START, forward_only=False)
        yield rows
        return
    if request.param == "sqlite":
        opened = [SqliteSharedRows(tmp_path / "harness.sqlite") for _ in range(WORKERS)]
        opened[0].write_clock("", START, forward_only=False)
        yield list(opened)
        for each in opened:
            each.close()
        return
    url = request.getfixturevalue("postgres_url")
    with migrated_pool(url) as first, migrated_pool(url) as second:
        pg = [PostgresSharedRows(first), PostgresSharedRows(second)]
        pg[0].write_clock("", START, forward_only=False)
        yield list(pg)


def _in_parallel(calls: list[Callable[[], object]]) -> list[BaseException | None]:
    def run(call: Callable[[], object]) -> BaseException | None:
        try:
            call()
        except HarnessError as error:
            return error
        return None

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def _advance(clock: StoredClock) -> Callable[[], object]:
    return lambda: advance_clock(clock, 60, [EveryThirtySeconds(clock.now)])


def _move(clock: StoredClock, when: datetime) -> Callable[[], object]:
    return lambda: move_clock(clock, when, [EveryThirtySeconds(clock.now)])


@pytest.mark.parametrize("name", ["", "tenant-a"])
def test_clock_moves_concurrent_advances_through_two_workers_add_up(
    worker_rows: list[ClockRows], name: str
) -> None:
    worker_rows[0].write_clock(name, START, forward_only=False)
    clocks = [StoredClock(rows, name) for rows in worker_rows]
    calls = [_advance(clocks[index % WORKERS]) for index in range(WORKERS * MOVES)]
    assert _in_parallel(calls) == [None] * len(calls)
    assert clocks[1].now() == START + timedelta(minutes=WORKERS * MOVES)


def test_clock_moves_concurrent_moves_never_step_back(worker_rows: list[ClockRows]) -> None:
    clocks = [StoredClock(rows, "tenant-b") for rows in worker_rows]
    worker_rows[0].write_clock("tenant-b", START, forward_only=False)
    seen: list[datetime] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            seen.append(clocks[0].now())

    targets = [START + timedelta(minutes=minutes) for minutes in (5, 9, 3, 7, 1, 8, 2, 6, 4, 10)]
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        calls = [_move(clocks[i % WORKERS], when) for i, when in enumerate(targets)]
        outcomes = _in_parallel(calls)
    finally:
        stop.set()
        watcher.join()
    assert seen == sorted(seen)  # no reader ever saw the clock go back
    refused = [o for o in outcomes if o is not None]
    assert {error.code for error in refused} <= {"clock_backwards"}  # type: ignore[attr-defined]
    assert START + timedelta(minutes=10) == clocks[1].now()
    # A move is refused only when a later one already went through: 10 always goes through.
    assert outcomes[targets.index(START + timedelta(minutes=10))] is None


def test_clock_moves_manual_clock_advances_from_threads_add_up() -> None:
    clock = ManualClock(START)
    calls: list[Callable[[], object]] = [
        lambda: advance_clock(clock, 60, [EveryThirtySeconds(clock.now)]) for _ in range(20)
    ]
    assert _in_parallel(calls) == [None] * 20
    assert clock.now() == START + timedelta(minutes=20)


HOLDER = """
import sys, time
from harness.runtime.stores import open_stores
stores = open_stores(sys.argv[1])
with stores.shared.lock_clock("tenant-c"):
    print("held", flush=True)
    time.sleep(600)
"""


def _try_lock(rows: ClockRows, got: threading.Event) -> None:
    with rows.lock_clock("tenant-c"):
        got.set()


def test_clock_moves_lock_excludes_another_process_and_dies_with_it(store_spec: str) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, store_spec], stdout=subprocess.PIPE, text=True
    )
    stores = open_stores(store_spec)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        assert stores.shared is not None
        got = threading.Event()
        waiter = threading.Thread(target=_try_lock, args=(stores.shared, got), daemon=True)
        waiter.start()
        assert not got.wait(1.0)  # the other process's move holds the clock
        holder.send_signal(signal.SIGKILL)  # killed mid-move
        assert got.wait(30)  # its lock went with it
        waiter.join(30)
    finally:
        holder.kill()
        holder.wait()
        stores.close()


def test_clock_moves_lock_is_reentrant_in_a_thread(store_spec: str) -> None:
    stores = open_stores(store_spec)
    try:
        assert stores.shared is not None
        stores.shared.write_clock("tenant-d", START, forward_only=False)
        clock = StoredClock(stores.shared, "tenant-d")
        with clock.moving(), clock.moving():
            clock.advance(60)  # takes the clock again inside its own move
        assert clock.now() == START + timedelta(minutes=1)
    finally:
        stores.close()
