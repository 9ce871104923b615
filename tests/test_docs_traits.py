"""docs/traits.md shows the builder response the fake really gives for its four messages."""

from __future__ import annotations

import json
import re
from pathlib import Path

from harness.runtime.asgi import AsgiClient
from harness.testing import AccountHandle, ClockControl
from tests.support import message

PAGE = Path(__file__).resolve().parent.parent / "docs" / "traits.md"


def test_docs_traits_example_is_what_the_builder_shows(
    abtasty_client: AsgiClient, abtasty_account: AccountHandle, harness_clock: ClockControl
) -> None:
    text = PAGE.read_text()
    example = json.loads(
        re.sub(r'"con_\.\.\."', '"con"', re.findall(r"```json\n(.*?)```", text, re.S)[0])
    )
    documented = example["groups"][0]["items"][0]["traits"]
    base = f"/api/accounts/{abtasty_account.id}"
    calls = [
        ("a1", message(anonymous_id="a1", traits={"company": {"name": "Acme"}})),
        ("a2", message(anonymous_id="a2", traits={"company.name": "Beta"})),
        ("a3", message("group", anonymous_id="a3", group_id="g", traits={"plan": "enterprise"})),
        ("a4", message(anonymous_id="a4", traits={"group.plan": "literal"})),
    ]
    for anonymous_id, body in calls:
        abtasty_client.post(
            f"{base}/visitors",
            json={"visitor_id": f"v-{anonymous_id}", "segment_anonymous_id": anonymous_id},
        )
        reply = abtasty_client.post(
            "/segment/webhook",
            content=json.dumps(body).encode(),
            headers={"Authorization": abtasty_account.auth},
        )
        assert reply.status_code == 200
    harness_clock.move_to("2026-03-03T03:00:00Z")
    shown = abtasty_client.get(f"{base}/segment-builder/criteria").json()
    assert shown["groups"][0]["items"][0]["traits"] == documented
