"""Clocks: the system clock follows freezegun; the manual clock moves only when told."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from freezegun import freeze_time

from harness import ManualClock, SystemClock
from harness.core.clock import (
    SCENARIO_START,
    SIMULATION_START,
    TEST_START,
    format_instant,
    parse_instant,
)
from harness.core.errors import HarnessError
from tests.support import World


def test_system_clock_follows_freezegun() -> None:
    with freeze_time("2026-03-02T23:00:00Z") as frozen:
        clock = SystemClock()
        assert clock.now() == datetime(2026, 3, 2, 23, tzinfo=UTC)
        frozen.move_to("2026-03-03T03:00:00Z")
        assert clock.now().hour == 3


def test_system_clock_drives_3am_activation_under_freezegun() -> None:
    from harness.abtasty import AbTasty
    from tests.support import basic, message

    with freeze_time("2026-03-02T23:00:00Z") as frozen:
        service = AbTasty()
        account = service.create_account("Shop")
        service.create_segment_connector(account.id, "Segment")
        key = service.generate_api_key(account.id)
        service.record_sighting(account.id, "v1", "anon-1")
        import json

        service.receive(basic(key), json.dumps(message(traits={"plan": "pro"})).encode())
        frozen.move_to("2026-03-03T02:59:59Z")
        assert service.criteria(account.id)[0].traits == ()
        frozen.move_to("2026-03-03T03:00:00Z")
        assert service.criteria(account.id)[0].traits[0].key == "plan"


def test_system_clock_with_real_asyncio_does_not_stall_sleep() -> None:
    async def sleep_a_little() -> datetime:
        await asyncio.sleep(0.01)
        return SystemClock().now()

    with freeze_time("2026-03-02T23:00:00Z", real_asyncio=True):
        assert asyncio.run(sleep_a_little()) == datetime(2026, 3, 2, 23, tzinfo=UTC)


def test_system_clock_cannot_be_set() -> None:
    with pytest.raises(HarnessError) as caught:
        SystemClock().move_to(datetime.now(UTC))
    assert caught.value.code == "clock_not_manual"


def test_manual_clock_moves_only_when_told() -> None:
    clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    assert clock.now() == clock.now() == datetime(2026, 1, 1, tzinfo=UTC)
    clock.advance(3600)
    assert clock.now() == datetime(2026, 1, 1, 1, tzinfo=UTC)
    clock.move_to(datetime(2026, 1, 1, 3, tzinfo=timezone(timedelta(hours=2))))
    assert clock.now() == datetime(2026, 1, 1, 1, tzinfo=UTC)


def test_manual_clock_never_backwards() -> None:
    clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(HarnessError) as moved_back:
        clock.move_to(datetime(2025, 12, 31, tzinfo=UTC))
    with pytest.raises(HarnessError) as advanced_back:
        clock.advance(-1)
    assert moved_back.value.code == advanced_back.value.code == "clock_backwards"


def test_manual_clock_refuses_naive_start() -> None:
    with pytest.raises(HarnessError):
        ManualClock(datetime(2026, 1, 1))


def test_manual_clock_default_start_is_wall_clock() -> None:
    before = datetime.now(UTC)
    assert before <= ManualClock().now() <= datetime.now(UTC)


def test_format_and_parse_instant_round_trip() -> None:
    when = parse_instant("2026-03-29T03:00:00+02:00")
    assert format_instant(when) == "2026-03-29T01:00:00Z"
    with pytest.raises(ValueError, match="offset"):
        parse_instant("2026-03-29T03:00:00")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("10000-01-01T00:00:00Z", "year 10000 is out of range"),
        ("+2026-01-01T00:00:00Z", "is not an ISO-8601 timestamp"),
        ("9999-12-31T23:00:00-05:00", "outside the years 1 to 9999"),
        ("2026-01-01T00:00:00+25:00", "offset"),
        ("yesterday", "is not an ISO-8601 timestamp"),
    ],
)
def test_parse_instant_error_says_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=re.escape(says)):
        parse_instant(text)


def test_world_clock_is_manual() -> None:
    assert World.build().clock.mode == "manual"


def test_clock_test_start_is_a_monday_noon_before_the_first_refresh() -> None:
    start = parse_instant(TEST_START)
    assert (start.weekday(), start.hour, start.minute) == (0, 12, 0)


def test_clock_simulation_starts_at_midnight_of_the_tests_day() -> None:
    assert parse_instant(SIMULATION_START) == parse_instant(TEST_START).replace(hour=0)


def test_clock_default_starts_are_the_documented_ones() -> None:
    root = Path(__file__).resolve().parents[2]
    assert f"with the clock at\n`{TEST_START}`" in (root / "README.md").read_text()
    assert f"(default {SCENARIO_START})" in (root / "docs" / "scenarios.md").read_text()
