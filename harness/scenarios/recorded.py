"""A recorded run (:class:`harness.runtime.recording.RecordedRun`) as a scenario file.

The scenario replays what AB Tasty actually received, when it received it (duplicates,
reordering and late deliveries included) and the tag's sightings, then expects the
cohorts and refresh count the run ended with. Any run found by generation becomes a
reviewable, replayable story (``harness simulate --scenario-out``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from harness.runtime.recording import RecordedRun
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
from harness.scenarios.writer import ScenarioDraft, write_scenario


def write_recorded_run(path: Path, run: RecordedRun) -> None:
    """Write the recorded run as a format 2 scenario file, built from the scenario specs."""
    draft = ScenarioDraft(run.name, run.start, description=run.description, format=2)
    draft.add(AccountSpec(name="shop"))
    now = run.start
    for step in sorted(run.steps, key=lambda s: s.at):  # stable: same-instant steps keep order
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
    draft.add(AtSpec(run.end))
    draft.add(
        ExpectSpec(
            builder=BuilderExpect(
                account="shop",
                exactly={trait: _values(pairs) for trait, pairs in run.cohorts.items()},
            ),
            refreshes=RefreshesExpect(account="shop", count=run.refreshes),
        )
    )
    write_scenario(path, draft)


def _values(pairs: list[tuple[Any, int]]) -> dict[Any, int] | list[dict[str, Any]]:
    """``{value: visitors}``, unless two values are one mapping key (``true`` and ``1``)."""
    as_mapping = dict(pairs)
    if len(as_mapping) == len(pairs):
        return as_mapping
    return [msgspec.to_builtins(ValueCount(value, visitors)) for value, visitors in pairs]
