"""Engage audiences over a synthetic population: who enters and exits, day by day.

Engage recomputes an audience periodically; each day, a user outside an audience enters it
with ``entry_share`` and a member exits with ``exit_share``, so over several days members
enter, exit and come back. Only users with an anonymousId take part (Engage sends the
profile's anonymousId; the others could never match a visitor anyway). Seeded: the same
population and config give the same changes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from harness.simulate.population import Population


@dataclass(frozen=True, slots=True)
class AudienceConfig:
    """The knobs of simulated Engage audiences.

    Attributes:
        keys: The audience keys (each becomes a boolean trait in AB Tasty).
        entry_share: Chance a non-member enters on a given day.
        exit_share: Chance a member exits on a given day.
        seed: Same seed, same memberships.
    """

    keys: tuple[str, ...] = ()
    entry_share: float = 0.2
    exit_share: float = 0.3
    seed: int = 0


@dataclass(frozen=True, slots=True)
class AudienceChange:
    """Engage's computation moves a user into (``entered``) or out of an audience at ``at``."""

    at: datetime
    audience_key: str
    anonymous_id: str
    user_id: str | None
    entered: bool


def audience_keys(count: int) -> tuple[str, ...]:
    """``count`` audience keys as a marketer would name them."""
    names = ("high_value_users", "churn_risk", "cart_abandoners", "newsletter_fans")
    return tuple(names[i] if i < len(names) else f"audience_{i + 1}" for i in range(count))


def generate_audience_changes(
    population: Population, config: AudienceConfig, start: datetime, days: int
) -> list[AudienceChange]:
    """Every entry and exit of every audience over ``days`` days from ``start``, in time order."""
    rng = random.Random(config.seed * 7_919 + 3)
    changes: list[AudienceChange] = []
    for key in config.keys:
        inside: set[str] = set()
        for day in range(days):
            midnight = start + timedelta(days=day)
            for user in population.users:
                anonymous_id = user.anonymous_id
                if anonymous_id is None:
                    continue
                member = anonymous_id in inside
                if rng.random() >= (config.exit_share if member else config.entry_share):
                    continue
                at = midnight + timedelta(seconds=rng.randrange(86_400))
                changes.append(AudienceChange(at, key, anonymous_id, user.user_id, not member))
                if member:
                    inside.discard(anonymous_id)
                else:
                    inside.add(anonymous_id)
    changes.sort(key=lambda change: change.at)
    return changes
