import requests

from harness.runtime.server import live_session
from harness.testing.handles import basic_auth


def test_one_pipeline_on_the_shared_fake(shared_fake):
    ab, seg = shared_fake.url, shared_fake.segment_url
    http = live_session()  # never sends on a connection the server is closing after 5 s idle
    http.headers["Authorization"] = f"Bearer {shared_fake.admin_token}"
    clock = f"{ab}/_harness/clocks/pipeline-42"
    http.put(clock, json={"now": "2026-03-02T12:00:00Z"}).raise_for_status()

    account = http.post(f"{ab}/api/accounts", json={"name": "Shop", "clock": "pipeline-42"})
    account_id = account.json()["id"]
    http.post(f"{ab}/api/accounts/{account_id}/integrations/pull/segment", json={"name": "Segment"})
    api_key = http.post(f"{ab}/api/accounts/{account_id}/settings/integrations/api-key")
    source = http.post(f"{seg}/_segment/sources", json={"name": "Web", "clock": "pipeline-42"})
    source_id, write_key = source.json()["id"], source.json()["write_key"]
    http.post(
        f"{seg}/_segment/sources/{source_id}/destinations",
        json={"type": "ab_tasty", "api_key": api_key.json()["api_key"]},
    )
    http.post(
        f"{ab}/api/accounts/{account_id}/visitors",
        json={"visitor_id": "v1", "segment_anonymous_id": "anon-1"},
    )
    requests.post(
        f"{seg}/v1/identify",
        json={"anonymousId": "anon-1", "traits": {"plan": "pro"}},
        headers={"Authorization": basic_auth(write_key)},
    ).raise_for_status()

    http.put(clock, json={"now": "2026-03-03T03:00:00Z"})  # this pipeline's 3 am only
    criteria = http.get(f"{ab}/api/accounts/{account_id}/segment-builder/criteria").json()
    assert criteria["groups"][0]["items"][0]["traits"][0]["key"] == "plan"

    # Reset this tenant, and nobody else: its account, then its source.
    http.post(f"{ab}/_harness/reset", params={"account_id": account_id}).raise_for_status()
    http.post(f"{seg}/_harness/reset", params={"source_id": source_id}).raise_for_status()
