"""The live event stream: what reaches both fakes, as Segment's debugger shows it.

Events are read from the two request journals (already masked: API keys, write keys and
the admin token show only their last 4 characters), so the stream shows exactly what the
journal keeps, and a view that follows it never misses an entry the journal still holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import msgspec

from harness.core.codes import ErrorCode
from harness.core.errors import HarnessError
from harness.http.journal import JournalEntry, RequestJournal, entry_json

TRACKING_CALLS = ("identify", "group", "track", "page", "screen", "alias")


class Event(msgspec.Struct, frozen=True):
    """One request that reached a fake, as the live stream shows it.

    Attributes:
        id: ``<fake>:<journal number>``, unique in this server's life.
        kind: ``tracking`` (Segment's Tracking API), ``webhook`` (AB Tasty's destination
            webhook), ``setup`` (AB Tasty or Segment setup routes) or ``control``.
        types: The Spec message types it carries (several for a batch).
        account_id: The AB Tasty account it concerns, when known (a Tracking API call: the
            account its source delivers to).
        source_id: The Segment source, for a Tracking API call.
        body: The request body as the journal keeps it (secrets masked).
    """

    id: str
    fake: str
    at: str
    method: str
    path: str
    status: int
    kind: str
    types: list[str]
    account_id: str | None
    source_id: str | None
    summary: str
    body: Any
    response: Any


class EventFilter(msgspec.Struct, frozen=True):
    """Which events to show: by type (a message type or a kind) and by account."""

    type: str | None = None
    account: str | None = None

    TYPES: ClassVar[tuple[str, ...]] = (*TRACKING_CALLS, "webhook", "tracking", "setup", "control")

    def check(self) -> EventFilter:
        """This filter, checked.

        Raises:
            HarnessError: ``invalid_body`` for a type that is neither a message type nor a kind.
        """
        if self.type and self.type not in self.TYPES:
            raise HarnessError(
                ErrorCode.INVALID_BODY,
                f"type {self.type[:30]!r}: use one of {', '.join(self.TYPES)}.",
            )
        return self

    def admits(self, event: Event) -> bool:
        """Whether the event passes the filter."""
        if self.type and self.type not in event.types and self.type != event.kind:
            return False
        return not self.account or event.account_id == self.account


def _kind(path: str) -> str:
    if path.startswith("/v1/"):
        return "tracking"
    if path.startswith("/segment/webhook"):
        return "webhook"
    if path.startswith("/_harness"):
        return "control"
    return "setup"


def _types(kind: str, path: str, body: Any) -> list[str]:
    if kind == "tracking":
        call = path.removeprefix("/v1/").split("?")[0]
        if call != "batch":
            return [call]
        items = body.get("batch") if isinstance(body, dict) else None
        if isinstance(items, list):
            return sorted(
                {str(i.get("type")) for i in items if isinstance(i, dict) and i.get("type")}
            )
        return []
    if kind == "webhook" and isinstance(body, dict) and isinstance(body.get("type"), str):
        return [body["type"]]
    return []


def _summary(kind: str, types: list[str], body: Any, status: int) -> str:
    if kind in ("tracking", "webhook") and isinstance(body, dict):
        who = body.get("anonymousId") or body.get("userId")
        items = body.get("batch")
        if isinstance(items, list):
            return f"batch of {len(items)} ({', '.join(types) or 'no type'}) -> {status}"
        parts = [", ".join(types) or "message"]
        if who is not None:
            parts.append(str(who)[:60])
        traits = body.get("traits")
        if isinstance(traits, dict) and traits:
            parts.append("{" + ", ".join(str(k)[:30] for k in list(traits)[:5]) + "}")
        return " ".join(parts) + f" -> {status}"
    return f"-> {status}"


class EventFeed:
    """Events from the journals of both fakes.

    Args:
        journals: The request journals by fake name.
        source_accounts: The AB Tasty account each Segment source delivers to.
    """

    def __init__(
        self, journals: Mapping[str, RequestJournal], source_accounts: Mapping[str, str]
    ) -> None:
        self.journals = journals
        self.source_accounts = source_accounts

    def event(self, fake: str, entry: JournalEntry) -> Event:
        """The event a journal entry shows."""
        wire = entry_json(entry)
        kind = _kind(entry.path)
        types = _types(kind, entry.path, wire["body"])
        source_id = entry.account_id if fake == "segment" else None
        account_id = (
            self.source_accounts.get(source_id or "") if fake == "segment" else entry.account_id
        )
        return Event(
            f"{fake}:{entry.seq}",
            fake,
            wire["at"],
            entry.method,
            entry.path,
            entry.status,
            kind,
            types,
            account_id,
            source_id,
            _summary(kind, types, wire["body"], entry.status),
            wire["body"],
            wire["response"],
        )

    def cursor(self) -> str:
        """Where the journals are now: ``<fake>:<last number>,...``."""
        return ",".join(f"{name}:{j.last_seq}" for name, j in self.journals.items())

    def _parse(self, cursor: str) -> dict[str, int]:
        marks = dict.fromkeys(self.journals, 0)
        for part in filter(None, cursor.split(",")):
            name, _, seq = part.partition(":")
            if name not in marks or not seq.isdigit():
                raise HarnessError(
                    ErrorCode.INVALID_BODY,
                    f"cursor part {part[:40]!r} is not <fake>:<number> (fakes: {', '.join(marks)}).",
                )
            marks[name] = int(seq)
        return marks

    def latest(self, filters: EventFilter, limit: int) -> tuple[list[Event], str]:
        """The newest ``limit`` matching events, newest first, and the cursor after them."""
        cursor = self.cursor()
        found = []
        for name, journal in self.journals.items():
            for entry in journal.entries():
                event = self.event(name, entry)
                if filters.admits(event):
                    found.append(event)
        found.sort(key=lambda e: (e.at, e.id), reverse=True)
        return found[:limit], cursor

    def after(self, cursor: str, filters: EventFilter, limit: int = 500) -> tuple[list[Event], str]:
        """Matching events filed after ``cursor``, oldest first, and the new cursor.

        Raises:
            HarnessError: ``invalid_body`` for a malformed cursor.
        """
        marks = self._parse(cursor)
        found = []
        for name, journal in self.journals.items():
            entries = journal.entries_after(marks[name], limit)
            if entries:
                marks[name] = entries[-1].seq
            for entry in entries:
                event = self.event(name, entry)
                if filters.admits(event):
                    found.append(event)
        found.sort(key=lambda e: (e.at, e.id))
        return found, ",".join(f"{name}:{seq}" for name, seq in marks.items())
