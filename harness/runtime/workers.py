"""``harness serve``: one process, or N worker processes over one shared store.

With ``--workers N`` the supervisor binds both listening sockets, prepares the store
(migrations, the global clock's row) and starts N workers that share those sockets, as
uvicorn's own multiprocess mode does (forked where the platform can fork). A worker keeps nothing another must see: both
fakes' state, every manual clock and the journal live in the store. A worker that dies is
replaced; SIGTERM or SIGINT stops them all.
"""

from __future__ import annotations

import multiprocessing
import signal
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from types import FrameType
from typing import Any

from harness.core.clock import Clock, ManualClock, StoredClock, SystemClock, format_instant
from harness.core.codes import CommandCode
from harness.core.errors import HarnessError
from harness.http.journal import RequestJournal, StoredJournal
from harness.runtime.server import ServerGroup
from harness.runtime.stack import Harness
from harness.runtime.stores import Stores, open_stores

RESPAWN_PAUSE_SECONDS = 0.2
STOP_GRACE_SECONDS = 10.0


@dataclass(frozen=True)
class ServePlan:
    """Everything a worker needs to build the fakes (picklable: it crosses a process spawn)."""

    host: str
    port: int
    segment_port: int
    store: str
    clock: str
    now: datetime | None
    admin_token: str | None
    journal_size: int
    segment_rate_limit: float | None
    workers: int = 1

    @property
    def abtasty_url(self) -> str:
        """The fake AB Tasty's base URL."""
        return f"http://{self.host}:{self.port}"


def prepare(plan: ServePlan) -> tuple[Stores, Clock]:
    """Open the stores and set the clock up as ``harness serve`` starts.

    The manual clock starts at ``--now`` (or the wall-clock time); a file or database
    store resumes from its clock row or the latest time it recorded, never earlier.

    Raises:
        HarnessError: ``invalid_arguments`` for several workers over the memory store.
    """
    stores = open_stores(plan.store)
    if plan.workers > 1 and not stores.multiprocess:
        stores.close()
        raise HarnessError(
            CommandCode.INVALID_ARGUMENTS,
            "--workers needs a store the workers can share: the memory store lives in one "
            "process; use --store sqlite:PATH or --store postgresql://HOST/DB.",
        )
    if plan.clock != "manual":
        return stores, SystemClock()
    start = plan.now or datetime.now(UTC)
    if stores.shared is None:
        return stores, ManualClock(start)
    # Resume where the clock row stood; a file from before clock rows resumes from the
    # latest time it recorded. Never earlier.
    resumed = stores.shared.read_clock("") or stores.latest_instant()
    stores.shared.write_clock("", max(start, resumed) if resumed else start, forward_only=True)
    return stores, StoredClock(stores.shared)


def attach(plan: ServePlan) -> tuple[Stores, Clock]:
    """Open the stores in a worker: the supervisor already prepared them and the clock."""
    stores = open_stores(plan.store)
    if plan.clock != "manual" or stores.shared is None:
        return stores, SystemClock()
    return stores, StoredClock(stores.shared)


def build(plan: ServePlan, stores: Stores, clock: Clock) -> Harness:
    """Both fakes over ``stores``, with the journal in the store when it is shared."""
    journals: tuple[RequestJournal, RequestJournal] | None = None
    if stores.shared is not None:
        journals = (
            StoredJournal(stores.shared, "abtasty", plan.journal_size),
            StoredJournal(stores.shared, "segment", plan.journal_size),
        )
    return Harness(
        clock,
        store=stores.abtasty,
        segment_store=stores.segment,
        abtasty_url=plan.abtasty_url,
        journal_size=plan.journal_size,
        journals=journals,
        clock_rows=stores.shared,
        engage_store=stores.engage,
        fault_rows=stores.faults,
        rate_bucket=stores.rate_bucket,
        segment_rate_limit=plan.segment_rate_limit,
        seed=None,  # filled-in messageIds must never repeat across workers or restarts
    )


def _group(plan: ServePlan, harness: Harness, sockets: list[socket.socket] | None) -> ServerGroup:
    return ServerGroup(
        [
            (harness.abtasty_app(plan.admin_token), plan.host, plan.port),
            (harness.segment_app(plan.admin_token), plan.host, plan.segment_port),
        ],
        sockets=sockets,
    )


def serve(plan: ServePlan) -> None:
    """Run ``harness serve`` in the foreground until SIGTERM or SIGINT."""
    stores, clock = prepare(plan)
    print(
        f"Fake AB Tasty on {plan.abtasty_url}, fake Segment on http://{plan.host}:{plan.segment_port} "
        f"(store: {stores.kind}, workers: {plan.workers}, clock: {clock.mode}, "
        f"now {format_instant(clock.now())}; schemas at /schema)",
        flush=True,
    )
    if plan.workers <= 1:
        try:
            _group(plan, build(plan, stores, clock), None).run()
        finally:
            stores.close()
        return
    stores.close()
    Supervisor(plan).run()


def run_worker(plan: ServePlan, sockets: list[socket.socket]) -> None:
    """A worker process: both fakes over the shared store, on the inherited sockets."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the supervisor decides when to stop
    stores, clock = attach(plan)
    try:
        _group(plan, build(plan, stores, clock), sockets).run()
    finally:
        stores.close()


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


class Supervisor:
    """Starts ``plan.workers`` workers on shared sockets and keeps that many alive.

    Args:
        plan: What each worker serves.
    """

    def __init__(self, plan: ServePlan) -> None:
        self.plan = plan
        # Fork where there is fork: a worker starts with everything imported (the
        # supervisor holds no threads, pools or connections by then).
        methods = multiprocessing.get_all_start_methods()
        self._context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        self._sockets = [_listen(plan.host, plan.port), _listen(plan.host, plan.segment_port)]
        self._workers: list[Any] = []
        self._stopping = False

    def _spawn(self) -> Any:
        process = self._context.Process(  # type: ignore[attr-defined]
            target=run_worker, args=(self.plan, self._sockets), name="harness-worker"
        )
        process.start()
        return process

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self._stopping = True

    def run(self) -> None:
        """Serve until told to stop, replacing any worker that dies."""
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        self._workers = [self._spawn() for _ in range(self.plan.workers)]
        try:
            while not self._stopping:
                for index, worker in enumerate(self._workers):
                    if not worker.is_alive() and not self._stopping:
                        worker.join()
                        self._workers[index] = self._spawn()
                time.sleep(RESPAWN_PAUSE_SECONDS)
        finally:
            for worker in self._workers:
                worker.terminate()
            deadline = time.monotonic() + STOP_GRACE_SECONDS
            for worker in self._workers:
                worker.join(max(0.0, deadline - time.monotonic()))
                if worker.is_alive():
                    worker.kill()
                    worker.join()
            for sock in self._sockets:
                sock.close()
