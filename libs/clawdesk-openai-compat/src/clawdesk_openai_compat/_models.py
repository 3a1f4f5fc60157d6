"""Models from ``GET /models``, and what a listing taught: :func:`model_from_card`, :class:`ModelMemory`.

OpenAI's cards say only ``id``, ``created`` and ``owned_by``; compatible
servers add what they know, read here where present: a context length
(vLLM ``max_model_len``, OpenRouter and Together ``context_length``, Groq
``context_window``, llama.cpp ``meta.n_ctx``), OpenRouter's
``supported_parameters`` and ``architecture.input_modalities``. Pure code,
no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from clawdesk import Capability, ModelInfo

__all__ = ["CHAT_CAPABILITIES", "ModelMemory", "model_from_card"]

C = Capability
#: What a chat model a listing names, but says nothing more about, is taken to do.
CHAT_CAPABILITIES = frozenset({C.CHAT, C.STREAMING})

# OpenRouter's supported_parameters, and the capability each shows.
_PARAMETERS = {
    "tools": C.FUNCTION_CALLING,
    "response_format": C.JSON_MODE,
    "structured_outputs": C.JSON_SCHEMA,
    "reasoning": C.REASONING,
    "include_reasoning": C.REASONING,
}
_MODALITIES = {"image": C.VISION, "file": C.DOCUMENTS}


def _positive(value: Any) -> int | None:
    return value if type(value) is int and value > 0 else None


def _context(card: Mapping[str, Any]) -> int | None:
    for key in ("context_length", "max_model_len", "context_window"):
        found = _positive(card.get(key))
        if found is not None:
            return found
    meta = card.get("meta")
    return _positive(meta.get("n_ctx")) if isinstance(meta, Mapping) else None


def _capabilities(model_id: str, card: Mapping[str, Any]) -> frozenset[Capability]:
    if "embed" in model_id.lower():
        return frozenset({C.EMBEDDING})
    caps = set(CHAT_CAPABILITIES)
    parameters = card.get("supported_parameters")
    if isinstance(parameters, list):
        caps.update(_PARAMETERS[p] for p in parameters if isinstance(p, str) and p in _PARAMETERS)
    architecture = card.get("architecture")
    modalities = architecture.get("input_modalities") if isinstance(architecture, Mapping) else None
    if isinstance(modalities, list):
        caps.update(_MODALITIES[m] for m in modalities if isinstance(m, str) and m in _MODALITIES)
    return frozenset(caps)


def model_from_card(card: Mapping[str, Any], *, capabilities: Iterable[Capability] | None = None) -> ModelInfo | None:
    """A :class:`~clawdesk.ModelInfo` from one card of ``GET /models`` (``None`` when it has no id).

    ``capabilities`` replaces what the card shows (a provider that knows its
    catalogue better says so); else an id with ``embed`` in it is an
    embedding model and anything else a chat model that streams, plus what
    OpenRouter-style ``supported_parameters`` and ``input_modalities`` add.
    """
    model_id = card.get("id")
    if not isinstance(model_id, str) or not model_id:
        return None
    description = card.get("description")
    if not isinstance(description, str) or not description:
        name = card.get("name")
        description = name if isinstance(name, str) and name and name != model_id else None
    return ModelInfo(
        model_id,
        frozenset(capabilities) if capabilities is not None else _capabilities(model_id, card),
        context_length=_context(card),
        description=description,
    )


class ModelMemory:
    """What listings said, per base URL: the models, and each one's capabilities (also under its aliases).

    A proxy or a self-hosted server may serve other models under the same
    ids, so everything is kept per ``base_url``. Only ever grows; small.
    """

    __slots__ = ("_capabilities", "_listings")

    def __init__(self) -> None:
        self._capabilities: dict[tuple[str, str], frozenset[Capability]] = {}
        self._listings: dict[str, tuple[ModelInfo, ...]] = {}

    def learn(
        self, base_url: str, models: Iterable[ModelInfo], aliases: Mapping[str, Iterable[str]] | None = None
    ) -> None:
        """Remember a listing; a model listed under its own id wins over another's alias of the same name."""
        models = tuple(models)
        for model in models:
            for alias in (aliases or {}).get(model.id, ()):
                self._capabilities[(base_url, alias)] = model.capabilities
        for model in models:
            self._capabilities[(base_url, model.id)] = model.capabilities
        self._listings[base_url] = models

    def capabilities(self, base_url: str, model: str) -> frozenset[Capability] | None:
        """What the last listing of ``base_url`` said ``model`` can do, or ``None``."""
        return self._capabilities.get((base_url, model))

    def listing(self, base_url: str) -> tuple[ModelInfo, ...] | None:
        """The last listing of ``base_url``, or ``None`` when it was never listed."""
        return self._listings.get(base_url)
