"""What OpenAI's models can do, and what a compatible server's listing taught.

OpenAI's ``GET /models`` says nothing but ids, so what each family can do is
written here, from OpenAI's model pages: chat models take tools, JSON mode
and JSON schemas; most see images and read PDFs; the reasoning models (the
o-series and GPT-5, but not its ``-chat`` variants) reason, and refuse
sampling settings (a ``temperature`` or ``top_p`` other than 1, penalties,
``logit_bias``), o3 and o4-mini ``stop`` too. A compatible server's models
are what its listing says (:func:`clawdesk_openai_compat.model_from_card`).
Pure code, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable

from clawdesk import Capability, ModelInfo
from clawdesk_openai_compat import ModelMemory

__all__ = ["BUILTIN", "MEMORY", "family_capabilities", "is_reasoning_model", "openai_listing", "rejects_stop"]

C = Capability
_CHAT = frozenset({C.CHAT, C.STREAMING, C.FUNCTION_CALLING, C.JSON_MODE, C.JSON_SCHEMA})
_VISION = _CHAT | {C.VISION, C.DOCUMENTS}
_REASONING = _VISION | {C.REASONING}

#: Model id prefixes and what the family can do; the longest matching prefix wins.
_FAMILIES: tuple[tuple[str, frozenset[Capability]], ...] = tuple(
    sorted(
        (
            ("gpt-5", _REASONING),
            ("gpt-5-chat", _VISION),
            ("gpt-5.1-chat", _VISION),
            ("gpt-5.2-chat", _VISION),
            ("o1", _REASONING),
            ("o1-mini", frozenset({C.CHAT, C.STREAMING, C.REASONING})),
            ("o3", _REASONING),
            ("o3-mini", _CHAT | {C.REASONING}),
            ("o4-mini", _REASONING),
            ("gpt-4.1", _VISION),
            ("gpt-4o", _VISION),
            ("chatgpt-4o", frozenset({C.CHAT, C.STREAMING, C.VISION})),
            ("gpt-4-turbo", _CHAT | {C.VISION}),
            ("gpt-4", _CHAT - {C.JSON_MODE, C.JSON_SCHEMA}),
            ("gpt-3.5-turbo", _CHAT - {C.JSON_SCHEMA}),
            ("text-embedding-", frozenset({C.EMBEDDING})),
            # Not chat models: listed, with nothing the chat API could use.
            ("dall-e", frozenset()),
            ("gpt-image", frozenset()),
            ("whisper", frozenset()),
            ("tts", frozenset()),
            ("omni-moderation", frozenset()),
            ("text-moderation", frozenset()),
            ("davinci", frozenset()),
            ("babbage", frozenset()),
        ),
        key=lambda item: -len(item[0]),
    )
)


def _m(model_id: str, context: int, output: int | None, description: str) -> ModelInfo:
    caps = family_capabilities(model_id)
    assert caps is not None
    return ModelInfo(model_id, caps, context_length=context, max_output_tokens=output, description=description)


def family_capabilities(model: str) -> frozenset[Capability] | None:
    """What an OpenAI model can do, by its family (its id's longest known prefix); ``None`` for an unknown id.

    A fine-tuned model (``ft:gpt-4o-mini:org::id``) is its base model's family.
    """
    model = model.removeprefix("ft:")
    for prefix, caps in _FAMILIES:
        if model.startswith(prefix):
            return caps
    return None


def is_reasoning_model(model: str) -> bool:
    """Whether ``model`` is one of OpenAI's reasoning models (they refuse sampling settings)."""
    caps = family_capabilities(model)
    return caps is not None and C.REASONING in caps


def rejects_stop(model: str) -> bool:
    """Whether ``model`` refuses ``stop`` (OpenAI's o3 and o4-mini)."""
    model = model.removeprefix("ft:")
    return model.startswith(("o3", "o4-mini")) and not model.startswith("o3-mini")


#: The models ``clawdesk models -p openai`` lists without asking (current ones, per OpenAI's model pages).
BUILTIN: tuple[ModelInfo, ...] = (
    _m("gpt-5", 400_000, 128_000, "GPT-5, the flagship reasoning model"),
    _m("gpt-5-mini", 400_000, 128_000, "GPT-5 mini, faster and cheaper"),
    _m("gpt-5-nano", 400_000, 128_000, "GPT-5 nano, the fastest and cheapest GPT-5"),
    _m("gpt-4.1", 1_047_576, 32_768, "GPT-4.1, a non-reasoning model with a long context"),
    _m("gpt-4.1-mini", 1_047_576, 32_768, "GPT-4.1 mini"),
    _m("gpt-4.1-nano", 1_047_576, 32_768, "GPT-4.1 nano"),
    _m("gpt-4o", 128_000, 16_384, "GPT-4o"),
    _m("gpt-4o-mini", 128_000, 16_384, "GPT-4o mini, fast and cheap"),
    _m("o3", 200_000, 100_000, "o3, a reasoning model"),
    _m("o4-mini", 200_000, 100_000, "o4-mini, a fast reasoning model"),
    _m("o3-mini", 200_000, 100_000, "o3-mini, a small reasoning model (text only)"),
    _m("text-embedding-3-large", 8_191, None, "text embeddings, 3072 dimensions"),
    _m("text-embedding-3-small", 8_191, None, "text embeddings, 1536 dimensions"),
)

#: What listings taught, per base URL.
MEMORY = ModelMemory()


def openai_listing(models: Iterable[ModelInfo]) -> list[ModelInfo]:
    """OpenAI's listing with each model's family capabilities (its cards say nothing of them)."""
    out = []
    for model in models:
        caps = family_capabilities(model.id)
        out.append(ModelInfo(model.id, caps if caps is not None else model.capabilities, description=model.description))
    return out
