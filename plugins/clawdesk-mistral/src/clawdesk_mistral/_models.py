"""What Mistral's models can do: a built-in list, and what ``GET /models`` taught us.

The built-in list answers without network I/O (``clawdesk models``, the
capability negotiator). It names the ``-latest`` aliases La Plateforme keeps
pointing at current versions; dated ids and fine-tuned models are learnt by a
refresh. Capabilities are what each model family is documented to support;
a refresh replaces them with what the server says.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from clawdesk import Capability, ModelInfo
from clawdesk_openai_compat import ModelMemory

__all__ = ["BUILTIN", "MEMORY", "capabilities_for", "model_from_card"]

C = Capability
_BASE = frozenset({C.CHAT, C.STREAMING, C.JSON_MODE, C.JSON_SCHEMA, C.FUNCTION_CALLING})
_VISION = _BASE | {C.VISION}
_REASONING = _VISION | {C.REASONING}


def _m(model_id: str, caps: Iterable[Capability], context: int | None, description: str) -> ModelInfo:
    return ModelInfo(model_id, frozenset(caps), context_length=context, description=description)


BUILTIN: tuple[ModelInfo, ...] = (
    _m("mistral-large-latest", _VISION, 262_144, "Mistral Large, the flagship general model"),
    _m("mistral-medium-latest", _REASONING, 262_144, "Mistral Medium: instructions, reasoning, coding, images"),
    _m("mistral-small-latest", _VISION, 131_072, "Mistral Small, fast and cheap"),
    _m("magistral-medium-latest", _REASONING, 131_072, "Magistral Medium, a reasoning model"),
    _m("magistral-small-latest", _REASONING, 131_072, "Magistral Small, a small reasoning model"),
    _m("codestral-latest", _BASE, 262_144, "Codestral, for code"),
    _m("devstral-medium-latest", _BASE, 131_072, "Devstral Medium, for coding agents"),
    _m("devstral-small-latest", _BASE, 131_072, "Devstral Small, for coding agents"),
    _m("pixtral-large-latest", _VISION, 131_072, "Pixtral Large, a vision model"),
    _m("pixtral-12b-latest", _VISION, 131_072, "Pixtral 12B, a small vision model"),
    _m("ministral-8b-latest", _BASE, 131_072, "Ministral 8B, for the edge"),
    _m("ministral-3b-latest", _BASE, 131_072, "Ministral 3B, for the edge"),
    _m("open-mistral-nemo", _BASE, 131_072, "Mistral NeMo 12B, open weights"),
    _m("open-mixtral-8x22b", _BASE - {C.JSON_SCHEMA}, 65_536, "Mixtral 8x22B, open weights"),
    _m("mistral-embed", {C.EMBEDDING}, 8_192, "Mistral Embed, text embeddings"),
)

_BUILTIN_CAPS: dict[str, frozenset[Capability]] = {m.id: m.capabilities for m in BUILTIN}

#: What refreshes learnt, per base URL (a proxy or a self-hosted server may serve other models under
#: the same ids).
MEMORY = ModelMemory()


def capabilities_for(base_url: str, model: str) -> frozenset[Capability] | None:
    """What ``model`` can do: learnt from this ``base_url`` first, then built in; ``None`` if unknown."""
    found = MEMORY.capabilities(base_url, model)
    if found is not None:
        return found
    return _BUILTIN_CAPS.get(model)


def _capabilities_from(model_id: str, flags: Mapping[str, Any]) -> frozenset[Capability]:
    caps: set[Capability] = set()
    if flags.get("completion_chat") is True:
        # Every chat model of La Plateforme streams and takes response_format.
        caps |= {C.CHAT, C.STREAMING, C.JSON_MODE, C.JSON_SCHEMA}
    if flags.get("function_calling") is True:
        caps.add(C.FUNCTION_CALLING)
    if flags.get("vision") is True:
        caps.add(C.VISION)
    if flags.get("reasoning") is True:
        caps.add(C.REASONING)
    # The card has no embedding flag; Mistral's embedding models say so in their id.
    if "embed" in model_id:
        caps.add(C.EMBEDDING)
    return frozenset(caps)


def model_from_card(card: Mapping[str, Any]) -> ModelInfo | None:
    """A :class:`~clawdesk.ModelInfo` from one card of ``GET /models`` (``None`` when it has no id)."""
    model_id = card.get("id")
    if not isinstance(model_id, str) or not model_id:
        return None
    flags = card.get("capabilities")
    caps = _capabilities_from(model_id, flags if isinstance(flags, Mapping) else {})
    context = card.get("max_context_length")
    description = card.get("description")
    deprecation = card.get("deprecation")
    if isinstance(deprecation, str) and deprecation:
        note = f"deprecated on {deprecation[:10]}"
        description = f"{description} ({note})" if isinstance(description, str) and description else note
    return ModelInfo(
        model_id,
        caps,
        context_length=context if isinstance(context, int) and not isinstance(context, bool) else None,
        description=description if isinstance(description, str) and description else None,
    )
