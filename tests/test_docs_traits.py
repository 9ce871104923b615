"""docs/traits.md shows the builder response the fake really gives for its four messages."""

from __future__ import annotations

import json
import re
from pathlib import Path

from litestar.testing import TestClient

from harness import ManualClock
from harness.runtime.stack import Harness
from tests.support import START, basic, message

PAGE = Path(__file__).resolve().parent.parent / "docs" / "traits.md"


def test_docs_traits_example_is_what_the_builder_shows() -> None:
    text = PAGE.read_text()
    example = json.loads(
        re.sub(r'"con_\.\.\."', '"con"', re.findall(r"```json\n(.*?)```", text, re.S)[0])
    )
    documented = example["groups"][0]["items"][0]["traits"]
    harness = Harness(ManualClock(START))
    with TestClient(harness.abtasty_app()) as client:
        account = client.post("/api/accounts", json={"name": "Shop"}).json()["id"]
        base = f"/api/accounts/{account}"
        client.post(f"{base}/integrations/pull/segment", json={"name": "Segment"})
        key = client.post(f"{base}/settings/integrations/api-key").json()["api_key"]
        calls = [
            ("a1", message(anonymous_id="a1", traits={"company": {"name": "Acme"}})),
            ("a2", message(anonymous_id="a2", traits={"company.name": "Beta"})),
            (
                "a3",
                message("group", anonymous_id="a3", group_id="g", traits={"plan": "enterprise"}),
            ),
            ("a4", message(anonymous_id="a4", traits={"group.plan": "literal"})),
        ]
        for anonymous_id, body in calls:
            client.post(
                f"{base}/visitors",
                json={"visitor_id": f"v-{anonymous_id}", "segment_anonymous_id": anonymous_id},
            )
            reply = client.post(
                "/segment/webhook", content=json.dumps(body), headers={"Authorization": basic(key)}
            )
            assert reply.status_code == 200
        client.put("/_harness/clock", json={"now": "2026-03-03T03:00:00Z"})
        shown = client.get(f"{base}/segment-builder/criteria").json()
    assert shown["groups"][0]["items"][0]["traits"] == documented
