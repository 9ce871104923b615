"""The harness control plane (``/_harness``): health, the shared clock, the journal, reset."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from litestar import Router, get, post, put
from litestar.di import NamedDependency, Provide
from litestar.params import FromQuery, JSONBody

from harness.core.clock import Clock, format_instant
from harness.core.codes import ErrorCode
from harness.core.errors import HarnessError
from harness.core.timeline import Waker, move_clock
from harness.core.timeline import advance_clock as advance_clock_by
from harness.http.common import body_instant
from harness.http.journal import RequestJournal, entry_json
from harness.http.wire import AdvanceIn, ClockIn, ClockOut, HealthOut, ResetOut

MAX_JOURNAL_LIMIT = 10_000
MAX_ADVANCE_SECONDS = 100 * 366 * 24 * 3600


def _clock_out(clock: Clock) -> ClockOut:
    return ClockOut(format_instant(clock.now()), clock.mode)


@get("/health", sync_to_thread=False)
def health() -> HealthOut:
    """Liveness: 200 when the fake answers."""
    return HealthOut("ok")


@get("/clock", sync_to_thread=False)
def read_clock(clock: NamedDependency[Clock]) -> ClockOut:
    """The shared clock's time and mode."""
    return _clock_out(clock)


@put("/clock", sync_to_thread=False)
def set_clock(
    data: JSONBody[ClockIn], clock: NamedDependency[Clock], wakers: NamedDependency[Sequence[Waker]]
) -> ClockOut:
    """Move the manual clock to an instant (never backwards)."""
    move_clock(clock, body_instant(data.now, "now"), wakers)
    return _clock_out(clock)


@post("/clock/advance", status_code=200, sync_to_thread=False)
def advance_clock(
    data: JSONBody[AdvanceIn],
    clock: NamedDependency[Clock],
    wakers: NamedDependency[Sequence[Waker]],
) -> ClockOut:
    """Move the manual clock forward by a number of seconds."""
    if not math.isfinite(data.seconds) or data.seconds > MAX_ADVANCE_SECONDS:
        raise HarnessError(
            ErrorCode.INVALID_BODY, "seconds must be a finite number of at most a century."
        )
    if clock.mode == "manual" and data.seconds >= 0:
        try:
            clock.now() + timedelta(seconds=data.seconds)
        except OverflowError:
            raise HarnessError(
                ErrorCode.INVALID_BODY, "That would move the clock past the year 9999."
            ) from None
    advance_clock_by(clock, data.seconds, wakers)
    return _clock_out(clock)


@get("/requests", sync_to_thread=False)
def list_requests(
    journal: NamedDependency[RequestJournal],
    account_id: FromQuery[str | None] = None,
    limit: FromQuery[int | None] = None,
) -> dict[str, Any]:
    """The request journal, newest last, secrets masked."""
    if limit is not None and not 1 <= limit <= MAX_JOURNAL_LIMIT:
        raise HarnessError(ErrorCode.INVALID_BODY, f"limit must be from 1 to {MAX_JOURNAL_LIMIT}.")
    return {"requests": [entry_json(e) for e in journal.entries(account_id, limit)]}


@post("/reset", status_code=200, sync_to_thread=False)
def reset(
    reset_state: NamedDependency[Callable[[str | None], None]],
    journal: NamedDependency[RequestJournal],
    account_id: FromQuery[str | None] = None,
    source_id: FromQuery[str | None] = None,
) -> ResetOut:
    """Clear all state, or one tenant's (``?account_id=`` on AB Tasty, ``?source_id=`` on Segment).

    The clock is never reset.
    """
    tenant = account_id or source_id
    reset_state(tenant)
    journal.clear(tenant)
    return ResetOut(tenant or "all")


@post("/restart", status_code=200, sync_to_thread=False)
def restart(
    data: JSONBody[ClockIn],
    clock: NamedDependency[Clock],
    restart_state: NamedDependency[Callable[[datetime], None]],
    journal: NamedDependency[RequestJournal],
) -> ClockOut:
    """Wipe every tenant of both fakes and set the manual clock to ``now``, even backwards.

    Unlike ``PUT /_harness/clock``, nothing that read the old time survives, so the clock
    may go back: this is how a live server plays scenarios that start at the same date.
    """
    restart_state(body_instant(data.now, "now"))
    journal.clear()
    return _clock_out(clock)


def control_router(
    clock: Clock,
    journal: RequestJournal,
    reset_state: Callable[[str | None], None],
    wakers: Sequence[Waker] = (),
    restart_state: Callable[[datetime], None] | None = None,
) -> Router:
    """The ``/_harness`` routes over a clock, a journal and a reset function.

    Args:
        clock: The shared clock.
        journal: The request journal to show and clear.
        reset_state: Clears everything (None) or one tenant; raises a HarnessError for an
            unknown tenant.
        wakers: Work scheduled on the clock (retries) that a clock move must not skip.
        restart_state: Wipes everything and restarts the manual clock (``/_harness/restart``);
            without it, that route answers ``clock_not_manual``.
    """

    def cannot_restart(when: datetime) -> None:
        raise HarnessError(
            ErrorCode.CLOCK_NOT_MANUAL,
            "This server cannot restart its clock; run harness serve --clock manual.",
        )

    return Router(
        "/_harness",
        route_handlers=[
            health,
            read_clock,
            set_clock,
            advance_clock,
            list_requests,
            reset,
            restart,
        ],
        dependencies={
            "clock": Provide(lambda: clock, sync_to_thread=False),
            "journal": Provide(lambda: journal, sync_to_thread=False),
            "reset_state": Provide(lambda: reset_state, sync_to_thread=False),
            "wakers": Provide(lambda: wakers, sync_to_thread=False),
            "restart_state": Provide(lambda: restart_state or cannot_restart, sync_to_thread=False),
        },
        tags=["harness control plane"],
    )
