"""The inspector's routes under ``/_inspector``: each page as HTML, and as JSON at ``.json``.

Handlers parse the query, build the page's view from the services and hand it to the
template or the JSON encoder. Like every route of the fakes they run on the server's one
event loop, never beside another handler.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import msgspec
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from litestar import Request, Response, Router, get, post
from litestar.datastructures import CacheControlHeader
from litestar.di import NamedDependency, Provide
from litestar.enums import MediaType
from litestar.params import FromPath
from litestar.response import Redirect, ServerSentEvent
from litestar.response.sse import ServerSentEventMessage
from litestar.static_files import create_static_files_router
from markupsafe import Markup

from harness.core.clock import Clock, parse_instant
from harness.core.codes import ErrorCode, status_of
from harness.core.errors import HarnessError
from harness.core.timeline import advance_clock, move_clock
from harness.http.inspector import views
from harness.http.inspector.events import EventFilter
from harness.http.inspector.session import SessionGuard, safe_next, same_origin

PREFIX = "/_inspector"
STATIC_PATH = f"{PREFIX}/static"
EVENTS_SHOWN = 100
STREAM_POLL_SECONDS = 0.25
STREAM_SECONDS = 55.0
"""A stream ends after this long; the browser's EventSource reconnects where it left off."""
MAX_ADVANCE_SECONDS = 100 * 366 * 24 * 3600

Ctx = NamedDependency[views.InspectorContext]
Guard = NamedDependency[SessionGuard]
AnyRequest = Request[Any, Any, Any]


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("harness.http.inspector", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pretty"] = lambda value: msgspec.json.format(
        msgspec.json.encode(value), indent=2
    ).decode()
    env.filters["svg"] = Markup  # charts are built by chart.py, every label escaped there
    env.filters["anchor"] = lambda text: (
        "t-" + hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:12]
    )
    env.filters["percent"] = lambda share: f"{share * 100:.1f}%"
    return env


ENVIRONMENT = _environment()


def _wants_json(request: AnyRequest) -> bool:
    return request.url.path.endswith(".json")


def _query(request: AnyRequest, name: str) -> str:
    return request.query_params.get(name) or ""


def _int_query(request: AnyRequest, name: str) -> int | None:
    text = _query(request, name)
    if not text:
        return None
    if not text.lstrip("-").isdigit() or len(text) > 9:
        raise HarnessError(ErrorCode.INVALID_BODY, f"{name} is {text[:20]!r}; give a whole number.")
    return int(text)


def _paging(
    request: AnyRequest, prefix: str = "", default: int = views.PER_PAGE
) -> tuple[int, int]:
    """The checked ``{prefix}page`` and ``{prefix}per_page`` of the query."""
    names = (f"{prefix}page", f"{prefix}per_page")
    return views.paging(
        _int_query(request, names[0]), _int_query(request, names[1]), default=default, names=names
    )


def _html(request: AnyRequest, template: str, status: int = 200, **values: Any) -> Response[bytes]:
    path = request.url.path
    query = request.url.query
    json_url = path.removesuffix("/") + ("/index.json" if path.rstrip("/") == PREFIX else ".json")
    page = ENVIRONMENT.get_template(template).render(
        path=path,
        query=dict(request.query_params),
        json_url=json_url + (f"?{query}" if query else ""),
        here=path + (f"?{query}" if query else ""),
        prefix=PREFIX,
        page_url=_page_url(request),
        **values,
    )
    return Response(page.encode(), media_type=MediaType.HTML, status_code=status)


def _page_url(request: AnyRequest) -> Callable[..., str]:
    def build(**changes: Any) -> str:
        params = dict(request.query_params)
        for key, value in changes.items():
            if value in (None, ""):
                params.pop(key, None)
            else:
                params[key] = str(value)
        return request.url.path + ("?" + urlencode(params) if params else "")

    return build


