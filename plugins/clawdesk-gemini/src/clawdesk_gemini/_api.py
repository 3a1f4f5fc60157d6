"""The HTTP side of the plugin: chat, stream and model listing against the Gemini API, on the wire toolkit.

Imported by the hooks on first use (the toolkit imports httpx), never at
plugin import. The key travels only in the ``x-goog-api-key`` header.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from functools import partial
from typing import Any
from urllib.parse import quote

import httpx

from clawdesk import ApiError, ChatRequest, ChatResponse, ModelInfo, ProviderError, StreamEvent
from clawdesk.provider import SSEDecoder, Wire, api_key_header, loads_json, short_text

from ._config import GeminiConfig
from ._errors import classify, error_from_status, google_status
from ._models import model_from_listing
from ._wire import ChunkReader, ErrorFrom, decode_response, encode_request, model_path

__all__ = ["chat", "list_models", "stream"]

_loads = loads_json  # json.loads's results, about 4x faster per chunk
#: What the stream's Truncated error names as the end marker it missed.
_END = "a candidate with a finishReason"
#: Stray (non-event) text a stream may hold before it is given up on: an error object is far smaller.
_STRAY_LIMIT = 64 * 1024
_PAGE_SIZE = 1000
_MAX_PAGES = 100


def _wire(config: GeminiConfig, http: httpx.AsyncClient, *, answers: bool = True) -> Wire:
    first_byte = config.first_byte_timeout_secs if answers else None
    return Wire(
        config,
        http,
        auth=api_key_header("x-goog-api-key", config.api_key),
        classify=classify,
        first_byte_timeout=first_byte if first_byte != config.timeout_secs else None,
        first_byte_hint=f"a thinking model may be slow to start: raise providers.{config.name}.first_byte_timeout_secs",
    )


def _error_from(wire: Wire, path: str, model: str, error: Mapping[str, Any]) -> ProviderError:
    return error_from_status(wire.provider, error, url=wire.url(path).split("?", 1)[0], model=model)


async def chat(config: GeminiConfig, http: httpx.AsyncClient, request: ChatRequest) -> ChatResponse:
    """One ``:generateContent`` call, read whole."""
    wire = _wire(config, http)
    provider = wire.provider
    path = model_path(request.model, provider) + ":generateContent"
    body = wire.encode(encode_request(request, provider=provider, capabilities=config.capabilities(request.model)))
    reply = await wire.json("POST", path, body, model=request.model, accept="application/json")
    return decode_response(
        reply.data, model=request.model, provider=provider, error_from=partial(_error_from, wire, path, request.model)
    )


async def stream(config: GeminiConfig, http: httpx.AsyncClient, request: ChatRequest) -> AsyncIterator[StreamEvent]:
    """One ``:streamGenerateContent?alt=sse`` call as events; see the ``provider_stream`` hook for the contract.

    Gemini's SSE has no end marker: the answer is whole when a candidate
    carried a ``finishReason`` (the chunk that does is the last one, with
    the usage); a body that ends before that raises
    :class:`~clawdesk.Truncated`. An error the stream reports (a ``data:``
    chunk holding ``{"error": ...}``, or the raw JSON lines Google writes
    instead of an event) raises its typed error.
    """
    wire = _wire(config, http)
    provider = wire.provider
    path = model_path(request.model, provider) + ":streamGenerateContent?alt=sse"
    body = wire.encode(encode_request(request, provider=provider, capabilities=config.capabilities(request.model)))
    error_from = partial(_error_from, wire, path, request.model)
    decoder = SSEDecoder(keep_ignored=True, max_event_bytes=wire.max_frame_bytes)
    reader = ChunkReader(provider, error_from=error_from)
    stray: list[str] = []
    async with wire.stream(
        "POST", path, body, model=request.model, end_marker=_END, accept="text/event-stream"
    ) as reply:
        async for chunk in reply.chunks():
            for data in decoder.feed(chunk):
                try:
                    parsed = _loads(data)
                except (ValueError, RecursionError):
                    shown = short_text(data, 60)
                    raise ApiError(f"a stream event is not JSON: {shown!r}", provider=provider) from None
                for event in reader.feed(parsed):
                    yield event
                if reader.finished:
                    reply.end()
                    break
            if reply.ended:
                break
            ignored = decoder.ignored
            if ignored:
                stray.extend(ignored)
                ignored.clear()
                _raise_stray(stray, provider, error_from)
    for event in reader.tail():
        yield event


def _raise_stray(lines: list[str], provider: str, error_from: ErrorFrom) -> None:
    """Raise the error that raw JSON lines in the stream spell, once they form one whole JSON value."""
    text = "\n".join(lines)
    if len(text) > _STRAY_LIMIT:
        raise ApiError(
            f"the stream holds {len(text)} characters that are not server-sent events: {short_text(text, 60)!r}",
            provider=provider,
        )
    try:
        value = _loads(text)
    except (ValueError, RecursionError):
        return  # not whole yet (a pretty-printed object arrives line by line)
    error = google_status(value)
    if error is not None:
        raise error_from(error)
    raise ApiError(f"the stream holds JSON that is not an event: {short_text(text, 60)!r}", provider=provider)


async def list_models(config: GeminiConfig, http: httpx.AsyncClient) -> list[ModelInfo]:
    """``GET /v1beta/models``, every page; what it says is remembered for ``provider_capabilities``."""
    wire = _wire(config, http, answers=False)
    provider = wire.provider
    models: dict[str, ModelInfo] = {}
    token: str | None = None
    seen: set[str] = set()
    for _ in range(_MAX_PAGES):
        path = f"/v1beta/models?pageSize={_PAGE_SIZE}"
        if token:
            path += f"&pageToken={quote(token, safe='')}"
        reply = await wire.json("GET", path)
        data = reply.data
        entries = data.get("models", []) if isinstance(data, Mapping) else None
        if not isinstance(entries, list):
            raise ApiError("the model listing has no models array", provider=provider, status=reply.status)
        for entry in entries:
            model = model_from_listing(entry) if isinstance(entry, Mapping) else None
            if model is not None and model.id not in models:
                models[model.id] = model
        assert isinstance(data, Mapping)
        next_token = data.get("nextPageToken")
        if not isinstance(next_token, str) or not next_token:
            break
        if next_token in seen:
            raise ApiError("the model listing gives the same page token twice", provider=provider)
        seen.add(next_token)
        token = next_token
    else:
        raise ApiError(f"the model listing goes on for more than {_MAX_PAGES} pages", provider=provider)
    config.model_cache.replace(models.values())
    return list(models.values())
