"""The HTTP side: one chat, one stream, one model listing, on the wire toolkit's :class:`~clawdesk.provider.Wire`.

A provider makes a wire per call with :func:`make_wire`, encodes the body
(:func:`~clawdesk_openai_compat.encode_chat` plus its own options) and hands
both here. Imported by a provider's hooks on first use (it imports httpx
through the toolkit), never at plugin import.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import httpx

from clawdesk import (
    ApiError,
    ChatResponse,
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
    loads_json,
    short_text,
)

from ._dialect import Dialect
from ._errors import classifier, stream_error
from ._response import decode_chat, error_in_body, finish_reason, real_id, reasoning_of, split_content, usage_from

__all__ = ["chat", "list_models", "make_wire", "stream"]

_loads = loads_json  # json.loads's results, about 4x faster per chunk
_END = "data: [DONE]"


def make_wire(
    config: ProviderConfig,
    http: httpx.AsyncClient,
    *,
    dialect: Dialect,
    classify: Callable[[ErrorResponse], ProviderError | None] | None = None,
    headers: Mapping[str, str] | None = None,
    streaming: bool = False,
    first_byte_timeout: float | None = None,
    first_byte_hint: str | None = None,
) -> Wire:
    """The :class:`~clawdesk.provider.Wire` for one call to an OpenAI-style server.

    The key goes as ``Authorization: Bearer`` (nothing without one); errors
    are read by the provider's own ``classify`` first, then by
    :func:`~clawdesk_openai_compat.classify` (with the key's hint for a
    401), then by the status; the request id comes from the dialect's
    header. ``headers`` go with every request; a stream to a dialect that
    closes its connections after a stream (``close_after_stream``) asks for
    ``Connection: close``, so the pool never reuses one the server is closing.
    ``first_byte_timeout`` and ``first_byte_hint`` are the toolkit's: the
    wait for an answer to start, and what to do when it is too short.
    """
    shared = classifier(config)
    if classify is None:
        read = shared
    else:
        own = classify

        def read(error: ErrorResponse) -> ProviderError | None:
            return own(error) or shared(error)

    extra = dict(headers) if headers else {}
    if streaming and dialect.close_after_stream:
        extra["connection"] = "close"
    return Wire(
        config,
        http,
        auth=bearer(config.api_key),
        classify=read,
        request_id_header=dialect.request_id_header,
        headers=extra or None,
        first_byte_timeout=first_byte_timeout,
        first_byte_hint=first_byte_hint,
    )


async def chat(wire: Wire, body: Any, *, model: str) -> ChatResponse:
    """Send ``body`` (a dict, or bytes already encoded) and return the whole answer; see :func:`decode_chat`."""
    reply = await wire.json("POST", "/chat/completions", body, model=model)
    return decode_chat(reply.data, model=model, provider=wire.provider, request_id=reply.request_id)


async def stream(wire: Wire, body: Any, *, model: str) -> AsyncIterator[StreamEvent]:
    """Stream ``body`` (with ``"stream": true``) as events; see the ``provider_stream`` hook for the contract.

    Text and reasoning deltas come as they arrive; each tool call once,
    complete, after the last delta (joined by ``index``, a new non-empty id
    at a used index starting a new call); then the usage of the last chunk
    that had one (the ``choices: []`` chunk of ``include_usage``, a final
    chunk's ``usage``, Groq's ``x_groq.usage``) and one
    :class:`~clawdesk.Finish`. SSE comments (``: keep-alive``) are skipped.
    An error object in the stream raises its error
    (:func:`~clawdesk_openai_compat.stream_error`), ``finish_reason:
    "error"`` a retryable :class:`~clawdesk.ApiError`, a stream without
    ``data: [DONE]`` :class:`~clawdesk.Truncated`.
    """
    provider = wire.provider
    decoder = SSEDecoder(max_event_bytes=wire.max_frame_bytes)
    calls = ToolCallAssembler(provider)
    tail = StreamTail()
    async with wire.stream(
        "POST", "/chat/completions", body, model=model, end_marker=_END, accept="text/event-stream"
    ) as reply:
        async for piece in reply.chunks():
            for data in decoder.feed(piece):
                if data == DONE:
                    reply.end()
                    break
                try:
                    event = _loads(data)
                    choice = event["choices"][0]
                    delta = choice["delta"]
                    text = delta.get("content")
                except (ValueError, RecursionError, LookupError, TypeError, AttributeError):
                    if data.strip() == DONE:  # [DONE] with stray whitespace
                        reply.end()
                        break
                    _odd_event(data, tail, wire, reply.request_id)
                    continue
                if (
                    type(text) is str
                    and len(delta) == 1
                    and choice.get("finish_reason") is None
                    and "usage" not in event
                ):
                    # The usual chunk: a delta with its text alone (no reasoning, refusal, tool calls or
                    # role), no finish and no usage: what follows would find nothing more in it.
                    if text:
                        yield TextDelta(text)
                    continue
                thought = reasoning_of(delta)
                if thought:
                    yield ReasoningDelta(thought)
                if text:
                    if type(text) is str:
                        yield TextDelta(text)
                    else:
                        answer, thinking = split_content(text)
                        if thinking:
                            yield ReasoningDelta(thinking)
                        if answer:
                            yield TextDelta(answer)
                refusal = delta.get("refusal")
                if refusal and type(refusal) is str:
                    yield TextDelta(refusal)
                if delta.get("tool_calls"):
                    add_calls(calls, delta["tool_calls"], provider)
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
                    _groq_usage(event, tail)
                usage = event.get("usage")
                if usage is not None:
                    tail.usage(usage_from(usage))
            if reply.ended:
                break
        request_id = reply.request_id
    for closing in tail.events(calls.complete(), request_id=request_id, default=finish_reason(None)):
        yield closing


def add_calls(calls: ToolCallAssembler, deltas: Any, provider: str) -> None:
    """Feed one delta's ``tool_calls`` pieces to ``calls`` (a piece without an index is keyed by its position)."""
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


