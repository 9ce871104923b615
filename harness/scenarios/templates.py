"""References in scenario text: ``${api_key:shop}``, ``${base64:${api_key:shop}:}``.

A scenario cannot know a generated key or id in advance, so text in a ``request`` step and
in a ``journal`` check may name them: ``${function:argument}``, nested as deep as needed,
evaluated innermost first. ``$${`` is a literal ``${``.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass

FUNCTIONS: dict[str, str] = {
    "api_key": "the live API key of an account (`${api_key:shop}`), or a key kept with `keep_old_as`",
    "write_key": "the write key of a source",
    "account_id": "the id of an account",
    "source_id": "the id of a source",
    "connector_id": "the id of an account's current connector (`${connector_id:shop}`)",
    "segment_id": "the id of a segment, by its alias",
    "base64": "the argument's text in base64 (`${base64:${api_key:shop}:}` is the Basic credential)",
    "last4": "the last 4 characters of the argument (as masked secrets show them: `****${last4:...}`)",
    "now": "the clock's instant (no argument)",
}
"""Every function a reference may call, and what it gives."""

PURE = {"base64", "last4"}
"""Functions computed here; the others ask the scenario run."""


class TemplateError(ValueError):
    """Text whose references cannot be parsed."""


@dataclass(frozen=True, slots=True)
class Call:
    """``${name:argument}``."""

    name: str
    argument: list[str | Call] | None


def parse(text: str) -> list[str | Call]:
    """The literal pieces and references of ``text``.

    Raises:
        TemplateError: for an unclosed reference or an unknown function.
    """
    parts, end = _parse(text, 0, nested=False)
    assert end == len(text)
    return parts


def _parse(text: str, position: int, *, nested: bool) -> tuple[list[str | Call], int]:
    parts: list[str | Call] = []
    literal: list[str] = []
    i = position
    while i < len(text):
        if text.startswith("$${", i):
            literal.append("${")
            i += 3
        elif text.startswith("${", i):
            if literal:
                parts.append("".join(literal))
                literal = []
            call, i = _call(text, i + 2)
            parts.append(call)
        elif nested and text[i] == "}":
            break
        else:
            literal.append(text[i])
            i += 1
    if literal:
        parts.append("".join(literal))
    return parts, i


def _call(text: str, position: int) -> tuple[Call, int]:
    i = position
    while i < len(text) and (text[i].isalnum() or text[i] == "_"):
        i += 1
    name = text[position:i]
    if name not in FUNCTIONS:
        raise TemplateError(f"${{{name}...}}: no such reference; use one of {', '.join(FUNCTIONS)}")
    if i < len(text) and text[i] == "}":
        return Call(name, None), i + 1
    if i >= len(text) or text[i] != ":":
        raise TemplateError(f"${{{name}: a reference is ${{name}} or ${{name:argument}}")
    argument, i = _parse(text, i + 1, nested=True)
    if i >= len(text):
        raise TemplateError(f"${{{name}:...: the reference is not closed with }}")
    return Call(name, argument), i + 1


def problems(text: str) -> list[str]:
    """What is wrong with the references in ``text`` (nothing: an empty list)."""
    try:
        parse(text)
    except TemplateError as error:
        return [str(error)]
    return []


Resolver = Callable[[str, str | None], str]
"""Looks up a scenario reference: ``(function, argument)`` -> text."""


def expand(text: str, resolve: Resolver) -> str:
    """``text`` with every reference replaced by its value.

    Raises:
        TemplateError: for a reference that cannot be parsed.
        LookupError: from ``resolve``, for a name the scenario does not know.
    """
    return _render(parse(text), resolve)


def _render(parts: list[str | Call], resolve: Resolver) -> str:
    out = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
            continue
        argument = None if part.argument is None else _render(part.argument, resolve)
        if part.name == "base64":
            out.append(base64.b64encode((argument or "").encode()).decode())
        elif part.name == "last4":
            out.append((argument or "")[-4:])
        else:
            out.append(resolve(part.name, argument))
    return "".join(out)
