"""Chat and streaming over ``POST /api/chat``, on the wire toolkit.

This module imports httpx (through the toolkit); the hooks import it on first use.

Timeouts: Ollama sends nothing, not even the response headers, until the
model is loaded and the prompt is read, which can take minutes when the model
is cold; after that a stream moves at token speed. So a request waits up to
``first_byte_timeout_secs`` for the headers (and a non-streaming answer, which
Ollama sends only when it is complete, up to that long for its body), and a
stream then waits at most ``timeout_secs`` for each further piece.
"""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx

from clawdesk import (
    ApiError,
    ChatRequest,
    ChatResponse,
    Finish,
    Message,
    ProviderError,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCallEvent,
    Usage,
    UsageEvent,
)
from clawdesk.provider import NDJSONDecoder, Wire, bearer, loads_json

from ._config import OllamaConfig
from ._wire import build_chat_body, classify, error_from_message, finish_reason, parse_tool_calls, usage_from

__all__ = ["chat", "stream", "wire_for"]

_loads = loads_json  # json.loads's results, about 4x faster per line
_LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


def wire_for(config: OllamaConfig, http: httpx.AsyncClient, *, first_byte: bool = True) -> Wire:
    """The :class:`~clawdesk.provider.Wire` for a call: bearer key for hosted Ollama, Ollama's error
    reading, hints that say what to do when the server is not there or slow to start.

    ``first_byte``: wait up to ``first_byte_timeout_secs`` for the answer to
    start (chat); model listings wait ``timeout_secs`` only.
    """
    name = config.name or "ollama"
    connect_hint, first_byte_hint = _hints(config.base_url, name)
    return Wire(
        config,
        http,
        auth=bearer(config.api_key),
        classify=classify,
        first_byte_timeout=config.first_byte_timeout_secs if first_byte else None,
        first_byte_hint=first_byte_hint,
        connect_hint=connect_hint,
    )


@functools.lru_cache(maxsize=64)
def _hints(base_url: str, name: str) -> tuple[str, str]:
    # Parsing the URL costs tens of microseconds; the hints depend on nothing else, so once per address.
    host = httpx.URL(base_url).host
    if host in _LOOPBACK or host.startswith("127."):
        connect = "is Ollama running? Start it with `ollama serve`, or configure another provider"
    else:
        connect = f"check OLLAMA_HOST or providers.{name}.base_url, or configure another provider"
    slow = f"a model can take long to load; raise providers.{name}.first_byte_timeout_secs if it is still loading"
    return connect, slow


def _line_error(value: object, provider: str, url: str, request_id: str | None) -> ProviderError:
    message = value if isinstance(value, str) else json.dumps(value)
    return error_from_message(message, provider=provider, url=url, request_id=request_id) or ApiError(
        f"Ollama reported an error: {message}", provider=provider, url=url, request_id=request_id
    )


def _is_json(raw: bytes) -> bool:
    try:
        _loads(raw)
    except (ValueError, RecursionError):
        return False
    return True


def _text(value: object, field: str, provider: str) -> str:
    if type(value) is not str:
        raise ApiError(f"malformed answer: message.{field} is not a string", provider=provider)
    return value


class _Decoder:
    """Turns each NDJSON line of an ``/api/chat`` stream into events (one ``json.loads`` per line)."""

    __slots__ = ("calls", "done", "provider", "request_id", "url")

    def __init__(self, provider: str, url: str, request_id: str | None) -> None:
        self.provider = provider
        self.url = url
        self.request_id = request_id
        self.calls = 0
        self.done = False

    def _malformed(self, what: str) -> ApiError:
        return ApiError(f"{what} ({self.url})", provider=self.provider, url=self.url, request_id=self.request_id)

    def line(self, raw: bytes) -> Sequence[StreamEvent]:
        try:
            data = _loads(raw.decode())  # json.loads(bytes) would sniff the encoding first
        except (ValueError, RecursionError):  # RecursionError: nested too deeply
            raise self._malformed("the stream sent a line that is not JSON") from None
        if type(data) is not dict:
            raise self._malformed("the stream sent a line that is not a JSON object")
        error = data.get("error")
        if error is not None:
            raise _line_error(error, self.provider, self.url, self.request_id)
        message = data.get("message")
        done = data.get("done")
        if message is None:
            if not done:
                # A line that is neither a piece of the answer nor its end: not Ollama's protocol.
                raise self._malformed("the stream sent a line without 'message' before its done:true line")
            message = {}
        elif type(message) is not dict:
            raise self._malformed("malformed stream line: 'message' is not an object")
        content = message.get("content")
        thinking = message.get("thinking")
        raw_calls = message.get("tool_calls")
        if not (thinking or raw_calls or done):
            # The hot path: a line with a piece of the answer's text.
            return (TextDelta(_text(content, "content", self.provider)),) if content else ()
        events: list[StreamEvent] = []
        if thinking:
            events.append(ReasoningDelta(_text(thinking, "thinking", self.provider)))
        if content:
            events.append(TextDelta(_text(content, "content", self.provider)))
        if raw_calls:
            calls = parse_tool_calls(raw_calls, self.calls, str(data.get("created_at") or ""), self.provider)
            self.calls += len(calls)
            events.extend(ToolCallEvent(call) for call in calls)
        if done:
            self.done = True
            usage = usage_from(data)
            if usage is not None:
                events.append(UsageEvent(usage))
            reason = data.get("done_reason")
            events.append(
                Finish(
                    finish_reason(reason, self.calls > 0),
                    reason if isinstance(reason, str) else None,
                    request_id=self.request_id,
                )
            )
        return events


