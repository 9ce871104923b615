"""Scenario files as typed objects: parsed and validated once, before anything runs.

A scenario is a name, a start time, a format and a list of steps. Each step is a mapping
with one action key (``identify:``, ``at:``, ``expect:`` ...), an optional ``expect:`` for
the action's HTTP outcome, and an optional ``note:``. The specs are in
:mod:`harness.scenarios.specs`; see ``docs/scenarios.md``.

Validation reports every problem of a file at once, each with its line and field: the
step bodies are checked against the JSON schema built from the specs, then converted to
the specs, then checked for the rules a schema cannot state.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, cast

import jsonschema_rs
import msgspec

from harness.core.clock import SCENARIO_START, parse_instant
from harness.scenarios import templates
from harness.scenarios.loader import Finding, LineDict, LineList, ScenarioError, read_yaml
from harness.scenarios.specs import (
    CHECKS,
    FORMATS,
    LATEST_FORMAT,
    SCALAR_ACTIONS,
    SPECS,
    STEP_SPECS,
    AdvanceSpec,
    AtSpec,
    JournalExpect,
    OutcomeSpec,
    RequestSpec,
    StepBody,
    ValueCount,
    parse_duration,
)
from harness.scenarios.specs import (
    _Spec as Spec,
)

TOP_LEVEL = ("name", "description", "start", "format", "steps")
STEP_KEYS = ("expect", "note")

__all__ = [
    "Scenario",
    "Step",
    "load_scenario",
    "parse_duration",
    "parse_scenario",
    "scenario_files",
    "schema",
]


@dataclass(frozen=True, slots=True)
class Step:
    """One step: an action with its typed body, where it is in the file, and its expected outcome."""

    index: int
    line: int
    body: StepBody
    outcome: OutcomeSpec | None = None
    note: str | None = None

    @property
    def action(self) -> str:
        """The action's key in the file (``identify``, ``at``, ...)."""
        return self.body.ACTION

    def label(self) -> str:
        """A short name for reports: ``step 4 (identify)``."""
        return f"step {self.index + 1} ({self.action})"


@dataclass(frozen=True, slots=True)
class Scenario:
    """A parsed, validated scenario."""

    name: str
    file: str
    start: datetime
    steps: tuple[Step, ...]
    description: str = ""
    line: int = 1
    format: int = 1


# the schema ----------------------------------------------------------------------------------
_SCHEMA_TYPES: tuple[type[Spec], ...] = (
    *(spec for spec in STEP_SPECS if spec.ACTION not in SCALAR_ACTIONS),
    OutcomeSpec,
    ValueCount,
)


@cache
def schema() -> dict[str, Any]:
    """The JSON schema of every action's body and of an outcome, as ``$defs`` by spec name."""
    _, components = msgspec.json.schema_components(_SCHEMA_TYPES, ref_template="#/$defs/{name}")
    return {"$defs": components}


@cache
def _validator(spec: type[Spec]) -> jsonschema_rs.Validator:
    return jsonschema_rs.Draft202012Validator(
        {"$ref": f"#/$defs/{spec.__name__}", **schema()}, validate_formats=False
    )


def _key_text(key: Any) -> str:
    return key if isinstance(key, str) else json.dumps(key)


