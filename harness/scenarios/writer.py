"""Writing scenario files from typed steps: what a program records, a person can read and replay.

The writer takes the same specs the loader builds, so a written file always loads back to the
steps it was written from (a test round-trips every shipped scenario through it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import yaml

from harness.core.clock import format_instant
from harness.scenarios.specs import (
    AdvanceSpec,
    AtSpec,
    OutcomeSpec,
    StepBody,
)


@dataclass(frozen=True, slots=True)
class DraftStep:
    """One step to write: its action's spec, and optionally an outcome check and a note."""

    body: StepBody
    outcome: OutcomeSpec | None = None
    note: str | None = None


@dataclass(slots=True)
class ScenarioDraft:
    """A scenario to write (see :func:`write_scenario`)."""

    name: str
    start: datetime
    steps: list[DraftStep] = field(default_factory=list)
    description: str = ""
    format: int | None = None

    def add(
        self, body: StepBody, outcome: OutcomeSpec | None = None, note: str | None = None
    ) -> None:
        """Append a step."""
        self.steps.append(DraftStep(body, outcome, note))


def format_duration(duration: timedelta) -> str:
    """A duration as ``advance:`` reads it: ``1h30m``, ``90s``, ``2d``."""
    seconds = duration.total_seconds()
    if seconds <= 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        whole, seconds = divmod(seconds, size)
        if whole:
            parts.append(f"{int(whole)}{unit}")
    if seconds:
        parts.append(f"{seconds:g}s")
    return "".join(parts)


def step_document(step: DraftStep) -> dict[str, Any]:
    """One step as the mapping a scenario file holds."""
    body = step.body
    value: Any
    match body:
        case AtSpec(when=when):
            value = format_instant(when)
        case AdvanceSpec(duration=duration):
            value = format_duration(duration)
        case _:
            value = msgspec.to_builtins(body)
    document: dict[str, Any] = {body.ACTION: value}
    if step.outcome is not None:
        document["expect"] = msgspec.to_builtins(step.outcome)
    if step.note is not None:
        document["note"] = step.note
    return document


def scenario_document(draft: ScenarioDraft) -> dict[str, Any]:
    """The whole scenario as the mapping a file holds."""
    document: dict[str, Any] = {"name": draft.name}
    if draft.format is not None:
        document["format"] = draft.format
    if draft.description:
        document["description"] = draft.description
    document["start"] = format_instant(draft.start)
    document["steps"] = [step_document(step) for step in draft.steps]
    return document


class _Dumper(yaml.SafeDumper):
    pass


class _Block(dict[str, Any]):
    """A mapping written one key a line: the document and each step."""


def _flow_mapping(dumper: yaml.SafeDumper, data: dict[str, Any]) -> yaml.Node:
    # Small mappings read best inline; the steps list stays one step a line.
    return dumper.represent_mapping(
        "tag:yaml.org,2002:map", data.items(), flow_style=len(data) <= 8 and _flat(data)
    )


def _block_mapping(dumper: yaml.SafeDumper, data: dict[str, Any]) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=False)


def _flat(data: dict[str, Any]) -> bool:
    return all(not isinstance(v, dict | list) or len(v) <= 6 for v in data.values())


_Dumper.add_representer(dict, _flow_mapping)
_Dumper.add_representer(_Block, _block_mapping)


def dump_scenario(draft: ScenarioDraft) -> str:
    """The scenario as YAML text: the document and each step one key a line, however short."""
    document = _Block(scenario_document(draft))
    document["steps"] = [_Block(step) for step in document["steps"]]
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120)


def write_scenario(path: Path, draft: ScenarioDraft) -> None:
    """Write the scenario to ``path``."""
    path.write_text(dump_scenario(draft), encoding="utf-8")
