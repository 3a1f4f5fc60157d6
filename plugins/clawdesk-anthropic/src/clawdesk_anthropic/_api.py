"""The HTTP side of the plugin: chat, stream and model listing against the Claude API, on the wire toolkit.

Imported by the hooks on first use (the toolkit imports httpx), never at plugin import.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from urllib.parse import quote

import httpx

from clawdesk import ApiError, ChatRequest, ChatResponse, ModelInfo, ProviderError, StreamEvent
from clawdesk.provider import ErrorResponse, ProviderConfig, SSEDecoder, Wire, api_key_header

from ._config import AnthropicConfig, AnthropicOptions
from ._events import EventReader
from ._models import ModelSpec, learn, spec_from_entry
from ._wire import classify_body, decode_message, encode_request

__all__ = ["chat", "list_models", "stream"]

MESSAGES = "/v1/messages"
#: Pages of ``GET /v1/models`` read at most (1000 models each): a server that always says ``has_more`` stops here.
MAX_PAGES = 20


def _classify(error: ErrorResponse) -> ProviderError | None:
    return classify_body(
        error.status,
        error.json,
        error.headers,
        provider=error.provider,
        model=error.model,
        url=error.url,
        request_id=error.request_id,
        retry_after=error.kw()["retry_after"],
    )


def _wire(config: AnthropicConfig, http: httpx.AsyncClient, own: object = None) -> Wire:
    headers = {"anthropic-version": config.api_version}
    betas = config.betas
    if isinstance(own, AnthropicOptions) and own.betas:
        betas = tuple(dict.fromkeys((*betas, *own.betas)))
    if betas:
        headers["anthropic-beta"] = ",".join(betas)
    return Wire(
        config,
        http,
        auth=api_key_header("x-api-key", config.api_key),
        classify=_classify,
        request_id_header="request-id",
        headers=headers,
        first_byte_timeout=config.first_byte_timeout_secs,
        first_byte_hint="raise providers.anthropic.first_byte_timeout_secs, or stream the answer",
    )


def _config(config: ProviderConfig) -> AnthropicConfig:
    # Core structures [providers.<name>] into the class provider_config_type names: always this one.
    assert isinstance(config, AnthropicConfig), type(config)
    return config


async def chat(config: ProviderConfig, http: httpx.AsyncClient, request: ChatRequest) -> ChatResponse:
    """One message, read whole."""
    conf = _config(config)
    wire = _wire(conf, http, request.provider_options)
    body = wire.encode(encode_request(conf, request, stream=False))
    reply = await wire.json("POST", MESSAGES, body, model=request.model, accept="application/json")
    return decode_message(reply.data, model=request.model, provider=wire.provider, request_id=reply.request_id)


async def stream(config: ProviderConfig, http: httpx.AsyncClient, request: ChatRequest) -> AsyncIterator[StreamEvent]:
    """One streamed message as events; see the ``provider_stream`` hook for the contract."""
    conf = _config(config)
    wire = _wire(conf, http, request.provider_options)
    body = wire.encode(encode_request(conf, request, stream=True))
    decoder = SSEDecoder(max_event_bytes=wire.max_frame_bytes)
    reader = EventReader(wire.provider, request.model)
    async with wire.stream(
        "POST", MESSAGES, body, model=request.model, end_marker="event: message_stop", accept="text/event-stream"
    ) as reply:
        async for chunk in reply.chunks():
            for data in decoder.feed(chunk):
                event = reader.feed(data)
                if event is not None:
                    yield event
                if reader.done:
                    reply.end()
                    break
            if reply.ended:
                break
        request_id = reply.request_id
    for event in reader.close(request_id):
        yield event


async def list_models(config: ProviderConfig, http: httpx.AsyncClient) -> list[ModelInfo]:
    """Every model ``GET /v1/models`` lists (all pages); what it says is remembered for later requests."""
    conf = _config(config)
    wire = _wire(conf, http)
    specs: dict[str, ModelSpec] = {}
    after: str | None = None
    for _ in range(MAX_PAGES):
        path = "/v1/models?limit=1000" + (f"&after_id={quote(after, safe='')}" if after else "")
        reply = await wire.json("GET", path)
        data = reply.data
        entries = data.get("data") if isinstance(data, Mapping) else None
        if not isinstance(entries, list):
            raise ApiError(
                "the model list has no data array",
                provider=wire.provider,
                status=reply.status,
                request_id=reply.request_id,
            )
        for entry in entries:
            spec = spec_from_entry(entry) if isinstance(entry, Mapping) else None
            if spec is not None and spec.id not in specs:
                specs[spec.id] = spec
        last = data.get("last_id")
        if data.get("has_more") is not True or not isinstance(last, str) or not last or last == after:
            break
        after = last
    learn(conf.base_url, specs.values())
    return [spec.info() for spec in specs.values()]