def _jsonable(value: Any) -> Any:
    """A copy JSON-schema validation can read: mapping keys become text (``1`` -> ``"1"``)."""
    if isinstance(value, dict):
        return {_key_text(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def _line_at(node: Any, path: list[str | int], fallback: int) -> int:
    """The line of the value at ``path`` below ``node`` (the deepest one known)."""
    line = node.line if isinstance(node, LineDict | LineList) else fallback
    for part in path:
        if isinstance(node, LineDict):
            key = next((k for k in node if _key_text(k) == part), None)
            if key is None:
                break
            line, node = node.line_of(key), node[key]
        elif isinstance(node, LineList) and isinstance(part, int) and part < len(node):
            line, node = node.line_of(part), node[part]
        else:
            break
    return line or fallback


def _path_text(path: list[str | int]) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path)


def _subschema(path: list[str | int]) -> Any:
    node: Any = schema()
    for part in path:
        node = node[part]
    return node


def _words(node: Any) -> str:
    """A schema in words: ``text or null``, ``a mapping``, ``one of all, any``."""
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        return f"a mapping ({name})"
    if "anyOf" in node:
        return " or ".join(dict.fromkeys(_words(option) for option in node["anyOf"]))
    if "enum" in node:
        return "one of " + ", ".join(json.dumps(option) for option in node["enum"])
    kinds = node.get("type")
    names = {
        "string": "text",
        "integer": "an integer",
        "number": "a number",
        "boolean": "true or false",
        "null": "null",
        "object": "a mapping",
        "array": "a list",
    }
    if isinstance(kinds, list):
        return " or ".join(names[kind] for kind in kinds)
    if isinstance(kinds, str):
        return names[kinds]
    return "a value"


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        return f"the number {value}"
    return f"the text {json.dumps(value)}"


def _hint_for_field(name: str, spec: type[Spec] | None, known: list[str]) -> str:
    """Why an unknown field may be where it is, and where it probably belongs."""
    if name in STEP_KEYS or (name in SPECS and spec is not None and spec.__name__ != "ExpectSpec"):
        return f"; {name!r} belongs at the step's level, beside the action (indent it less)"
    if spec is not None and spec.__name__ == "ExpectSpec" and name in _OUTCOME_FIELDS:
        return (
            f"; {name!r} checks an action's answer: put `expect: {{{name}: ...}}` beside the "
            "action it checks, in the same step"
        )
    close = difflib.get_close_matches(name, known, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


_OUTCOME_FIELDS = frozenset(field.encode_name for field in msgspec.structs.fields(OutcomeSpec))


def _schema_findings(spec: type[Spec], raw: Any, where: str, line: int) -> list[Finding]:
    findings: list[Finding] = []
    errors = list(_validator(spec).iter_errors(_jsonable(raw)))
    for error in errors:
        findings.extend(_finding(error, raw, where, line))
    return findings


def _finding(error: Any, raw: Any, where: str, line: int) -> list[Finding]:
    kind = type(error.kind).__name__
    path = list(error.instance_path)
    field = where + _path_text(path)
    at = _line_at(raw, path, line)
    if kind == "AnyOf":
        # The one branch whose type fits reports what is wrong inside it; else say what fits.
        options = _subschema(list(error.schema_path))
        fitting = [
            branch
            for option, branch in zip(options, error.kind.context, strict=False)
            if _fits(option, error.instance)
        ]
        if len(fitting) == 1 and fitting[0]:
            return [f for sub in fitting[0] for f in _finding(sub, raw, where, line)]
        node = _subschema(list(error.schema_path)[:-1])
        return [Finding(at, field, f"expected {_words(node)}, got {_describe(error.instance)}")]
    if kind == "AdditionalProperties":
        owner = list(error.schema_path)[:-1]
        spec = _specs_by_name().get(str(owner[-1])) if owner else None
        known = list(_subschema(owner).get("properties", {}))
        return [
            Finding(
                _line_at(raw, [*path, name], line),
                field,
                f"unknown field {name!r} (known: {', '.join(known)})"
                + _hint_for_field(name, spec, known),
            )
            for name in error.kind.unexpected
        ]
    if kind == "Required":
        return [Finding(at, field, f"missing field {error.kind.property!r}")]
    if kind == "Type":
        node = _subschema(list(error.schema_path)[:-1])
        return [Finding(at, field, f"expected {_words(node)}, got {_describe(error.instance)}")]
    if kind == "Enum":
        node = _subschema(list(error.schema_path)[:-1])
        return [Finding(at, field, f"expected {_words(node)}, got {_describe(error.instance)}")]
    if kind == "PropertyNames":
        names = _subschema(list(error.schema_path)[:-1])
        inner = error.kind.error
        return [
            Finding(
                at,
                field,
                f"expected keys {_words(names)}, got {_describe(inner.instance)}",
            )
        ]
    return [Finding(at, field, error.message)]


def _fits(node: Any, value: Any) -> bool:
    """Whether ``value`` has the JSON type ``node`` (one anyOf branch) is about."""
    if "$ref" in node:
        node = _subschema(node["$ref"].removeprefix("#/").split("/"))
    kinds = node.get("type")
    if kinds is None:
        return True
    kinds = kinds if isinstance(kinds, list) else [kinds]
    checks = {
        "object": isinstance(value, dict),
        "array": isinstance(value, list),
        "string": isinstance(value, str),
        "boolean": isinstance(value, bool),
        "null": value is None,
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
    }
    return any(checks[kind] for kind in kinds)


@cache
def _specs_by_name() -> dict[str, type[Spec]]:
    found: dict[str, type[Spec]] = {}
    pending: list[type[Spec]] = [Spec]
    while pending:
        for child in pending.pop().__subclasses__():
            found[child.__name__] = child
            pending.append(child)
    return found


# conversion ----------------------------------------------------------------------------------
def _convert_findings(
    spec: type[Spec], raw: Any, where: str, line: int
) -> tuple[Any, list[Finding]]:
    try:
        return msgspec.convert(raw, type=spec, strict=True), []
    except msgspec.ValidationError as error:
        message, _, path_text = str(error).partition(" - at `")
        path = _msgspec_path(path_text.rstrip("`"))
        return None, [Finding(_line_at(raw, path, line), where + _path_text(path), message)]


def _msgspec_path(text: str) -> list[str | int]:
    """``$.traits.plan`` or ``$.conditions[1].value`` as path parts."""
    parts: list[str | int] = []
    for key, index in re.findall(r"\.([^.\[]+)|\[(\d+)\]", text.removeprefix("$")):
        parts.append(int(index) if index else key)
    return parts


def _time(value: Any, line: int, field: str) -> tuple[datetime | None, list[Finding]]:
    if not isinstance(value, str):
        return None, [
            Finding(
                line,
                field,
                "must be an ISO-8601 timestamp with an offset, e.g. 2026-03-02T23:00:00Z",
            )
        ]
    try:
        return parse_instant(value), []
    except ValueError as problem:
        return None, [Finding(line, field, f"{value!r} {problem}")]


# the file ------------------------------------------------------------------------------------
def parse_scenario(document: Any, file: str) -> Scenario:
    """Validate a loaded document and build the :class:`Scenario`.

    Raises:
        ScenarioError: naming every problem of the file, each with its line and field.
    """
    if not isinstance(document, LineDict):
        raise ScenarioError(file, 1, "", "a scenario is a mapping with name, start and steps")
    findings: list[Finding] = []
    for key in document:
        if key not in TOP_LEVEL:
            hint = ""
            if key in SPECS or key in CHECKS:
                hint = f"; {key!r} looks like a step: indent it as an item of steps (- {key}: ...)"
            else:
                close = difflib.get_close_matches(str(key), TOP_LEVEL, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
            findings.append(
                Finding(
                    document.line_of(key),
                    str(key),
                    f"unknown top-level field (known: {', '.join(TOP_LEVEL)}){hint}",
                )
            )
    name = document.get("name")
    if not isinstance(name, str) or not name.strip():
        findings.append(Finding(document.line_of("name"), "name", "every scenario needs a name"))
    description = document.get("description", "")
    if not isinstance(description, str):
        findings.append(Finding(document.line_of("description"), "description", "must be text"))
        description = ""
    start, problems = _time(
        document.get("start", SCENARIO_START), document.line_of("start"), "start"
    )
    findings += problems
    version = document.get("format", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version not in FORMATS:
        newer = isinstance(version, int) and version > LATEST_FORMAT
        findings.append(
            Finding(
                document.line_of("format"),
                "format",
                f"format {version} is newer than this harness (it reads {', '.join(map(str, FORMATS))}): upgrade segment-abtasty-harness"
                if newer
                else f"the format is one of {', '.join(map(str, FORMATS))}",
            )
        )
        version = LATEST_FORMAT
    raw_steps = document.get("steps")
    steps: list[Step] = []
    if not isinstance(raw_steps, LineList) or not raw_steps:
        findings.append(
            Finding(document.line_of("steps"), "steps", "must be a non-empty list of steps")
        )
    else:
        for index, raw in enumerate(raw_steps):
            step, problems = _parse_step(raw, index, raw_steps.line_of(index), version)
            findings += problems
            if step is not None:
                steps.append(step)
    if findings:
        raise ScenarioError(file, findings=sorted(findings, key=lambda f: f.line))
    assert start is not None
    assert isinstance(name, str)
    return Scenario(name, file, start, tuple(steps), description, document.line, version)


def _unknown_action(key: Any, raw: LineDict, actions: list[str]) -> str:
    """Why ``key`` is not an action, and what the author probably meant."""
    text = str(key)
    if text in CHECKS:
        return (
            f"unknown action {text!r}: it is a check, and probably belongs under expect: "
            f"(indent it below `- expect:`)"
        )
    fields = {
        field.encode_name for action in actions for field in msgspec.structs.fields(SPECS[action])
    }
    if text in fields:
        return f"unknown action {text!r}: it looks like a field of {actions[0]}: indent it under {actions[0]}:"
    if text in _OUTCOME_FIELDS:
        return (
            f"unknown action {text!r}: it checks the action's answer and belongs under "
            f"`expect:` beside the action"
        )
    close = difflib.get_close_matches(text, list(SPECS), n=1)
    did = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown action {text!r}; {did}actions: {', '.join(SPECS)}"


def _parse_step(raw: Any, index: int, line: int, version: int) -> tuple[Step | None, list[Finding]]:
    field = f"steps[{index}]"
    if not isinstance(raw, LineDict):
        return None, [
            Finding(line, field, "a step is a mapping with one action, e.g. {identify: {...}}")
        ]
    actions = [key for key in raw if key in SPECS]
    findings = [
        Finding(raw.line_of(key), field, _unknown_action(key, raw, actions or ["identify"]))
        for key in raw
        if key not in SPECS and key not in STEP_KEYS
    ]
    outcome_raw = None
    if len(actions) == 2 and "expect" in actions:
        actions.remove("expect")  # an action with an outcome check
        outcome_raw = raw["expect"]
    if len(actions) > 1:
        findings.append(
            Finding(
                raw.line_of(actions[1]),
                field,
                f"a step has exactly one action, this one has {' and '.join(actions)} "
                "(start a new step with `- `)",
            )
        )
    if not actions:
        if not findings:
            findings.append(Finding(line, field, f"a step needs an action: {', '.join(SPECS)}"))
        return None, findings
    action = actions[0]
    value = raw[action]
    where = f"{field}.{action}"
    action_line = raw.line_of(action)
    body: StepBody | None = None
    if action == "at":
        when, problems = _time(value, action_line, where)
        findings += problems
        body = AtSpec(when) if when is not None else None
    elif action == "advance":
        try:
            body = AdvanceSpec(parse_duration(value))
        except (ValueError, AttributeError, TypeError) as error:
            findings.append(Finding(action_line, where, str(error)))
    else:
        spec = SPECS[action]
        value = value if value is not None else LineDict()
        problems = _schema_findings(spec, value, where, action_line)
        if not problems:
            converted, problems = _convert_findings(spec, value, where, action_line)
            if converted is not None:
                # Every spec in SPECS is a member of StepBody (a test checks the two agree).
                body = cast("StepBody", converted)
                problems = [
                    Finding(
                        _line_at(value, _msgspec_path("$" + p.where), action_line),
                        where + p.where,
                        p.message,
                    )
                    for p in body.problems()
                ]
                problems += _template_findings(body, value, where, action_line)
        findings += problems
    outcome = None
    if outcome_raw is not None:
        outcome_line = raw.line_of("expect")
        problems = _schema_findings(OutcomeSpec, outcome_raw, f"{field}.expect", outcome_line)
        if not problems:
            outcome, problems = _convert_findings(
                OutcomeSpec, outcome_raw, f"{field}.expect", outcome_line
            )
            if outcome is not None and isinstance(body, RequestSpec):
                problems += _text_findings(
                    msgspec.to_builtins(outcome), outcome_raw, f"{field}.expect", outcome_line
                )
        findings += problems
    note = raw.get("note")
    if note is not None and not isinstance(note, str):
        findings.append(Finding(raw.line_of("note"), f"{field}.note", "a note is text"))
    if findings or body is None:
        return None, findings
    return Step(index, line, body, outcome, note), []


def _template_findings(body: StepBody, raw: Any, where: str, line: int) -> list[Finding]:
    """References in a request step and in journal checks must parse."""
    if isinstance(body, RequestSpec):
        return _text_findings(msgspec.to_builtins(body), raw, where, line)
    journal = getattr(body, "journal", None)
    if isinstance(journal, JournalExpect):
        return _text_findings(
            msgspec.to_builtins(journal), raw.get("journal"), f"{where}.journal", line
        )
    return []


def _text_findings(value: Any, raw: Any, where: str, line: int) -> list[Finding]:
    found: list[Finding] = []

    def walk(node: Any, path: list[str | int]) -> None:
        if isinstance(node, str):
            for problem in templates.problems(node):
                found.append(Finding(_line_at(raw, path, line), where + _path_text(path), problem))
        elif isinstance(node, dict):
            for key, item in node.items():
                walk(item, [*path, key])
        elif isinstance(node, list):
            for i, item in enumerate(node):
                walk(item, [*path, i])

    walk(value, [])
    return found


def load_scenario(path: Path) -> Scenario:
    """Read, validate and parse a scenario file.

    Raises:
        ScenarioError: naming every problem of the file, each with its line and field.
    """
    return parse_scenario(read_yaml(path), str(path))


def scenario_files(paths: list[Path]) -> list[Path]:
    """The ``.yaml``/``.yml`` files among ``paths`` (folders are searched, sorted by name)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
            )
        else:
            found.append(path)
    return found
