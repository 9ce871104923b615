"""Reading scenario YAML with the line of every key, so errors can name file, line and field.

Two YAML 1.1 surprises are switched off: timestamps stay strings (the scenario parser
reads them), and only ``true``/``false`` are booleans (a country trait ``NO`` is Norway).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing wrong with a scenario file: where (line, field) and what."""

    line: int
    field: str
    message: str

    def render(self, file: str) -> str:
        """``file:line: field: message``."""
        where = f"{file}:{self.line}" if self.line else file
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class ScenarioError(Exception):
    """A scenario file that cannot run, with every problem found in it, each located precisely.

    Attributes:
        file: The scenario file.
        findings: Every problem, in file order (at least one).
        line: 1-based line of the first problem (0 when unknown).
        field: Where the first problem is, e.g. ``steps[3].identify.traits``.
        message: What the first problem is.
    """

    def __init__(
        self,
        file: str,
        line: int = 0,
        field: str = "",
        message: str = "",
        *,
        findings: list[Finding] | None = None,
    ) -> None:
        self.file = file
        self.findings = findings or [Finding(line, field, message)]
        first = self.findings[0]
        self.line = first.line
        self.field = first.field
        self.message = first.message
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(finding.render(self.file) for finding in self.findings)


class LineDict(dict[Any, Any]):
    """A mapping that remembers the line of each key (1-based)."""

    line: int = 0

    def __init__(self) -> None:
        super().__init__()
        self.lines: dict[Any, int] = {}

    def line_of(self, key: Any) -> int:
        """The line of ``key``, else of the mapping itself."""
        return self.lines.get(key, self.line)


class LineList(list[Any]):
    """A sequence that remembers the line of each item (1-based)."""

    line: int = 0

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[int] = []

    def line_of(self, index: int) -> int:
        """The line of item ``index``, else of the sequence itself."""
        return self.lines[index] if 0 <= index < len(self.lines) else self.line


class _Loader(yaml.SafeLoader):
    pass


_Loader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag not in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:bool")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    result = LineDict()
    result.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in result:
            other = next(k for k in result if k == key)
            if type(other) is type(key):
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            # true, 1 and 1.0 are different JSON values but one Python dict key.
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"{_show(other)} and {_show(key)} are different values, but one mapping cannot "
                "hold both as keys: write them as a list, e.g. "
                f"[{{value: {_show(other)}, visitors: 1}}, {{value: {_show(key)}, visitors: 1}}]",
                key_node.start_mark,
            )
        result[key] = loader.construct_object(value_node, deep=True)
        result.lines[key] = key_node.start_mark.line + 1
    return result


def _show(value: Any) -> str:
    """A scalar as YAML writes it (``true``, ``1``, ``"1"``)."""
    text = yaml.safe_dump(value, default_flow_style=True).strip()
    return text.removesuffix("\n...").strip()


def _sequence(loader: _Loader, node: yaml.SequenceNode) -> LineList:
    result = LineList()
    result.line = node.start_mark.line + 1
    for item in node.value:
        result.append(loader.construct_object(item, deep=True))
        result.lines.append(item.start_mark.line + 1)
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _sequence)


def read_yaml(path: Path) -> Any:
    """The document in ``path``, with line numbers on every mapping and sequence.

    Raises:
        ScenarioError: when the file cannot be read or is not valid YAML.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ScenarioError(str(path), 0, "", f"cannot read the file ({error})") from None
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        problem = getattr(error, "problem", None) or str(error)
        raise ScenarioError(str(path), line, "", f"not valid YAML: {problem}") from None