def _page(
    request: AnyRequest, ctx: views.InspectorContext, template: str, build: Callable[[], Any]
) -> Response[Any]:
    """The page as JSON (``.json``) or HTML; a refusal as a JSON error or an HTML page."""
    if _wants_json(request):
        return Response(msgspec.json.encode(build()), media_type=MediaType.JSON)
    try:
        view = build()
    except HarnessError as refused:
        return _html(
            request,
            "error.html",
            status_of(refused.code),
            title="Not shown",
            clock=views.clock_view(ctx),
            error=refused,
            account=None,
        )
    account = getattr(view, "account", None)
    if not isinstance(account, views.AccountRow):
        account = None  # the journal's and events' ``account`` is a filter, not an account
    return _html(
        request,
        template,
        title=template.removesuffix(".html"),
        clock=_badge(ctx, account.clock if account is not None else ""),
        view=view,
        account=account,
    )


def _badge(ctx: views.InspectorContext, name: str) -> views.ClockView:
    """The clock the page's header shows: the account's own, else the global one."""
    if name:
        try:
            return views.clock_view(ctx, name)
        except HarnessError:
            pass  # the tenant clock was deleted: show the global one
    return views.clock_view(ctx)


# pages --------------------------------------------------------------------------------
@get(["/", "/index.json"], sync_to_thread=False, name="inspector-home")
def home(request: AnyRequest, ctx: Ctx) -> Response[Any]:
    """Accounts, Segment sources and the clock."""
    return _page(request, ctx, "home.html", lambda: views.home_view(ctx, *_paging(request)))


@get(
    ["/accounts/{account_id:str}/builder", "/accounts/{account_id:str}/builder.json"],
    sync_to_thread=False,
)
def builder(request: AnyRequest, ctx: Ctx, account_id: FromPath[str]) -> Response[Any]:
    """The segment builder as AB Tasty shows it, and the cohorts it hides."""

    def build() -> views.BuilderView:
        values_page, values_per_page = _paging(request, "values_", views.VALUES_PER_TRAIT)
        return views.builder_view(
            ctx,
            account_id,
            *_paging(request),
            trait=_query(request, "trait") or None,
            values_page=values_page,
            values_per_page=values_per_page,
        )

    return _page(request, ctx, "builder.html", build)


def _run_query(request: AnyRequest) -> datetime | None:
    text = _query(request, "run")
    if not text:
        return None
    try:
        return parse_instant(text)
    except (ValueError, OverflowError):
        raise HarnessError(
            ErrorCode.INVALID_BODY, f"run {text[:40]!r} is not an ISO-8601 instant with an offset."
        ) from None


@get(
    ["/accounts/{account_id:str}/refreshes", "/accounts/{account_id:str}/refreshes.json"],
    sync_to_thread=False,
)
def refreshes(request: AnyRequest, ctx: Ctx, account_id: FromPath[str]) -> Response[Any]:
    """The refresh timeline and who entered which cohort at a run."""

    def build() -> views.TimelineView:
        page, per_page = _paging(request)
        return views.timeline_view(
            ctx,
            account_id,
            _run_query(request),
            page,
            per_page,
            _int_query(request, "runs_page") or 1,
        )

    return _page(request, ctx, "refreshes.html", build)


@get(
    ["/accounts/{account_id:str}/visitors", "/accounts/{account_id:str}/visitors.json"],
    sync_to_thread=False,
)
def visitors(request: AnyRequest, ctx: Ctx, account_id: FromPath[str]) -> Response[Any]:
    """The visitors the tag reported, searchable by id prefix."""
    return _page(
        request,
        ctx,
        "visitors.html",
        lambda: views.visitors_view(ctx, account_id, _query(request, "prefix"), *_paging(request)),
    )


@get("/accounts/{account_id:str}/visitors/{visitor_id:str}", sync_to_thread=False)
def visitor(
    request: AnyRequest, ctx: Ctx, account_id: FromPath[str], visitor_id: FromPath[str]
) -> Response[Any]:
    """One visitor; ``<visitor>.json`` for JSON (visitor ids never hold a dot)."""
    return _page(
        request,
        ctx,
        "visitor.html",
        lambda: views.visitor_view(ctx, account_id, visitor_id.removesuffix(".json")),
    )


