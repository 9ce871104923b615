"""Swagger UI at /schema loads every file from the fake itself, on both fakes."""

from __future__ import annotations

import re

import pytest

from harness.http.assets import SWAGGER_UI_FILES, SWAGGER_UI_PATH
from harness.runtime.asgi import AsgiClient

_URL_ATTRIBUTE = re.compile(r"""(?:src|href)\s*=\s*['"]([^'"]+)['"]""")


@pytest.fixture(params=["abtasty", "segment"])
def client(request: pytest.FixtureRequest) -> AsgiClient:
    """The plugin's in-process client of each fake in turn."""
    chosen: AsgiClient = request.getfixturevalue(f"{request.param}_client")
    return chosen


def test_swagger_page_loads_nothing_from_another_host(client: AsgiClient) -> None:
    page = client.get("/schema/swagger").text
    urls = _URL_ATTRIBUTE.findall(page)
    assert urls, page
    assert all(url.startswith(SWAGGER_UI_PATH + "/") for url in urls), urls
    assert "http://" not in page and "https://" not in page


def test_swagger_files_served_by_the_fake(client: AsgiClient) -> None:
    for name in SWAGGER_UI_FILES:
        response = client.get(f"{SWAGGER_UI_PATH}/{name}")
        assert response.status_code == 200, name
        assert len(response.content) > 500, name


def test_swagger_files_missing_file_is_json_not_found(client: AsgiClient) -> None:
    response = client.get(f"{SWAGGER_UI_PATH}/no-such-file.js")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_swagger_files_kept_out_of_the_journal(client: AsgiClient) -> None:
    client.get(f"{SWAGGER_UI_PATH}/swagger-ui.css")
    assert client.get("/_harness/requests").json()["requests"] == []