async def stream(config: OllamaConfig, http: httpx.AsyncClient, request: ChatRequest) -> AsyncIterator[StreamEvent]:
    """Stream ``request`` as events; see the ``provider_stream`` hook for the contract.

    The body is NDJSON (:class:`~clawdesk.provider.NDJSONDecoder`: split on
    ``\\n`` bytes only, so U+2028 inside a JSON string stays there). A
    ``{"error": ...}`` line raises its error; a body that ends before the
    ``done: true`` line raises :class:`~clawdesk.Truncated`.
    """
    wire = wire_for(config, http)
    body = wire.encode(build_chat_body(config, request, stream=True))
    lines = NDJSONDecoder(max_line_bytes=wire.max_frame_bytes)
    final: Sequence[StreamEvent] = ()
    async with wire.stream("POST", "/api/chat", body, model=request.model, end_marker="its done:true line") as reply:
        decoder = _Decoder(wire.provider, wire.url("/api/chat"), reply.request_id)
        line = decoder.line
        async for chunk in reply.chunks():
            for raw in lines.feed(chunk):
                events = line(raw)
                if decoder.done:
                    # Whatever follows the final line is not part of the answer.
                    final = events
                    reply.end()
                    break
                for event in events:
                    yield event
            if decoder.done:
                break
        else:
            for raw in lines.flush():
                if not _is_json(raw):
                    break  # half a line where the body was cut: leaving the block says Truncated
                final = line(raw)
                if not decoder.done:
                    # The body ended right after an unfinished line: leaving the block says Truncated.
                    for event in final:
                        yield event
                    final = ()
                else:
                    reply.end()
    # Yielded once the connection is back in the pool, so that a caller who stops at Finish loses nothing.
    for event in final:
        yield event


async def chat(config: OllamaConfig, http: httpx.AsyncClient, request: ChatRequest) -> ChatResponse:
    """Send ``request`` with ``"stream": false`` and return the whole answer."""
    wire = wire_for(config, http)
    provider = wire.provider
    body = wire.encode(build_chat_body(config, request, stream=False))
    reply = await wire.json("POST", "/api/chat", body, model=request.model)
    url = wire.url("/api/chat")
    request_id = reply.request_id
    data: Any = reply.data

    def malformed(what: str) -> ApiError:
        return ApiError(f"{what} ({url})", provider=provider, url=url, request_id=request_id)

    if type(data) is not dict:
        raise malformed("the answer is not a JSON object")
    if data.get("error") is not None:
        raise _line_error(data["error"], provider, url, request_id)
    if not data.get("done"):
        raise malformed("the answer has no done:true: it is incomplete")
    message = data.get("message")
    if type(message) is not dict:
        raise malformed("malformed answer: 'message' is missing or not an object")
    content = message.get("content") or ""
    thinking = message.get("thinking") or None
    raw_calls = message.get("tool_calls")
    calls = parse_tool_calls(raw_calls, 0, str(data.get("created_at") or ""), provider) if raw_calls else []
    reason = data.get("done_reason")
    model = data.get("model")
    return ChatResponse(
        message=Message.assistant(
            _text(content, "content", provider),
            tool_calls=calls,
            reasoning=_text(thinking, "thinking", provider) if thinking is not None else None,
        ),
        finish_reason=finish_reason(reason, bool(calls)),
        finish_reason_raw=reason if isinstance(reason, str) else None,
        usage=usage_from(data) or Usage(),
        provider=provider,
        model=model if isinstance(model, str) and model else request.model,
        request_id=request_id,
    )
