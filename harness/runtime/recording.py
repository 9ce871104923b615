"""What reached the fake AB Tasty during a run, and when: the material of a recorded scenario.

A :class:`DeliveryRecorder` sits between the fake Segment and the in-process AB Tasty and
notes each delivery with its answer; the run adds the tag's sightings. The
:class:`RecordedRun` it makes is plain data: :mod:`harness.scenarios.recorded` writes it as
a scenario file that plays back to the same result (``harness simulate --scenario-out``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import msgspec

from harness.core.clock import Clock
from harness.segment import Transport, TransportResponse


@dataclass(slots=True)
class RecordedStep:
    """One thing that happened to AB Tasty at ``at``: a delivery (``send``) or a sighting."""

    at: datetime
    kind: Literal["visitor", "send"]
    body: dict[str, Any]
    status: int | None = None


@dataclass(frozen=True, slots=True)
class RecordedRun:
    """A finished run as AB Tasty saw it, and what it ended with.

    Attributes:
        name: The scenario's title.
        description: What the run was.
        start: Where the run's clock started.
        end: Where it stopped.
        steps: What reached AB Tasty, in the order it happened.
        cohorts: EXTERNAL DATA at the end: trait -> [(value, visitors)].
        refreshes: Nightly refreshes that ran.
    """

    name: str
    description: str
    start: datetime
    end: datetime
    steps: list[RecordedStep]
    cohorts: dict[str, list[tuple[Any, int]]]
    refreshes: int


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