def _groq_usage(event: Mapping[str, Any], tail: StreamTail) -> None:
    # Groq reports a stream's usage under x_groq in its last chunk.
    extra = event.get("x_groq")
    if isinstance(extra, Mapping):
        tail.usage(usage_from(extra.get("usage")))


def _odd_event(data: str, tail: StreamTail, wire: Wire, request_id: str | None) -> None:
    """A stream event that is not a plain choice chunk: usage alone, an error object, or garbage."""
    provider = wire.provider
    try:
        event = _loads(data)
    except (ValueError, RecursionError):
        shown = short_text(data, 60)
        raise ApiError(f"a stream event is not JSON: {shown!r}", provider=provider, request_id=request_id) from None
    problem = error_in_body(event)
    if problem is not None:
        raise stream_error(problem, provider=provider, url=wire.url("/chat/completions"), request_id=request_id)
    if isinstance(event, Mapping):
        choices = event.get("choices", None)
        if (isinstance(choices, list) and not choices) or (choices is None and isinstance(event.get("usage"), Mapping)):
            # The include_usage chunk (choices: [], or no choices at all on some servers, with usage);
            # also a keep-alive chunk with neither.
            tail.usage(usage_from(event.get("usage")))
            _groq_usage(event, tail)
            return
    raise ApiError("a stream event has no choices[0].delta", provider=provider, request_id=request_id)


async def list_models(wire: Wire) -> list[Mapping[str, Any]]:
    """``GET /models``: the cards of ``data`` (objects with a string ``id``), first of each id kept, in order.

    Raises :class:`~clawdesk.ApiError` when the answer has no ``data`` array.
    """
    reply = await wire.json("GET", "/models")
    data = reply.data
    cards = data.get("data") if isinstance(data, Mapping) else data
    if not isinstance(cards, list):
        raise ApiError(
            "the model list has no data array", provider=wire.provider, status=reply.status, request_id=reply.request_id
        )
    seen: set[str] = set()
    out: list[Mapping[str, Any]] = []
    for card in cards:
        if isinstance(card, Mapping) and isinstance(card.get("id"), str) and card["id"] and card["id"] not in seen:
            seen.add(card["id"])
            out.append(card)
    return out
