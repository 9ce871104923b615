import pytest


def test_trait_is_activated_at_3am(harness_clock, abtasty_account):
    abtasty_account.see("visitor-1", "anon-1")           # the tag read ajs_anonymous_id
    harness_clock.move_to("2026-03-02T23:00:00Z")
    abtasty_account.identify("anon-1", plan="pro")        # Segment delivers an identify
    harness_clock.move_to("2026-03-03T02:59:59Z")
    assert abtasty_account.shown() == {}                   # not activated yet
    harness_clock.advance("1s")                            # 03:00: the nightly refresh
    assert abtasty_account.shown() == {"plan": {"pro": 1}}


@pytest.mark.harness_clock("2026-03-02T19:00:00Z")
def test_segment_retries_through_an_outage(harness_clock, abtasty_account, simulated_segment):
    simulated_segment.outage(until="2026-03-02T22:00:00Z")  # AB Tasty answers 503
    simulated_segment.identify("anon-1", plan="pro")       # through the Tracking API
    assert simulated_segment.stages()["delivered"] == 0
    harness_clock.advance("4h")                            # Segment's backoff retries
    assert simulated_segment.stages()["delivered"] == 1
