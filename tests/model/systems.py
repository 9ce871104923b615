"""The systems under test: the fake AB Tasty reached three ways, behind one small interface.

- :class:`ServiceSystem` calls the service in-process, over the memory store or a SQLite file;
- :class:`HttpSystem` calls the Litestar app through the in-process ASGI client (every route,
  the clock moved through the control plane).

Each answer comes back as an :class:`Answer` (HTTP status, error code, JSON body), and the
views the stateful test compares (builder, visitor segments, refresh history) as plain
JSON-like values, so one machine drives all three. This is the only module of the model
tests that imports ``harness``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import msgspec

from harness.abtasty import AbTasty
from harness.abtasty.segments import ConditionRequest
from harness.abtasty.store import MemoryStore, SqliteStore, Store
from harness.core.clock import ManualClock
from harness.core.errors import HarnessError
from harness.runtime.asgi import AsgiClient
from harness.runtime.stack import Harness


@dataclass(frozen=True)
class Answer:
    """A system's answer: HTTP status (None in-process, where there is none), code, body."""

    status: int | None
    code: str | None
    body: dict[str, Any]


class System(Protocol):
    """What the stateful test drives; ids are the system's own."""

    name: str

    def start(self, when: datetime) -> None:
        """Begin an example: empty state, the manual clock at ``when``."""

    def close(self) -> None:
        """End an example: release files and connections."""

    def move_to(self, when: datetime) -> None: ...

    def create_account(self, name: str, timezone: str, refresh_hour: int) -> Answer: ...

    def create_connector(self, account_id: str, name: str) -> Answer: ...

    def delete_connector(self, account_id: str, connector_id: str) -> Answer: ...

    def generate_key(self, account_id: str) -> Answer: ...

    def regenerate_key(self, account_id: str) -> Answer: ...

    def revoke_key(self, account_id: str) -> Answer: ...

    def webhook(self, authorization: str | None, body: bytes) -> Answer: ...

    def see(
        self, account_id: str, visitor_id: str, anonymous_id: str, seen_at: str | None
    ) -> Answer: ...

    def create_segment(
        self, account_id: str, name: str, match: str, conditions: list[dict[str, Any]]
    ) -> Answer: ...

    def builder(self, account_id: str) -> list[dict[str, Any]]:
        """The EXTERNAL DATA items, as the criteria route's JSON has them."""

    def visitor_segments(self, account_id: str, visitor_id: str) -> list[str]: ...

    def refreshes(self, account_id: str) -> list[dict[str, Any]]:
        """The refresh history, oldest first, instants as aware datetimes."""


def _wire(value: Any) -> Any:
    """A domain value as the HTTP apps would serialise it (msgspec round trip)."""
    return msgspec.json.decode(msgspec.json.encode(value))


