"""A seeded fake Segment repeats its retry schedule from one run to the next."""

from __future__ import annotations

from datetime import datetime

from harness import ManualClock
from harness.runtime.stack import Harness
from harness.testing.handles import AccountHandle, SourceHandle
from tests.support import t


def _retry_schedule(seed: int) -> list[datetime | None]:
    harness = Harness(ManualClock(t("2026-03-02T20:00:00Z")), seed=seed)
    source = SourceHandle.create(harness, AccountHandle.create(harness))
    source.outage(until="2026-03-02T23:00:00Z")
    source.call("identify", anonymousId="anon-1", messageId="m-1", traits={"plan": "pro"})
    schedule = []
    for _ in range(6):
        (record,) = source.overview().messages
        schedule.append(record.next_attempt_at)
        if record.next_attempt_at is not None:
            harness.move_to(record.next_attempt_at)
    return schedule


def test_seeded_retries_repeat_across_harnesses_whose_ids_differ() -> None:
    assert _retry_schedule(seed=3) == _retry_schedule(seed=3)


def test_seeded_retries_differ_with_the_seed() -> None:
    assert _retry_schedule(seed=3) != _retry_schedule(seed=4)
