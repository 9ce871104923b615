"""Synthetic users and companies, seeded and deterministic.

Faker costs about 200 µs a call, so it only fills small value pools once; a seeded
``random.Random`` combines them. The same seed gives the same population in every run.
"""

from __future__ import annotations

import functools
import itertools
import random
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec
from faker import Faker

from harness.runtime.people import SyntheticUser
from harness.simulate.ids import UUID4_CLEAR, UUID4_SET
from harness.simulate.instants import (
    MS_PER_DAY,
    IsoText,
    collector_paused,
    epoch_ms,
    minutes_of_day,
)

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


class Company(msgspec.Struct, frozen=True):
    """A group, with reserved group traits."""

    group_id: str
    traits: dict[str, Any]


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


@functools.lru_cache(maxsize=8)
def _pools(seed: int) -> _Pools:
    """The seed's pools, made once a process (Faker takes about 40 ms for all of them)."""
    return _Pools.from_faker(seed)


_COMPANY_SIZES = (5, 12, 40, 120, 500, 2_000)
_COMPANY_EPOCH_DAY = epoch_ms(datetime(2020, 1, 1, tzinfo=UTC)) // MS_PER_DAY
_SIGN_UP_EPOCH_DAY = epoch_ms(datetime(2021, 1, 1, tzinfo=UTC)) // MS_PER_DAY
_SIGN_UP_MINUTES = 2_000_000
"""Users signed up within this many minutes (about 3.8 years) from 2021-01-01."""


def build_population(config: PopulationConfig) -> Population:
    """A deterministic population for ``config``.

    Every draw is ``int(random() * n)`` (or a comparison with ``random()``) on one seeded
    ``random.Random``: one C call each, where ``choice``/``randrange`` cost several Python
    frames. Values come from the seed's Faker pools; ids from the random bits.
    """
    pools = _pools(config.seed)
    with collector_paused():
        return _build(config, pools)


def _build(config: PopulationConfig, pools: _Pools) -> Population:
    rng = random.Random(config.seed)
    rand = rng.random
    plans = list(config.plan_weights)
    cumulative = list(itertools.accumulate(config.plan_weights[p] for p in plans))
    total, last_plan = cumulative[-1], len(plans) - 1
    iso = IsoText()
    company_count = max(1, config.users // max(1, config.users_per_company))
    company_names, industries = pools.company_names, pools.industries
    companies = [
        Company(
            group_id=f"company-{i:05d}",
            traits={
                "name": company_names[int(rand() * len(company_names))],
                "industry": industries[int(rand() * len(industries))].split()[-1],
                "employees": _COMPANY_SIZES[int(rand() * len(_COMPANY_SIZES))],
                "plan": plans[bisect_right(cumulative, rand() * total, 0, last_plan)],
                "createdAt": iso.date(_COMPANY_EPOCH_DAY + int(rand() * 2_000))[:-1],
            },
        )
        for i in range(company_count)
    ]
    group_ids = [company.group_id for company in companies]
    firsts = [(name, name.lower()) for name in pools.first_names]
    lasts = [(name, name.lower()) for name in pools.last_names]
    domains, titles = pools.domains, pools.titles
    cities, countries = pools.cities, pools.countries
    n_firsts, n_lasts, n_domains = len(firsts), len(lasts), len(domains)
    n_titles, n_cities, n_countries = len(titles), len(cities), len(countries)
    server_only_share = config.user_id_only_share
    unmatched, shared = config.unmatched_share, config.shared_device_share
    late = config.late_identify_share
    bits = rng.getrandbits
    sign_up_days = [
        iso.date(_SIGN_UP_EPOCH_DAY + day) for day in range(_SIGN_UP_MINUTES // 1_440 + 1)
    ]
    sign_up_minutes = [f"{minute}00Z" for minute in minutes_of_day()]

    users: list[SyntheticUser] = []
    append = users.append
    for index in range(config.users):
        first, first_lower = firsts[int(rand() * n_firsts)]
        last, last_lower = lasts[int(rand() * n_lasts)]
        server_only = rand() < server_only_share
        anonymous_id = None
        visitors: tuple[str, ...] = ()
        if not server_only:
            uuid = (bits(128) & UUID4_CLEAR | UUID4_SET).to_bytes(16, "big").hex()
            anonymous_id = f"{uuid[:8]}-{uuid[8:12]}-{uuid[12:16]}-{uuid[16:20]}-{uuid[20:]}"
            if rand() >= unmatched:
                visitor = f"v{index:07d}"
                visitors = (visitor, visitor + "-shared") if rand() < shared else (visitor,)
        traits = {
            "name": f"{first} {last}",
            "firstName": first,
            "lastName": last,
            "email": f"{first_lower}.{last_lower}.{index}@{domains[int(rand() * n_domains)]}",
            "plan": plans[bisect_right(cumulative, rand() * total, 0, last_plan)],
            "title": titles[int(rand() * n_titles)],
            "address": {
                "city": cities[int(rand() * n_cities)],
                "country": countries[int(rand() * n_countries)],
            },
            "createdAt": sign_up_days[(signed_up := int(rand() * _SIGN_UP_MINUTES)) // 1_440]
            + sign_up_minutes[signed_up % 1_440],
            "age": 18 + int(rand() * 63),
        }
        user_id = f"user-{index:07d}" if server_only or rand() < 0.7 else None
        company_id = group_ids[int(rand() * company_count)] if rand() < 0.6 else None
        identify_day = 1 + int(rand() * 2) if rand() < late else 0
        append(
            SyntheticUser(index, anonymous_id, user_id, traits, company_id, visitors, identify_day)
        )
    return Population(users, companies)
