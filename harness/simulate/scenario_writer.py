"""Writing a simulated run as a scenario file that plays back to the same result.

The scenario replays what AB Tasty actually received, when it received it (duplicates,
reordering and late deliveries included) and the tag's sightings, then expects the
cohorts and refresh count the run ended with. Any run found by generation becomes a
reviewable, replayable story.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec

from harness.core.clock import Clock
from harness.scenarios.specs import (
    AccountSpec,
    AtSpec,
    BuilderExpect,
    ExpectSpec,
    OutcomeSpec,
    RefreshesExpect,
    SendSpec,
    ValueCount,
    VisitorSpec,
)
from harness.scenarios.writer import ScenarioDraft
from harness.scenarios.writer import write_scenario as write_draft
from harness.segment import Transport, TransportResponse


@dataclass(slots=True)
class RecordedStep:
    """One thing that happened to AB Tasty at ``at``."""

    at: datetime
    kind: str  # "visitor" or "send"
    body: dict[str, Any]
    status: int | None = None


class DeliveryRecorder:
    """A transport wrapper that notes each delivery reaching AB Tasty, with its answer."""

    def __init__(self, target: Transport, clock: Clock) -> None:
        self.target = target
        self.clock = clock
        self.steps: list[RecordedStep] = []

    def post(self, url: str, headers: dict[str, str], body: bytes) -> TransportResponse:
        """Deliver and note it."""
        answer = self.target.post(url, headers, body)
        self.steps.append(
            RecordedStep(self.clock.now(), "send", msgspec.json.decode(body), answer.status)
        )
        return answer

    def sighting(self, at: datetime, visitor_id: str, anonymous_id: str) -> None:
        """Note a sighting the tag reported."""
        self.steps.append(
            RecordedStep(at, "visitor", {"visitor_id": visitor_id, "anonymous_id": anonymous_id})
        )


def write_scenario(
    path: Path,
    *,
    name: str,
    description: str,
    start: datetime,
    end: datetime,
    steps: list[RecordedStep],
    cohorts: dict[str, list[tuple[Any, int]]],
    refreshes: int,
) -> None:
    """Write the recorded run as a format 2 scenario file, built from the scenario specs."""
    draft = ScenarioDraft(name, start, description=description, format=2)
    draft.add(AccountSpec(name="shop"))
    now = start
    for step in sorted(steps, key=lambda s: s.at):  # stable: same-instant steps keep their order
        if step.at != now:
            draft.add(AtSpec(step.at))
            now = step.at
        if step.kind == "visitor":
            draft.add(VisitorSpec(account="shop", **step.body))
        else:
            refused = step.status is not None and not 200 <= step.status < 300
            draft.add(
                SendSpec(to="webhook", account="shop", body=step.body),
                OutcomeSpec(status=step.status) if refused else None,
            )
    draft.add(AtSpec(end))
    draft.add(
        ExpectSpec(
            builder=BuilderExpect(
                account="shop",
                exactly={trait: _values(pairs) for trait, pairs in cohorts.items()},
            ),
            refreshes=RefreshesExpect(account="shop", count=refreshes),
        )
    )
    write_draft(path, draft)


def _values(pairs: list[tuple[Any, int]]) -> dict[Any, int] | list[dict[str, Any]]:
    """``{value: visitors}``, unless two values are one mapping key (``true`` and ``1``)."""
    as_mapping = dict(pairs)
    if len(as_mapping) == len(pairs):
        return as_mapping
    return [msgspec.to_builtins(ValueCount(value, visitors)) for value, visitors in pairs]
