"""The request journal: what the fakes were sent, newest last, with secrets masked."""

from __future__ import annotations

import base64
import binascii
import functools
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Protocol

import msgspec
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, ReceiveMessage, Scope, Send

from harness.core.clock import EARLIEST, Clock, RecallingClock, format_instant
from harness.core.credentials import MASK, mask_authorization
from harness.core.errors import HarnessError, mask_secret
from harness.core.protocol import CONTROL_PATH_PREFIX

SECRET_FIELDS = frozenset({"api_key", "apiKey", "write_key", "writeKey", "admin_token", "token"})
KEPT_BODY_BYTES = 8_192
KEPT_HEADER_CHARS = 512
_ACCOUNT_IN_PATH = re.compile(r"^/api/accounts/([^/]+)")
_UNJOURNALED = (
    f"{CONTROL_PATH_PREFIX}/requests",
    f"{CONTROL_PATH_PREFIX}/health",
    "/schema",
    "/_assets",
    "/_inspector",  # the inspector's own pages and live stream
)


_SECRET_NAME = re.compile(r"key|token|secret|passw|cookie|auth|session|signature", re.IGNORECASE)
"""Header and query parameter names whose values are masked whole (``X-Api-Key``, ``?token=``)."""
_SECRET_VALUE_IN_TEXT = re.compile(
    r'("(?:' + "|".join(sorted(SECRET_FIELDS)) + r')"\s*:\s*")((?:[^"\\]|\\.)*)'
)
"""A secret field's string value in JSON text, even text that does not parse (or ends early)."""


def mask_header(name: str, value: str) -> str:
    """A request header's value fit for the journal: credentials and settings masked.

    ``Authorization`` keeps its scheme and the last 4 characters of a well-formed secret;
    ``X-Segment-Settings`` (base64 JSON) keeps its fields with their secrets masked; any other
    header whose name speaks of a key, token, secret, password, cookie or auth is masked whole.
    """
    lowered = name.lower()
    if lowered in ("authorization", "proxy-authorization"):
        return mask_authorization(value)
    if lowered == "x-segment-settings":
        try:
            settings = msgspec.json.decode(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError, msgspec.DecodeError):
            return MASK
        return msgspec.json.encode(mask_document(settings)).decode()
    if _SECRET_NAME.search(lowered):
        return MASK
    return value


def mask_path(path: str) -> str:
    """A path with its query's secret-named parameters (``api_key``, ``token``, ...) masked."""
    route, mark, query = path.partition("?")
    if not mark:
        return path
    pairs = []
    for pair in query.split("&"):
        name, equals, _ = pair.partition("=")
        pairs.append(f"{name}={MASK}" if equals and _SECRET_NAME.search(name) else pair)
    return f"{route}?{'&'.join(pairs)}"


def mask_text(text: str) -> str:
    """JSON text that may not parse, with every secret field's string value masked."""
    return _SECRET_VALUE_IN_TEXT.sub(lambda m: m.group(1) + mask_secret(m.group(2)), text)


