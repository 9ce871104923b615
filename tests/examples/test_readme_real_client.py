from segment.analytics import Client


def test_real_client_reaches_ab_tasty(harness_live, abtasty_account, simulated_segment):
    client = Client(simulated_segment.write_key, host=harness_live.segment_url, sync_mode=True)
    client.identify(anonymous_id="anon-1", traits={"plan": "pro"})
    client.track(anonymous_id="anon-1", event="Signed Up")  # not for AB Tasty
    assert simulated_segment.stages()["delivered"] == 1
    assert simulated_segment.stages()["filtered_at_destination"] == 1
