"""Chat and streaming over ``POST /api/chat``, and the HTTP plumbing they share.

This module imports httpx; the hooks import it on first use.

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

import anyio
import httpx

from clawdesk import (
    ApiError,
    ChatRequest,
    ChatResponse,
    ConnectionFailed,
    Finish,
    Message,
    ProviderError,
    ReasoningDelta,
    Role,
    StreamEvent,
    TextDelta,
    Timeout,
    ToolCallEvent,
    Usage,
    UsageEvent,
)
from clawdesk.http import map_transport_error, raise_for_response, safe_url

from ._config import OllamaConfig
from ._wire import (
    PROVIDER,
    build_chat_body,
    classifier,
    error_from_message,
    finish_reason,
    parse_tool_calls,
    usage_from,
)

__all__ = ["chat", "endpoint", "request_headers", "stream", "transport_error"]

_loads = json.loads
_DRAIN_SECS = 0.1
_LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


def endpoint(config: OllamaConfig, path: str) -> str:
    """``base_url`` joined with an API path such as ``/api/chat``."""
    return config.base_url.rstrip("/") + path


def request_headers(config: OllamaConfig) -> dict[str, str]:
    """JSON content type, and the bearer key when one is configured (hosted Ollama)."""
    headers = {"content-type": "application/json"}
    if config.api_key:
        headers["authorization"] = f"Bearer {config.api_key.reveal()}"
    return headers


def transport_error(config: OllamaConfig, url: str, exc: Exception, *, first_byte: bool = False) -> ProviderError:
    """The :class:`~clawdesk.ProviderError` for an httpx failure on ``url``.

    A refused connection names the URL and says how to fix it (the usual
    case: Ollama is not running). ``first_byte`` marks a wait for the answer
    to start, whose read timeout is ``first_byte_timeout_secs``.
    """
    where = safe_url(url)
    if isinstance(exc, httpx.ConnectError):
        host = httpx.URL(url).host
        if host in _LOOPBACK or host.startswith("127."):
            hint = "is Ollama running? Start it with `ollama serve`"
        else:
            hint = "check OLLAMA_HOST or providers.ollama.base_url"
        reason = str(exc).strip() or type(exc).__name__
        return ConnectionFailed(
            f"could not connect to Ollama at {safe_url(config.base_url)} ({reason}); {hint}, "
            "or configure another provider",
            provider=PROVIDER,
            url=where,
        )
    if first_byte and isinstance(exc, httpx.ReadTimeout):
        return Timeout(
            f"no answer from {where} within first_byte_timeout_secs={config.first_byte_timeout_secs:g}s "
            "(a model can take long to load; raise providers.ollama.first_byte_timeout_secs if it is still loading)",
            provider=PROVIDER,
            url=where,
        )
    return map_transport_error(PROVIDER, exc, url=where)


def _first_byte_timeout(config: OllamaConfig) -> httpx.Timeout:
    return _timeouts(config.timeout_secs, config.first_byte_timeout_secs)


@functools.lru_cache(maxsize=32)
def _timeouts(seconds: float, first_byte: float) -> httpx.Timeout:
    # A pure function of two numbers, cached so a request builds nothing here.
    return httpx.Timeout(seconds, read=first_byte)


def _after_first_byte(response: httpx.Response, seconds: float) -> None:
    # The connection reads its timeouts from the request's "timeout"
    # extension (the same dict the transport holds) when the body starts, so
    # replacing the read timeout now makes every wait for more of the stream
    # use timeout_secs, at no cost per line. A transport that ignores the
    # extension keeps the longer first-byte timeout: bounded still.
    extensions = response.request.extensions
    timeouts = extensions.get("timeout")
    if isinstance(timeouts, dict):
        extensions["timeout"] = {**timeouts, "read": seconds}


def _line_error(value: object, url: str) -> ProviderError:
    message = value if isinstance(value, str) else json.dumps(value)
    where = safe_url(url)
    return error_from_message(message, status=None, url=where) or ApiError(
        f"Ollama reported an error: {message}", provider=PROVIDER, url=where
    )


class _Decoder:
    """Turns each NDJSON line of an ``/api/chat`` stream into events (one ``json.loads`` per line)."""

    __slots__ = ("calls", "done", "url")

    def __init__(self, url: str) -> None:
        self.url = url
        self.calls = 0
        self.done = False

    def line(self, raw: bytes) -> Sequence[StreamEvent]:
        if self.done:  # whatever follows the final line is not part of the answer
            return ()
        try:
            data = _loads(raw.decode())  # json.loads(bytes) would sniff the encoding first
        except ValueError:
            if not raw.strip():
                return ()
            raise _malformed("the stream sent a line that is not JSON", self.url) from None
        if type(data) is not dict:
            raise _malformed("the stream sent a line that is not a JSON object", self.url)
        error = data.get("error")
        if error is not None:
            raise _line_error(error, self.url)
        events: list[StreamEvent] = []
        message = data.get("message")
        if message:
            if type(message) is not dict:
                raise ApiError("malformed stream line: 'message' is not an object", provider=PROVIDER)
            content = message.get("content")
            thinking = message.get("thinking")
            raw_calls = message.get("tool_calls")
            if not (thinking or raw_calls or data.get("done")):
                # The hot path: a line with a piece of the answer's text.
                return (TextDelta(_text(content, "content")),) if content else ()
            if thinking:
                events.append(ReasoningDelta(_text(thinking, "thinking")))
            if content:
                events.append(TextDelta(_text(content, "content")))
            if raw_calls:
                calls = parse_tool_calls(raw_calls, self.calls, str(data.get("created_at") or ""))
                self.calls += len(calls)
                events.extend(ToolCallEvent(call) for call in calls)
        if data.get("done"):
            self.done = True
            usage = usage_from(data)
            if usage is not None:
                events.append(UsageEvent(usage))
            reason = data.get("done_reason")
            events.append(Finish(finish_reason(reason, self.calls > 0), reason if isinstance(reason, str) else None))
        return events


def _malformed(what: str, url: str) -> ApiError:
    where = safe_url(url)
    return ApiError(f"{what} ({where})", provider=PROVIDER, url=where)


def _text(value: object, field: str) -> str:
    if type(value) is not str:
        raise ApiError(f"malformed answer: message.{field} is not a string", provider=PROVIDER)
    return value


async def _drain(chunks: AsyncIterator[bytes], seconds: float) -> None:
    # The answer is complete. Reading on to the end of the body (normally just
    # the chunked terminator, already on its way) puts the connection back in
    # the pool; a server that keeps the body open gets a short grace and then
    # loses the connection. Whatever it sends after done:true is ignored.
    with anyio.move_on_after(min(_DRAIN_SECS, seconds)):
        try:
            async for _ in chunks:
                pass
        except httpx.HTTPError:
            pass


async def stream(config: OllamaConfig, http: httpx.AsyncClient, request: ChatRequest) -> AsyncIterator[StreamEvent]:
    """Stream ``request`` as events; see the ``provider_stream`` hook for the contract.

    The body is NDJSON split on ``\\n`` bytes (not ``aiter_lines``, which also
    splits on U+0085 and U+2028, characters a JSON string may hold as they
    are). A ``{"error": ...}`` line raises, and so does a body that ends
    before the ``done: true`` line.
    """
    body = build_chat_body(config, request, stream=True)
    url = endpoint(config, "/api/chat")
    decoder = _Decoder(url)
    line = decoder.line
    first_byte = True
    try:
        async with http.stream(
            "POST", url, content=body, headers=request_headers(config), timeout=_first_byte_timeout(config)
        ) as response:
            if not response.is_success:
                await raise_for_response(PROVIDER, response, model=request.model, classify=classifier(safe_url(url)))
            first_byte = False
            _after_first_byte(response, config.timeout_secs)
            chunks = response.aiter_bytes()
            # The unfinished line's pieces, joined once its end arrives: a
            # long line in many small chunks costs no repeated copying.
            partial: list[bytes] = []
            async for chunk in chunks:
                pieces = chunk.split(b"\n")
                if len(pieces) == 1:
                    partial.append(chunk)
                    continue
                if partial:
                    partial.append(pieces[0])
                    pieces[0] = b"".join(partial)
                    partial.clear()
                rest = pieces.pop()
                if rest:
                    partial.append(rest)
                for piece in pieces:
                    for event in line(piece):
                        yield event
                if decoder.done:
                    break
            else:
                if partial:
                    for event in line(b"".join(partial)):
                        yield event
            if decoder.done:
                await _drain(chunks, config.timeout_secs)
    except httpx.HTTPError as exc:
        raise transport_error(config, url, exc, first_byte=first_byte) from exc
    if not decoder.done:
        where = safe_url(url)
        raise ApiError(
            f"the stream ended before its final done:true line: the answer is truncated ({where})",
            provider=PROVIDER,
            url=where,
            retryable=True,
        )


async def chat(config: OllamaConfig, http: httpx.AsyncClient, request: ChatRequest) -> ChatResponse:
    """Send ``request`` with ``"stream": false`` and return the whole answer."""
    body = build_chat_body(config, request, stream=False)
    url = endpoint(config, "/api/chat")
    try:
        # Sent with stream=True, so that an error status is judged before the body is read (and
        # decoded): a 503 stays a 503 whatever its error page looks like. send() rather than the
        # http.stream() context manager, which costs ~40 us a call.
        response = await http.send(
            http.build_request(
                "POST", url, content=body, headers=request_headers(config), timeout=_first_byte_timeout(config)
            ),
            stream=True,
        )
        try:
            if not response.is_success:
                await raise_for_response(PROVIDER, response, model=request.model, classify=classifier(safe_url(url)))
            raw = await response.aread()
        finally:
            await response.aclose()
    except httpx.HTTPError as exc:
        raise transport_error(config, url, exc, first_byte=True) from exc
    try:
        data: Any = _loads(raw)
    except ValueError:
        raise _malformed("the answer is not JSON", url) from None
    if type(data) is not dict:
        raise _malformed("the answer is not a JSON object", url)
    if data.get("error") is not None:
        raise _line_error(data["error"], url)
    if not data.get("done"):
        raise _malformed("the answer has no done:true: it is incomplete", url)
    message = data.get("message") or {}
    if type(message) is not dict:
        raise _malformed("malformed answer: 'message' is not an object", url)
    content = message.get("content") or ""
    thinking = message.get("thinking") or None
    raw_calls = message.get("tool_calls")
    calls = parse_tool_calls(raw_calls, 0, str(data.get("created_at") or "")) if raw_calls else []
    reason = data.get("done_reason")
    model = data.get("model")
    return ChatResponse(
        message=Message(
            Role.ASSISTANT,
            _text(content, "content"),
            tool_calls=tuple(calls),
            reasoning=_text(thinking, "thinking") if thinking is not None else None,
        ),
        finish_reason=finish_reason(reason, bool(calls)),
        finish_reason_raw=reason if isinstance(reason, str) else None,
        usage=usage_from(data) or Usage(),
        provider=PROVIDER,
        model=model if isinstance(model, str) and model else request.model,
    )
