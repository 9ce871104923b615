"""A person both fakes meet: what the simulation generates and the Hypothesis strategies draw.

Plain data, below both of its users: ``harness.simulate`` builds a population of them and
``harness.testing.strategies`` draws them, and DESIGN.md lets neither import the other
(``testing`` may import ``runtime`` and ``scenarios``).
"""

from __future__ import annotations

from typing import Any

import msgspec


class SyntheticUser(msgspec.Struct, frozen=True):
    """One person as Segment and the AB Tasty tag know them.

    A frozen msgspec struct: made in one C call, where a frozen dataclass's ``__init__`` set
    its seven fields through ``object.__setattr__`` (a sixth of the population's time).

    Attributes:
        index: The person's place in the population (ids are derived from it).
        anonymous_id: The ajs_anonymous_id (None for server-side-only users).
        user_id: The userId, once known (None for anonymous visitors).
        traits: The identify traits.
        company_id: The groupId of the person's company, if any.
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
