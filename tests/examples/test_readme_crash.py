import pytest


class DiskFull(Exception):
    pass


def test_a_crash_inside_the_fake_is_raised_here(harness, abtasty_account, abtasty_client, monkeypatch):
    def get_account(account_id):                           # a store that breaks
        raise DiskFull(account_id)

    monkeypatch.setattr(harness.abtasty.store, "get_account", get_account)
    reply = abtasty_client.get(f"/api/accounts/{abtasty_account.id}")
    assert reply.status_code == 500                        # the client sees internal_error
    with pytest.raises(DiskFull):                          # without these two lines the test
        harness.check()                                    # would fail with DiskFull
