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
from operator import attrgetter
from typing import Any

import msgspec

from harness.core.clock import SIMULATION_START, parse_instant
from harness.simulate.ids import uuid4_from_bits
from harness.simulate.instants import (
    MILLISECONDS,
    MS_PER_DAY,
    MS_PER_HOUR,
    MS_PER_MINUTE,
    MS_PER_SECOND,
    SECONDS,
    IsoText,
    collector_paused,
    epoch_ms,
    instant,
    minutes_of_day,
)
from harness.simulate.population import Population

# Share of a day's visits in each hour (UTC): quiet at night, busy in the evening.
HOURLY_WEIGHTS = [1, 1, 1, 1, 1, 2, 3, 5, 7, 8, 8, 8, 9, 9, 8, 8, 8, 9, 10, 11, 11, 9, 6, 3]
BROWSER_LIBRARY = {"name": "analytics.js", "version": "2.11.1"}
SERVER_LIBRARY = {"name": "analytics-python", "version": "2.3.2"}
_BROWSER_CONTEXT = {"library": BROWSER_LIBRARY}
_SERVER_CONTEXT = {"library": SERVER_LIBRARY}
_NO_INTEGRATIONS: dict[str, Any] = {}


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


class ClientCall(msgspec.Struct, frozen=True):
    """A call a client library makes to the Tracking API at ``at`` (true time).

    A body's nested ``context``, ``integrations`` and ``traits`` are shared with other calls
    (of the same library, the same user): read bodies, do not change them.

    Events are frozen msgspec structs rather than frozen dataclasses: the same immutable
    value with the same fields, made in a C call (about 40 ns) where a frozen dataclass's
    ``__init__`` sets each field through ``object.__setattr__`` (about 220 ns).
    """

    at: datetime
    body: dict[str, Any]

    @property
    def type(self) -> str:
        """identify or group."""
        kind: str = self.body["type"]
        return kind


class VisitorSeen(msgspec.Struct, frozen=True):
    """The AB Tasty tag reads the ajs_anonymous_id cookie on a visitor at ``at``."""

    at: datetime
    visitor_id: str
    anonymous_id: str


Event = ClientCall | VisitorSeen


_HOUR_TABLE = [hour for hour, weight in enumerate(HOURLY_WEIGHTS) for _ in range(weight)]
"""One entry per unit of weight: a uniform index into it draws an hour with those weights."""
_SECOND_STEPS = [timedelta(seconds=second) for second in range(3_600 + 300 + 1)]
"""Seconds from the start of a visit's hour: the visit (< 3,600), its call up to 299 s later
and the group call a second after that."""


def generate_events(population: Population, config: StreamConfig) -> list[Event]:
    """Every sighting and call of the population over ``config.days`` days, in time order.

    Times are drawn as integer milliseconds and every draw is one ``random()`` or
    ``getrandbits()`` call on one seeded ``random.Random``, so the same population and
    config give the same events in every run and process. Calls carry what their client
    library sends: ``originalTimestamp`` by the client's (maybe skewed) clock and ``sentAt``
    up to 2 s later, both with milliseconds, and a ``messageId`` as that library makes it
    (analytics.js: ``ajs-`` and 32 hex digits; analytics-python: a version-4 UUID).
    """
    with collector_paused():
        return _generate(population, config)


