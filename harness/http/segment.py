"""The fake Segment over HTTP (CONTRACT.md section 2): the Tracking API and workspace setup."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Any

from litestar import Litestar, Request, Router, delete, get, post, put
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody

from harness.core.clock import format_instant
from harness.core.codes import ErrorCode
from harness.core.errors import HarnessError
from harness.core.protocol import tracking_path
from harness.core.timeline import Waker
from harness.http.common import (
    app_settings,
    body_instant,
    common_routes,
    fake_middleware,
    read_limited,
)
from harness.http.control import control_router
from harness.http.engage import ENGAGE_ROUTES
from harness.http.errors import CRASHES_STATE, CrashLog
from harness.http.journal import ACCOUNT_STATE_KEY, RequestJournal
from harness.http.wire import (
    DeliveryOut,
    DestinationIn,
    DestinationOut,
    FaultsIn,
    FaultsOut,
    OverviewOut,
    SourceIn,
    SourceOut,
    SuccessOut,
)
from harness.segment import FakeSegment
from harness.segment.scripted_faults import FaultChanges, Outage, ScriptedFaults
from harness.segment.tracking import MAX_BATCH_BYTES, MAX_MESSAGE_BYTES, inflate_gzip

Segment = NamedDependency[FakeSegment]
CALLS = ("identify", "group", "track", "page", "screen", "alias", "batch")


def _too_large(size: int, batch: bool) -> HarnessError:
    if batch:
        return HarnessError(
            ErrorCode.BATCH_TOO_LARGE,
            f"The batch is more than {size:,} bytes; Segment takes at most 500 KB per batch.",
        )
    return HarnessError(
        ErrorCode.MESSAGE_TOO_LARGE,
        f"The message is more than {size:,} bytes; Segment takes at most 32 KB per message.",
    )


def _tracking_handler(call: str) -> Any:
    batch = call == "batch"
    limit = MAX_BATCH_BYTES if batch else MAX_MESSAGE_BYTES

    async def handler(request: Request[Any, Any, Any], segment: Segment) -> SuccessOut:
        raw = await read_limited(request, limit, lambda size: _too_large(size, batch))
        if request.headers.get("content-encoding", "").strip().lower() == "gzip":
            raw = inflate_gzip(raw, limit)
        source = segment.ingest(call, request.headers.get("authorization"), raw)
        # The journal files a Tracking API call under its source (Segment's tenant).
        request.scope.setdefault("state", {})[ACCOUNT_STATE_KEY] = source.id
        return SuccessOut(True)

    handler.__name__ = f"track_{call}"
    handler.__doc__ = (
        f"Segment Tracking API: {call}. Write key as Basic user name or writeKey in the body."
    )
    return post(tracking_path(call), status_code=200, tags=["Segment Tracking API"])(handler)


TRACKING_ROUTES = [_tracking_handler(call) for call in CALLS]


@post("/_segment/sources", sync_to_thread=False)
def create_source(data: JSONBody[SourceIn], segment: Segment) -> SourceOut:
    """Create a source; the response is the only time its write key is shown."""
    source, write_key = segment.create_source(data.name, data.clock)
    return SourceOut(source.id, source.name, write_key)


@post("/_segment/sources/{source_id:str}/destinations", sync_to_thread=False)
def add_destination(
    source_id: FromPath[str], data: JSONBody[DestinationIn], segment: Segment
) -> DestinationOut:
    """Connect an AB Tasty destination (by default, the fake AB Tasty served beside)."""
    destination = segment.add_destination(source_id, data.api_key, data.endpoint, data.type)
    return DestinationOut(
        destination.id,
        destination.source_id,
        destination.type,
        destination.name,
        segment.endpoint_of(destination),
        destination.api_key[-4:],
    )


@get("/_segment/sources/{source_id:str}/delivery-overview", sync_to_thread=False)
def delivery_overview(source_id: FromPath[str], segment: Segment) -> OverviewOut:
    """Counts per stage and each message's delivery state, oldest first."""
    overview = segment.overview(source_id)
    return OverviewOut(
        overview.stages,
        [
            DeliveryOut(
                r.message_id,
                r.type,
                r.destination_id,
                r.stage,
                r.attempts,
                r.last_status,
                r.last_body,
                format_instant(r.next_attempt_at) if r.next_attempt_at else None,
            )
            for r in overview.messages
        ],
    )


def _faults_out(faults: ScriptedFaults) -> FaultsOut:
    outage = faults.outage
    return FaultsOut(
        outage.status if outage else None,
        format_instant(outage.until) if outage else None,
        faults.duplicate_next,
        faults.hold_next,
        faults.hold_for.total_seconds(),
        faults.held,
    )


