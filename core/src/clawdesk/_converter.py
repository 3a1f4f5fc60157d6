"""The one converter that turns clawdesk data into JSON-ready values and back.

Build it with :func:`make_converter`; the global cattrs converter is never
used, so an application's own cattrs hooks cannot change our wire shapes and
ours cannot change theirs.

Shapes: enums as their values, ``bytes`` as base64 text, capability sets as
sorted lists, and the two unions (content parts, stream events) tagged with a
``"type"`` field (``"text"``, ``"image"``, ``"document"``, ``"reasoning"``;
``"text_delta"``, ``"reasoning_delta"``, ``"tool_call"``, ``"usage"``,
``"finish"``). Reasoning signatures and redacted data are kept as the backend
sent them, so a conversation saved as JSON can be sent back.
"""

from __future__ import annotations

import base64
import enum
from collections.abc import Mapping
from typing import Any

import cattrs
from cattrs.strategies import configure_tagged_union

from ._types import (
    Capability,
    ContentPart,
    DocumentPart,
    Finish,
    FinishReason,
    ImagePart,
    ReasoningDelta,
    ReasoningEffort,
    ReasoningPart,
    ResponseFormatKind,
    Role,
    StreamEvent,
    TextDelta,
    TextPart,
    ToolCallEvent,
    ToolChoiceMode,
    UsageEvent,
)

__all__ = ["make_converter"]

_PART_TAGS: dict[type, str] = {
    TextPart: "text",
    ImagePart: "image",
    DocumentPart: "document",
    ReasoningPart: "reasoning",
}
_EVENT_TAGS: dict[type, str] = {
    TextDelta: "text_delta",
    ReasoningDelta: "reasoning_delta",
    ToolCallEvent: "tool_call",
    UsageEvent: "usage",
    Finish: "finish",
}


def make_converter() -> cattrs.Converter:
    """A new converter for clawdesk's data types (cheap; build one and keep it)."""
    # Fields left at their defaults are left out: a saved conversation stays readable (no
    # "signature": null on every text part) and structures back to the same values.
    conv = cattrs.Converter(forbid_extra_keys=True, omit_if_default=True)

    # Our enums subclass str; unstructure them to plain values so the output
    # is plain JSON data (no enum objects that json.dumps merely tolerates).
    for enum_type in (Role, Capability, FinishReason, ToolChoiceMode, ResponseFormatKind, ReasoningEffort):
        conv.register_unstructure_hook(enum_type, _enum_value)
    conv.register_unstructure_hook(bytes, lambda b: base64.b64encode(b).decode("ascii"))
    conv.register_structure_hook(bytes, _structure_bytes)
    caps = frozenset[Capability]
    conv.register_unstructure_hook_func(lambda t: t == caps, lambda s: sorted(c.value for c in s))
    conv.register_structure_hook_func(lambda t: t == caps, lambda v, _: frozenset(Capability(x) for x in v))
    # JSON objects (tool arguments, schemas, extras) pass through untouched.
    obj = Mapping[str, Any]
    conv.register_unstructure_hook_func(lambda t: t == obj, lambda m: dict(m))
    conv.register_structure_hook_func(lambda t: t == obj, _structure_object)
    tables = Mapping[str, Mapping[str, Any]]
    conv.register_unstructure_hook_func(lambda t: t == tables, lambda m: {k: dict(v) for k, v in m.items()})
    conv.register_structure_hook_func(lambda t: t == tables, _structure_tables)

    configure_tagged_union(ContentPart, conv, tag_generator=_PART_TAGS.__getitem__, tag_name="type")
    configure_tagged_union(StreamEvent, conv, tag_generator=_EVENT_TAGS.__getitem__, tag_name="type")
    return conv


def _enum_value(value: enum.Enum) -> object:
    return value.value


def _structure_bytes(value: object, _: object) -> bytes:
    if isinstance(value, bytes):
        return value
    if not isinstance(value, str):
        raise TypeError(f"expected base64 text, got {type(value).__name__}")
    return base64.b64decode(value, validate=True)


def _structure_object(value: object, _: object) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise TypeError(f"expected a JSON object, got {type(value).__name__}")
    return dict(value)


def _structure_tables(value: object, _: object) -> dict[str, dict[str, Any]]:
    if not isinstance(value, Mapping):
        raise TypeError(f"expected a JSON object of objects, got {type(value).__name__}")
    return {str(k): _structure_object(v, None) for k, v in value.items()}
