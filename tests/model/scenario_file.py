"""Writing the stateful test's steps as a scenario file (format 2 of ``scenarios/``).

A failing run of the machine is printed this way, so its shrunk steps replay with
``harness play FILE`` and can be kept as a regression story. The machine records each step
as the scenario spec it corresponds to, with the outcome the model expects when that is not
a plain 2xx; this module adds the final checks (the model's view of every account) and
writes the file with the project's scenario writer, so it loads back unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from harness.scenarios.specs import (
    BuilderExpect,
    ExpectSpec,
    OutcomeSpec,
    RefreshesExpect,
    RunExpect,
    StepBody,
    ValueCount,
    VisitorExpect,
)
from harness.scenarios.writer import DraftStep, ScenarioDraft, dump_scenario
from tests.model.reference import ReferenceModel, ValueId, printed_key

VISITORS = ("v1", "v2", "v3")


@dataclass
class Recorded:
    """One step of a run: the scenario spec of its action, and the outcome it must get."""

    body: StepBody
    outcome: OutcomeSpec | None = None


def instant(when: datetime) -> str:
    """An instant as scenario files and responses write it (UTC, ``Z``)."""
    return when.isoformat().replace("+00:00", "Z")


criterion_key = printed_key
"""The builder key of a criterion: its dotted path; a group trait's under ``group.``."""


def plain(identity: ValueId) -> Any:
    """A value id as the JSON value it stands for (``2.0`` as ``2``)."""
    kind, value = identity
    if kind == "number" and value == int(value):
        return int(value)
    return value


def _values(counts: dict[ValueId, int]) -> dict[Any, int] | list[Any]:
    """``{value: visitors}``, or a list when two values are one mapping key (``true``, ``1``)."""
    pairs = [(plain(identity), visitors) for identity, visitors in counts.items()]
    as_mapping = dict(pairs)
    if len(as_mapping) == len(pairs):
        return as_mapping
    return [ValueCount(value, visitors) for value, visitors in pairs]


def final_checks(model: ReferenceModel) -> list[Recorded]:
    """``expect:`` steps stating what the model says every account shows now."""
    steps: list[Recorded] = []
    for account in model.accounts:
        alias = account.alias
        snapshot = model.snapshot(alias)
        current = model.last_connector(alias)
        by_source: dict[str | None, dict[str, Any]] = {"identify": {}, "group": {}}
        for connector, _, traits in model.builder(alias, snapshot):
            if current is None or connector != current.alias:
                continue
            for criterion, counts in traits.items():
                by_source[criterion[0]][criterion_key(criterion)] = _values(counts)
        identify, group = by_source["identify"], by_source["group"]
        runs = [
            RunExpect(
                scheduled_for=instant(run.scheduled_for),
                cutoff=instant(run.cutoff),
                messages=run.messages,
                profiles=run.profiles,
                matched_profiles=run.matched_profiles,
                cohorts=run.cohorts,
            )
            for run in snapshot.runs
        ]
        refreshes = RefreshesExpect(account=alias, count=len(runs), runs=runs)
        if set(identify) & set(group):  # one key from both sources: a check for each
            steps.append(
                Recorded(
                    ExpectSpec(
                        builder=BuilderExpect(account=alias, source="identify", exactly=identify),
                        refreshes=refreshes,
                    )
                )
            )
            steps.append(
                Recorded(
                    ExpectSpec(builder=BuilderExpect(account=alias, source="group", exactly=group))
                )
            )
        else:
            steps.append(
                Recorded(
                    ExpectSpec(
                        builder=BuilderExpect(account=alias, exactly={**identify, **group}),
                        refreshes=refreshes,
                    )
                )
            )
        segments = [s.alias for s in model.segments if s.account == alias]
        if segments:
            for visitor in VISITORS:
                inside = model.visitor_segments(alias, visitor, snapshot)
                outside = [s for s in segments if s not in inside]
                steps.append(
                    Recorded(
                        ExpectSpec(
                            visitor=VisitorExpect(
                                account=alias, visitor_id=visitor, in_=inside, not_in=outside
                            )
                        )
                    )
                )
    return steps


def render_scenario(
    name: str, start: datetime, steps: list[Recorded], description: str = ""
) -> str:
    """The scenario file's text (format 2: values compare as typed JSON)."""
    draft = ScenarioDraft(name, start, description=description, format=2)
    for step in steps:
        draft.steps.append(DraftStep(step.body, step.outcome))
    return dump_scenario(draft)


def outcome_of(status: int, code: str | None, body: dict[str, Any]) -> OutcomeSpec | None:
    """The ``expect:`` beside an action, when a plain 2xx does not say it all."""
    shown = {k: v for k, v in body.items() if k != "created"}
    if shown == {"status": "accepted"}:
        shown = {}  # the webhook's usual answer
    if code is None and not shown and "created" not in body:
        return None
    return OutcomeSpec(status=status, code=code, body=shown or None)
