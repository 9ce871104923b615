"""The real Segment client library, unchanged, through the fake Segment into the fake AB Tasty."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from segment.analytics import Client
from segment.analytics.request import APIError

from harness import ManualClock
from harness.runtime.server import ServerGroup, free_port, live_session
from harness.runtime.stack import Harness
from tests.support import t


@dataclass
class Live:
    abtasty: str
    segment: str
    account: str
    connector: str
    write_key: str
    source: str
    errors: list[Exception]

    def client(self, **options: Any) -> Client:
        return Client(
            self.write_key,
            host=self.segment,
            sync_mode=True,
            on_error=lambda e, _: self.errors.append(e),
            **options,
        )

    def criteria(self) -> list[dict[str, Any]]:
        body = requests.get(
            f"{self.abtasty}/api/accounts/{self.account}/segment-builder/criteria", timeout=5
        ).json()
        return body["groups"][0]["items"][0]["traits"]  # type: ignore[no-any-return]

    def move_to(self, when: str) -> None:
        requests.put(
            f"{self.abtasty}/_harness/clock", json={"now": when}, timeout=5
        ).raise_for_status()


@pytest.fixture
def live() -> Iterator[Live]:
    port = free_port()
    harness = Harness(
        ManualClock(t("2026-03-02T20:00:00Z")), abtasty_url=f"http://127.0.0.1:{port}"
    )
    with ServerGroup(
        [(harness.abtasty_app(), "127.0.0.1", port), (harness.segment_app(), "127.0.0.1", 0)]
    ) as servers:
        abtasty, segment = servers.urls
        http = live_session()
        account = http.post(f"{abtasty}/api/accounts", json={"name": "Shop"}).json()["id"]
        connector = http.post(
            f"{abtasty}/api/accounts/{account}/integrations/pull/segment", json={"name": "Segment"}
        ).json()["id"]
        api_key = http.post(
            f"{abtasty}/api/accounts/{account}/settings/integrations/api-key"
        ).json()["api_key"]
        http.post(
            f"{abtasty}/api/accounts/{account}/visitors",
            json={"visitor_id": "v1", "segment_anonymous_id": "anon-1"},
        )
        source = http.post(f"{segment}/_segment/sources", json={"name": "web"}).json()
        http.post(
            f"{segment}/_segment/sources/{source['id']}/destinations", json={"api_key": api_key}
        ).raise_for_status()
        yield Live(abtasty, segment, account, connector, source["write_key"], source["id"], [])


def test_real_client_identify_and_group_reach_ab_tasty_and_activate_at_3am(live: Live) -> None:
    client = live.client()
    client.identify(anonymous_id="anon-1", user_id="user-1", traits={"plan": "pro"})
    client.group(anonymous_id="anon-1", group_id="acme", traits={"industry": "retail"})
    client.flush()
    assert live.errors == []
    live.move_to("2026-03-03T02:59:59Z")
    assert live.criteria() == []
    live.move_to("2026-03-03T03:00:00Z")
    assert live.criteria() == [
        {
            "key": "group.industry",
            "source": "group",
            "path": ["industry"],
            "values": [{"value": "retail", "visitors": 1}],
        },
        {
            "key": "plan",
            "source": "identify",
            "path": ["plan"],
            "values": [{"value": "pro", "visitors": 1}],
        },
    ]


def test_real_client_track_and_page_are_filtered_at_destination(live: Live) -> None:
    client = live.client()
    client.track(anonymous_id="anon-1", event="Order Completed", properties={"total": 10})
    client.page(anonymous_id="anon-1", name="Home")
    client.identify(
        anonymous_id="anon-1", traits={"plan": "pro"}, integrations={"AB Tasty client side": False}
    )
    client.flush()
    overview = requests.get(
        f"{live.segment}/_segment/sources/{live.source}/delivery-overview", timeout=5
    ).json()
    assert overview["stages"]["filtered_at_destination"] == 3
    assert overview["stages"]["delivered"] == 0


def test_real_client_reads_code_and_message_of_errors(live: Live) -> None:
    client = Client("not-a-write-key", host=live.segment, sync_mode=True, max_retries=0)
    with pytest.raises(APIError) as caught:
        client.identify(anonymous_id="anon-1", traits={})
    assert caught.value.code == "invalid_write_key"
    assert "write key" in caught.value.message


def test_real_client_batches_from_queue_mode(live: Live) -> None:
    client = Client(
        live.write_key,
        host=live.segment,
        upload_size=50,
        on_error=lambda e, _: live.errors.append(e),
    )
    for index in range(120):
        client.identify(anonymous_id=f"anon-{index}", traits={"plan": "free"})
    client.flush()
    client.join()
    overview = requests.get(
        f"{live.segment}/_segment/sources/{live.source}/delivery-overview", timeout=5
    ).json()
    assert overview["stages"]["delivered"] == 120
    assert live.errors == []
