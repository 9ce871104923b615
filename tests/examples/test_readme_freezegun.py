from freezegun import freeze_time


def test_trait_is_activated_at_3am(abtasty_account):
    with freeze_time("2026-03-02T23:00:00Z") as frozen:
        abtasty_account.see("visitor-1", "anon-1")
        abtasty_account.identify("anon-1", plan="pro")
        frozen.move_to("2026-03-03T02:59:59Z")
        assert abtasty_account.shown() == {}              # not activated yet
        frozen.tick()                                      # 03:00: the nightly refresh
        assert abtasty_account.shown() == {"plan": {"pro": 1}}


@freeze_time("2026-03-02T23:00:00Z")                       # the harness starts here too
def test_trait_is_activated_at_3am_decorated(abtasty_account):
    abtasty_account.see("visitor-1", "anon-1")
    abtasty_account.identify("anon-1", plan="pro")
    with freeze_time("2026-03-03T02:59:59Z"):
        assert abtasty_account.shown() == {}
    with freeze_time("2026-03-03T03:00:00Z"):
        assert abtasty_account.shown() == {"plan": {"pro": 1}}


def test_retries_land_at_their_due_times(abtasty_account, simulated_segment):
    with freeze_time("2026-03-02T22:00:00Z") as frozen:
        abtasty_account.see("visitor-1", "anon-1")
        simulated_segment.outage(until="2026-03-02T22:20:00Z")
        simulated_segment.identify("anon-1", plan="pro")  # 503: Segment will retry
        frozen.move_to("2026-03-05T04:00:00Z")             # one jump over three nights
        assert simulated_segment.stages()["delivered"] == 1
        assert [run.messages for run in abtasty_account.refreshes()] == [1, 0, 0]
