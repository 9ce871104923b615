"""What a population does over simulated days: visits the tag sees, identify and group calls.

Calls are what a client library sends to Segment's Tracking API (type, ids, traits,
messageId, originalTimestamp, sentAt, context.library, integrations); Segment adds
receivedAt and the corrected timestamp on ingest. Some clients' clocks are off: their
originalTimestamp and sentAt are skewed alike, and Segment's correction undoes it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from harness.core.clock import SIMULATION_START, format_instant, parse_instant
from harness.simulate.ids import uuid4_text
from harness.simulate.population import Population, SyntheticUser

# Share of a day's visits in each hour (UTC): quiet at night, busy in the evening.
HOURLY_WEIGHTS = [1, 1, 1, 1, 1, 2, 3, 5, 7, 8, 8, 8, 9, 9, 8, 8, 8, 9, 10, 11, 11, 9, 6, 3]
BROWSER_LIBRARY = {"name": "analytics.js", "version": "2.11.1"}
SERVER_LIBRARY = {"name": "analytics-python", "version": "2.3.2"}


FIRST_DAY = parse_instant(SIMULATION_START)
"""Midnight of the first simulated day by default."""


@dataclass(frozen=True, slots=True)
class StreamConfig:
    """The knobs of a simulated stream.

    Attributes:
        start: Midnight of the first simulated day (UTC).
        days: How many days.
        daily_active_share: Chance that a user visits on a day after their first.
        trait_change_share: Chance that a returning user's plan changes that day.
        clock_skew_share: Clients whose clock is off by up to ``max_clock_skew``.
        seed: Same seed, same stream.
    """

    start: datetime = FIRST_DAY
    days: int = 3
    daily_active_share: float = 0.5
    trait_change_share: float = 0.1
    clock_skew_share: float = 0.1
    max_clock_skew: timedelta = timedelta(minutes=30)
    seed: int = 0
    plans: tuple[str, ...] = field(default=("free", "pro", "enterprise"))


@dataclass(frozen=True, slots=True)
class ClientCall:
    """A call a client library makes to the Tracking API at ``at`` (true time)."""

    at: datetime
    body: dict[str, Any]

    @property
    def type(self) -> str:
        """identify or group."""
        kind: str = self.body["type"]
        return kind


@dataclass(frozen=True, slots=True)
class VisitorSeen:
    """The AB Tasty tag reads the ajs_anonymous_id cookie on a visitor at ``at``."""

    at: datetime
    visitor_id: str
    anonymous_id: str


Event = ClientCall | VisitorSeen


class _Calls:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def make(
        self, user: SyntheticUser, at: datetime, skew: timedelta, kind: str, **fields: Any
    ) -> ClientCall:
        client_time = at + skew
        library = BROWSER_LIBRARY if user.anonymous_id is not None else SERVER_LIBRARY
        body: dict[str, Any] = {
            "type": kind,
            "messageId": uuid4_text(self.rng),
            "originalTimestamp": format_instant(client_time),
            "sentAt": format_instant(
                client_time + timedelta(milliseconds=self.rng.randrange(2_000))
            ),
            "context": {"library": library},
            "integrations": {},
        }
        if user.anonymous_id is not None:
            body["anonymousId"] = user.anonymous_id
        if user.user_id is not None:
            body["userId"] = user.user_id
        body.update(fields)
        return ClientCall(at, body)


_HOUR_TABLE = [hour for hour, weight in enumerate(HOURLY_WEIGHTS) for _ in range(weight)]
"""One entry per unit of weight: a uniform index into it draws an hour with those weights."""


def _visit_time(rng: random.Random, day: datetime) -> datetime:
    hour = _HOUR_TABLE[rng.randrange(len(_HOUR_TABLE))]
    return day + timedelta(hours=hour, seconds=rng.randrange(3_600))


def generate_events(population: Population, config: StreamConfig) -> list[Event]:
    """Every sighting and call of the population over ``config.days`` days, in time order."""
    rng = random.Random(config.seed * 1_000_003 + 17)
    calls = _Calls(rng)
    companies = {c.group_id: c for c in population.companies}
    events: list[Event] = []
    for user in population.users:
        skew = timedelta(0)
        if rng.random() < config.clock_skew_share:
            skew = timedelta(seconds=rng.uniform(-1, 1) * config.max_clock_skew.total_seconds())
        traits = dict(user.traits)
        for day_index in range(config.days):
            first_visit_or_identify = day_index in (0, user.identify_day)
            if not first_visit_or_identify and rng.random() >= config.daily_active_share:
                continue
            day = config.start + timedelta(days=day_index)
            at = _visit_time(rng, day)
            if user.anonymous_id is not None:
                for visitor_id in user.visitor_ids:
                    events.append(VisitorSeen(at, visitor_id, user.anonymous_id))
            if day_index < user.identify_day:
                continue
            at += timedelta(seconds=rng.randrange(1, 300))
            if day_index == user.identify_day:
                events.append(calls.make(user, at, skew, "identify", traits=traits))
                if user.company_id is not None:
                    company = companies[user.company_id]
                    events.append(
                        calls.make(
                            user,
                            at + timedelta(seconds=1),
                            skew,
                            "group",
                            groupId=company.group_id,
                            traits=company.traits,
                        )
                    )
            elif rng.random() < config.trait_change_share:
                traits["plan"] = rng.choice(
                    [p for p in config.plans if p != traits.get("plan")] or list(config.plans)
                )
                events.append(
                    calls.make(user, at, skew, "identify", traits={"plan": traits["plan"]})
                )
    events.sort(key=lambda event: event.at)
    return events
