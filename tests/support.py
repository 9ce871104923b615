"""Helpers that let a test say what happens in the integration's own words."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from harness import ManualClock
from harness.clock import parse_instant
from harness.domain import AbTasty
from harness.records import Account, Connector
from harness.store import MemoryStore

START = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def t(text: str) -> datetime:
    """An instant from ISO-8601 text ('Z' allowed)."""
    return parse_instant(text)


def basic(api_key: str) -> str:
    """The Authorization header Segment sends for an API key."""
    return "Basic " + base64.b64encode(f"{api_key}:".encode()).decode()


def message(
    kind: str = "identify",
    *,
    anonymous_id: str | None = "anon-1",
    user_id: str | None = None,
    traits: dict[str, Any] | None = None,
    timestamp: str | None = None,
    message_id: str | None = None,
    group_id: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A Segment Spec message as the AB Tasty destination receives it."""
    body: dict[str, Any] = {"type": kind, "messageId": message_id or f"m-{uuid.uuid4()}"}
    if anonymous_id is not None:
        body["anonymousId"] = anonymous_id
    if user_id is not None:
        body["userId"] = user_id
    if group_id is not None:
        body["groupId"] = group_id
    if traits is not None:
        body["traits"] = traits
    if timestamp is not None:
        body["timestamp"] = timestamp
    body.update(extra)
    return body


@dataclass
class World:
    """One account wired to Segment: clock, service, connector and key."""

    clock: ManualClock
    service: AbTasty
    account: Account
    connector: Connector
    api_key: str
    sent: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def build(cls, start: datetime = START, timezone: str = "UTC", refresh_hour: int = 3) -> World:
        """A fresh world whose clock starts at ``start``."""
        clock = ManualClock(start)
        service = AbTasty(MemoryStore(), clock)
        account = service.create_account("Shop", timezone, refresh_hour)
        connector = service.create_segment_connector(account.id, "Segment")
        api_key = service.generate_api_key(account.id)
        return cls(clock, service, account, connector, api_key)

    @property
    def auth(self) -> str:
        """The Authorization header for the account's key."""
        return basic(self.api_key)

    def at(self, text: str) -> None:
        """Move the clock to an instant."""
        self.clock.move_to(t(text))

    def send(self, body: dict[str, Any]) -> str:
        """Deliver a message through the webhook; returns the receipt status."""
        self.sent.append(body)
        return self.service.receive(self.auth, json.dumps(body).encode()).status

    def identify(self, anonymous_id: str | None = "anon-1", **traits: Any) -> str:
        """Deliver an identify call with ``traits``."""
        return self.send(message("identify", anonymous_id=anonymous_id, traits=traits))

    def see(
        self, visitor_id: str, anonymous_id: str = "anon-1", seen_at: str | None = None
    ) -> bool:
        """The tag sees ``anonymous_id`` on visitor ``visitor_id``."""
        when = t(seen_at) if seen_at else None
        return self.service.record_sighting(self.account.id, visitor_id, anonymous_id, when)

    def shown(self) -> dict[str, dict[Any, int]]:
        """The builder's EXTERNAL DATA for the connector: trait -> value -> visitors."""
        items = self.service.criteria(self.account.id)
        item = next(i for i in items if i.connector_id == self.connector.id)
        return {trait.key: {v.value: v.visitors for v in trait.values} for trait in item.traits}

    def segment(self, trait: str, operator: str, value: Any = None, match: str = "all") -> str:
        """Create a one-condition segment; returns its id."""
        conditions = [(self.connector.id, trait, operator, value)]
        return self.service.create_segment(
            self.account.id, f"{trait} {operator}", match, conditions
        ).id

    def segments_of(self, visitor_id: str) -> list[str]:
        """The segments a visitor is in now."""
        return self.service.visitor_segments(self.account.id, visitor_id)


class ScriptedDestination:
    """A destination whose answers follow a script: status codes (None = timeout) in order.

    After the script runs out it answers ``then``. Every call is kept in ``calls``.
    """

    def __init__(self, script: list[int | None] | None = None, then: int = 200) -> None:
        from harness.segment.delivery import TransportResponse

        self._response = TransportResponse
        self.script = list(script or [])
        self.then = then
        self.calls: list[tuple[str, dict[str, str], dict[str, Any]]] = []

    def post(self, url: str, headers: dict[str, str], body: bytes) -> Any:
        self.calls.append((url, headers, json.loads(body)))
        status = self.script.pop(0) if self.script else self.then
        if status is None:
            return self._response(None, "", "timeout")
        return self._response(status, json.dumps({"status": status}))
