"""The memory store keeps messages column by column: its batches, cuts and traits text.

Beside the examples, a Hypothesis state machine runs the store against a reference that
keeps one record per message in a list (what the store did before it kept columns), with
the cut threshold lowered so that cuts happen within a few steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from harness.abtasty.records import (
    Account,
    MessageBatch,
    RefreshRun,
    StoredMessage,
    fold_rows,
    message_seqs,
)
from harness.abtasty.store import memory
from harness.abtasty.store.base import MESSAGE_RETENTION
from harness.abtasty.store.memory import MemoryStore
from tests.support import START

DAY = timedelta(hours=24)


def _store() -> MemoryStore:
    store = MemoryStore()
    store.add_account(Account("acc_1", "Shop", "UTC", 3, START))
    return store


def _message(
    message_id: str,
    received: datetime,
    traits: dict[str, Any] | None = None,
    anonymous_id: str | None = "a1",
    connector_id: str = "con_1",
    kind: str = "identify",
    engage: str | None = None,
) -> StoredMessage:
    return StoredMessage(
        "acc_1",
        connector_id,
        message_id,
        "group" if kind == "group" else "identify",
        anonymous_id,
        "u1" if anonymous_id is None else None,
        "g1" if kind == "group" else None,
        {"plan": "pro"} if traits is None else traits,
        received - timedelta(minutes=5),
        received,
        engage=engage,
    )


def _run(cutoff: datetime) -> RefreshRun:
    return RefreshRun("acc_1", cutoff + timedelta(hours=3), cutoff, 0, 0, 0, 0)


def test_memory_columns_traits_read_back_as_sent() -> None:
    store = _store()
    sent: list[dict[str, Any]] = [
        {},
        {"plan": "pro", "seats": 3, "ratio": 0.1, "big": 2**70, "ok": True, "none": None},
        {"address": {"geo": {"lat": -33.865143, "tags": ["a", "é", "😀"]}}},
        {"quote": 'say "hi"\n', "empty": [], "zero": -0.0},
    ]
    for index, traits in enumerate(sent):
        store.add_message(_message(f"m{index}", START, traits), DAY)
    pending = store.pending_messages("acc_1", START + DAY)
    assert isinstance(pending, MessageBatch)
    assert [m.traits for m in pending] == sent
    assert [row[4] for row in fold_rows(pending)] == sent


def test_memory_columns_traits_read_in_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "_DECODED_AT_ONCE", 3)  # runs of 3, 3, 3 and 1
    store = _store()
    sent = [{"n": index, "s": "x" * index} if index % 4 else {} for index in range(10)]
    for index, traits in enumerate(sent):
        store.add_message(_message(f"m{index}", START, traits), DAY)
    assert [row[4] for row in fold_rows(store.pending_messages("acc_1", START + DAY))] == sent


def test_memory_columns_batch_reads_as_records() -> None:
    store = _store()
    messages = [
        _message("m0", START),
        _message("m1", START, kind="group", engage="audience:vip"),
        _message("m2", START, anonymous_id=None, connector_id="con_2"),
    ]
    for message in messages:
        store.add_message(message, DAY)
    pending = store.pending_messages("acc_1", START + DAY)
    assert pending == messages  # the store stamped each message's seq
    assert pending[-1] == messages[2] and pending[1:] == messages[1:]
    assert list(message_seqs(pending)) == [m.seq for m in messages]
    assert list(fold_rows(pending)) == list(fold_rows(messages))
    with pytest.raises(IndexError):
        pending[3]


def test_memory_columns_unencodable_traits_store_nothing() -> None:
    store = _store()
    with pytest.raises(TypeError):
        store.add_message(_message("m0", START, {"when": object()}), DAY)
    assert store.pending_messages("acc_1", START + DAY) == []
    assert store.input_version("acc_1") == 0
    assert store.add_message(_message("m0", START), DAY) is not None  # not taken as a duplicate
    assert [m.traits for m in store.pending_messages("acc_1", START + DAY)] == [{"plan": "pro"}]


def test_memory_columns_clock_moved_back_keeps_each_cutoff() -> None:
    store = _store()
    store.add_message(_message("late", START + timedelta(hours=5)), DAY)
    store.add_message(_message("early", START + timedelta(hours=1)), DAY)  # clock moved back
    store.add_message(_message("later", START + timedelta(hours=6)), DAY)
    pending = store.pending_messages("acc_1", START + timedelta(hours=2))
    assert [m.message_id for m in pending] == ["early"]


def test_memory_columns_batch_survives_a_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "_COMPACT_AT", 2)
    store = _store()
    for index in range(4):
        store.add_message(_message(f"old{index}", START), DAY)
    first = store.pending_messages("acc_1", START + DAY)
    store.commit_refresh(_run(START + DAY), message_seqs(first), [], [], None)
    later = START + 10 * DAY
    store.add_message(_message("new", later, {"n": 1}), DAY)
    held = store.pending_messages("acc_1", later + DAY)
    store.commit_refresh(_run(later + DAY), [], [], [], None)  # expires and cuts the old four
    assert store._tenants["acc_1"].columns.base == 4
    assert [(m.message_id, m.traits) for m in held] == [("new", {"n": 1})]
    assert [m.message_id for m in first] == ["old0", "old1", "old2", "old3"]
    assert [m.message_id for m, _ in store.messages_for("acc_1", ["a1"])] == ["new"]


@dataclass
class _Kept:
    message: StoredMessage
    state: str = "pending"  # pending, taken or expired


class ColumnsMachine(RuleBasedStateMachine):
    """The memory store against a list of records with the same rules."""

    def __init__(self) -> None:
        super().__init__()
        self.store = _store()
        self.kept: list[_Kept] = []
        self.first_arrival: dict[str, datetime] = {}
        self.now = START
        self.last_night: datetime | None = None
        self.count = 0
        self.batches: list[tuple[MessageBatch, list[StoredMessage]]] = []

    @initialize()
    def small_cuts(self) -> None:
        self._cut_at = memory._COMPACT_AT
        memory._COMPACT_AT = 3

    def teardown(self) -> None:
        memory._COMPACT_AT = self._cut_at

    @rule(
        step=st.sampled_from([-120, -1, 0, 1, 60, 12 * 60, 24 * 60, 3 * 24 * 60]),
        reuse=st.booleans(),
        engage=st.sampled_from([None, "audience:vip"]),
        anonymous=st.sampled_from(["a1", "a2", None]),
        kind=st.sampled_from(["identify", "group"]),
        traits=st.dictionaries(st.sampled_from(["plan", "n"]), st.integers(0, 3), max_size=2),
    )
    def add(
        self,
        step: int,
        reuse: bool,
        engage: str | None,
        anonymous: str | None,
        kind: str,
        traits: dict[str, int],
    ) -> None:
        self.now += timedelta(minutes=step)  # back by two hours at most
        message_id = f"m{self.count - 1 if reuse and self.count else self.count}"
        self.count += 1
        message = _message(message_id, self.now, traits, anonymous, kind=kind, engage=engage)
        expected = message_id not in self.first_arrival or (
            self.now - self.first_arrival[message_id] >= DAY
        )
        seq = self.store.add_message(message, DAY)
        assert (seq is not None) == expected
        if expected:
            self.first_arrival[message_id] = self.now
            self.kept.append(_Kept(message))

    @rule(days=st.sampled_from([0, 0, 1, 8]))
    def night(self, days: int) -> None:
        cutoff = self.now - timedelta(days=days)
        if self.last_night is not None and cutoff <= self.last_night:
            return
        batch = self.store.pending_messages("acc_1", cutoff)
        wanted = [
            k.message for k in self.kept if k.state == "pending" and k.message.received_at < cutoff
        ]
        assert batch == wanted
        self.batches.append((batch, wanted))
        assert self.store.commit_refresh(_run(cutoff), message_seqs(batch), [], [], None)
        self.last_night = cutoff
        for k in self.kept:
            if k.state == "pending" and k.message.received_at < cutoff:
                k.state = "taken"
        horizon = cutoff - MESSAGE_RETENTION
        for k in self.kept:
            if k.state == "expired":
                continue
            if k.message.received_at >= horizon:
                break  # arrival order: the store looks no further
            if k.state == "taken":
                k.state = "expired"

    @precondition(lambda self: self.kept)
    @rule()
    def pending_now(self) -> None:
        batch = self.store.pending_messages("acc_1", datetime.max.replace(tzinfo=START.tzinfo))
        wanted = [k.message for k in self.kept if k.state == "pending"]
        assert list(fold_rows(batch)) == list(fold_rows(wanted))
        assert list(message_seqs(batch)) == [m.seq for m in wanted]

    @invariant()
    def messages_for_agrees(self) -> None:
        found = self.store.messages_for("acc_1", ["a1", "a2"])
        assert found == [
            (k.message, k.state == "taken")
            for k in self.kept
            if k.state != "expired" and k.message.anonymous_id is not None
        ]

    @invariant()
    def old_batches_still_read(self) -> None:
        for batch, wanted in self.batches[-3:]:
            assert batch == wanted


ColumnsMachine.TestCase.settings = settings(stateful_step_count=50)
test_memory_columns_against_records = ColumnsMachine.TestCase
