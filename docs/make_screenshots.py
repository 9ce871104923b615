"""Take the README's inspector screenshots: a short story on live fakes, shot in Chromium.

    python docs/make_screenshots.py

Plays a few simulated nights against both fakes served on loopback (manual clock), then
saves docs/inspector-builder.png and docs/inspector-refreshes.png.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from tests.http.inspector.conftest import chromium_path, serve  # noqa: E402


def main() -> None:
    group, live = serve()
    try:
        live.setup()
        for visitor in range(1, 7):
            live.see(f"v{visitor}", f"anon-{visitor}")
        plans = ["pro", "pro", "free", "pro", "free", "enterprise", "free"]
        for n, plan in enumerate(plans, start=1):
            live.track("identify", anonymousId=f"anon-{n}", traits={"plan": plan, "visits": n})
        live.track("group", anonymousId="anon-1", groupId="acme", traits={"industry": "retail"})
        live.track("group", anonymousId="anon-2", groupId="acme", traits={"industry": "retail"})
        live.track("track", anonymousId="anon-1", event="Signed Up")
        live.move_to("2026-03-03T03:00:00Z")
        live.track("identify", anonymousId="anon-3", traits={"plan": "pro"})
        live.track("identify", userId="u-42", traits={"plan": "vip"})
        live.move_to("2026-03-04T03:30:00Z")
        live.see("v7", "anon-7")
        live.track("identify", anonymousId="anon-5", traits={"plan": "pro"})
        live.move_to("2026-03-07T10:00:00Z")
        live.track("identify", anonymousId="anon-8", traits={"plan": "trial"})
        executable = chromium_path()
        assert executable, "install Debian's chromium first"
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, headless=True)
            page = browser.new_page(viewport={"width": 1280, "height": 820})
            base = f"{live.url}/_inspector/accounts/{live.account_id}"
            page.goto(f"{base}/builder")
            page.screenshot(path=str(ROOT / "docs" / "inspector-builder.png"), full_page=True)
            page.goto(f"{base}/refreshes?run=2026-03-04T03:00:00Z")
            page.screenshot(path=str(ROOT / "docs" / "inspector-refreshes.png"), full_page=True)
            browser.close()
    finally:
        group.stop()


if __name__ == "__main__":
    main()