@get(
    ["/sources/{source_id:str}/deliveries", "/sources/{source_id:str}/deliveries.json"],
    sync_to_thread=False,
)
def deliveries(request: AnyRequest, ctx: Ctx, source_id: FromPath[str]) -> Response[Any]:
    """A Segment source's delivery overview as a funnel, and its messages."""
    return _page(
        request,
        ctx,
        "source.html",
        lambda: views.source_view(
            ctx, source_id, _query(request, "stage") or None, *_paging(request)
        ),
    )


@get(
    ["/sources/{source_id:str}/message", "/sources/{source_id:str}/message.json"],
    sync_to_thread=False,
)
def message(request: AnyRequest, ctx: Ctx, source_id: FromPath[str]) -> Response[Any]:
    """One message's attempts to each destination (``?id=<messageId>``)."""

    def build() -> views.MessageView:
        message_id = _query(request, "id")
        if not message_id:
            raise HarnessError(ErrorCode.INVALID_BODY, "Name the message: ?id=<messageId>.")
        return views.message_view(ctx, source_id, message_id)

    return _page(request, ctx, "message.html", build)


def _filters(request: AnyRequest) -> EventFilter:
    return EventFilter(_query(request, "type") or None, _query(request, "account") or None).check()


@get(["/events", "/events.json"], sync_to_thread=False)
def events(request: AnyRequest, ctx: Ctx) -> Response[Any]:
    """The latest events reaching both fakes; the page follows the live stream."""
    return _page(
        request,
        ctx,
        "events.html",
        lambda: views.events_view(ctx, _filters(request), EVENTS_SHOWN),
    )


@get("/events/stream", sync_to_thread=False)
def event_stream(request: AnyRequest, ctx: Ctx) -> ServerSentEvent:
    """Server-Sent Events: each new event as ``event: request`` with its JSON as data.

    ``?after=<cursor>`` (or the ``Last-Event-ID`` header a reconnecting browser sends)
    resumes where a page or a previous stream left off.
    """
    filters = _filters(request)
    feed = ctx.feed()
    cursor = request.headers.get("last-event-id") or _query(request, "after") or feed.cursor()
    feed.after(cursor, filters, 0)  # refuse a malformed cursor before streaming

    async def stream() -> AsyncIterator[ServerSentEventMessage]:
        nonlocal cursor
        loop = asyncio.get_running_loop()
        ends = loop.time() + STREAM_SECONDS
        yield ServerSentEventMessage(comment="inspector live events", retry=1000)
        while loop.time() < ends:
            found, cursor = ctx.feed().after(cursor, filters)
            for event in found:
                yield ServerSentEventMessage(
                    data=msgspec.json.encode(event).decode(), event="request", id=cursor
                )
            await asyncio.sleep(STREAM_POLL_SECONDS)

    return ServerSentEvent(stream(), headers={"Cache-Control": "no-store"})


@get(["/journal", "/journal.json"], sync_to_thread=False)
def journal(request: AnyRequest, ctx: Ctx) -> Response[Any]:
    """Both request journals, newest first, with filters."""

    def build() -> views.JournalView:
        page, per_page = _paging(request)
        return views.journal_view(
            ctx,
            fake=_query(request, "fake"),
            method=_query(request, "method"),
            status=_query(request, "status"),
            account=_query(request, "account"),
            path=_query(request, "path"),
            page=page,
            per_page=per_page,
        )

    return _page(request, ctx, "journal.html", build)


@get(["/clock", "/clock.json"], sync_to_thread=False)
def clock(request: AnyRequest, ctx: Ctx) -> Response[Any]:
    """The global clock and every tenant clock, with move and advance controls (manual).

    Tenant clocks are paged (``?page=N``), and so are each clock's accounts
    (``?clock=<name>&accounts_page=N``).
    """

    def build() -> views.ClocksView:
        page, per_page = _paging(request, default=views.CLOCKS_PER_PAGE)
        accounts_page, accounts_per_page = _paging(request, "accounts_", views.ACCOUNTS_PER_CLOCK)
        return views.clocks_view(
            ctx,
            page,
            per_page,
            clock=_query(request, "clock") or None,
            accounts_page=accounts_page,
            accounts_per_page=accounts_per_page,
        )

    return _page(request, ctx, "clock.html", build)


