from freezegun import freeze_time
from segment.analytics import Client


def record_signup(anonymous_id: str, plan: str) -> None:  # the app's code, unchanged
    analytics = Client("the-apps-production-write-key")  # Segment's default host, a thread
    analytics.identify(anonymous_id=anonymous_id, traits={"plan": plan})
    analytics.shutdown()                                   # flush, stop the thread


def test_the_apps_own_calls_reach_ab_tasty(segment_intercept, abtasty_account):
    with freeze_time("2026-03-02T23:00:00Z") as frozen:
        abtasty_account.see("visitor-1", "anon-1")
        record_signup("anon-1", "pro")                     # POST https://api.segment.io/v1/batch
        frozen.move_to("2026-03-03T03:00:01Z")
        assert abtasty_account.shown() == {"plan": {"pro": 1}}
    assert segment_intercept.adopted == ["-key"]           # the app's key, last 4 characters
