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
import yaml

from harness.core.clock import Clock, format_instant
from harness.segment.delivery import Transport, TransportResponse


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


class _Dumper(yaml.SafeDumper):
    pass


def _flow_mapping(dumper: yaml.SafeDumper, data: dict[str, Any]) -> yaml.Node:
    # Small mappings read best inline; the steps list stays one step a line.
    return dumper.represent_mapping(
        "tag:yaml.org,2002:map", data.items(), flow_style=len(data) <= 8 and _flat(data)
    )


def _flat(data: dict[str, Any]) -> bool:
    return all(not isinstance(v, dict | list) or len(v) <= 6 for v in data.values())


_Dumper.add_representer(dict, _flow_mapping)


def write_scenario(
    path: Path,
    *,
    name: str,
    description: str,
    start: datetime,
    end: datetime,
    steps: list[RecordedStep],
    cohorts: dict[str, dict[Any, int]],
    refreshes: int,
) -> None:
    """Write the recorded run as a scenario file."""
    out: list[dict[str, Any]] = [{"account": {"name": "shop"}}]
    now = start
    for step in sorted(steps, key=lambda s: s.at):  # stable: same-instant steps keep their order
        if step.at != now:
            out.append({"at": format_instant(step.at)})
            now = step.at
        if step.kind == "visitor":
            out.append({"visitor": {"account": "shop", **step.body}})
        else:
            entry: dict[str, Any] = {
                "send": {"to": "webhook", "account": "shop", "body": step.body}
            }
            if step.status is not None and not 200 <= step.status < 300:
                entry["expect"] = {"status": step.status}
            out.append(entry)
    out.append({"at": format_instant(end)})
    out.append(
        {
            "expect": {
                "builder": {"account": "shop", "exactly": cohorts},
                "refreshes": {"account": "shop", "count": refreshes},
            }
        }
    )
    document = {
        "name": name,
        "description": description,
        "start": format_instant(start),
        "steps": out,
    }
    path.write_text(
        yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120),
        encoding="utf-8",
    )