def mask_document(value: Any) -> Any:
    """A copy of a JSON value with every secret-bearing field masked."""
    if isinstance(value, dict):
        return {
            key: mask_secret(item)
            if key in SECRET_FIELDS and isinstance(item, str)
            else mask_document(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [mask_document(item) for item in value]
    return value


def _readable(raw: bytes) -> Any:
    if not raw:
        return None
    if len(raw) > KEPT_BODY_BYTES:
        return f"<over {KEPT_BODY_BYTES:,} bytes, not kept>"
    try:
        return mask_document(msgspec.json.decode(raw))
    except (msgspec.DecodeError, RecursionError):
        return mask_text(raw.decode("utf-8", "replace"))


class JournalEntry(msgspec.Struct, frozen=True, gc=False):
    """One request the fake answered (a frozen msgspec Struct: one is built per request)."""

    at: datetime
    method: str
    path: str
    status: int
    account_id: str | None
    headers: dict[str, str]
    body: Any
    """Raw bytes (decoded and masked when listed), or an already masked value."""
    response: Any
    seq: int = 0
    """Numbers the journal's entries in the order they were filed, from 1 (set by the journal)."""


class RequestJournal:
    """A bounded, thread-safe record of requests, oldest dropped first.

    Args:
        capacity: How many requests to keep.
    """

    def __init__(self, capacity: int = 1_000) -> None:
        self._entries: deque[JournalEntry] = deque(maxlen=capacity)
        self._lock = threading.Lock()
        self._seq = 0
        self.last_at: datetime | None = None
        """The time of the latest entry this process filed (None before the first)."""

    def record(self, entry: JournalEntry) -> None:
        """Add an entry (numbering it)."""
        with self._lock:
            self._seq += 1
            self._entries.append(msgspec.structs.replace(entry, seq=self._seq))
            self.last_at = entry.at

    @property
    def last_seq(self) -> int:
        """The number of the latest entry ever filed (0 before the first)."""
        return self._seq

    def entries_after(self, seq: int, limit: int = 1_000) -> list[JournalEntry]:
        """The entries filed after entry number ``seq`` that are still kept, oldest first.

        At most the newest ``limit`` of them. This is how a live view follows the journal.
        """
        with self._lock:
            found: list[JournalEntry] = []
            for entry in reversed(self._entries):
                if entry.seq <= seq or len(found) >= limit:
                    break
                found.append(entry)
        found.reverse()
        return found

    def entries(
        self, account_id: str | None = None, limit: int | None = None
    ) -> list[JournalEntry]:
        """Entries, newest last; optionally one account's, and only the last ``limit``."""
        with self._lock:
            found = [e for e in self._entries if account_id is None or e.account_id == account_id]
        return found[-limit:] if limit else found

    def clear(self, account_id: str | None = None) -> None:
        """Forget everything, or one account's entries."""
        with self._lock:
            if account_id is None:
                self._entries.clear()
            else:
                kept = [e for e in self._entries if e.account_id != account_id]
                self._entries.clear()
                self._entries.extend(kept)

    def __len__(self) -> int:
        return len(self._entries)


class JournalRows(Protocol):
    """Where a shared store keeps the journal: opaque entries in arrival order, per fake."""

    def append_entry(self, fake: str, account_id: str | None, entry: bytes) -> None:
        """Add an entry (committed when this returns)."""
        ...

    def read_entries(self, fake: str, account_id: str | None, limit: int | None) -> list[bytes]:
        """Entries, oldest first: all, or one account's; only the last ``limit``."""
        ...

    def delete_entries(self, fake: str, account_id: str | None) -> None:
        """Forget every entry, or one account's."""
        ...

    def trim_entries(self, fake: str, keep: int) -> None:
        """Drop all but the newest ``keep`` entries."""
        ...


_TRIM_EVERY = 64


class StoredJournal(RequestJournal):
    """The journal kept in a shared store: every worker files into and reads one journal.

    Args:
        rows: The store's journal rows.
        fake: Which fake's journal (``abtasty`` or ``segment``).
        capacity: How many requests to keep (trimmed every few entries).
    """

    def __init__(self, rows: JournalRows, fake: str, capacity: int = 1_000) -> None:
        super().__init__(capacity)
        self.rows = rows
        self.fake = fake
        self.capacity = capacity
        self._recorded = 0

    def record(self, entry: JournalEntry) -> None:
        """File an entry in the store."""
        if self.capacity == 0:
            return
        self.rows.append_entry(self.fake, entry.account_id, _pack(entry))
        with self._lock:
            self.last_at = entry.at
            self._recorded += 1
            trim = self._recorded % _TRIM_EVERY == 0
        if trim:
            self.rows.trim_entries(self.fake, self.capacity)

    def entries(
        self, account_id: str | None = None, limit: int | None = None
    ) -> list[JournalEntry]:
        """Entries from every worker, newest last."""
        wanted = min(limit or self.capacity, self.capacity)
        return [_unpack(raw) for raw in self.rows.read_entries(self.fake, account_id, wanted)]

    def clear(self, account_id: str | None = None) -> None:
        """Forget everything, or one account's entries."""
        self.rows.delete_entries(self.fake, account_id)

    def __len__(self) -> int:
        return len(self.rows.read_entries(self.fake, None, self.capacity))


def _pack(entry: JournalEntry) -> bytes:
    return msgspec.msgpack.encode(
        (
            entry.at,
            entry.method,
            entry.path,
            entry.status,
            entry.account_id,
            entry.headers,
            entry.body,
            entry.response,
        )
    )


def _unpack(raw: bytes) -> JournalEntry:
    at, method, path, status, account_id, headers, body, response = msgspec.msgpack.decode(
        raw, type=tuple[datetime, str, str, int, str | None, dict[str, str], Any, Any]
    )
    return JournalEntry(at, method, path, status, account_id, headers, body, response)


def entry_json(entry: JournalEntry) -> dict[str, Any]:
    """The wire form of a journal entry."""
    return {
        "at": format_instant(entry.at),
        "method": entry.method,
        "path": entry.path,
        "status": entry.status,
        "account_id": entry.account_id,
        "headers": entry.headers,
        "body": _readable(entry.body) if isinstance(entry.body, bytes) else entry.body,
        "response": _readable(entry.response)
        if isinstance(entry.response, bytes)
        else entry.response,
    }


_SECRET_MARKER = re.compile(rb'(?:key|Key|token)"')
"""Matches every SECRET_FIELDS name as a JSON key (api_key, apiKey, write_key, writeKey, token)."""


def _kept(raw: bytes) -> Any:
    """What the journal keeps of a body: the bytes, decoded only when listed (cheap on the hot
    path), unless they name a secret field: those are masked now, never kept raw."""
    if len(raw) > KEPT_BODY_BYTES or _SECRET_MARKER.search(raw):
        return _readable(raw)
    return raw


ACCOUNT_STATE_KEY = "journal_account_id"


def record_call(
    journal: RequestJournal,
    clock: Clock,
    *,
    method: str,
    path: str,
    status: int,
    account_id: str | None,
    headers: list[tuple[str, str]],
    body: bytes,
    response: bytes,
) -> None:
    """File one call in the journal, with every secret masked."""
    kept: dict[str, str] = {}
    for raw_name, raw_value in headers:
        kept[raw_name.lower()] = mask_header(raw_name, raw_value)[:KEPT_HEADER_CHARS]
    _file(journal, clock, method, path, status, account_id, kept, body, response)


_REMEMBERED_HEADER_BYTES = 1_024


@functools.lru_cache(maxsize=4_096)
def _kept_header(raw_name: bytes, raw_value: bytes) -> tuple[str, str]:
    name = raw_name.decode("latin-1")
    return name.lower(), mask_header(name, raw_value.decode("latin-1"))[:KEPT_HEADER_CHARS]


def _record_scope_call(
    journal: RequestJournal,
    clock: Clock,
    *,
    method: str,
    path: str,
    status: int,
    account_id: str | None,
    headers: Iterable[tuple[bytes, bytes]],
    body: bytes,
    response: bytes,
) -> None:
    """:func:`record_call` for the ASGI scope's raw headers, masking each header once.

    A client sends the same headers call after call (Segment: the same key, user agent and
    settings): their masked forms are remembered, the mask worked out only for new values
    (a value longer than 1 KB is masked afresh every time, so the memo stays small).
    """
    kept: dict[str, str] = {}
    for raw_name, raw_value in headers:
        if len(raw_value) <= _REMEMBERED_HEADER_BYTES:
            name, value = _kept_header(raw_name, raw_value)
        else:
            name = raw_name.decode("latin-1")
            value = mask_header(name, raw_value.decode("latin-1"))[:KEPT_HEADER_CHARS]
            name = name.lower()
        kept[name] = value
    _file(journal, clock, method, path, status, account_id, kept, body, response)


def _file(
    journal: RequestJournal,
    clock: Clock,
    method: str,
    path: str,
    status: int,
    account_id: str | None,
    kept: dict[str, str],
    body: bytes,
    response: bytes,
) -> None:
    try:
        at = clock.now()
    except HarnessError:
        # A clock that refuses to be read (freezegun moved back: the call itself was answered
        # 409) still gets its call filed, on the clock's own timeline: at the latest instant
        # it showed, else at the latest entry's (the journal never reads the wall clock).
        at = _last_instant(journal, clock)
    journal.record(
        JournalEntry(
            at=at,
            method=method,
            path=mask_path(path),
            status=status,
            account_id=account_id,
            headers=kept,
            body=_kept(body),
            response=_kept(response),
        )
    )


def _last_instant(journal: RequestJournal, clock: Clock) -> datetime:
    if isinstance(clock, RecallingClock):
        return clock.shown()
    return journal.last_at or EARLIEST


ClockFor = Callable[[str | None], Clock]
"""The clock a tenant (by id; None for none) runs on: a journal entry shows its time."""


def clock_resolver(clock: Clock | ClockFor) -> ClockFor:
    """A per-tenant clock resolver from either a resolver or one clock for everybody."""
    if isinstance(clock, Clock):
        return lambda _tenant: clock
    return clock


def journal_middleware(
    journal: RequestJournal, clock: Clock | ClockFor
) -> Callable[[ASGIApp], ASGIApp]:
    """ASGI middleware that files every HTTP request in ``journal``.

    A handler may set ``request.state.journal_account_id`` to file the call under an
    account its path does not name (the webhook does, from the key). Each entry's time
    is its tenant's clock's (``clock`` may resolve a tenant to its own clock).
    """
    clock_for = clock_resolver(clock)

    def middleware(app: ASGIApp) -> ASGIApp:
        async def journaled(scope: Scope, receive: Receive, send: Send) -> None:
            path = scope.get("path", "")
            if scope["type"] != ScopeType.HTTP or path.startswith(_UNJOURNALED):
                await app(scope, receive, send)
                return
            request_body = bytearray()
            response_body = bytearray()
            status = 0

            async def receive_and_keep() -> ReceiveMessage:
                message = await receive()
                if message["type"] == "http.request" and len(request_body) <= KEPT_BODY_BYTES:
                    request_body.extend(message.get("body", b"")[: KEPT_BODY_BYTES + 1])
                return message

            recorded = False

            def file_it() -> None:
                nonlocal recorded
                recorded = True
                state = scope.get("state") or {}
                account_id = state.get(ACCOUNT_STATE_KEY)
                if account_id is None and (match := _ACCOUNT_IN_PATH.match(path)):
                    account_id = match.group(1)
                query = scope.get("query_string", b"").decode("latin-1")
                _record_scope_call(
                    journal,
                    clock_for(account_id),
                    method=str(scope.get("method", "")),
                    path=path + (f"?{query}" if query else ""),
                    status=status,
                    account_id=account_id,
                    headers=scope.get("headers", []),
                    body=bytes(request_body),
                    response=bytes(response_body),
                )

            async def send_and_keep(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                elif message["type"] == "http.response.body":
                    if len(response_body) <= KEPT_BODY_BYTES:
                        response_body.extend(message.get("body", b"")[: KEPT_BODY_BYTES + 1])
                    if not message.get("more_body", False) and not recorded:
                        # Filed before the answer's last byte leaves: a client that reads
                        # the journal after its answer finds its call there, on any worker.
                        file_it()
                await send(message)

            try:
                await app(scope, receive_and_keep, send_and_keep)
            finally:
                if not recorded:
                    file_it()

        return journaled

    return middleware
