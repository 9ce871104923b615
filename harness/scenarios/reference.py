"""The step reference, rendered from the schema itself (``harness play --list-steps``).

``docs/scenarios.md`` carries the same text between its ``steps:begin``/``steps:end``
markers; a test keeps the two equal, so the documentation can never describe a field the
schema does not have, or miss one it has.
"""

from __future__ import annotations

import json
from typing import Any

from harness.core.clock import SCENARIO_START
from harness.scenarios import templates
from harness.scenarios.model import STEP_KEYS, TOP_LEVEL, schema
from harness.scenarios.specs import (
    CHECKS,
    FORMATS,
    SCALAR_ACTIONS,
    STEP_SPECS,
    AdvanceSpec,
    AtSpec,
    OutcomeSpec,
)

PARTS: dict[str, str] = {
    "ConditionSpec": "condition",
    "ConnectorRef": "connector",
    "OutageSpec": "outage",
    "ClientCallSpec": "client call",
    "ValueCount": "value count",
    "TraitValue": "trait value",
    "MessageExpect": "message",
    "RunExpect": "run",
    "JournalEntryExpect": "journal entry",
}
"""The nested parts of steps and checks, by spec name, with the name the reference uses."""

_CHECK_SPECS = {
    name: ref["anyOf"][0]["$ref"].rsplit("/", 1)[-1]
    for name, ref in schema()["$defs"]["ExpectSpec"]["properties"].items()
}

_CHECK_NAMES = {spec: check for check, spec in _CHECK_SPECS.items()}

TOP_LEVEL_DOCS = {
    "name": "a human-readable title (required)",
    "description": "what the story shows",
    "format": f"how values compare: {', '.join(map(str, FORMATS))} (default 1; see Formats)",
    "start": f"where the clock starts (default {SCENARIO_START})",
    "steps": "the steps, run in order; the first failure stops the story",
}


def _type(node: dict[str, Any]) -> str:
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        if name in _CHECK_NAMES:
            return f"the `{_CHECK_NAMES[name]}` check"
        return f"[{PARTS.get(name, name)}](#{_anchor(PARTS.get(name, name))})"
    if "title" in node:
        return str(node["title"])
    if "anyOf" in node:
        return " or ".join(dict.fromkeys(_type(option) for option in node["anyOf"]))
    if "enum" in node:
        return " or ".join(f"`{option}`" for option in node["enum"])
    kinds = node.get("type")
    if isinstance(kinds, list):
        return " or ".join(_type({"type": kind}) for kind in kinds)
    if kinds == "array":
        items = node.get("items")
        return f"list of {_type(items)}" if items else "list"
    if kinds == "object":
        values = node.get("additionalProperties")
        if isinstance(values, dict):
            keys = node.get("propertyNames", {}).get("enum")
            key_text = " or ".join(f"`{k}`" for k in keys) if keys else "text"
            return f"mapping of {key_text} to {_type(values)}"
        return "mapping"
    return {
        "string": "text",
        "integer": "integer",
        "number": "number",
        "boolean": "`true`/`false`",
        "null": "`null`",
    }.get(kinds or "", "any value")


def _anchor(title: str) -> str:
    return title.lower().replace(" ", "-").replace("`", "")


def _default(node: dict[str, Any], required: bool) -> str:
    if required:
        return "required"
    if "default" in node:
        return f"`{json.dumps(node['default'])}`"
    return "optional"


def _table(spec_name: str) -> list[str]:
    definition = schema()["$defs"][spec_name]
    required = set(definition.get("required", ()))
    rows = ["| field | type | default | what it is |", "|---|---|---|---|"]
    for name, node in definition["properties"].items():
        description = " ".join(node.get("description", "").split())
        rows.append(
            f"| `{name}` | {_type(node)} | {_default(node, name in required)} | {description} |"
        )
    return rows


def _describe(spec_name: str) -> str:
    return " ".join(schema()["$defs"][spec_name].get("description", "").split())


def reference() -> str:
    """Every top-level field, action, outcome field, check, part, reference and format, as Markdown."""
    out = ["## File", "", "| field | what it is |", "|---|---|"]
    out += [f"| `{name}` | {TOP_LEVEL_DOCS[name]} |" for name in TOP_LEVEL]
    out += [
        "",
        f"A step is a mapping with one action, and optionally {' and '.join(f'`{k}`' for k in STEP_KEYS)}.",
        "",
        "## Actions",
    ]
    for spec in STEP_SPECS:
        out += ["", f"### `{spec.ACTION}`", ""]
        if spec.ACTION in SCALAR_ACTIONS:
            doc = " ".join((AtSpec if spec is AtSpec else AdvanceSpec).__doc__.split())  # type: ignore[union-attr]
            out.append(doc)
            continue
        out += [_describe(spec.__name__), "", *_table(spec.__name__)]
    out += [
        "",
        "## Outcome",
        "",
        f"`expect:` beside an action, in the same step. {_describe(OutcomeSpec.__name__)}",
        "",
        *_table(OutcomeSpec.__name__),
        "",
        "## Checks",
        "",
        "`expect:` as a step, with one or more of these checks.",
    ]
    for check in CHECKS:
        name = _CHECK_SPECS[check]
        out += ["", f"### `{check}`", "", _describe(name), "", *_table(name)]
    out += ["", "## Parts"]
    for name, title in PARTS.items():
        out += ["", f"### {title}", "", _describe(name), "", *_table(name)]
    out += [
        "",
        "## References",
        "",
        "Text in a `request` step, its `expect:`, and a `journal` check may hold "
        "`${function:argument}` references, nested as needed; `$${` is a literal `${`.",
        "",
        "| reference | gives |",
        "|---|---|",
        *(f"| `{name}` | {text} |" for name, text in templates.FUNCTIONS.items()),
        "",
        "## Formats",
        "",
        "| format | values |",
        "|---|---|",
        *(f"| {version} | {text} |" for version, text in FORMATS.items()),
    ]
    return "\n".join(out) + "\n"