# forms that change state ----------------------------------------------------------------
async def _form(request: AnyRequest) -> dict[str, str]:
    if not same_origin(request):
        raise HarnessError(
            ErrorCode.CROSS_SITE_REQUEST,
            "This form was posted from another site; use the inspector's own page.",
        )
    form = await request.form()
    return {key: str(value) for key, value in form.items()}


def _after_post(
    request: AnyRequest, ctx: views.InspectorContext, form: dict[str, str], name: str = ""
) -> Any:
    if request.headers.get("accept", "").startswith("application/json"):
        return Response(msgspec.json.encode(views.clock_view(ctx, name)), media_type=MediaType.JSON)
    return Redirect(safe_next(form.get("next")), status_code=303)


def _clock_refused(request: AnyRequest, ctx: views.InspectorContext, error: HarnessError) -> Any:
    if request.headers.get("accept", "").startswith("application/json"):
        raise error
    return _html(
        request,
        "clock.html",
        status_of(error.code),
        title="clock",
        clock=views.clock_view(ctx),
        view=views.clocks_view(ctx),
        account=None,
        error=error,
    )


def _form_instant(text: str) -> datetime:
    """An instant from a form: ISO-8601 with an offset, or a datetime-local value (UTC)."""
    try:
        return parse_instant(text)
    except (ValueError, OverflowError):
        pass
    try:
        local = datetime.fromisoformat(text)
    except ValueError:
        raise HarnessError(
            ErrorCode.INVALID_BODY,
            f"now {text[:40]!r} is not a time; give e.g. 2026-03-03T03:00:00 (UTC).",
        ) from None
    return local.replace(tzinfo=UTC) if local.tzinfo is None else local.astimezone(UTC)


def _form_seconds(text: str, clock: Clock) -> float:
    """Seconds to advance by, from a form: finite, within a century and the clock's range."""
    try:
        seconds = float(text)
    except ValueError:
        raise HarnessError(ErrorCode.INVALID_BODY, "seconds must be a number.") from None
    if not math.isfinite(seconds) or abs(seconds) > MAX_ADVANCE_SECONDS:
        raise HarnessError(
            ErrorCode.INVALID_BODY, "seconds must be a finite number within a century."
        )
    if clock.mode == "manual" and seconds >= 0:
        try:
            clock.now() + timedelta(seconds=seconds)
        except OverflowError:
            raise HarnessError(
                ErrorCode.INVALID_BODY, "That would move the clock past the year 9999."
            ) from None
    return seconds


async def _move(request: AnyRequest, ctx: views.InspectorContext, name: str) -> Any:
    form = await _form(request)
    try:
        clock = ctx.clock_named(name)
        move_clock(clock, _form_instant(form.get("now", "")), ctx.wakers_of(name))
    except HarnessError as refused:
        return _clock_refused(request, ctx, refused)
    return _after_post(request, ctx, form, name)


async def _advance(request: AnyRequest, ctx: views.InspectorContext, name: str) -> Any:
    form = await _form(request)
    try:
        clock = ctx.clock_named(name)
        advance_clock(clock, _form_seconds(form.get("seconds", ""), clock), ctx.wakers_of(name))
    except HarnessError as refused:
        return _clock_refused(request, ctx, refused)
    return _after_post(request, ctx, form, name)


@post("/clock/move", status_code=303)
async def clock_move(request: AnyRequest, ctx: Ctx) -> Any:
    """Move the manual global clock to an instant (a form post)."""
    return await _move(request, ctx, "")


