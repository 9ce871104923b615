"""The request journal numbers its entries so a live view can follow it."""

from __future__ import annotations

import json
from datetime import datetime

from freezegun import freeze_time

from harness.core.clock import Clock, ClockMode, ManualClock, format_instant
from harness.core.codes import ErrorCode
from harness.core.errors import HarnessError
from harness.core.freezegun_clock import FreezegunClock
from harness.http.journal import JournalEntry, RequestJournal, mask_header, record_call
from tests.http.conftest import Api
from tests.support import START, message


def _entry(path: str) -> JournalEntry:
    return JournalEntry(START, "GET", path, 200, None, {}, b"", b"")


def test_journal_numbers_entries_in_filing_order() -> None:
    journal = RequestJournal()
    for path in ("/a", "/b", "/c"):
        journal.record(_entry(path))
    assert [e.seq for e in journal.entries()] == [1, 2, 3]
    assert journal.last_seq == 3


def test_journal_entries_after_a_number_oldest_first() -> None:
    journal = RequestJournal()
    for path in ("/a", "/b", "/c", "/d"):
        journal.record(_entry(path))
    assert [e.path for e in journal.entries_after(2)] == ["/c", "/d"]
    assert journal.entries_after(4) == []
    assert [e.path for e in journal.entries_after(0, limit=2)] == ["/c", "/d"]


def test_journal_numbers_survive_dropping_old_entries_and_clearing() -> None:
    journal = RequestJournal(capacity=2)
    for path in ("/a", "/b", "/c"):
        journal.record(_entry(path))
    assert [e.seq for e in journal.entries_after(0)] == [2, 3]
    journal.clear()
    journal.record(_entry("/d"))
    assert [e.seq for e in journal.entries_after(3)] == [4]


def test_journal_masks_a_repeated_or_long_header_as_the_first_time(api: Api) -> None:
    ready = api.setup()
    long = "s" * 2_000  # over the size whose masked form is remembered: masked afresh
    for index in range(3):
        response = ready.client.post(
            "/segment/webhook",
            content=json.dumps(message(message_id=f"m-{index}")).encode(),
            headers={**ready.auth, "X-Api-Key": long},
        )
        assert response.status_code == 200
    journal: RequestJournal = ready.client.app.state.journal
    kept = [entry.headers for entry in journal.entries() if entry.path == "/segment/webhook"]
    assert len(kept) == 3 and kept[0] == kept[1] == kept[2]
    assert kept[0]["authorization"] == mask_header("Authorization", ready.auth["Authorization"])
    assert kept[0]["x-api-key"] == mask_header("X-Api-Key", long)
    assert ready.api_key not in str(kept) and long[:20] not in str(kept)


def _file_probe(journal: RequestJournal, clock: Clock) -> None:
    record_call(
        journal,
        clock,
        method="GET",
        path="/probe",
        status=409,
        account_id=None,
        headers=[],
        body=b"",
        response=b"",
    )


def test_journal_files_a_freezegun_refusal_at_the_clocks_last_instant() -> None:
    clock = FreezegunClock(START)
    journal = RequestJournal()
    with freeze_time("2026-03-02T23:00:00Z", real_asyncio=True) as frozen:
        clock.now()
        frozen.move_to("2026-03-02T22:00:00Z")
        _file_probe(journal, clock)
    assert format_instant(journal.entries()[-1].at) == "2026-03-02T23:00:00Z"


class _Unreadable:
    """A clock that refuses every read (as a clock deleted from a shared store would)."""

    mode: ClockMode = "manual"

    def now(self) -> datetime:
        raise HarnessError(ErrorCode.CLOCK_NOT_FOUND, "gone")

    def move_to(self, when: datetime) -> None:
        raise HarnessError(ErrorCode.CLOCK_NOT_FOUND, "gone")

    def advance(self, seconds: float) -> None:
        raise HarnessError(ErrorCode.CLOCK_NOT_FOUND, "gone")


def test_journal_files_an_unreadable_clocks_call_at_the_latest_entrys_time() -> None:
    journal = RequestJournal()
    _file_probe(journal, ManualClock(START))
    _file_probe(journal, _Unreadable())
    assert [entry.at for entry in journal.entries()] == [START, START]
