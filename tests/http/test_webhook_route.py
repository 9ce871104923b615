"""POST /segment/webhook: one Segment message per request, as Segment delivers it."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator

import pytest

from tests.http.conftest import Api, assert_error
from tests.support import basic, message


@pytest.fixture
def ready(api: Api) -> Api:
    return api.setup()


def _post(api: Api, body: object, headers: dict[str, str] | None = None) -> object:
    all_headers = {"User-Agent": "Segment.io/1.0", **api.auth, **(headers or {})}
    return api.client.post(
        "/segment/webhook", content=json.dumps(body).encode(), headers=all_headers
    )


def test_webhook_accepts_identify_and_group(ready: Api) -> None:
    for body in (
        message(traits={"plan": "pro"}),
        message("group", group_id="acme", traits={"plan": "x"}),
    ):
        response = _post(ready, body)
        assert response.status_code == 200  # type: ignore[attr-defined]
        assert response.json() == {"status": "accepted"}  # type: ignore[attr-defined]


def test_webhook_duplicate_message_id(ready: Api) -> None:
    body = message(message_id="same")
    _post(ready, body)
    assert _post(ready, body).json() == {"status": "duplicate"}  # type: ignore[attr-defined]


def test_webhook_user_id_only_warns(ready: Api) -> None:
    response = _post(ready, message(anonymous_id=None, user_id="u1"))
    assert response.json() == {"status": "accepted", "warning": "no_anonymous_id"}  # type: ignore[attr-defined]


@pytest.mark.parametrize("raw", [b"{", b"\xff\xfe", b"", b"[1]", b"null"])
def test_webhook_invalid_json(ready: Api, raw: bytes) -> None:
    response = ready.client.post("/segment/webhook", content=raw, headers=ready.auth)
    assert_error(response, 400, "invalid_json")


def test_webhook_invalid_message_names_field(ready: Api) -> None:
    body = assert_error(_post(ready, {**message(), "traits": ["nope"]}), 400, "invalid_message")
    assert "traits" in body["message"]


def test_webhook_missing_identity(ready: Api) -> None:
    assert_error(_post(ready, message(anonymous_id=None)), 400, "missing_identity")


def test_webhook_message_too_large_streamed_and_declared(ready: Api) -> None:
    big = json.dumps(message(traits={"pad": "x" * 40_000})).encode()
    assert_error(
        ready.client.post("/segment/webhook", content=big, headers=ready.auth),
        400,
        "message_too_large",
    )

    def chunks() -> Iterator[bytes]:  # no Content-Length: refused while streaming
        for _ in range(40):
            yield b"x" * 1_000

    response = ready.client.post("/segment/webhook", content=chunks(), headers=ready.auth)
    assert_error(response, 400, "message_too_large")


@pytest.mark.parametrize("kind", ["track", "page", "screen", "alias"])
def test_webhook_unsupported_type_is_501(ready: Api, kind: str) -> None:
    assert_error(_post(ready, message(kind)), 501, "unsupported_type")


@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        (None, "missing_api_key"),
        (basic(""), "missing_api_key"),
        ("Bearer abc", "invalid_api_key"),
        ("Basic %%%", "invalid_api_key"),
        ("abt_bare_key_without_scheme", "invalid_api_key"),
        ("Basic\tYWJ0X2s6", "invalid_api_key"),
        ("Basic YWJ0X2s=", "invalid_api_key"),  # base64 of the key without the ':'
        (basic("abt_unknown"), "invalid_api_key"),
    ],
)
def test_webhook_auth_failures_are_401_with_challenge(
    ready: Api, authorization: str | None, code: str
) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = ready.client.post(
        "/segment/webhook", content=json.dumps(message()).encode(), headers=headers
    )
    assert_error(response, 401, code)
    assert response.headers["www-authenticate"] == "Basic"


def test_webhook_auth_checked_before_body(ready: Api) -> None:
    response = ready.client.post(
        "/segment/webhook", content=b"{not json", headers={"Authorization": basic("bad")}
    )
    assert_error(response, 401, "invalid_api_key")


def test_webhook_rotated_key_refused_at_once(ready: Api) -> None:
    old = dict(ready.auth)
    ready.api_key = ready.client.post(
        f"{ready.base}/settings/integrations/api-key/regenerate"
    ).json()["api_key"]
    assert_error(_post(ready, message(), headers=old), 401, "invalid_api_key")
    assert _post(ready, message()).status_code == 200  # type: ignore[attr-defined]


def test_webhook_without_connector_is_403(ready: Api) -> None:
    ready.client.delete(f"{ready.base}/integrations/{ready.connector_id}")
    assert_error(_post(ready, message()), 403, "no_segment_connector")


def test_webhook_key_with_password_part_is_accepted(ready: Api) -> None:
    header = "Basic " + base64.b64encode(f"{ready.api_key}:ignored".encode()).decode()
    assert _post(ready, message(), headers={"Authorization": header}).status_code == 200  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("authorization", "says"),
    [
        ("abt_bare_key_without_scheme", "no scheme"),
        ("Bearer abt_k", "the scheme is Bearer"),
        ("Basic\tYWJ0X2s6", "not a tab"),
        ("Basic YWJ0X2s=", "without the ':'"),
    ],
)
def test_webhook_malformed_authorization_says_what_is_wrong(
    ready: Api, authorization: str, says: str
) -> None:
    response = _post(ready, message(), headers={"Authorization": authorization})
    body = assert_error(response, 401, "invalid_api_key")
    assert says in body["message"]


def test_webhook_declared_body_in_several_chunks_is_read_whole(ready: Api) -> None:
    body = json.dumps(message(message_id="chunked", traits={"plan": "pro"})).encode()
    app = ready.client.app
    events: list[dict[str, object]] = [
        {"type": "http.request", "body": body[:10], "more_body": True},
        {"type": "http.request", "body": b"", "more_body": True},
        {"type": "http.request", "body": body[10:], "more_body": False},
    ]
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return events.pop(0) if events else {"type": "http.disconnect"}

    async def send(event: dict[str, object]) -> None:
        sent.append(event)

    headers = [(b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in ready.auth.items()]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/segment/webhook",
        "raw_path": b"/segment/webhook",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 200
    assert json.loads(sent[1]["body"]) == {"status": "accepted"}  # type: ignore[arg-type]
    assert _post(ready, message(message_id="chunked")).json() == {"status": "duplicate"}  # type: ignore[attr-defined]
