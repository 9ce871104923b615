"""Both fakes on one clock, wired as ``harness serve`` wires them.

The fake Segment delivers to the fake AB Tasty in-process (no socket, no deadlock when
one loop serves both), and the call is filed in AB Tasty's journal as an HTTP call would be.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator
from datetime import datetime

from litestar import Litestar

from harness.abtasty import AbTasty
from harness.abtasty.store import MemoryStore, Store
from harness.core.clock import (
    Clock,
    ClockBook,
    ClockRows,
    ManualClock,
    StoredClock,
    SystemClock,
)
from harness.core.codes import ErrorCode
from harness.core.errors import HarnessError
from harness.core.freezegun_clock import FreezegunClock
from harness.core.protocol import ABTASTY_WEBHOOK_PATH
from harness.core.timeline import Waker, advance_clock, move_clock
from harness.http import create_abtasty_app
from harness.http.errors import CrashLog
from harness.http.journal import RequestJournal
from harness.http.segment import create_segment_app
from harness.runtime.transports import (
    INPROCESS_ABTASTY,
    InProcessAbTasty,
    RequestsTransport,
    RoutingTransport,
)
from harness.segment import FakeSegment, RetryPolicy, Transport
from harness.segment.engage import EngageStore
from harness.segment.ratelimit import RateBucket
from harness.segment.scripted_faults import FaultRows, ScriptedFaults
from harness.segment.store import SegmentStore

SYSTEM_CLOCK_TICK_SECONDS = 1.0
LOG = logging.getLogger(__name__)


class Harness:
    """The fake AB Tasty and the fake Segment sharing one clock.

    Args:
        clock: The shared clock; the system clock (freezegun-aware) by default.
        store: The AB Tasty store; in memory by default.
        abtasty_url: The base URL the fake AB Tasty is served at, if it is: the default
            destination endpoint, and routed in-process when a destination names it.
        retry_policy: Segment's backoff schedule.
        seed: Seeds Segment's jitter and filled-in messageIds.
        journal_size: Requests kept per fake.
        http_timeout: Seconds before a destination reached over HTTP counts as timed out.
        segment_rate_limit: Tracking API requests a second before 429 (Segment's is about 1,000).
        segment_store: The fake Segment's store; in memory by default.
        journals: AB Tasty's and Segment's journals (kept in a shared store by ``harness
            serve`` over SQLite or PostgreSQL); bounded, in memory, by default.
        clock_rows: Where tenant clocks live (a shared store's rows); in memory by default.
        engage_store: Segment Engage's audiences and computed traits; in memory by default.
        fault_rows: Where scripted faults and held messages live (a shared store's, so
            every worker sees one set of switches); in memory by default.
        rate_bucket: Where the Tracking API rate limit's bucket lives; in memory by default.
    """

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        store: Store | None = None,
        abtasty_url: str | None = None,
        retry_policy: RetryPolicy | None = None,
        seed: int | None = 0,
        journal_size: int = 1_000,
        http_timeout: float = 10.0,
        segment_rate_limit: float | None = None,
        segment_store: SegmentStore | None = None,
        journals: tuple[RequestJournal, RequestJournal] | None = None,
        clock_rows: ClockRows | None = None,
        engage_store: EngageStore | None = None,
        fault_rows: FaultRows | None = None,
        rate_bucket: RateBucket | None = None,
    ) -> None:
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.clocks = ClockBook(self.clock, clock_rows)
        """The global clock and every tenant's own clock."""
        self.abtasty = AbTasty(
            store if store is not None else MemoryStore(), self.clock, self.clocks
        )
        self.abtasty_journal, self.segment_journal = journals or (
            RequestJournal(journal_size),
            RequestJournal(journal_size),
        )
        inprocess = InProcessAbTasty(self.abtasty, self.abtasty_journal)
        routes: dict[str, Transport] = {INPROCESS_ABTASTY: inprocess}
        endpoint = INPROCESS_ABTASTY
        if abtasty_url:
            endpoint = abtasty_url.rstrip("/") + ABTASTY_WEBHOOK_PATH
            routes[endpoint] = inprocess
        self.http = RequestsTransport(timeout=http_timeout)
        self.transport = RoutingTransport(self.http, routes)
        self.faults = ScriptedFaults(self.transport, self.clock, fault_rows)
        """Scripted delivery faults between the fake Segment and its destinations."""
        self.segment = FakeSegment(
            self.clock,
            self.faults,
            default_endpoint=endpoint,
            retry_policy=retry_policy,
            seed=seed,
            rate_limit=segment_rate_limit,
            store=segment_store,
            clocks=self.clocks,
            engage_store=engage_store,
            rate_bucket=rate_bucket,
        )
        self.crashes = CrashLog()
        """Unexpected exceptions either fake's app met while answering (see :meth:`check`)."""
        self._own_wakers: tuple[Waker, ...] = (self.segment, self.faults)
        self.wakers: list[Waker] = list(self._own_wakers)
        """Everything with work on the clock; a simulation adds its held deliveries."""
        if isinstance(self.clock, FreezegunClock):
            self.clock.bind_wakers(self.wakers)

    # time ----------------------------------------------------------------------------------
    def move_to(self, when: datetime) -> None:
        """Move the (manual) clock, making each Segment retry at its due time on the way."""
        move_clock(self.clock, when, self.wakers)

    def advance(self, seconds: float) -> None:
        """Move the (manual) clock forward, making retries on the way."""
        advance_clock(self.clock, seconds, self.wakers)

    # control -------------------------------------------------------------------------------
    def reset_abtasty(self, account_id: str | None) -> None:
        """Reset AB Tasty (one account, or everything: then Segment too)."""
        self.abtasty.reset_tenant(account_id)
        if account_id is None:
            self.segment.reset()
            self.faults.clear()
            self.segment_journal.clear()

    def reset_segment(self, source_id: str | None) -> None:
        """Reset Segment (one source, or everything: then AB Tasty too)."""
        self.segment.reset(source_id)
        if source_id is None:
            self.faults.clear()
            self.abtasty.reset()
            self.abtasty_journal.clear()

    def restart(self, start: datetime | None = None) -> None:
        """Wipe every fake's state and journal and, on a manual clock, restart it at ``start``.

        The apps stay valid (they hold these same objects), so a process builds them once
        and restarts the harness for each test or scenario.
        """
        if start is not None:
            if not isinstance(self.clock, ManualClock | FreezegunClock | StoredClock):
                raise HarnessError(
                    ErrorCode.CLOCK_NOT_MANUAL, "Only a manual clock can restart at a given time."
                )
            self.clock.restart_at(start)
        self.abtasty.reset()
        self.segment.reset()
        self.faults.clear()
        self.abtasty_journal.clear()
        self.segment_journal.clear()
        self.wakers[:] = self._own_wakers  # drop wakers a simulation added

    # crashes -------------------------------------------------------------------------------
    def check(self) -> None:
        """Re-raise the first crash either fake's app met since the last check, and forget them.

        An app answers an unexpected exception with a 500 ``internal_error``; the exception
        itself, with its traceback, is kept until this call (the pytest plugin makes it after
        every test that used the harness, so a crash fails that test).

        Raises:
            BaseException: The first crash, with later ones in its notes.
        """
        __tracebackhide__ = True  # pytest shows the crash's own frames, not this one
        self.crashes.check()

    # apps ----------------------------------------------------------------------------------
    def abtasty_app(self, admin_token: str | None = None) -> Litestar:
        """The fake AB Tasty as a Litestar app."""
        return create_abtasty_app(
            self.abtasty,
            journal=self.abtasty_journal,
            admin_token=admin_token,
            reset_state=self.reset_abtasty,
            wakers=self.wakers,
            restart_state=self.restart,
            tenant_wakers=self.tenant_wakers,
            segment=self.segment,
            segment_journal=self.segment_journal,
            crashes=self.crashes,
        )

    def tenant_wakers(self, clock: str) -> list[Waker]:
        """The work on a tenant clock that moving it must not skip: its sources' retries."""
        return [self.segment.waker(clock)]

    def segment_app(self, admin_token: str | None = None) -> Litestar:
        """The fake Segment as a Litestar app (its lifespan runs due retries on a system clock)."""
        return create_segment_app(
            self.segment,
            journal=self.segment_journal,
            admin_token=admin_token,
            reset_state=self.reset_segment,
            wakers=self.wakers,
            faults=self.faults,
            restart_state=self.restart,
            lifespan=[self._retry_ticker],
            crashes=self.crashes,
        )

    def _run_due_work(self) -> None:
        # One failure (a store connection reset) must not end the ticker: the next tick
        # tries again, and each piece of work is claimed, so none is lost or made twice.
        try:
            self.segment.run_all_due()
            self.faults.run_due()
        except Exception:
            LOG.exception("running the work that fell due failed; retrying at the next tick")

    @contextlib.asynccontextmanager
    async def _retry_ticker(self, _: Litestar) -> AsyncIterator[None]:
        # With the system clock, time moves by itself, so a live server wakes up to make
        # the retries and hand over the held messages that fell due. With a manual clock,
        # clock moves make them; the ticker still finds work that is due but was never done:
        # accepted by a server that died before its first attempt, or held by a worker that
        # was killed mid-attempt or mid-handover.
        stopped = threading.Event()
        running = threading.Lock()

        def run() -> None:
            with running:
                if not stopped.is_set():
                    self._run_due_work()

        async def tick() -> None:
            while True:
                # In a thread: a delivery may wait on its destination for seconds.
                await asyncio.to_thread(run)
                await asyncio.sleep(SYSTEM_CLOCK_TICK_SECONDS)

        task = asyncio.create_task(tick())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            # A cancelled to_thread leaves its thread running: let a run in progress end
            # (the stores close after the app) and start none after it.
            stopped.set()
            await asyncio.to_thread(running.acquire)
            running.release()
