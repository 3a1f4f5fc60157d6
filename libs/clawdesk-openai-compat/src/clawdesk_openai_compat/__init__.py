"""The OpenAI chat completions wire, once, for every clawdesk provider that speaks it.

OpenAI, vLLM, llama.cpp's ``llama-server``, LM Studio, Groq, DeepSeek,
Together, OpenRouter and Mistral all speak ``POST /chat/completions`` "in all
but details". This library is the one implementation of that wire on
clawdesk's toolkit (:mod:`clawdesk.provider`); the details are a
:class:`Dialect`. It is a library, not a provider: ``clawdesk-openai``,
``clawdesk-mistral`` and packages made by ``clawdesk new-provider`` depend
on it, and none of them imports another.

A provider built on it::

    from clawdesk_openai_compat import DIALECTS, chat, encode_chat, make_wire

    async def provider_chat(config, http, request):
        dialect = DIALECTS["openai-compatible"]
        wire = make_wire(config, http, dialect=dialect)
        body = encode_chat(request, dialect=dialect, provider=wire.provider, stream=False)
        return await chat(wire, body, model=request.model)

Importing it costs nothing (no httpx, not even the dialects): every name
loads on first use, so a plugin's import stays cheap and what sends or reads
loads inside a hook.

- **dialects**: :class:`Dialect`, :data:`DIALECTS`, :data:`AUTO`,
  :func:`dialect_for_url`, :func:`is_local_url`;
- **requests**: :func:`encode_chat`, :func:`encode_message`;
- **answers**: :func:`decode_chat`, :func:`usage_from`, :func:`finish_reason`,
  :func:`split_content`, :func:`reasoning_of`, :func:`tool_calls_from`,
  :func:`real_id`, :func:`error_in_body`, :func:`error_text`;
- **errors**: :func:`classify`, :func:`classifier`, :func:`stream_error`,
  :func:`error_fields`, :func:`key_hint`;
- **HTTP**: :func:`make_wire`, :func:`chat`, :func:`stream`,
  :func:`list_models`, :func:`add_calls`;
- **models**: :func:`model_from_card`, :class:`ModelMemory`,
  :data:`CHAT_CAPABILITIES`;
- **tests**: :mod:`clawdesk_openai_compat.testing` (the conformance kit's
  adapter half and the wire's server side, for scripted servers).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._chat import add_calls, chat, list_models, make_wire, stream
    from ._dialect import AUTO, DIALECTS, Dialect, dialect_for_url, is_local_url
    from ._errors import classifier, classify, error_fields, key_hint, stream_error
    from ._models import CHAT_CAPABILITIES, ModelMemory, model_from_card
    from ._request import encode_chat, encode_message
    from ._response import (
        decode_chat,
        error_in_body,
        error_text,
        finish_reason,
        real_id,
        reasoning_of,
        split_content,
        tool_calls_from,
        usage_from,
    )

__all__ = [
    "AUTO",
    "CHAT_CAPABILITIES",
    "DIALECTS",
    "Dialect",
    "ModelMemory",
    "add_calls",
    "chat",
    "classifier",
    "classify",
    "decode_chat",
    "dialect_for_url",
    "encode_chat",
    "encode_message",
    "error_fields",
    "error_in_body",
    "error_text",
    "finish_reason",
    "is_local_url",
    "key_hint",
    "list_models",
    "make_wire",
    "model_from_card",
    "real_id",
    "reasoning_of",
    "split_content",
    "stream",
    "stream_error",
    "tool_calls_from",
    "usage_from",
]

# Every name loads on first use: _chat, _errors and _request reach httpx through the toolkit, and even
# the dialects' attrs classes cost milliseconds a plugin's import should not pay.
_LAZY = {
    **dict.fromkeys(("AUTO", "DIALECTS", "Dialect", "dialect_for_url", "is_local_url"), "._dialect"),
    **dict.fromkeys(("add_calls", "chat", "list_models", "make_wire", "stream"), "._chat"),
    **dict.fromkeys(("classifier", "classify", "error_fields", "key_hint", "stream_error"), "._errors"),
    **dict.fromkeys(("CHAT_CAPABILITIES", "ModelMemory", "model_from_card"), "._models"),
    **dict.fromkeys(("encode_chat", "encode_message"), "._request"),
    **dict.fromkeys(
        (
            "decode_chat",
            "error_in_body",
            "error_text",
            "finish_reason",
            "real_id",
            "reasoning_of",
            "split_content",
            "tool_calls_from",
            "usage_from",
        ),
        "._response",
    ),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'clawdesk_openai_compat' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
