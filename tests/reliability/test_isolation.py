"""No route shows one tenant's data to another, or anything to a client without the admin token."""

from __future__ import annotations

import json
import logging
import re
import secrets
from pathlib import Path
from typing import Any

import pytest

from harness import ManualClock
from harness.abtasty.store import SqliteStore
from harness.http.journal import entry_json
from harness.runtime.asgi import AsgiClient
from harness.runtime.stack import Harness
from tests.support import START, basic, message

TOKEN = "admin-s3cret-token"


class Tenant:
    def __init__(
        self, ab: AsgiClient, segment: AsgiClient, name: str, admin: dict[str, str]
    ) -> None:
        self.name = name
        self.account = ab.request(
            "POST", "/api/accounts", json={"name": name}, headers=admin
        ).json()["id"]
        base = f"/api/accounts/{self.account}"
        self.connector = ab.request(
            "POST",
            f"{base}/integrations/pull/segment",
            json={"name": f"{name} segment"},
            headers=admin,
        ).json()["id"]
        self.api_key = ab.request(
            "POST", f"{base}/settings/integrations/api-key", headers=admin
        ).json()["api_key"]
        ab.request(
            "POST",
            f"{base}/visitors",
            json={"visitor_id": f"{name.lower()}-visitor", "segment_anonymous_id": f"{name}-anon"},
            headers=admin,
        )
        body = message(anonymous_id=f"{name}-anon", traits={"secret_trait": f"{name}-value"})
        ab.request(
            "POST", "/segment/webhook", json=body, headers={"Authorization": basic(self.api_key)}
        )
        source = segment.request(
            "POST", "/_segment/sources", json={"name": f"{name} web"}, headers=admin
        ).json()
        self.source, self.write_key = source["id"], source["write_key"]


@pytest.fixture
def world() -> tuple[Harness, AsgiClient, AsgiClient, Tenant, Tenant]:
    harness = Harness(ManualClock(START))
    ab, segment = AsgiClient(harness.abtasty_app(TOKEN)), AsgiClient(harness.segment_app(TOKEN))
    admin = {"Authorization": f"Bearer {TOKEN}"}
    alice, bob = Tenant(ab, segment, "Alice", admin), Tenant(ab, segment, "Bob", admin)
    ab.request("PUT", "/_harness/clock", json={"now": "2026-03-03T03:00:00Z"}, headers=admin)
    return harness, ab, segment, alice, bob


def _routes(client: AsgiClient) -> list[tuple[str, str]]:
    # The schema itself is public (no tenant data); read it without the token.
    schema = client.request("GET", "/schema/openapi.json").json()
    return [
        (method.upper(), path)
        for path, item in schema["paths"].items()
        for method in item
        if method in ("get", "post", "put", "delete")
    ]


def _fill(path: str, tenant: Tenant) -> str:
    values = {
        "account_id": tenant.account,
        "connector_id": tenant.connector,
        "source_id": tenant.source,
        "visitor_id": f"{tenant.name.lower()}-visitor",
        "segment_id": "seg_x",
    }
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "x"), path)


@pytest.mark.parametrize("fake", ["abtasty", "segment"])
def test_isolation_every_admin_route_needs_the_token_and_leaks_nothing(
    world: Any, fake: str
) -> None:
    _, ab, segment, alice, _ = world
    client = ab if fake == "abtasty" else segment
    checked = 0
    for method, template in _routes(client):
        if not template.startswith(("/api/", "/_harness/", "/_segment/")):
            continue
        path = _fill(template, alice)
        for headers in (
            {},
            {"Authorization": "Bearer wrong"},
            {"Authorization": basic(alice.api_key)},
        ):
            reply = client.request(
                method, path, json={}, headers=headers, params={"visitor_id": "alice-visitor"}
            )
            assert reply.status == 401, (method, path, headers, reply.status)
            assert alice.account not in reply.text and "Alice" not in reply.text
            checked += 1
    assert checked >= 30


def test_isolation_webhook_and_tracking_ignore_the_admin_token(world: Any) -> None:
    _, ab, segment, _, _ = world
    admin = {"Authorization": f"Bearer {TOKEN}"}
    assert (
        ab.request("POST", "/segment/webhook", json=message(), headers=admin).json()["code"]
        == "invalid_api_key"
    )
    assert (
        segment.request("POST", "/v1/identify", json={"anonymousId": "a"}, headers=admin).json()[
            "code"
        ]
        == "invalid_write_key"
    )


