"""The HTTP side of the plugin: chat, stream and model listing against La Plateforme, on the wire toolkit.

Imported by the hooks on first use (the toolkit imports httpx), never at plugin import.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx

from clawdesk import (
    ApiError,
    AuthFailed,
    ChatRequest,
    ChatResponse,
    ModelInfo,
    ModelNotFound,
    ProviderError,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
)
from clawdesk.provider import (
    DONE,
    ErrorResponse,
    ProviderConfig,
    SSEDecoder,
    StreamTail,
    ToolCallAssembler,
    Wire,
    bearer,
)

from ._models import learn, model_from_card
from ._wire import decode_chat, encode_chat, error_in_body, finish_reason, real_id, split_content, usage_from

__all__ = ["chat", "list_models", "stream"]

_loads = json.loads
_KEY_HINT = "set MISTRAL_API_KEY or providers.mistral.api_key"


def _classify(error: ErrorResponse) -> ProviderError | None:
    """Mistral's own ways of saying things, on top of the toolkit's status table."""
    status, message, model = error.status, error.message, error.model
    data = error.json
    kind = data.get("type") if isinstance(data, dict) else None
    if status == 400 and (kind == "invalid_model" or message.lower().startswith(("invalid model", "model not found"))):
        return ModelNotFound(message or f"unknown model {model!r}", model=model, **error.kw())
    if status == 404 and model is not None:
        detail = f": {message}" if message else ""
        return ModelNotFound(f"model {model!r} not found{detail}", model=model, **error.kw())
    if status == 401:
        return AuthFailed(f"{message or 'the API key was refused'} ({_KEY_HINT})", **error.kw())
    return None


def _wire(config: ProviderConfig, http: httpx.AsyncClient) -> Wire:
    return Wire(
        config, http, auth=bearer(config.api_key), classify=_classify, request_id_header="mistral-correlation-id"
    )


async def chat(config: ProviderConfig, http: httpx.AsyncClient, request: ChatRequest) -> ChatResponse:
    """One chat completion, read whole."""
    wire = _wire(config, http)
    body = wire.encode(encode_chat(request, stream=False, provider=wire.provider))
    reply = await wire.json("POST", "/chat/completions", body, model=request.model)
    return decode_chat(reply.data, model=request.model, provider=wire.provider, request_id=reply.request_id)


async def stream(config: ProviderConfig, http: httpx.AsyncClient, request: ChatRequest) -> AsyncIterator[StreamEvent]:
    """One streamed chat completion as events; see the ``provider_stream`` hook for the contract."""
    wire = _wire(config, http)
    provider = wire.provider
    body = wire.encode(encode_chat(request, stream=True, provider=provider))
    decoder = SSEDecoder()
    calls = ToolCallAssembler(provider)
    tail = StreamTail()
    async with wire.stream(
        "POST", "/chat/completions", body, model=request.model, end_marker="data: [DONE]", accept="text/event-stream"
    ) as reply:
        async for chunk in reply.chunks():
            for data in decoder.feed(chunk):
                if data == DONE:
                    reply.end()
                    break
                try:
                    event = _loads(data)
                    choice = event["choices"][0]
                    delta = choice["delta"]
                    text = delta.get("content")
                except (ValueError, LookupError, TypeError, AttributeError):
                    if data.strip() == DONE:  # [DONE] with stray whitespace
                        reply.end()
                        break
                    _odd_chunk(data, tail, provider)
                    continue
                if text:
                    if type(text) is str:
                        yield TextDelta(text)
                    else:
                        answer, thinking = split_content(text)
                        if thinking:
                            yield ReasoningDelta(thinking)
                        if answer:
                            yield TextDelta(answer)
                if delta.get("tool_calls"):
                    _add_calls(calls, delta["tool_calls"], provider)
                reason = choice.get("finish_reason")
                if reason is not None:
                    if reason == "error":
                        raise ApiError(
                            "the model stopped with finish_reason 'error'",
                            provider=provider,
                            retryable=True,
                            request_id=reply.request_id,
                        )
                    raw = reason if isinstance(reason, str) else str(reason)
                    tail.finish(finish_reason(raw), raw)
                if event.get("usage") is not None:
                    tail.usage(usage_from(event["usage"]))
            if reply.ended:
                break
        request_id = reply.request_id
    for event in tail.events(calls.complete(), request_id=request_id, default=finish_reason(None)):
        yield event


def _add_calls(calls: ToolCallAssembler, deltas: Any, provider: str) -> None:
    if not isinstance(deltas, list):
        raise ApiError("a stream chunk has tool_calls that are not a list", provider=provider)
    for position, delta in enumerate(deltas):
        if not isinstance(delta, Mapping):
            raise ApiError("a stream chunk has a tool call that is not an object", provider=provider)
        index = delta.get("index")
        function = delta.get("function")
        function = function if isinstance(function, Mapping) else {}
        name = function.get("name")
        arguments = function.get("arguments")
        calls.add(
            index if type(index) is int else position,
            call_id=real_id(delta.get("id")),
            name=name if isinstance(name, str) else None,
            arguments=arguments if isinstance(arguments, (str, Mapping)) else None,
        )


def _odd_chunk(data: str, tail: StreamTail, provider: str) -> None:
    """A stream event that is not a plain choice chunk: usage alone, an error object, or garbage."""
    try:
        event = _loads(data)
    except ValueError:
        shown = data if len(data) <= 60 else data[:57] + "..."
        raise ApiError(f"a stream event is not JSON: {shown!r}", provider=provider) from None
    problem = error_in_body(event)
    if problem is not None:
        raise ApiError(f"the server sent an error in the stream: {problem}", provider=provider)
    if isinstance(event, Mapping) and isinstance(event.get("choices"), list) and not event["choices"]:
        # Some OpenAI-style servers send usage in a last chunk without choices.
        if event.get("usage") is not None:
            tail.usage(usage_from(event["usage"]))
        return
    raise ApiError("a stream event has no choices[0].delta", provider=provider)


async def list_models(config: ProviderConfig, http: httpx.AsyncClient) -> list[ModelInfo]:
    """``GET /models``, mapped; what it says is remembered for ``provider_capabilities``."""
    wire = _wire(config, http)
    reply = await wire.json("GET", "/models")
    data = reply.data
    cards = data.get("data") if isinstance(data, Mapping) else data
    if not isinstance(cards, list):
        raise ApiError(
            "the model list has no data array", provider=wire.provider, status=reply.status, request_id=reply.request_id
        )
    models: dict[str, ModelInfo] = {}
    aliases: dict[str, list[str]] = {}
    for card in cards:
        if not isinstance(card, Mapping):
            continue
        model = model_from_card(card)
        if model is None or model.id in models:
            continue
        models[model.id] = model
        names = card.get("aliases")
        if isinstance(names, list):
            aliases[model.id] = [a for a in names if isinstance(a, str)]
    learn(config.base_url, models.values(), aliases)
    return list(models.values())
