"""The harness control plane (``/_harness``): health, the shared clock, the journal, reset."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from litestar import Response, Router, get, post, put
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery, JSONBody

from harness.core.clock import Clock, ClockBook, format_instant
from harness.core.codes import ErrorCode
from harness.core.errors import HarnessError
from harness.core.timeline import Waker, move_clock
from harness.core.timeline import advance_clock as advance_clock_by
from harness.http.common import body_instant
from harness.http.journal import RequestJournal, entry_json
from harness.http.wire import (
    AdvanceIn,
    ClockIn,
    ClockOut,
    ClocksOut,
    HealthOut,
    NamedClockOut,
    ResetOut,
)

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


# tenant clocks --------------------------------------------------------------------------
TenantWakers = Callable[[str], Sequence[Waker]]


def _named_out(name: str, clock: Clock) -> NamedClockOut:
    return NamedClockOut(name, format_instant(clock.now()), clock.mode)


def _checked_seconds(seconds: float) -> None:
    if not math.isfinite(seconds) or seconds > MAX_ADVANCE_SECONDS:
        raise HarnessError(
            ErrorCode.INVALID_BODY, "seconds must be a finite number of at most a century."
        )


@get("/clocks", sync_to_thread=False)
def list_clocks(clocks: NamedDependency[ClockBook]) -> ClocksOut:
    """Every tenant clock (the global one is ``/_harness/clock``)."""
    return ClocksOut(
        [NamedClockOut(name, format_instant(now), "manual") for name, now in clocks.named()]
    )


@get("/clocks/{name:str}", sync_to_thread=False)
def read_named_clock(name: FromPath[str], clocks: NamedDependency[ClockBook]) -> NamedClockOut:
    """A tenant clock's time."""
    return _named_out(name, clocks.clock(name))


@put("/clocks/{name:str}", sync_to_thread=False)
def set_named_clock(
    name: FromPath[str],
    data: JSONBody[ClockIn],
    clocks: NamedDependency[ClockBook],
    tenant_wakers: NamedDependency[TenantWakers],
) -> Response[NamedClockOut]:
    """Create a tenant clock at ``now`` (201), or move it there (200; never backwards).

    Only the tenants bound to this clock see its time move: their nightly runs, dedup
    window and Segment retries follow it; nobody else's do.
    """
    target = body_instant(data.now, "now")
    clock, created = clocks.set(name, target)
    if not created:
        move_clock(clock, target, tenant_wakers(name))
    return Response(_named_out(name, clock), status_code=201 if created else 200)


@post("/clocks/{name:str}/advance", status_code=200, sync_to_thread=False)
def advance_named_clock(
    name: FromPath[str],
    data: JSONBody[AdvanceIn],
    clocks: NamedDependency[ClockBook],
    tenant_wakers: NamedDependency[TenantWakers],
) -> NamedClockOut:
    """Move a tenant clock forward by a number of seconds."""
    _checked_seconds(data.seconds)
    clock = clocks.clock(name)
    advance_clock_by(clock, data.seconds, tenant_wakers(name))
    return _named_out(name, clock)


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
    clocks: ClockBook | None = None,
    tenant_wakers: TenantWakers | None = None,
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
        clocks: The tenants' clocks (``/_harness/clocks``); a book around ``clock`` by default.
        tenant_wakers: The work on a tenant clock that moving it must not skip.
    """
    book = clocks if clocks is not None else ClockBook(clock)
    on_clock: TenantWakers = tenant_wakers if tenant_wakers is not None else (lambda name: ())

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
            list_clocks,
            read_named_clock,
            set_named_clock,
            advance_named_clock,
            list_requests,
            reset,
            restart,
        ],
        dependencies={
            "clock": Provide(lambda: clock, sync_to_thread=False),
            "journal": Provide(lambda: journal, sync_to_thread=False),
            "reset_state": Provide(lambda: reset_state, sync_to_thread=False),
            "wakers": Provide(lambda: wakers, sync_to_thread=False),
            "clocks": Provide(lambda: book, sync_to_thread=False),
            "tenant_wakers": Provide(lambda: on_clock, sync_to_thread=False),
            "restart_state": Provide(lambda: restart_state or cannot_restart, sync_to_thread=False),
        },
        tags=["harness control plane"],
    )