@post("/clock/advance", status_code=303)
async def clock_advance(request: AnyRequest, ctx: Ctx) -> Any:
    """Move the manual global clock forward by a number of seconds (a form post)."""
    return await _advance(request, ctx, "")


@post("/clocks/{name:str}/move", status_code=303)
async def tenant_clock_move(request: AnyRequest, ctx: Ctx, name: FromPath[str]) -> Any:
    """Move a tenant's clock to an instant: only the tenants bound to it see time move."""
    return await _move(request, ctx, name)


@post("/clocks/{name:str}/advance", status_code=303)
async def tenant_clock_advance(request: AnyRequest, ctx: Ctx, name: FromPath[str]) -> Any:
    """Move a tenant's clock forward by a number of seconds."""
    return await _advance(request, ctx, name)


# the session ----------------------------------------------------------------------------
@get("/login", sync_to_thread=False)
def login_form(request: AnyRequest, guard: Guard) -> Response[Any]:
    """Ask for the admin token."""
    return _html(
        request,
        "login.html",
        title="login",
        next=safe_next(request.query_params.get("next")),
        error=None,
        required=guard.required,
        clock=None,
        account=None,
    )


@post("/login", status_code=303)
async def login(request: AnyRequest, guard: Guard) -> Any:
    """Check the token and start a session (an HttpOnly, SameSite=Strict cookie)."""
    form = await _form(request)
    target = safe_next(form.get("next"))
    if not guard.token_matches(form.get("token", "")):
        return _html(
            request,
            "login.html",
            401,
            title="login",
            next=target,
            error="That is not this server's admin token.",
            required=guard.required,
            clock=None,
            account=None,
        )
    response: Response[Any] = Redirect(target, status_code=303)
    if guard.required:
        response.set_cookie(guard.new_cookie())
    return response


@post("/logout", status_code=303)
async def logout(request: AnyRequest, guard: Guard) -> Any:
    """End the session."""
    await _form(request)
    response: Response[Any] = Redirect(f"{PREFIX}/login", status_code=303)
    response.set_cookie(guard.cleared_cookie())
    return response


OPEN_PATHS = (f"{PREFIX}/login", f"{PREFIX}/logout")


def _gate(guard: SessionGuard) -> Callable[[AnyRequest], Any]:
    def before_request(request: AnyRequest) -> Any:
        if request.url.path in OPEN_PATHS or guard.admits(request):
            return None
        path = request.url.path
        if _wants_json(request) or path.endswith("/stream") or request.method != "GET":
            raise HarnessError(
                ErrorCode.MISSING_ADMIN_TOKEN,
                "This server was started with --admin-token: log in at /_inspector/login, or "
                "send Authorization: Bearer <token>.",
            )
        query = request.url.query
        target = path + (f"?{query}" if query else "")
        return Redirect(f"{PREFIX}/login?{urlencode({'next': target})}", status_code=303)

    return before_request


def static_directory() -> Path:
    """The inspector's CSS and JavaScript, shipped inside the package."""
    return Path(str(resources.files("harness.http.inspector") / "static"))


def inspector_routers(ctx: views.InspectorContext, admin_token: str | None) -> list[Router]:
    """The inspector's pages (guarded) and its static files (public: they hold no data)."""
    guard = SessionGuard(admin_token)
    pages = Router(
        PREFIX,
        route_handlers=[
            home,
            builder,
            refreshes,
            visitors,
            visitor,
            deliveries,
            message,
            events,
            event_stream,
            journal,
            clock,
            clock_move,
            clock_advance,
            tenant_clock_move,
            tenant_clock_advance,
            login_form,
            login,
            logout,
        ],
        dependencies={
            "ctx": Provide(lambda: ctx, sync_to_thread=False),
            "guard": Provide(lambda: guard, sync_to_thread=False),
        },
        before_request=_gate(guard),
        include_in_schema=False,
    )
    static = create_static_files_router(
        STATIC_PATH,
        directories=[static_directory()],
        name="inspector-static",
        cache_control=CacheControlHeader(max_age=300),
    )
    return [pages, static]