def _generate(population: Population, config: StreamConfig) -> list[Event]:
    rng = random.Random(config.seed * 1_000_003 + 17)
    rand, bits = rng.random, rng.getrandbits
    formatter = IsoText()
    iso, date = formatter.text, formatter.date
    minutes, seconds, milliseconds = minutes_of_day(), SECONDS, MILLISECONDS
    start = epoch_ms(config.start)
    fraction = start % MS_PER_SECOND  # every call and sighting lies whole seconds after the start
    companies = {c.group_id: c for c in population.companies}
    max_skew = int(config.max_clock_skew.total_seconds() * MS_PER_SECOND)
    # Client times are counted from ``origin``, midnight a whole number of days before the
    # first day (earlier than any skewed clock): small integers (one machine digit for runs up
    # to ten days) divide several times faster than milliseconds since 1970, and a day's text
    # is a list item.
    margin = max_skew // MS_PER_DAY + 1
    origin = start - fraction - margin * MS_PER_DAY
    day_texts = [date(origin // MS_PER_DAY + day) for day in range(config.days + 2 * margin + 1)]
    days = [(margin + day) * MS_PER_DAY for day in range(config.days)]
    # An event's datetime is the start of its hour (made once) plus a whole number of seconds
    # from a table: one C addition, where ``datetime.fromtimestamp`` cost six times as much.
    hour_times = [
        [instant(origin + midnight + hour * MS_PER_HOUR + fraction) for hour in range(24)]
        for midnight in days
    ]
    steps = _SECOND_STEPS
    n_hours = len(_HOUR_TABLE)
    skew_share, active_share = config.clock_skew_share, config.daily_active_share
    change_share, plans = config.trait_change_share, config.plans
    events: list[Event] = []
    append = events.append
    for user in population.users:
        skew = int((rand() * 2 - 1) * max_skew) if rand() < skew_share else 0
        traits = user.traits
        identify_day, anonymous_id = user.identify_day, user.anonymous_id
        # What every call of this user carries besides its type, id, times and payload.
        browser = anonymous_id is not None
        context = _BROWSER_CONTEXT if browser else _SERVER_CONTEXT
        ids: dict[str, str] = {}
        if anonymous_id is not None:
            ids["anonymousId"] = anonymous_id
        if user.user_id is not None:
            ids["userId"] = user.user_id
        for day_index, midnight in enumerate(days):
            if day_index and day_index != identify_day and rand() >= active_share:
                continue
            hour = _HOUR_TABLE[int(rand() * n_hours)]
            second = int(rand() * 3_600)  # of the visit, in its hour
            hour_time = hour_times[day_index][hour]
            if browser and user.visitor_ids:
                seen = hour_time + steps[second]
                for visitor_id in user.visitor_ids:
                    append(VisitorSeen(seen, visitor_id, anonymous_id))  # type: ignore[arg-type]
            if day_index < identify_day:
                continue
            second += 1 + int(rand() * 299)  # the call, up to five minutes after the visit
            at = midnight + hour * MS_PER_HOUR + second * MS_PER_SECOND
            if day_index == identify_day:
                payloads: list[tuple[str, dict[str, Any]]] = [("identify", {"traits": traits})]
                if user.company_id is not None:
                    company = companies[user.company_id]
                    group = {"groupId": company.group_id, "traits": company.traits}
                    payloads.append(("group", group))
            elif rand() < change_share:
                others = [p for p in plans if p != traits.get("plan")] or list(plans)
                plan = others[int(rand() * len(others))]
                traits = {**traits, "plan": plan}  # the calls already made keep their traits
                payloads = [("identify", {"traits": {"plan": plan}})]
            else:
                continue
            for kind, payload in payloads:
                # Both timestamps share the date and minute, unless sentAt crosses into the next.
                client_time = at + fraction + skew
                day, in_day = divmod(client_time, MS_PER_DAY)
                minute, in_minute = divmod(in_day, MS_PER_MINUTE)
                day_text, minute_text = day_texts[day], minutes[minute]
                whole, millisecond = divmod(in_minute, MS_PER_SECOND)
                original = f"{day_text}{minute_text}{seconds[whole]}{milliseconds[millisecond]}"
                sent_in_minute = in_minute + int(rand() * 2_000)
                if sent_in_minute < MS_PER_MINUTE:
                    whole, millisecond = divmod(sent_in_minute, MS_PER_SECOND)
                    sent = f"{day_text}{minute_text}{seconds[whole]}{milliseconds[millisecond]}"
                else:
                    sent = iso(origin + client_time - in_minute + sent_in_minute)
                message_id = bits(128)
                append(
                    ClientCall(
                        hour_time + steps[second],
                        {
                            "type": kind,
                            "messageId": "ajs-" + message_id.to_bytes(16, "big").hex()
                            if browser
                            else uuid4_from_bits(message_id),
                            "originalTimestamp": original,
                            "sentAt": sent,
                            "context": context,
                            "integrations": _NO_INTEGRATIONS,
                            **ids,
                            **payload,
                        },
                    )
                )
                at += MS_PER_SECOND  # the group call follows its identify a second later
                second += 1
    events.sort(key=attrgetter("at"))
    return events
