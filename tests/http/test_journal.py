"""The request journal numbers its entries so a live view can follow it."""

from __future__ import annotations

from harness.http.journal import JournalEntry, RequestJournal
from tests.support import START


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
