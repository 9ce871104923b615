"""One strictness for every JSON body a route declares: exact JSON types, no coercion.

Litestar converts request bodies leniently (``"3"`` becomes ``3`` for an integer field), so
each route would accept some wrong types and refuse others. This ``before_request`` hook
decodes the body strictly against the type the route declares before Litestar does: an
integer field takes a JSON integer (not ``"3"``, ``3.0``, ``3.5`` or ``true``), a string
field a JSON string. A refusal names the field; a body struct may give a field its own
error code (``field_codes``), as ``visitor_id`` has ``invalid_visitor_id``.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
from litestar import Request

from harness.core.codes import ErrorCode
from harness.core.errors import HarnessError

_AT = re.compile(r"^(?P<problem>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_MISSING = re.compile(r"^Object missing required field `(?P<field>[^`]+)`$")
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<field>[^`]+)`$")
_EXPECTED = re.compile(r"^Expected `(?P<want>[^`]+)`, got `(?P<got>[^`]+)`$")
_TYPE_WORDS = {
    "int": "an integer",
    "float": "a number",
    "str": "a string",
    "bool": "a boolean",
    "null": "null",
    "array": "an array",
    "object": "an object",
    "int | null": "an integer or null",
    "float | null": "a number or null",
    "str | null": "a string or null",
    "object | null": "an object or null",
}

_OPT_KEY = "harness_strict_decoder"


def _decoder(request: Request[Any, Any, Any]) -> msgspec.json.Decoder[Any] | None:
    handler = request.route_handler
    if _OPT_KEY not in handler.opt:  # built once per route, kept with it
        data = handler.parsed_fn_signature.parameters.get("data")
        handler.opt[_OPT_KEY] = (
            msgspec.json.Decoder(data.annotation, strict=True) if data is not None else None
        )
    decoder: msgspec.json.Decoder[Any] | None = handler.opt[_OPT_KEY]
    return decoder


def _field_code(target: Any, path: str) -> ErrorCode:
    top = re.split(r"[.\[]", path, maxsplit=1)[0]
    codes: dict[str, ErrorCode] = getattr(target, "field_codes", {})
    return codes.get(top, ErrorCode.INVALID_BODY)


def body_error(target: Any, error: msgspec.ValidationError) -> HarnessError:
    """The :class:`HarnessError` for a body that does not have the declared type.

    Args:
        target: The declared body type (its ``field_codes`` may name a field's code).
        error: What msgspec said, e.g. "Expected `int`, got `str` - at `$.refresh_hour`".
    """
    found = _AT.match(str(error))
    problem = found.group("problem") if found else str(error)
    path = (found.group("path") or "") if found else ""
    path = path.removeprefix(".")
    missing = _MISSING.match(problem)
    unknown = _UNKNOWN.match(problem)
    expected = _EXPECTED.match(problem)
    if missing or unknown:
        field = (missing or unknown).group("field")  # type: ignore[union-attr]
        path = f"{path}.{field}" if path else field
        sentence = f"{path} is missing." if missing else f"{path} is not a field this route takes."
    elif expected:
        want = _TYPE_WORDS.get(expected.group("want"), f"`{expected.group('want')}`")
        got = _TYPE_WORDS.get(expected.group("got"), expected.group("got"))
        what = path or "The body"
        sentence = f"{what} must be {want}, not {got}."
    else:
        sentence = f"{path or 'The body'}: {problem}."
    return HarnessError(
        _field_code(target, path), f"The request is not what this route expects: {sentence}"
    )


async def strict_body(request: Request[Any, Any, Any]) -> None:
    """``before_request`` hook: refuse a JSON body whose types differ from the route's.

    A body that is not JSON at all is left to Litestar (``invalid_json``).

    Raises:
        HarnessError: the field's code (``invalid_body`` unless the body type says
            otherwise), naming the field and the type it must have.
    """
    decoder = _decoder(request)
    if decoder is None:
        return
    try:
        decoder.decode(await request.body())
    except msgspec.ValidationError as error:
        raise body_error(decoder.type, error) from None
    except msgspec.DecodeError:
        return