@get("/_harness/faults", sync_to_thread=False)
def read_faults(faults: NamedDependency[ScriptedFaults]) -> FaultsOut:
    """The scripted delivery faults in force."""
    return _faults_out(faults)


def _count(name: str, value: int) -> int:
    if not 0 <= value <= 1_000_000:
        raise HarnessError(ErrorCode.INVALID_BODY, f"{name} must be from 0 to 1,000,000.")
    return value


@put("/_harness/faults", sync_to_thread=False)
def set_faults(data: JSONBody[FaultsIn], faults: NamedDependency[ScriptedFaults]) -> FaultsOut:
    """Script delivery faults: an outage until a time, the next N delivered twice, the next N held back.

    Every field is checked before anything changes; then the fields given are set at once,
    in one store transaction, and the others left as they are.
    """
    changes: FaultChanges = {}
    if data.outage is not None:
        status = data.outage.status
        if status is not None and not (status == 429 or 400 <= status <= 599):
            raise HarnessError(
                ErrorCode.INVALID_BODY,
                "outage.status must be an HTTP error status (4xx or 5xx), or null for a timeout.",
            )
        changes["outage"] = Outage(status, body_instant(data.outage.until, "outage.until"))
    if data.duplicate_next is not None:
        changes["duplicate_next"] = _count("duplicate_next", data.duplicate_next)
    if data.hold_next is not None:
        changes["hold_next"] = _count("hold_next", data.hold_next)
    if data.hold_seconds is not None:
        if not 0 <= data.hold_seconds <= 30 * 86_400:
            raise HarnessError(ErrorCode.INVALID_BODY, "hold_seconds must be from 0 to 30 days.")
        changes["hold_for"] = timedelta(seconds=data.hold_seconds)
    faults.rows.update(changes)
    return _faults_out(faults)


@delete("/_harness/faults", sync_to_thread=False)
def clear_faults(faults: NamedDependency[ScriptedFaults]) -> None:
    """Switch every delivery fault off."""
    faults.clear()


def create_segment_app(
    segment: FakeSegment,
    *,
    journal: RequestJournal | None = None,
    admin_token: str | None = None,
    reset_state: Callable[[str | None], None] | None = None,
    wakers: Sequence[Waker] | None = None,
    faults: ScriptedFaults | None = None,
    restart_state: Callable[[datetime], None] | None = None,
    lifespan: Sequence[Callable[[Litestar], AbstractAsyncContextManager[None]]] = (),
    crashes: CrashLog | None = None,
) -> Litestar:
    """Build the fake Segment as a Litestar app.

    Args:
        segment: The fake Segment workspace.
        journal: Where requests are recorded; a new bounded journal by default.
        admin_token: When set, ``/_segment/`` and ``/_harness/`` routes need ``Bearer <token>``.
        reset_state: What ``/_harness/reset`` clears; the workspace (or one source) by default.
        wakers: Work a clock move must not skip; the workspace's retries by default.
        faults: Scripted delivery faults to drive through ``/_harness/faults``.
        restart_state: Wipes everything and restarts the manual clock (``/_harness/restart``).
        lifespan: Context managers wrapping the app's lifespan (background work).
        crashes: Where unexpected exceptions are kept (beside their 500 answers) for a test
            to re-raise; not kept by default.
    """
    journal = journal if journal is not None else RequestJournal()
    provide = {"segment": Provide(lambda: segment, sync_to_thread=False)}
    handlers: list[Any] = [
        *TRACKING_ROUTES,
        create_source,
        add_destination,
        delivery_overview,
        *ENGAGE_ROUTES,
    ]
    if faults is not None:
        provide["faults"] = Provide(lambda: faults, sync_to_thread=False)
        handlers += [read_faults, set_faults, clear_faults]
    routes = Router("/", route_handlers=handlers, dependencies=provide)
    control = control_router(
        segment.clock,
        journal,
        reset_state if reset_state is not None else segment.reset,
        wakers if wakers is not None else [segment],
        restart_state,
        segment.clocks,
        lambda name: [segment.waker(name)],
    )
    app = Litestar(
        route_handlers=[routes, control, *common_routes()],
        middleware=fake_middleware(journal, segment.clock_for_source, admin_token),
        lifespan=list(lifespan),
        **app_settings("Fake Segment (segment-abtasty-harness)"),
    )
    app.state.segment = segment
    app.state.journal = journal
    app.state[CRASHES_STATE] = crashes
    return app