class ServiceSystem:
    """The service in-process, over a store made fresh for each example."""

    def __init__(self, name: str, make_store: Callable[[], Store]) -> None:
        self.name = name
        self.make_store = make_store
        self.service: AbTasty | None = None
        self.clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))

    @property
    def ab(self) -> AbTasty:
        assert self.service is not None, "start() first"
        return self.service

    def start(self, when: datetime) -> None:
        self.clock = ManualClock(when)
        self.service = AbTasty(self.make_store(), self.clock)

    def close(self) -> None:
        store = self.service.store if self.service is not None else None
        if isinstance(store, SqliteStore):
            store.close()
        self.service = None

    def move_to(self, when: datetime) -> None:
        self.clock.move_to(when)

    @staticmethod
    def _call(action: Callable[[], dict[str, Any]]) -> Answer:
        try:
            return Answer(None, None, action())
        except HarnessError as error:
            return Answer(None, error.code, {"code": error.code, "message": error.message})

    def create_account(self, name: str, timezone: str, refresh_hour: int) -> Answer:
        return self._call(lambda: {"id": self.ab.create_account(name, timezone, refresh_hour).id})

    def create_connector(self, account_id: str, name: str) -> Answer:
        return self._call(lambda: {"id": self.ab.create_segment_connector(account_id, name).id})

    def delete_connector(self, account_id: str, connector_id: str) -> Answer:
        def delete() -> dict[str, Any]:
            self.ab.delete_connector(account_id, connector_id)
            return {}

        return self._call(delete)

    def generate_key(self, account_id: str) -> Answer:
        return self._call(lambda: {"api_key": self.ab.generate_api_key(account_id)})

    def regenerate_key(self, account_id: str) -> Answer:
        return self._call(lambda: {"api_key": self.ab.regenerate_api_key(account_id)})

    def revoke_key(self, account_id: str) -> Answer:
        def revoke() -> dict[str, Any]:
            self.ab.revoke_api_key(account_id)
            return {}

        return self._call(revoke)

    def webhook(self, authorization: str | None, body: bytes) -> Answer:
        def receive() -> dict[str, Any]:
            receipt = self.ab.receive(authorization, body)
            answer: dict[str, Any] = {"status": receipt.status}
            if receipt.warning is not None:
                answer["warning"] = receipt.warning
            return answer

        return self._call(receive)

    def see(
        self, account_id: str, visitor_id: str, anonymous_id: str, seen_at: str | None
    ) -> Answer:
        when = datetime.fromisoformat(seen_at) if seen_at is not None else None
        return self._call(
            lambda: {"created": self.ab.record_sighting(account_id, visitor_id, anonymous_id, when)}
        )

    def create_segment(
        self, account_id: str, name: str, match: str, conditions: list[dict[str, Any]]
    ) -> Answer:
        rows = [
            ConditionRequest(
                c["connector_id"],
                c["trait"],
                c["operator"],
                c.get("value"),
                c.get("source"),
                c.get("path"),
            )
            for c in conditions
        ]
        return self._call(lambda: {"id": self.ab.create_segment(account_id, name, match, rows).id})

    def builder(self, account_id: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = _wire(self.ab.criteria(account_id))
        return items

    def visitor_segments(self, account_id: str, visitor_id: str) -> list[str]:
        return self.ab.visitor_segments(account_id, visitor_id)

    def refreshes(self, account_id: str) -> list[dict[str, Any]]:
        return [
            {
                "scheduled_for": run.scheduled_for,
                "cutoff": run.cutoff,
                "messages": run.messages,
                "profiles": run.profiles,
                "matched_profiles": run.matched_profiles,
                "cohorts": run.cohorts,
            }
            for run in self.ab.refreshes(account_id)
        ]


def memory_system() -> ServiceSystem:
    """The service over the memory store."""
    return ServiceSystem("memory", MemoryStore)


def sqlite_system(folder: Path) -> ServiceSystem:
    """The service over a new SQLite file in ``folder`` for each example.

    ``synchronous=normal``: every call still commits its transaction (what this test reads
    back), without waiting for the disk; durability has its own kill -9 test.
    """
    numbers = itertools.count(1)
    return ServiceSystem(
        "sqlite",
        lambda: SqliteStore(folder / f"example-{next(numbers)}.sqlite", synchronous="normal"),
    )


def _instant(text: str) -> datetime:
    assert text.endswith("Z"), f"responses give instants in UTC with Z, not {text!r}"
    return datetime.fromisoformat(text)


class HttpSystem:
    """The fake AB Tasty's Litestar app through the in-process ASGI client.

    One harness and app serve every example (building the app is the slow part); each
    example restarts the harness at its start.
    """

    name = "http"

    def __init__(self) -> None:
        self.harness = Harness(ManualClock(datetime(2026, 1, 1, tzinfo=UTC)))
        self.client = AsgiClient(self.harness.abtasty_app())

    def start(self, when: datetime) -> None:
        self.harness.restart(when)

    def close(self) -> None:
        """Nothing to release between examples (the client is closed by :meth:`shutdown`)."""

    def shutdown(self) -> None:
        self.client.close()

    def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        reply = self.client.request(method, path, json=json, content=content, headers=headers)
        assert reply.status < 500 or reply.status == 501, (
            f"{method} {path}: {reply.status} {reply.text}"
        )
        body = reply.json() if reply.content else {}
        code = body.get("code") if isinstance(body, dict) and reply.status >= 400 else None
        return Answer(reply.status, code, body if isinstance(body, dict) else {"json": body})

    def _ok(self, method: str, path: str) -> Any:
        answer = self._request(method, path)
        assert answer.status == 200, f"{method} {path}: {answer}"
        return answer.body

    def move_to(self, when: datetime) -> None:
        now = when.isoformat().replace("+00:00", "Z")
        answer = self._request("PUT", "/_harness/clock", json={"now": now})
        assert answer.status == 200, answer

    def create_account(self, name: str, timezone: str, refresh_hour: int) -> Answer:
        return self._request(
            "POST",
            "/api/accounts",
            json={"name": name, "timezone": timezone, "refresh_hour": refresh_hour},
        )

    def create_connector(self, account_id: str, name: str) -> Answer:
        return self._request(
            "POST", f"/api/accounts/{account_id}/integrations/pull/segment", json={"name": name}
        )

    def delete_connector(self, account_id: str, connector_id: str) -> Answer:
        return self._request("DELETE", f"/api/accounts/{account_id}/integrations/{connector_id}")

    def generate_key(self, account_id: str) -> Answer:
        return self._request("POST", f"/api/accounts/{account_id}/settings/integrations/api-key")

    def regenerate_key(self, account_id: str) -> Answer:
        return self._request(
            "POST", f"/api/accounts/{account_id}/settings/integrations/api-key/regenerate"
        )

    def revoke_key(self, account_id: str) -> Answer:
        return self._request("DELETE", f"/api/accounts/{account_id}/settings/integrations/api-key")

    def webhook(self, authorization: str | None, body: bytes) -> Answer:
        headers = {"User-Agent": "Segment.io/1.0", "Content-Type": "application/json"}
        if authorization is not None:
            headers["Authorization"] = authorization
        return self._request("POST", "/segment/webhook", content=body, headers=headers)

    def see(
        self, account_id: str, visitor_id: str, anonymous_id: str, seen_at: str | None
    ) -> Answer:
        body: dict[str, Any] = {"visitor_id": visitor_id, "segment_anonymous_id": anonymous_id}
        if seen_at is not None:
            body["seen_at"] = seen_at
        return self._request("POST", f"/api/accounts/{account_id}/visitors", json=body)

    def create_segment(
        self, account_id: str, name: str, match: str, conditions: list[dict[str, Any]]
    ) -> Answer:
        return self._request(
            "POST",
            f"/api/accounts/{account_id}/segments",
            json={"name": name, "match": match, "conditions": conditions},
        )

    def builder(self, account_id: str) -> list[dict[str, Any]]:
        body = self._ok("GET", f"/api/accounts/{account_id}/segment-builder/criteria")
        (group,) = body["groups"]
        assert group["name"] == "EXTERNAL DATA", group
        items: list[dict[str, Any]] = group["items"]
        return items

    def visitor_segments(self, account_id: str, visitor_id: str) -> list[str]:
        body = self._ok("GET", f"/api/accounts/{account_id}/visitors/{visitor_id}/segments")
        segments: list[str] = body["segments"]
        return segments

    def refreshes(self, account_id: str) -> list[dict[str, Any]]:
        body = self._ok("GET", f"/api/accounts/{account_id}/audiences/refreshes")
        runs: list[dict[str, Any]] = body["refreshes"]
        return [
            {
                **run,
                "scheduled_for": _instant(run["scheduled_for"]),
                "cutoff": _instant(run["cutoff"]),
            }
            for run in runs
        ]
