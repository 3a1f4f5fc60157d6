"""What Bedrock's models can do: a built-in catalogue, model families, and what a refresh taught us.

A Bedrock model id is a foundation model (``anthropic.claude-3-haiku-20240307-v1:0``),
a cross-region inference profile (the same with a geography in front:
``us.``, ``eu.``, ``apac.``, ``global.``, ...) or an ARN of either (or of a
provisioned, custom or imported model). Most current models can only be
called through an inference profile; the catalogue says which, and lists the
``us.`` profile of each such model next to it. Capabilities are what AWS's
"supported models and model features" table gives for Converse; a refresh
(``ListFoundationModels``, ``ListInferenceProfiles``) learns the models of the
region, which keep the catalogue's capabilities where it knows the model.

:func:`base_model` strips a profile's geography and an ARN's prefix, so that
``eu.anthropic.claude-sonnet-4-5-20250929-v1:0`` and
``arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.claude-sonnet-4-5-20250929-v1:0``
are known as the model they serve; :func:`family` names its vendor
(``anthropic``, ``amazon``, ...), which decides how options Converse has no
field for are sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from clawdesk import Capability, ModelInfo

__all__ = [
    "BUILTIN",
    "GEOGRAPHIES",
    "base_model",
    "capabilities_for",
    "family",
    "learn",
    "models_from_listing",
    "needs_profile",
]

C = Capability
#: Prefixes of AWS's system-defined cross-region inference profiles.
GEOGRAPHIES = frozenset({"us", "eu", "apac", "global", "us-gov", "jp", "au", "ca", "apne", "in"})
_TEXT = frozenset({C.CHAT, C.STREAMING})
_TOOLS = _TEXT | {C.FUNCTION_CALLING}
_VISION = _TOOLS | {C.VISION}
_CLAUDE = _VISION | {C.DOCUMENTS}
_CLAUDE_THINKING = _CLAUDE | {C.REASONING}
_CLAUDE_STRUCTURED = _CLAUDE_THINKING | {C.JSON_SCHEMA}
_NOVA = _VISION | {C.DOCUMENTS}


def _m(model_id: str, caps: Iterable[Capability], context: int | None, description: str) -> ModelInfo:
    return ModelInfo(model_id, frozenset(caps), context_length=context, description=description)


# (foundation id, capabilities, context window, name, needs an inference profile)
_CATALOGUE: tuple[tuple[str, frozenset[Capability], int | None, str, bool], ...] = (
    ("anthropic.claude-opus-4-5-20251101-v1:0", _CLAUDE_STRUCTURED, 200_000, "Claude Opus 4.5", True),
    ("anthropic.claude-sonnet-4-5-20250929-v1:0", _CLAUDE_STRUCTURED, 200_000, "Claude Sonnet 4.5", True),
    ("anthropic.claude-haiku-4-5-20251001-v1:0", _CLAUDE_STRUCTURED, 200_000, "Claude Haiku 4.5", True),
    ("anthropic.claude-opus-4-1-20250805-v1:0", _CLAUDE_STRUCTURED, 200_000, "Claude Opus 4.1", True),
    ("anthropic.claude-sonnet-4-20250514-v1:0", _CLAUDE_THINKING, 200_000, "Claude Sonnet 4", True),
    ("anthropic.claude-3-7-sonnet-20250219-v1:0", _CLAUDE_THINKING, 200_000, "Claude 3.7 Sonnet", True),
    ("anthropic.claude-3-5-haiku-20241022-v1:0", _CLAUDE - {C.VISION}, 200_000, "Claude 3.5 Haiku", True),
    ("anthropic.claude-3-haiku-20240307-v1:0", _CLAUDE, 200_000, "Claude 3 Haiku", False),
    ("amazon.nova-premier-v1:0", _NOVA, 1_000_000, "Amazon Nova Premier", True),
    ("amazon.nova-pro-v1:0", _NOVA, 300_000, "Amazon Nova Pro", False),
    ("amazon.nova-lite-v1:0", _NOVA, 300_000, "Amazon Nova Lite", False),
    ("amazon.nova-micro-v1:0", _TOOLS, 128_000, "Amazon Nova Micro", False),
    ("amazon.nova-2-lite-v1:0", _NOVA | {C.REASONING}, 1_000_000, "Amazon Nova 2 Lite", True),
    ("meta.llama4-maverick-17b-instruct-v1:0", _VISION, None, "Llama 4 Maverick 17B", True),
    ("meta.llama4-scout-17b-instruct-v1:0", _VISION, None, "Llama 4 Scout 17B", True),
    ("meta.llama3-3-70b-instruct-v1:0", _TOOLS, 128_000, "Llama 3.3 70B Instruct", True),
    ("mistral.mistral-large-2407-v1:0", _TOOLS, 128_000, "Mistral Large (24.07)", False),
    ("mistral.pixtral-large-2502-v1:0", _VISION, 128_000, "Pixtral Large (25.02)", True),
    ("deepseek.r1-v1:0", _TEXT | {C.REASONING}, 128_000, "DeepSeek-R1", True),
    ("openai.gpt-oss-120b-1:0", _TOOLS | {C.REASONING}, 128_000, "gpt-oss-120b", False),
    ("openai.gpt-oss-20b-1:0", _TOOLS | {C.REASONING}, 128_000, "gpt-oss-20b", False),
    ("qwen.qwen3-32b-v1:0", _TOOLS, None, "Qwen3 32B", False),
    ("cohere.command-r-plus-v1:0", _TOOLS, 128_000, "Cohere Command R+", False),
)


def _catalogue() -> tuple[ModelInfo, ...]:
    out = []
    for model_id, caps, context, name, profile in _CATALOGUE:
        if profile:
            note = f"{name}; needs an inference profile (us., eu., apac. or global. in front of the id)"
            out.append(_m(model_id, caps, context, note))
            out.append(_m(f"us.{model_id}", caps, context, f"{name}, US cross-region inference profile"))
        else:
            out.append(_m(model_id, caps, context, f"{name}; on demand"))
    return tuple(out)


BUILTIN: tuple[ModelInfo, ...] = _catalogue()
_BUILTIN_BY_ID: dict[str, ModelInfo] = {m.id: m for m in BUILTIN}
_BUILTIN_CAPS: dict[str, frozenset[Capability]] = {m.id: m.capabilities for m in BUILTIN}
_NEEDS_PROFILE = frozenset(model_id for model_id, *_rest, profile in _CATALOGUE if profile)

# What refreshes learnt, per provider name (a named instance may be another region or account). Only grows; small.
_learnt: dict[tuple[str, str], frozenset[Capability]] = {}


def base_model(model_id: str) -> str:
    """The foundation model a model id names: an ARN's resource id, without a profile's geography.

    ``arn:...:inference-profile/eu.anthropic.x-v1:0`` and ``eu.anthropic.x-v1:0``
    both give ``anthropic.x-v1:0``; an id that names no foundation model
    (a provisioned model's ARN) is returned as it is.
    """
    if model_id.startswith("arn:"):
        model_id = model_id.rsplit("/", 1)[-1]
    head, dot, rest = model_id.partition(".")
    if dot and head in GEOGRAPHIES and "." in rest:
        return rest
    return model_id


def family(model_id: str) -> str | None:
    """The vendor of the model ``model_id`` serves (``anthropic``, ``amazon``, ``meta``, ...), or ``None``."""
    base = base_model(model_id)
    vendor, dot, _ = base.partition(".")
    return vendor if dot and vendor.isalnum() else None


def needs_profile(model_id: str) -> bool:
    """Whether ``model_id`` is a foundation id the catalogue knows can only be called through a profile."""
    return model_id in _NEEDS_PROFILE


def capabilities_for(provider: str, model: str) -> frozenset[Capability] | None:
    """What ``model`` can do: learnt by a refresh of ``provider`` first, then the catalogue; ``None`` if unknown."""
    found = _learnt.get((provider, model))
    if found is not None:
        return found
    return _BUILTIN_CAPS.get(model) or _BUILTIN_CAPS.get(base_model(model))


def learn(provider: str, models: Iterable[ModelInfo]) -> None:
    """Remember what a refresh of ``provider`` said."""
    for model in models:
        _learnt[(provider, model.id)] = model.capabilities


def _strings(value: Any) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _from_summary(summary: Mapping[str, Any]) -> ModelInfo | None:
    model_id = summary.get("modelId")
    if not isinstance(model_id, str) or not model_id:
        return None
    inputs = _strings(summary.get("inputModalities"))
    outputs = _strings(summary.get("outputModalities"))
    if "TEXT" not in outputs:
        return None
    known = _BUILTIN_CAPS.get(model_id)
    if known is not None:
        caps = known
    else:
        # The listing says nothing of tools: only what the modalities and the streaming flag show.
        caps = frozenset({C.CHAT})
        if summary.get("responseStreamingSupported") is True:
            caps |= {C.STREAMING}
        if "IMAGE" in inputs:
            caps |= {C.VISION}
    name = " ".join(x for x in (summary.get("providerName"), summary.get("modelName")) if isinstance(x, str))
    notes = []
    if "ON_DEMAND" not in _strings(summary.get("inferenceTypesSupported")):
        notes.append("needs an inference profile")
    lifecycle = summary.get("modelLifecycle")
    if isinstance(lifecycle, Mapping) and lifecycle.get("status") == "LEGACY":
        notes.append("legacy")
    description = "; ".join(x for x in (name, *notes) if x) or None
    known_model = _BUILTIN_BY_ID.get(model_id)
    context = known_model.context_length if known_model is not None else None
    return ModelInfo(model_id, caps, context_length=context, description=description)


def models_from_listing(summaries: Iterable[Any], profiles: Iterable[Any]) -> list[ModelInfo]:
    """The models of ``ListFoundationModels`` summaries and ``ListInferenceProfiles`` profiles, each id once.

    Text models only. A profile has the capabilities of the first model it
    routes to; one that is not ``ACTIVE`` is left out.
    """
    found: dict[str, ModelInfo] = {}
    for summary in summaries:
        if isinstance(summary, Mapping):
            model = _from_summary(summary)
            if model is not None and model.id not in found:
                found[model.id] = model
    for profile in profiles:
        if not isinstance(profile, Mapping) or profile.get("status", "ACTIVE") != "ACTIVE":
            continue
        profile_id = profile.get("inferenceProfileId")
        if not isinstance(profile_id, str) or not profile_id or profile_id in found:
            continue
        routes = profile.get("models")
        target = None
        if isinstance(routes, list) and routes and isinstance(routes[0], Mapping):
            arn = routes[0].get("modelArn")
            target = base_model(arn) if isinstance(arn, str) else None
        served = found.get(target) if target else None
        caps = served.capabilities if served is not None else _BUILTIN_CAPS.get(base_model(profile_id))
        if caps is None:
            continue  # routes to a model that is not a text model here (or none we know)
        name = profile.get("inferenceProfileName")
        context = served.context_length if served is not None else None
        found[profile_id] = ModelInfo(
            profile_id,
            caps,
            context_length=context,
            description=name if isinstance(name, str) and name else None,
        )
    return list(found.values())
