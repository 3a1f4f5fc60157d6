"""The HTTP side of the plugin: chat, stream and model listing against La Plateforme.

The wire is :mod:`clawdesk_openai_compat`'s; what is Mistral's own here is its
error quirks (an unknown model is a 400 ``invalid_model``; a 404 is a model
Mistral does not serve) and its model catalogue. Imported by the hooks on
first use (the wire imports httpx), never at plugin import.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import httpx

from clawdesk import ChatRequest, ChatResponse, ModelInfo, ModelNotFound, ProviderError, StreamEvent
from clawdesk.provider import ErrorResponse, ProviderConfig, Wire
from clawdesk_openai_compat import chat as send_chat
from clawdesk_openai_compat import list_models as list_cards
from clawdesk_openai_compat import make_wire
from clawdesk_openai_compat import stream as send_stream

from ._models import MEMORY, model_from_card
from ._wire import dialect_for, encode_chat

__all__ = ["chat", "list_models", "stream"]


def _classify(error: ErrorResponse) -> ProviderError | None:
    """Mistral's own ways of saying things, read before the shared OpenAI-style reading."""
    status, message, model = error.status, error.message, error.model
    data = error.json
    kind = data.get("type") if isinstance(data, Mapping) else None
    if status == 400 and (kind == "invalid_model" or message.lower().startswith(("invalid model", "model not found"))):
        return ModelNotFound(message or f"unknown model {model!r}", model=model, **error.kw())
    if status == 404 and model is not None:
        detail = f": {message}" if message else ""
        return ModelNotFound(f"model {model!r} not found{detail}", model=model, **error.kw())
    return None


def _wire(config: ProviderConfig, http: httpx.AsyncClient, *, streaming: bool = False) -> Wire:
    return make_wire(config, http, dialect=dialect_for(config), classify=_classify, streaming=streaming)


async def chat(config: ProviderConfig, http: httpx.AsyncClient, request: ChatRequest) -> ChatResponse:
    """One chat completion, read whole."""
    wire = _wire(config, http)
    body = encode_chat(request, stream=False, provider=wire.provider, dialect=dialect_for(config))
    return await send_chat(wire, body, model=request.model)


def stream(config: ProviderConfig, http: httpx.AsyncClient, request: ChatRequest) -> AsyncIterator[StreamEvent]:
    """One streamed chat completion as events; see the ``provider_stream`` hook for the contract.

    The request is encoded (and refused, if it must be) at once; the events
    come from the shared wire's generator, which holds the response.
    """
    wire = _wire(config, http, streaming=True)
    body = encode_chat(request, stream=True, provider=wire.provider, dialect=dialect_for(config))
    return send_stream(wire, body, model=request.model)


async def list_models(config: ProviderConfig, http: httpx.AsyncClient) -> list[ModelInfo]:
    """``GET /models``, mapped; what it says is remembered for ``provider_capabilities``."""
    models: list[ModelInfo] = []
    aliases: dict[str, list[str]] = {}
    for card in await list_cards(_wire(config, http)):
        model = model_from_card(card)
        if model is None:
            continue
        models.append(model)
        names = card.get("aliases")
        if isinstance(names, list):
            aliases[model.id] = [a for a in names if isinstance(a, str)]
    MEMORY.learn(config.base_url, models, aliases)
    return models
