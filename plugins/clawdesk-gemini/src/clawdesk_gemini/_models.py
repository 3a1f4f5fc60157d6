"""What Gemini's models can do: a built-in catalogue, family rules, and what ``GET /v1beta/models`` taught us.

Pure code, no I/O. The built-in catalogue answers ``clawdesk models`` and the
capability negotiator without a request; a refresh (``models --refresh``)
lists what the key can use and is remembered per config (see
:class:`ModelCache`). The listing has no flag for tools or images, so a
listed model's capabilities come from its generation methods, its
``thinking`` flag and the rules of its family (:func:`family_capabilities`).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from clawdesk import Capability, ModelInfo

__all__ = [
    "BUILTIN",
    "ModelCache",
    "ThinkingStyle",
    "budget_range",
    "builtin_capabilities",
    "family_capabilities",
    "is_gemini3",
    "model_from_listing",
    "thinking_style",
]

C = Capability
#: What every Gemini chat model of the 2.x and 3.x families does on the Gemini API.
_CHAT = frozenset({C.CHAT, C.STREAMING, C.FUNCTION_CALLING, C.JSON_MODE, C.JSON_SCHEMA, C.VISION, C.DOCUMENTS})
_THINKING = _CHAT | {C.REASONING}
_M = 1_048_576
_OUT = 65_536


def _m(model_id: str, caps: frozenset[Capability], context: int, output: int | None, description: str) -> ModelInfo:
    return ModelInfo(model_id, caps, context_length=context, max_output_tokens=output, description=description)


#: The built-in catalogue: current models of the Gemini API (AI Studio), with their documented limits.
BUILTIN: tuple[ModelInfo, ...] = (
    _m("gemini-3.1-pro-preview", _THINKING, _M, _OUT, "Gemini 3.1 Pro (preview): complex reasoning and coding"),
    _m("gemini-3-flash-preview", _THINKING, _M, _OUT, "Gemini 3 Flash (preview): fast frontier-class model"),
    _m("gemini-3.1-flash-lite-preview", _THINKING, _M, _OUT, "Gemini 3.1 Flash-Lite (preview): low cost, low latency"),
    _m("gemini-2.5-pro", _THINKING, _M, _OUT, "Gemini 2.5 Pro: thinking model for complex tasks"),
    _m("gemini-2.5-flash", _THINKING, _M, _OUT, "Gemini 2.5 Flash: price-performance thinking model"),
    _m("gemini-2.5-flash-lite", _THINKING, _M, _OUT, "Gemini 2.5 Flash-Lite: fastest and cheapest 2.5 model"),
    _m("gemini-flash-latest", _THINKING, _M, _OUT, "The latest Gemini Flash (an alias that moves)"),
    _m("gemini-flash-lite-latest", _THINKING, _M, _OUT, "The latest Gemini Flash-Lite (an alias that moves)"),
    _m("gemini-embedding-001", frozenset({C.EMBEDDING}), 2_048, None, "Gemini Embedding: text embeddings"),
)

_BUILTIN_CAPS: dict[str, frozenset[Capability]] = {m.id: m.capabilities for m in BUILTIN}

_VERSION = re.compile(r"gemini-(\d+)(?:\.(\d+))?-")


def _version(model: str) -> tuple[int, int] | None:
    found = _VERSION.match(model)
    if found is None:
        return None
    return int(found.group(1)), int(found.group(2) or 0)


def is_gemini3(model: str) -> bool:
    """Whether ``model`` is of the Gemini 3 generation or later (thought signatures are enforced there)."""
    version = _version(model)
    return version is not None and version[0] >= 3


#: How a model takes ``thinkingConfig``: ``level`` (Gemini 3: ``thinkingLevel``), ``budget``
#: (Gemini 2.5: ``thinkingBudget``), ``none`` (does not think), ``unknown`` (send a budget, which
#: both thinking generations accept, and let the server judge).
ThinkingStyle = Literal["level", "budget", "none", "unknown"]


def thinking_style(model: str) -> ThinkingStyle:
    """How ``model`` is told how much to think (see :data:`ThinkingStyle`)."""
    version = _version(model)
    if version is None:
        return "none" if model.startswith("gemma-") else "unknown"
    if version[0] >= 3:
        return "level"
    if version >= (2, 5):
        return "budget"
    return "none"


def budget_range(model: str) -> tuple[int, int, bool] | None:
    """``(least, most, can_turn_off)`` thinking budget of a Gemini 2.5 model, ``None`` when not known.

    Documented ranges: 2.5 Pro 128-32768 and always thinks; 2.5 Flash
    0-24576; 2.5 Flash-Lite 512-24576 (0 turns thinking off).
    """
    if not model.startswith("gemini-2.5-"):
        return None
    if model.startswith("gemini-2.5-pro"):
        return 128, 32_768, False
    if model.startswith("gemini-2.5-flash-lite"):
        return 512, 24_576, True
    if model.startswith("gemini-2.5-flash"):
        return 1, 24_576, True
    return None


def family_capabilities(model: str, *, thinking: bool | None = None) -> frozenset[Capability]:
    """What a chat model (one that serves ``generateContent``) of ``model``'s family can do.

    Gemini chat models take tools, JSON output, images and documents, and
    stream; image-generation models (``...-image...``) only chat and see
    images; Gemma models on the Gemini API take no tools and no JSON mode;
    text-to-speech models answer in audio only and get nothing. ``thinking``
    (the listing's flag) adds or removes ``reasoning``; without it the
    family decides.
    """
    if "-tts" in model or "native-audio" in model:
        return frozenset()
    gemini = model.startswith("gemini-") and "-image" not in model
    caps = set(_CHAT) if gemini else {C.CHAT, C.STREAMING, C.VISION}
    if thinking is True or (thinking is None and thinking_style(model) in ("level", "budget")):
        caps.add(C.REASONING)
    return frozenset(caps)


def builtin_capabilities(model: str) -> frozenset[Capability] | None:
    """The catalogue's capabilities for ``model``, or ``None`` for a model it does not list."""
    return _BUILTIN_CAPS.get(model)


def _int(value: Any) -> int | None:
    return value if type(value) is int and value > 0 else None


def model_from_listing(entry: Mapping[str, Any]) -> ModelInfo | None:
    """A :class:`~clawdesk.ModelInfo` from one ``Model`` of ``GET /v1beta/models``, or ``None`` to leave it out.

    The id is ``name`` without its ``models/`` prefix. A model that serves
    ``generateContent`` chats (capabilities by :func:`family_capabilities`,
    with the listing's ``thinking`` flag); one that serves ``embedContent``
    embeds; any other (image, video and speech generators, attributed
    question answering) is left out: nothing clawdesk can ask it.
    ``inputTokenLimit`` and ``outputTokenLimit`` become the context length
    and the output limit.
    """
    name = entry.get("name")
    if not isinstance(name, str):
        return None
    model_id = name.removeprefix("models/")
    if not model_id or "/" in model_id:
        return None
    methods = entry.get("supportedGenerationMethods")
    methods = {m for m in methods if isinstance(m, str)} if isinstance(methods, list) else set()
    caps: set[Capability] = set()
    if "generateContent" in methods:
        thinking = entry.get("thinking")
        caps |= family_capabilities(model_id, thinking=thinking if isinstance(thinking, bool) else None)
    if "embedContent" in methods:
        caps.add(C.EMBEDDING)
    if not caps:
        return None
    description = entry.get("description")
    display = entry.get("displayName")
    text = description if isinstance(description, str) and description.strip() else display
    return ModelInfo(
        model_id,
        frozenset(caps),
        context_length=_int(entry.get("inputTokenLimit")),
        max_output_tokens=_int(entry.get("outputTokenLimit")),
        description=" ".join(text.split()) if isinstance(text, str) and text.strip() else None,
    )


class ModelCache:
    """Capabilities learnt by the last listing through one config, by model id.

    Replaced whole by each refresh, so that it tells what the key could use
    at the last listing; :meth:`capabilities` answers ``None`` for a model
    that listing did not name.
    """

    __slots__ = ("_by_id", "_lock")

    def __init__(self) -> None:
        self._by_id: dict[str, frozenset[Capability]] = {}
        self._lock = threading.Lock()

    def replace(self, models: Iterable[ModelInfo]) -> None:
        """Remember the capabilities of every model of one listing."""
        table = {model.id: model.capabilities for model in models}
        with self._lock:
            self._by_id = table

    def capabilities(self, model: str) -> frozenset[Capability] | None:
        """What the last listing said ``model`` can do, or ``None``."""
        return self._by_id.get(model)
