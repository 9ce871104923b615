"""A live harness (both fakes on real uvicorn, loopback, free ports) and a real Chromium."""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from harness import ManualClock
from harness.runtime.server import ServerGroup
from harness.runtime.stack import Harness
from tests.support import START

ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = Path(os.environ.get("HARNESS_ARTIFACTS", ROOT / "artifacts")) / "inspector"


def chromium_path() -> str | None:
    """Debian's Chromium (the ``chromium`` package), or None when it is not installed."""
    for candidate in (os.environ.get("HARNESS_CHROMIUM"), "/usr/bin/chromium"):
        if candidate and Path(candidate).exists():
            return candidate
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class Live:
    """Both fakes served on loopback, one account and one source wired together."""

    harness: Harness
    url: str
    segment_url: str
    account_id: str = ""
    connector_id: str = ""
    api_key: str = ""
    source_id: str = ""
    write_key: str = ""
    token: str | None = None
    sent: list[str] = field(default_factory=list)

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        base = self.segment_url if path.startswith(("/_segment", "/v1")) else self.url
        response = requests.request(
            method,
            base + path,
            headers={**self.admin, **kwargs.pop("headers", {})},
            timeout=10,
            **kwargs,
        )
        assert response.status_code < 300, response.text
        return response.json() if response.content else None

    def setup(self) -> Live:
        self.account_id = self.api("POST", "/api/accounts", json={"name": "Shop"})["id"]
        base = f"/api/accounts/{self.account_id}"
        self.connector_id = self.api(
            "POST", f"{base}/integrations/pull/segment", json={"name": "Segment"}
        )["id"]
        self.api_key = self.api("POST", f"{base}/settings/integrations/api-key")["api_key"]
        source = self.api("POST", "/_segment/sources", json={"name": "web"})
        self.source_id, self.write_key = source["id"], source["write_key"]
        self.api(
            "POST",
            f"/_segment/sources/{self.source_id}/destinations",
            json={"api_key": self.api_key},
        )
        return self

    def see(self, visitor_id: str, anonymous_id: str) -> None:
        self.api(
            "POST",
            f"/api/accounts/{self.account_id}/visitors",
            json={"visitor_id": visitor_id, "segment_anonymous_id": anonymous_id},
        )

    def track(self, call: str, **body: Any) -> None:
        auth = base64.b64encode(f"{self.write_key}:".encode()).decode()
        self.api("POST", f"/v1/{call}", json=body, headers={"Authorization": f"Basic {auth}"})

    def move_to(self, when: str) -> None:
        self.api("PUT", "/_harness/clock", json={"now": when})


def serve(token: str | None = None) -> tuple[ServerGroup, Live]:
    harness = Harness(ManualClock(START))
    group = ServerGroup(
        [
            (harness.abtasty_app(token), "127.0.0.1", 0),
            (harness.segment_app(token), "127.0.0.1", 0),
        ]
    ).start()
    url, segment_url = group.urls
    return group, Live(harness, url, segment_url, token=token)


@pytest.fixture
def live() -> Iterator[Live]:
    group, live = serve()
    try:
        yield live.setup()
    finally:
        group.stop()


@pytest.fixture
def guarded() -> Iterator[Live]:
    group, live = serve("s3cret-admin-token")
    try:
        yield live.setup()
    finally:
        group.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium for one test module: Playwright's sync API keeps an event loop running in
    this thread while it is started, so it must stop before other modules' tests run."""
    executable = chromium_path()
    if executable is None:
        pytest.skip(
            "Chromium is not installed (no /usr/bin/chromium): install Debian's chromium "
            "package (apt-get install chromium) to run the inspector's browser tests"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Tab:
    """A browser page that records console errors and failed or outside requests."""

    page: Any
    errors: list[str]
    outside: list[str]

    def shot(self, name: str) -> Path:
        """Save a full-page screenshot as a test artifact."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def tab(browser: Any) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    outside: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))

    def only_loopback(route: Any) -> None:
        if route.request.url.startswith("http://127.0.0.1:"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_loopback)
    try:
        yield Tab(page, errors, outside)
        assert errors == [], errors
        assert outside == [], outside
    finally:
        context.close()
