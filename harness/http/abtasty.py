"""The fake AB Tasty over HTTP (CONTRACT.md section 1)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from litestar import Litestar, Request, Response, Router, delete, get, post
from litestar.di import NamedDependency, Provide
from litestar.exceptions import InternalServerException
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath, FromQuery, JSONBody

from harness.abtasty import AbTasty
from harness.abtasty.segments import ConditionRequest
from harness.abtasty.spec import (
    MAX_MESSAGE_BYTES,
    decode_message,
    message_too_large,
    validate_message,
)
from harness.core.clock import format_instant
from harness.core.codes import ErrorCode
from harness.core.errors import HarnessError
from harness.core.protocol import ABTASTY_WEBHOOK_PATH
from harness.core.timeline import Waker
from harness.http.common import (
    app_settings,
    body_instant,
    common_routes,
    fake_middleware,
    read_limited,
)
from harness.http.control import control_router
from harness.http.errors import CRASHES_STATE, CrashLog
from harness.http.inspector import InspectorContext, inspector_routers
from harness.http.journal import ACCOUNT_STATE_KEY, RequestJournal
from harness.http.wire import (
    AccountIn,
    AccountOut,
    ApiKeyOut,
    ApiKeyStatusOut,
    ConnectorIn,
    ConnectorOut,
    ConnectorsOut,
    CriteriaGroupOut,
    CriteriaItemOut,
    CriteriaOut,
    ExplainOut,
    RefreshesOut,
    RefreshOut,
    SegmentIn,
    SegmentOut,
    TraitOut,
    ValueOut,
    VisitorIn,
    VisitorOut,
    VisitorSegmentsOut,
    WebhookOut,
)
from harness.segment import FakeSegment

Service = NamedDependency[AbTasty]
AccountId = FromPath[str]


# setup: what the AB Tasty UI does ------------------------------------------------------
@post("/accounts", sync_to_thread=False)
def create_account(data: JSONBody[AccountIn], service: Service) -> AccountOut:
    """Create an account (timezone: an IANA name; refresh_hour: 0-23)."""
    return AccountOut.of(
        service.create_account(data.name, data.timezone, data.refresh_hour, data.clock)
    )


@get("/accounts/{account_id:str}", sync_to_thread=False)
def read_account(account_id: AccountId, service: Service) -> AccountOut:
    """An account."""
    return AccountOut.of(service.account(account_id))


@post("/accounts/{account_id:str}/integrations/pull/segment", sync_to_thread=False)
def create_connector(
    account_id: AccountId, data: JSONBody[ConnectorIn], service: Service
) -> ConnectorOut:
    """Integration Hub > Pull > Segment > Setup connector."""
    return ConnectorOut.of(service.create_segment_connector(account_id, data.name))


@get("/accounts/{account_id:str}/integrations", sync_to_thread=False)
def list_connectors(account_id: AccountId, service: Service) -> ConnectorsOut:
    """The account's connectors, oldest first."""
    return ConnectorsOut([ConnectorOut.of(c) for c in service.connectors(account_id)])


@delete("/accounts/{account_id:str}/integrations/{connector_id:str}", sync_to_thread=False)
def delete_connector(account_id: AccountId, connector_id: FromPath[str], service: Service) -> None:
    """Remove a connector."""
    service.delete_connector(account_id, connector_id)


@post("/accounts/{account_id:str}/settings/integrations/api-key", sync_to_thread=False)
def generate_api_key(account_id: AccountId, service: Service) -> ApiKeyOut:
    """Settings > Integrations > API Key > Generate: the only time the full key is shown."""
    return ApiKeyOut(service.generate_api_key(account_id))


@post("/accounts/{account_id:str}/settings/integrations/api-key/regenerate", sync_to_thread=False)
def regenerate_api_key(account_id: AccountId, service: Service) -> ApiKeyOut:
    """Replace the key; the old one stops working at once."""
    return ApiKeyOut(service.regenerate_api_key(account_id))


@get("/accounts/{account_id:str}/settings/integrations/api-key", sync_to_thread=False)
def read_api_key(account_id: AccountId, service: Service) -> ApiKeyStatusOut:
    """Whether a key exists, since when, and its last 4 characters."""
    status = service.api_key_status(account_id)
    created = status.created_at
    return ApiKeyStatusOut(status.exists, optional_instant(created), status.last4)


@delete("/accounts/{account_id:str}/settings/integrations/api-key", sync_to_thread=False)
def revoke_api_key(account_id: AccountId, service: Service) -> None:
    """Delete the key."""
    service.revoke_api_key(account_id)


