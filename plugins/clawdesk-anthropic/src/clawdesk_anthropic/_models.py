"""What Claude models can do: a built-in catalogue, and what ``GET /v1/models`` taught us.

The catalogue answers without network I/O (``clawdesk models``, the
negotiator, and the request builder, which needs each model's output limit
and thinking modes). It lists the models the Claude API serves as of
December 2026, as Anthropic's model pages document them; a refresh replaces an
entry with what the server says (``capabilities``, ``max_input_tokens``,
``max_tokens``), so a model released later is known after one
``clawdesk models --refresh``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from attrs import evolve, frozen

from clawdesk import Capability, ModelInfo

__all__ = [
    "CATALOGUE",
    "FALLBACK_MAX_TOKENS",
    "ModelSpec",
    "capabilities_for",
    "learn",
    "spec_for",
    "spec_from_entry",
]

C = Capability
#: ``max_tokens`` for a model neither the catalogue nor a refresh knows.
FALLBACK_MAX_TOKENS = 4096
# Thinking types (``thinking.type``) a model accepts.
ADAPTIVE, ENABLED, DISABLED = "adaptive", "enabled", "disabled"


@frozen
class ModelSpec:
    """One model: its limits and what the request builder must know about it.

    ``thinking`` is the set of ``thinking.type`` values the model accepts
    (empty: no thinking at all); a model without ``disabled`` thinks on every
    turn, and then refuses forced tool use. ``effort`` says whether it takes
    ``output_config.effort``. ``None`` limits are unknown.
    """

    id: str
    description: str
    context: int | None
    max_output: int | None
    thinking: frozenset[str] = frozenset()
    effort: bool = False
    vision: bool = True
    pdf: bool = True
    structured: bool = True

    @property
    def always_thinks(self) -> bool:
        """Whether the model thinks on every turn (thinking cannot be turned off)."""
        return bool(self.thinking) and DISABLED not in self.thinking

    @property
    def capabilities(self) -> frozenset[Capability]:
        caps = {C.CHAT, C.STREAMING, C.FUNCTION_CALLING}
        if self.vision:
            caps.add(C.VISION)
        if self.pdf:
            caps.add(C.DOCUMENTS)
        if self.structured:
            caps.add(C.JSON_SCHEMA)
        if self.thinking - {DISABLED}:
            caps.add(C.REASONING)
        return frozenset(caps)

    def info(self) -> ModelInfo:
        return ModelInfo(
            self.id,
            self.capabilities,
            context_length=self.context,
            max_output_tokens=self.max_output,
            description=self.description,
        )


_ALWAYS = frozenset({ADAPTIVE})
_ADAPTIVE = frozenset({ADAPTIVE, DISABLED})
_ALL = frozenset({ADAPTIVE, ENABLED, DISABLED})
_EXTENDED = frozenset({ENABLED, DISABLED})
_M = 1_000_000
_K = 1000


def _spec(
    model_id: str, description: str, context: int, output: int, thinking: frozenset[str], effort: bool
) -> ModelSpec:
    return ModelSpec(model_id, description, context, output, thinking, effort)


#: The catalogue, newest lines first (Anthropic's model pages, December 2026).
CATALOGUE: tuple[ModelSpec, ...] = (
    _spec(
        "claude-fable-5-2", "Claude Fable 5.2: demanding reasoning, long-horizon agents", _M, 128 * _K, _ALWAYS, True
    ),
    _spec("claude-mythos-5-2", "Claude Mythos 5.2", _M, 128 * _K, _ALWAYS, True),
    _spec(
        "claude-opus-5-5",
        "Claude Opus 5.5: long-running agentic coding and knowledge work",
        _M,
        128 * _K,
        _ALWAYS,
        True,
    ),
    _spec("claude-sonnet-5-5", "Claude Sonnet 5.5: speed and intelligence", _M, 128 * _K, _ADAPTIVE, True),
    _spec("claude-haiku-5-5", "Claude Haiku 5.5: high-volume, latency-sensitive tasks", _M, 128 * _K, _ADAPTIVE, True),
    _spec("claude-fable-5-1", "Claude Fable 5.1 (legacy)", _M, 128 * _K, _ALWAYS, True),
    _spec("claude-mythos-5-1", "Claude Mythos 5.1 (legacy)", _M, 128 * _K, _ALWAYS, True),
    _spec("claude-opus-5", "Claude Opus 5 (legacy)", _M, 128 * _K, _ADAPTIVE, True),
    _spec("claude-sonnet-5", "Claude Sonnet 5 (legacy)", _M, 128 * _K, _ADAPTIVE, True),
    _spec("claude-fable-5", "Claude Fable 5 (legacy)", _M, 128 * _K, _ALWAYS, True),
    _spec("claude-mythos-5", "Claude Mythos 5 (legacy)", _M, 128 * _K, _ALWAYS, True),
    _spec("claude-opus-4-8", "Claude Opus 4.8 (legacy)", _M, 128 * _K, _ADAPTIVE, True),
    _spec("claude-opus-4-7", "Claude Opus 4.7 (legacy)", _M, 128 * _K, _ADAPTIVE, True),
    _spec("claude-opus-4-6", "Claude Opus 4.6 (legacy)", 200 * _K, 128 * _K, _ALL, True),
    _spec("claude-sonnet-4-6", "Claude Sonnet 4.6 (legacy)", _M, 64 * _K, _ALL, True),
    _spec("claude-opus-4-5", "Claude Opus 4.5 (legacy)", 200 * _K, 64 * _K, _EXTENDED, True),
    _spec("claude-opus-4-5-20251101", "Claude Opus 4.5 (legacy, dated id)", 200 * _K, 64 * _K, _EXTENDED, True),
    _spec("claude-haiku-4-5", "Claude Haiku 4.5 (legacy)", 200 * _K, 64 * _K, _EXTENDED, False),
    _spec("claude-haiku-4-5-20251001", "Claude Haiku 4.5 (legacy, dated id)", 200 * _K, 64 * _K, _EXTENDED, False),
)

_BUILTIN: dict[str, ModelSpec] = {spec.id: spec for spec in CATALOGUE}
# What refreshes learnt, per base URL (a gateway may serve other models under the same ids). Small.
_learnt: dict[tuple[str, str], ModelSpec] = {}


def spec_for(base_url: str, model: str) -> ModelSpec | None:
    """What is known about ``model``: learnt from this ``base_url`` first, then built in; ``None`` if nothing."""
    return _learnt.get((base_url, model)) or _BUILTIN.get(model)


def capabilities_for(base_url: str, model: str) -> frozenset[Capability] | None:
    """What ``model`` can do, or ``None`` for a model neither a refresh nor the catalogue knows."""
    spec = spec_for(base_url, model)
    return spec.capabilities if spec is not None else None


def learn(base_url: str, specs: Iterable[ModelSpec]) -> None:
    """Remember what a refresh said, for ``provider_capabilities`` and the request builder."""
    for spec in specs:
        _learnt[(base_url, spec.id)] = spec


def _supported(value: Any) -> bool | None:
    # {"supported": true} -> True; anything else (absent, odd) -> None, "not said".
    if isinstance(value, Mapping) and isinstance(value.get("supported"), bool):
        return bool(value["supported"])
    return None


def _positive(value: Any) -> int | None:
    return value if type(value) is int and value > 0 else None


def spec_from_entry(entry: Mapping[str, Any]) -> ModelSpec | None:
    """A :class:`ModelSpec` from one ``ModelInfo`` of ``GET /v1/models``; ``None`` for one without an id or retired.

    Every field but ``id`` is optional (older API snapshots send only ``id``,
    ``display_name``, ``created_at`` and ``type``): what the entry does not
    say comes from the catalogue entry of the same id, else from what every
    current Claude model does (vision, PDFs, structured outputs, tools), with
    no thinking assumed.
    """
    model_id = entry.get("id")
    if not isinstance(model_id, str) or not model_id.strip():
        return None
    if entry.get("lifecycle") == "retired":
        return None  # listed as history only: every request naming it fails
    base = _BUILTIN.get(model_id) or ModelSpec(model_id, "", None, None)
    name = entry.get("display_name")
    description = name if isinstance(name, str) and name else base.description or model_id
    if entry.get("lifecycle") == "deprecated":
        retires = entry.get("retires_at")
        when = f", retires {retires[:10]}" if isinstance(retires, str) and retires else ""
        description += f" (deprecated{when})"
    spec = evolve(
        base,
        description=description,
        context=_positive(entry.get("max_input_tokens")) or base.context,
        max_output=_positive(entry.get("max_tokens")) or base.max_output,
    )
    caps = entry.get("capabilities")
    if not isinstance(caps, Mapping):
        return spec
    changes: dict[str, Any] = {}
    for key, name in (("image_input", "vision"), ("pdf_input", "pdf"), ("structured_outputs", "structured")):
        said = _supported(caps.get(key))
        if said is not None:
            changes[name] = said
    effort = caps.get("effort")
    said = _supported(effort)
    if said is not None:
        changes["effort"] = said
    thinking = caps.get("thinking")
    if isinstance(thinking, Mapping):
        types = thinking.get("types")
        if isinstance(types, Mapping):
            accepted = {kind for kind in (ADAPTIVE, ENABLED, DISABLED) if _supported(types.get(kind))}
            if _supported(thinking) is False:
                accepted &= {DISABLED}
            changes["thinking"] = frozenset(accepted)
        elif _supported(thinking) is False:
            changes["thinking"] = frozenset()
        elif _supported(thinking) is True and not spec.thinking:
            changes["thinking"] = _ALL  # says "thinks" without the types: let the API judge each type
    return evolve(spec, **changes)
