"""A fake left running does not grow without bound: dedup window, retention, journal."""

from __future__ import annotations

from datetime import timedelta

from harness.abtasty.store import MemoryStore
from harness.http.journal import RequestJournal
from tests.support import World, message


def test_bounded_memory_after_three_simulated_weeks() -> None:
    world = World.build()
    for visitor in range(50):
        world.see(f"v{visitor}", f"anon-{visitor}")
    sent = 0
    for _hour in range(21 * 24):
        world.clock.advance(3_600)
        for _ in range(20):
            world.send(
                message(
                    anonymous_id=f"anon-{sent % 50}", traits={"n": sent % 7}, message_id=f"m-{sent}"
                )
            )
            sent += 1
    world.at(world.clock.now() + timedelta(hours=1))  # a last refresh
    world.refreshes()
    store = world.service.store
    assert isinstance(store, MemoryStore)
    tenant = store._tenants[world.account.id]
    assert sent == 21 * 24 * 20
    assert len(tenant.first_arrival) <= 25 * 20  # the dedup index holds about one day
    columns = tenant.columns
    assert columns.base + len(columns) - columns.arrival <= 25 * 20  # and its queue
    kept = len(columns) - columns.state.count(2)  # not expired
    assert kept <= 9 * 24 * 20  # retention: about 8 days of messages
    # The expired front is cut once it is half the columns: at most twice what is kept.
    assert len(columns.message_ids) == len(columns.received) <= 2 * 9 * 24 * 20 < sent
    assert sum(map(len, tenant.profiles.values())) == 50


def test_bounded_journal_keeps_the_newest() -> None:
    journal = RequestJournal(capacity=100)
    from harness.http.journal import JournalEntry
    from tests.support import START

    for index in range(1_000):
        journal.record(JournalEntry(START, "GET", f"/{index}", 200, None, {}, b"", b""))
    assert len(journal) == 100
    assert journal.entries()[-1].path == "/999"