def optional_instant(value: datetime | None) -> str | None:
    """An optional instant as the wire writes it (ISO-8601 UTC), or None."""
    return None if value is None else format_instant(value)


# the AB Tasty tag ----------------------------------------------------------------------
@post("/accounts/{account_id:str}/visitors", sync_to_thread=False)
def record_visitor(
    account_id: AccountId, data: JSONBody[VisitorIn], service: Service
) -> Response[VisitorOut]:
    """The tag read the ajs_anonymous_id cookie in a visitor's browser (201 new visitor, 200 after)."""
    seen_at = body_instant(data.seen_at, "seen_at") if data.seen_at is not None else None
    created = service.record_sighting(
        account_id, data.visitor_id, data.segment_anonymous_id, seen_at
    )
    body = VisitorOut(data.visitor_id.lower(), data.segment_anonymous_id, created)
    return Response(body, status_code=201 if created else 200)


# nightly refresh and the segment builder ----------------------------------------------
@get("/accounts/{account_id:str}/audiences/refreshes", sync_to_thread=False)
def list_refreshes(account_id: AccountId, service: Service) -> RefreshesOut:
    """The refresh runs, oldest first, and when the next one is due."""
    runs = [RefreshOut.of(r) for r in service.refreshes(account_id)]
    return RefreshesOut(
        runs, optional_instant(service.next_refresh(account_id).scheduled_for) or ""
    )


@get("/accounts/{account_id:str}/segment-builder/criteria", sync_to_thread=False)
def criteria(account_id: AccountId, service: Service) -> CriteriaOut:
    """EXTERNAL DATA: the traits with at least one matched, activated visitor."""
    items = [
        CriteriaItemOut(
            item.connector_id,
            item.connector_name,
            item.integration,
            [
                TraitOut(
                    t.key, t.source, list(t.path), [ValueOut(v.value, v.visitors) for v in t.values]
                )
                for t in item.traits
            ],
        )
        for item in service.criteria(account_id)
    ]
    return CriteriaOut([CriteriaGroupOut("EXTERNAL DATA", items)])


@post("/accounts/{account_id:str}/segments", sync_to_thread=False)
def create_segment(
    account_id: AccountId, data: JSONBody[SegmentIn], service: Service
) -> SegmentOut:
    """Create a segment from conditions on traits the builder shows."""
    conditions = [
        ConditionRequest(c.connector_id, c.trait, c.operator, c.value, c.source, c.path)
        for c in data.conditions
    ]
    return SegmentOut.of(service.create_segment(account_id, data.name, data.match, conditions))


@get("/accounts/{account_id:str}/visitors/{visitor_id:str}/segments", sync_to_thread=False)
def visitor_segments(
    account_id: AccountId, visitor_id: FromPath[str], service: Service
) -> VisitorSegmentsOut:
    """The segments the visitor is in now, from activated data only."""
    return VisitorSegmentsOut(service.visitor_segments(account_id, visitor_id))


@get("/accounts/{account_id:str}/segments/{segment_id:str}/explain", sync_to_thread=False)
def explain(
    account_id: AccountId, segment_id: FromPath[str], visitor_id: FromQuery[str], service: Service
) -> ExplainOut:
    """Why a visitor is, or is not, in a segment."""
    explanation = service.explain(account_id, segment_id, visitor_id)
    return ExplainOut(explanation.matches, list(explanation.reasons))


# the Segment destination webhook ------------------------------------------------------
def webhook_route(service: AbTasty) -> HTTPRouteHandler:
    """The webhook's route over ``service``: the hot path, kept to what a bare route does.

    The service is closed over (no dependency injection per call), the two headers it reads
    are taken from the ASGI scope (no header map built), and the body is read once and handed
    to the service's msgspec checks: per call, only the journal and the checks are added to
    what a bare Litestar route costs. Its OpenAPI description is the route's, as before.
    """

    @post(ABTASTY_WEBHOOK_PATH, status_code=200, tags=["Segment destination"])
    async def webhook(request: Request[Any, Any, Any]) -> WebhookOut:
        """One Segment Spec message, as Segment's AB Tasty destination delivers it.

        Authorization: Basic base64("<api_key>:"). identify and group only (others: 501).
        """
        scope = request.scope
        authorization: str | None = None
        declared: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                if authorization is None:
                    authorization = value.decode("latin-1")
            elif name == b"content-length" and declared is None:
                declared = value
        try:
            account, connector = service.authenticate(authorization)
        except HarnessError as refused:
            if (
                refused.code == ErrorCode.NO_SEGMENT_CONNECTOR
            ):  # a live key: file the call under its account
                scope.setdefault("state", {})[ACCOUNT_STATE_KEY] = service.key_owner(authorization)
            raise
        scope.setdefault("state", {})[ACCOUNT_STATE_KEY] = account.id
        if declared is not None and declared.isdigit():
            if int(declared) > MAX_MESSAGE_BYTES:
                raise message_too_large(MAX_MESSAGE_BYTES, more=True)
            body = await _declared_body(request)
        else:
            body = await read_limited(
                request, MAX_MESSAGE_BYTES, lambda limit: message_too_large(limit, more=True)
            )
        receipt = service.ingest(account.id, connector.id, validate_message(decode_message(body)))
        return WebhookOut(receipt.status, receipt.warning)

    return webhook


