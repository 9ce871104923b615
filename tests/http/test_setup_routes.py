"""Setup routes: what the AB Tasty UI does."""

from __future__ import annotations

import pytest

from tests.http.conftest import Api, assert_error


def test_accounts_create_defaults_and_read(api: Api) -> None:
    created = api.client.post("/api/accounts", json={"name": "Shop"})
    assert created.status_code == 201
    body = created.json()
    assert body == {"id": body["id"], "name": "Shop", "timezone": "UTC", "refresh_hour": 3}
    assert api.client.get(f"/api/accounts/{body['id']}").json() == body


def test_accounts_create_with_timezone_and_hour(api: Api) -> None:
    body = api.client.post(
        "/api/accounts", json={"name": "S", "timezone": "Europe/Paris", "refresh_hour": 0}
    ).json()
    assert (body["timezone"], body["refresh_hour"]) == ("Europe/Paris", 0)


@pytest.mark.parametrize(
    "timezone",
    [
        "Mars/Olympus",
        "",
        "europe/paris",
        "../etc/passwd",
        "Europe",
        "localtime",
        "posixrules",
        "Factory",
        "posix/Europe/Paris",
        "right/UTC",
        5,
        None,
    ],
)
def test_accounts_invalid_timezone(api: Api, timezone: object) -> None:
    assert_error(
        api.client.post("/api/accounts", json={"name": "S", "timezone": timezone}),
        400,
        "invalid_timezone",
    )


@pytest.mark.parametrize(
    "body",
    [
        {"name": "S", "refresh_hour": 24},
        {"name": "S", "refresh_hour": -1},
        {"name": "S", "refresh_hour": True},
        {"name": "S", "refresh_hour": "3"},
        {"name": "S", "refresh_hour": 3.5},
        {"name": "S", "refresh_hour": 3.0},
        {"name": "S", "refresh_hour": None},
        {},
        {"name": "  "},
        {"name": 5},
        [],
        {"name": "x" * 101},
    ],
)
def test_accounts_invalid_body(api: Api, body: object) -> None:
    assert_error(api.client.post("/api/accounts", json=body), 400, "invalid_body")


@pytest.mark.parametrize("raw", [b"{", b"\xff", b"", b"name=x"])
def test_accounts_invalid_json(api: Api, raw: bytes) -> None:
    response = api.client.post(
        "/api/accounts", content=raw, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["code"] in {"invalid_json", "invalid_body"}


def test_accounts_unknown_is_404(api: Api) -> None:
    assert_error(api.client.get("/api/accounts/acc_nope"), 404, "account_not_found")
    assert_error(api.client.get("/api/accounts/acc_nope/integrations"), 404, "account_not_found")


def test_connector_create_list_delete(api: Api) -> None:
    account = api.client.post("/api/accounts", json={"name": "S"}).json()["id"]
    created = api.client.post(
        f"/api/accounts/{account}/integrations/pull/segment", json={"name": "Segment prod"}
    )
    assert created.status_code == 201
    connector = created.json()
    assert connector["integration"] == "segment" and connector["direction"] == "pull"
    assert connector["created_at"].endswith("Z")
    assert api.client.get(f"/api/accounts/{account}/integrations").json() == {
        "connectors": [connector]
    }
    assert (
        api.client.delete(f"/api/accounts/{account}/integrations/{connector['id']}").status_code
        == 204
    )
    assert api.client.get(f"/api/accounts/{account}/integrations").json() == {"connectors": []}


@pytest.mark.parametrize("name", ["", "   ", "x" * 101, 5, None, ["Segment"]])
def test_connector_invalid_name(api: Api, name: object) -> None:
    account = api.client.post("/api/accounts", json={"name": "S"}).json()["id"]
    response = api.client.post(
        f"/api/accounts/{account}/integrations/pull/segment", json={"name": name}
    )
    assert_error(response, 400, "invalid_name")


def test_connector_name_of_100_chars_accepted(api: Api) -> None:
    account = api.client.post("/api/accounts", json={"name": "S"}).json()["id"]
    assert (
        api.client.post(
            f"/api/accounts/{account}/integrations/pull/segment", json={"name": "x" * 100}
        ).status_code
        == 201
    )


def test_connector_second_is_409(api: Api) -> None:
    api.setup()
    response = api.client.post(f"{api.base}/integrations/pull/segment", json={"name": "Again"})
    assert_error(response, 409, "connector_exists")


def test_connector_delete_unknown_is_404(api: Api) -> None:
    api.setup()
    assert_error(api.client.delete(f"{api.base}/integrations/con_nope"), 404, "connector_not_found")


def test_api_key_generate_status_regenerate_delete(api: Api) -> None:
    account = api.client.post("/api/accounts", json={"name": "S"}).json()["id"]
    base = f"/api/accounts/{account}/settings/integrations/api-key"
    assert api.client.get(base).json() == {"exists": False, "created_at": None, "last4": None}
    first = api.client.post(base)
    assert first.status_code == 201
    key = first.json()["api_key"]
    status = api.client.get(base).json()
    assert (
        status["exists"] is True
        and status["last4"] == key[-4:]
        and status["created_at"].endswith("Z")
    )
    assert key not in api.client.get(base).text
    assert_error(api.client.post(base), 409, "api_key_exists")
    second = api.client.post(f"{base}/regenerate")
    assert second.status_code == 201 and second.json()["api_key"] != key
    assert api.client.delete(base).status_code == 204
    assert api.client.delete(base).status_code == 204
    assert_error(api.client.post(f"{base}/regenerate"), 404, "api_key_not_found")


def test_unknown_route_and_wrong_method(api: Api) -> None:
    assert_error(api.client.get("/api/nothing-here"), 404, "not_found")
    assert_error(api.client.put("/api/accounts"), 405, "method_not_allowed")
    assert_error(api.client.get("/segment/webhook"), 405, "method_not_allowed")


def test_openapi_schema_served_with_paths(api: Api) -> None:
    schema = api.client.get("/schema/openapi.json").json()
    assert "/api/accounts/{account_id}/segment-builder/criteria" in schema["paths"]
    assert "/segment/webhook" in schema["paths"]
    assert api.client.get("/schema/swagger").status_code == 200


@pytest.mark.parametrize("hour", ["3", 3.5, 3.0, True])
def test_accounts_refresh_hour_not_an_integer_is_named(api: Api, hour: object) -> None:
    body = assert_error(
        api.client.post("/api/accounts", json={"name": "S", "refresh_hour": hour}),
        400,
        "invalid_body",
    )
    assert "refresh_hour" in body["message"] and "integer" in body["message"]


def test_connector_missing_name_is_invalid_name(api: Api) -> None:
    account = api.client.post("/api/accounts", json={"name": "S"}).json()["id"]
    response = api.client.post(f"/api/accounts/{account}/integrations/pull/segment", json={})
    assert_error(response, 400, "invalid_name")