def test_isolation_one_tenant_never_sees_anothers_data(world: Any) -> None:
    _, ab, _, alice, bob = world
    admin = {"Authorization": f"Bearer {TOKEN}"}
    bob_base = f"/api/accounts/{bob.account}"
    views = [
        ab.request("GET", f"{bob_base}/segment-builder/criteria", headers=admin),
        ab.request("GET", f"{bob_base}/integrations", headers=admin),
        ab.request("GET", f"{bob_base}/audiences/refreshes", headers=admin),
        ab.request("GET", f"{bob_base}/visitors/alice-visitor/segments", headers=admin),
        ab.request("GET", "/_harness/requests", params={"account_id": bob.account}, headers=admin),
        ab.request("DELETE", f"{bob_base}/integrations/{alice.connector}", headers=admin),
    ]
    for reply in views[:-1]:  # the last one echoes the id Bob himself sent
        for alices in ("Alice", alice.account, alice.connector, "Alice-value"):
            assert alices not in reply.text
    assert views[-1].status == 404  # Bob cannot delete Alice's connector
    assert json.loads(views[0].text)["groups"][0]["items"][0]["traits"] == [
        {
            "key": "secret_trait",
            "source": "identify",
            "path": ["secret_trait"],
            "values": [{"value": "Bob-value", "visitors": 1}],
        }
    ]
    # Alice's key files messages under Alice only, whatever account a message names.
    body = {
        **message(anonymous_id="Bob-anon", traits={"from": "alice"}),
        "context": {"accountId": bob.account},
    }
    ab.request(
        "POST", "/segment/webhook", json=body, headers={"Authorization": basic(alice.api_key)}
    )
    entries = ab.request(
        "GET", "/_harness/requests", params={"account_id": bob.account}, headers=admin
    ).json()["requests"]
    assert all(e["account_id"] == bob.account for e in entries)
    assert not any("alice" in json.dumps(e.get("body")) for e in entries)


def test_isolation_reset_of_one_tenant_leaves_the_other(world: Any) -> None:
    _, ab, _, alice, bob = world
    admin = {"Authorization": f"Bearer {TOKEN}"}
    ab.request("POST", "/_harness/reset", params={"account_id": alice.account}, headers=admin)
    assert ab.request("GET", f"/api/accounts/{alice.account}", headers=admin).status == 404
    assert ab.request("GET", f"/api/accounts/{bob.account}", headers=admin).status == 200


def test_isolation_comparisons_are_constant_time(
    world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, ab, segment, alice, _ = world
    calls: list[tuple[Any, Any]] = []
    real = secrets.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(secrets, "compare_digest", spy)
    ab.request(
        "POST", "/segment/webhook", json=message(), headers={"Authorization": basic(alice.api_key)}
    )
    webhook_calls = len(calls)
    ab.request("GET", "/_harness/health", headers={"Authorization": f"Bearer {TOKEN}"})
    ab.request(
        "GET", f"/api/accounts/{alice.account}", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    segment.request(
        "POST",
        "/v1/identify",
        json={"anonymousId": "a"},
        headers={"Authorization": basic(alice.write_key)},
    )
    assert webhook_calls >= 1  # the API key digest
    assert len(calls) >= webhook_calls + 2  # the admin token and the write key digest


def test_isolation_keys_are_stored_hashed_in_the_sqlite_file(tmp_path: Path) -> None:
    database = tmp_path / "h.sqlite"
    harness = Harness(ManualClock(START), store=SqliteStore(database))
    ab = AsgiClient(harness.abtasty_app())
    account = ab.request("POST", "/api/accounts", json={"name": "S"}).json()["id"]
    key = ab.request("POST", f"/api/accounts/{account}/settings/integrations/api-key").json()[
        "api_key"
    ]
    assert harness.abtasty.store.get_api_key(account) is not None
    raw = b"".join(path.read_bytes() for path in tmp_path.iterdir())
    assert key.encode() not in raw
    assert key[-4:].encode() in raw  # only the last 4, for the settings page


def test_isolation_no_secret_in_logs_or_journal(
    world: Any, caplog: pytest.LogCaptureFixture
) -> None:
    harness, ab, segment, alice, _ = world
    with caplog.at_level(logging.DEBUG):
        ab.request(
            "POST",
            "/segment/webhook",
            json=message(),
            headers={"Authorization": basic(alice.api_key[:-1] + "Z")},
        )
        ab.request(
            "POST",
            "/segment/webhook",
            json=message(),
            headers={"Authorization": basic(alice.api_key)},
        )
        segment.request(
            "POST", "/v1/identify", json={"anonymousId": "a", "writeKey": alice.write_key}
        )
        ab.request("GET", "/_harness/requests", headers={"Authorization": "Bearer " + TOKEN[:-1]})
    entries = harness.abtasty_journal.entries() + harness.segment_journal.entries()
    journal = json.dumps([entry_json(e) for e in entries])
    logs = caplog.text
    for secret in (alice.api_key, alice.api_key[:-1], alice.write_key, TOKEN, TOKEN[:-1]):
        assert secret not in journal
        assert secret not in logs
