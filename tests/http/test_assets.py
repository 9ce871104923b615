"""Swagger UI at /schema loads every file from the fake itself, on both fakes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from harness import ManualClock
from harness.http.assets import SWAGGER_UI_FILES, SWAGGER_UI_PATH
from harness.runtime.stack import Harness
from tests.support import START

_URL_ATTRIBUTE = re.compile(r"""(?:src|href)\s*=\s*['"]([^'"]+)['"]""")


@pytest.fixture(params=["abtasty", "segment"])
def client(request: pytest.FixtureRequest) -> Iterator[TestClient[Any]]:
    harness = Harness(ManualClock(START))
    app = harness.abtasty_app() if request.param == "abtasty" else harness.segment_app()
    with TestClient(app) as client:
        yield client


def test_swagger_page_loads_nothing_from_another_host(client: TestClient[Any]) -> None:
    page = client.get("/schema/swagger").text
    urls = _URL_ATTRIBUTE.findall(page)
    assert urls, page
    assert all(url.startswith(SWAGGER_UI_PATH + "/") for url in urls), urls
    assert "http://" not in page and "https://" not in page


def test_swagger_files_served_by_the_fake(client: TestClient[Any]) -> None:
    for name in SWAGGER_UI_FILES:
        response = client.get(f"{SWAGGER_UI_PATH}/{name}")
        assert response.status_code == 200, name
        assert len(response.content) > 500, name


def test_swagger_files_missing_file_is_json_not_found(client: TestClient[Any]) -> None:
    response = client.get(f"{SWAGGER_UI_PATH}/no-such-file.js")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_swagger_files_kept_out_of_the_journal(client: TestClient[Any]) -> None:
    client.get(f"{SWAGGER_UI_PATH}/swagger-ui.css")
    assert client.get("/_harness/requests").json()["requests"] == []
