"""Synthetic users and companies, seeded and deterministic.

Faker costs about 200 µs a call, so it only fills small value pools once; a seeded
``random.Random`` combines them. The same seed gives the same population in every run.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from faker import Faker

from harness.simulate.ids import uuid4_text

POOL_SIZE = 128
DEFAULT_PLAN_WEIGHTS = {"free": 0.6, "pro": 0.3, "enterprise": 0.1}


@dataclass(frozen=True, slots=True)
class PopulationConfig:
    """The knobs of a synthetic population.

    Attributes:
        users: How many users.
        seed: Same seed, same users.
        plan_weights: The distribution of the ``plan`` trait.
        unmatched_share: Users the AB Tasty tag never sees on the website.
        user_id_only_share: Users known only server-side: identify with a userId, no anonymousId.
        late_identify_share: Anonymous visitors who identify a few days later.
        shared_device_share: Users whose anonymousId is also seen on a second visitor.
        users_per_company: Average company size (groups).
    """

    users: int = 1_000
    seed: int = 0
    plan_weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_PLAN_WEIGHTS))
    unmatched_share: float = 0.2
    user_id_only_share: float = 0.05
    late_identify_share: float = 0.1
    shared_device_share: float = 0.05
    users_per_company: int = 20


@dataclass(frozen=True, slots=True)
class Company:
    """A group, with reserved group traits."""

    group_id: str
    traits: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SyntheticUser:
    """One person as Segment and the AB Tasty tag know them.

    Attributes:
        anonymous_id: The ajs_anonymous_id (None for server-side-only users).
        visitor_ids: AB Tasty visitor ids the tag sees this anonymousId on (empty: never seen).
        identify_day: The day (0-based) of the first identify; later than the first visit for
            anonymous users who identify later.
    """

    index: int
    anonymous_id: str | None
    user_id: str | None
    traits: dict[str, Any]
    company_id: str | None
    visitor_ids: tuple[str, ...]
    identify_day: int


@dataclass(frozen=True, slots=True)
class Population:
    """Users and companies."""

    users: list[SyntheticUser]
    companies: list[Company]


@dataclass(frozen=True, slots=True)
class _Pools:
    first_names: list[str]
    last_names: list[str]
    domains: list[str]
    cities: list[str]
    countries: list[str]
    company_names: list[str]
    industries: list[str]
    titles: list[str]

    @classmethod
    def from_faker(cls, seed: int) -> _Pools:
        fake = Faker("en_US")
        fake.seed_instance(seed)

        def pool(make: Any) -> list[str]:
            return sorted({make() for _ in range(POOL_SIZE)})

        return cls(
            first_names=pool(fake.first_name),
            last_names=pool(fake.last_name),
            domains=pool(fake.free_email_domain),
            cities=pool(fake.city),
            countries=pool(fake.country_code),
            company_names=pool(fake.company),
            industries=pool(fake.bs),
            titles=pool(fake.job),
        )


def _uuid(rng: random.Random) -> str:
    return uuid4_text(rng)


def build_population(config: PopulationConfig) -> Population:
    """A deterministic population for ``config``."""
    pools = _Pools.from_faker(config.seed)
    rng = random.Random(config.seed)
    plans = list(config.plan_weights)
    weights = list(itertools.accumulate(config.plan_weights[p] for p in plans))  # cumulative
    company_count = max(1, config.users // max(1, config.users_per_company))
    companies = [
        Company(
            group_id=f"company-{i:05d}",
            traits={
                "name": rng.choice(pools.company_names),
                "industry": rng.choice(pools.industries).split()[-1],
                "employees": rng.choice([5, 12, 40, 120, 500, 2_000]),
                "plan": rng.choices(plans, cum_weights=weights)[0],
                "createdAt": (
                    datetime(2020, 1, 1, tzinfo=UTC) + timedelta(days=rng.randrange(2_000))
                )
                .date()
                .isoformat(),
            },
        )
        for i in range(company_count)
    ]
    users = []
    epoch = datetime(2021, 1, 1, tzinfo=UTC)
    for index in range(config.users):
        first = rng.choice(pools.first_names)
        last = rng.choice(pools.last_names)
        server_only = rng.random() < config.user_id_only_share
        seen = not server_only and rng.random() >= config.unmatched_share
        anonymous_id = None if server_only else _uuid(rng)
        visitors: tuple[str, ...] = ()
        if seen:
            visitors = (f"v{index:07d}",)
            if rng.random() < config.shared_device_share:
                visitors += (f"v{index:07d}-shared",)
        traits = {
            "name": f"{first} {last}",
            "firstName": first,
            "lastName": last,
            "email": f"{first}.{last}.{index}@{rng.choice(pools.domains)}".lower(),
            "plan": rng.choices(plans, cum_weights=weights)[0],
            "title": rng.choice(pools.titles),
            "address": {"city": rng.choice(pools.cities), "country": rng.choice(pools.countries)},
            "createdAt": (epoch + timedelta(minutes=rng.randrange(2_000_000)))
            .isoformat()
            .replace("+00:00", "Z"),
            "age": rng.randint(18, 80),
        }
        users.append(
            SyntheticUser(
                index=index,
                anonymous_id=anonymous_id,
                user_id=f"user-{index:07d}" if server_only or rng.random() < 0.7 else None,
                traits=traits,
                company_id=companies[rng.randrange(company_count)].group_id
                if rng.random() < 0.6
                else None,
                visitor_ids=visitors,
                identify_day=rng.randint(1, 2) if rng.random() < config.late_identify_share else 0,
            )
        )
    return Population(users, companies)
