"""Structured output: ask for JSON that follows a schema, get the parsed value back.

:meth:`Clawdesk.chat_structured` takes either a JSON schema (a mapping) or an
attrs class. It sends the schema as the request's
:class:`~clawdesk.ResponseFormat` (so a provider that cannot honour it
refuses before sending, and a fallback chain moves on), then parses the
answer here:

- the text must be JSON (one surrounding Markdown code fence, which some
  models add even in JSON mode, is taken off first);
- the value must satisfy the schema (checked by :mod:`clawdesk._schema`;
  every problem is reported with its path, ``$.cities[1].population``);
- for an attrs class it is structured into an instance (nested classes,
  enums, literals, lists, optional fields) with clawdesk's own converter.

When any step fails the call raises :class:`~clawdesk.InvalidOutput`, which keeps the
raw text, the problems and the whole response, so the caller can log it or
ask again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from ._errors import InvalidOutput
from ._schema import check, schema_for, unsupported
from ._types import ChatResponse, FinishReason, ResponseFormat

if TYPE_CHECKING:
    import cattrs

__all__ = ["output_format", "parse_output"]

_FENCE = re.compile(r"\A\s*```[A-Za-z0-9_-]*[ \t]*\n(.*?)\n?```\s*\Z", re.S)

_converter: cattrs.Converter | None = None


def output_format(output: Mapping[str, Any] | type, *, strict: bool | None = None) -> ResponseFormat:
    """The :class:`~clawdesk.ResponseFormat` that asks for ``output`` (a JSON schema or an attrs class).

    ``strict`` defaults to true, except for an attrs class with optional
    fields (strict schemas need every property required). Raises
    ``TypeError`` for anything else, and ``ValueError`` for a schema that
    uses a keyword clawdesk cannot check (see :func:`clawdesk._schema.unsupported`).
    """
    if isinstance(output, Mapping):
        schema = dict(output)
        name = str(schema.get("title") or "response")
        default_strict = True
    elif isinstance(output, type) and attrs.has(output):
        schema = schema_for(output)
        name = output.__name__
        default_strict = len(schema["required"]) == len(schema["properties"])
    else:
        raise TypeError(f"output is a JSON schema (a mapping) or an attrs class, got {output!r}")
    missing = unsupported(schema)
    if missing:
        raise ValueError(f"the schema uses keywords clawdesk cannot check: {', '.join(missing)}")
    name = re.sub(r"[^A-Za-z0-9_-]", "_", name)[:64] or "response"
    return ResponseFormat.json_schema(schema, name=name, strict=default_strict if strict is None else strict)


def parse_output(text: str, output: Mapping[str, Any] | type, *, response: ChatResponse | None = None) -> Any:
    """Parse and check ``text`` as ``output`` asks (see the module docstring), else raise InvalidOutput."""
    schema = dict(output) if isinstance(output, Mapping) else schema_for(output)
    fenced = _FENCE.match(text)
    body = fenced.group(1) if fenced else text
    cut = response is not None and response.finish_reason is FinishReason.LENGTH
    hint = " (the answer was cut short by the token limit: raise max_tokens)" if cut else ""
    try:
        value = json.loads(body)
    except ValueError as exc:
        problem = f"not JSON: {exc}"
        message = f"the answer is {problem}{hint}"
        raise InvalidOutput(message, text=text, problems=(problem,), response=response) from None
    problems = check(value, schema)
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise InvalidOutput(
            f"the answer does not match the schema: {shown}{hint}",
            text=text,
            problems=tuple(problems),
            response=response,
        )
    if isinstance(output, Mapping):
        return value
    return _structure(value, output, text, response)


def _structure(value: Any, cls: type, text: str, response: ChatResponse | None) -> Any:
    import cattrs

    global _converter
    if _converter is None:
        from ._converter import make_converter

        _converter = make_converter()
    try:
        return _converter.structure(value, cls)
    except (cattrs.BaseValidationError, ValueError, TypeError) as exc:
        # The schema held, so this is mostly a field validator of the class saying no: keep its words.
        if isinstance(exc, cattrs.BaseValidationError):
            problems = tuple(cattrs.transform_error(exc, path="$", format_exception=_problem))
        else:
            problems = (f"$: {exc}",)
        raise InvalidOutput(
            f"the answer does not fit {cls.__name__}: {'; '.join(problems)}",
            text=text,
            problems=problems,
            response=response,
        ) from None


def _problem(exc: BaseException, type_: type | None) -> str:
    from cattrs.v import format_exception

    if type(exc) in (ValueError, TypeError) and str(exc):
        return str(exc)
    return format_exception(exc, type_)