async def _declared_body(request: Request[Any, Any, Any]) -> bytes:
    """The body of a request whose Content-Length is within the limit, read off the ASGI channel.

    The server holds the body to its declared length; this is what ``request.body()`` does for
    such a body, without the checks the declared length has already settled.
    """
    chunks: list[bytes] = []
    receive = request.receive
    while True:
        event = await receive()
        if event["type"] == "http.request":
            chunk = event.get("body", b"")
            if chunk:
                chunks.append(chunk)
            if not event.get("more_body", False):
                break
        elif event["type"] == "http.disconnect":
            raise InternalServerException("client disconnected prematurely")
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def abtasty_routes(service: AbTasty) -> list[Router]:
    """The AB Tasty routes (``/api`` and the webhook) over a service."""
    provide = {"service": Provide(lambda: service, sync_to_thread=False)}
    api = Router(
        "/api",
        route_handlers=[
            create_account,
            read_account,
            create_connector,
            list_connectors,
            delete_connector,
            generate_api_key,
            regenerate_api_key,
            read_api_key,
            revoke_api_key,
            record_visitor,
            list_refreshes,
            criteria,
            create_segment,
            visitor_segments,
            explain,
        ],
        dependencies=provide,
        tags=["AB Tasty"],
    )
    hook = Router("/", route_handlers=[webhook_route(service)])
    return [api, hook]


def create_abtasty_app(
    service: AbTasty | None = None,
    *,
    journal: RequestJournal | None = None,
    admin_token: str | None = None,
    reset_state: Callable[[str | None], None] | None = None,
    wakers: Sequence[Waker] = (),
    restart_state: Callable[[datetime], None] | None = None,
    tenant_wakers: Callable[[str], Sequence[Waker]] | None = None,
    segment: FakeSegment | None = None,
    segment_journal: RequestJournal | None = None,
    crashes: CrashLog | None = None,
) -> Litestar:
    """Build the fake AB Tasty as a Litestar app, with the inspector at ``/_inspector``.

    Args:
        service: The domain service; a fresh in-memory one by default.
        journal: Where requests are recorded; a new bounded journal by default.
        admin_token: When set, ``/api/`` and ``/_harness/`` routes need ``Bearer <token>``.
        reset_state: What ``/_harness/reset`` clears; this service's state by default.
        wakers: Work scheduled on the shared clock that a clock move must not skip.
        restart_state: Wipes everything and restarts the manual clock (``/_harness/restart``).
        tenant_wakers: Work on a tenant clock that moving it must not skip (Segment's retries).
        segment: The fake Segment served beside it, for the inspector's Segment pages.
        segment_journal: The fake Segment's request journal, for the inspector's live events.
        crashes: Where unexpected exceptions are kept (beside their 500 answers) for a test
            to re-raise; not kept by default.

    Returns:
        The app; ``app.state.abtasty`` and ``app.state.journal`` give its parts.
    """
    service = service if service is not None else AbTasty()
    journal = journal if journal is not None else RequestJournal()
    journals = {"abtasty": journal}
    if segment_journal is not None:
        journals["segment"] = segment_journal
    inspector = InspectorContext(service, segment, journals, service.clock, wakers, tenant_wakers)
    app = Litestar(
        route_handlers=[
            *abtasty_routes(service),
            control_router(
                service.clock,
                journal,
                reset_state or service.reset_tenant,
                wakers,
                restart_state,
                service.clocks,
                tenant_wakers,
            ),
            *common_routes(),
            *inspector_routers(inspector, admin_token),
        ],
        middleware=fake_middleware(journal, service.clock_for, admin_token),
        **app_settings("Fake AB Tasty (segment-abtasty-harness)"),
    )
    app.state.abtasty = service
    app.state.journal = journal
    app.state[CRASHES_STATE] = crashes
    return app
