"""A complete, correct provider for a made-up backend ("lark"), the base of the kit's mutation set.

It uses every field of a request, so that each mistake a plugin author makes
can be planted in it as a small change (``mutation.py``) and the kit shown to
catch it. Wire format:

- ``POST /v1/chat`` with ``{"model", "messages", "params", "tools", "tool_choice", "format",
  "thinking", "stream", "creativity"}`` and ``Authorization: Bearer <key>``;
- a message is ``{"role", "content": [part]}`` (a tool result: ``"call_id"``); a part is
  ``{"type": "text", "text"}``, ``{"type": "image", "data" | "url", "media_type"}``,
  ``{"type": "document", "data" | "url", "media_type", "name"}``,
  ``{"type": "thinking", "text", "signature"}`` or ``{"type": "tool_call", "id", "name", "arguments"}``;
- ``params``: ``temperature``, ``top_p``, ``top_k``, ``max_tokens``, ``stop`` (a list), ``seed``;
- ``tool_choice``: ``{"type": "auto" | "none" | "any"}`` or ``{"type": "tool", "name"}``;
- ``format``: ``{"type": "text" | "json"}`` or ``{"type": "json_schema", "name", "schema"}``;
- ``thinking``: ``{"effort"}``, ``{"budget"}`` or ``{"enabled": false}``;
- an answer is ``{"content": [part], "stop": "end" | "max_tokens" | "tool_call", "usage": {"in", "out"}}``;
- a stream is server-sent events ``{"type": "text", "text"}``, ``{"type": "tool_call", ...}``,
  ``{"type": "error", "message"}``, ``{"type": "stop", "stop", "usage"}``, then ``data: [DONE]``;
- errors are ``{"error": {"message", "kind"}}``.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

from attrs import frozen

from clawdesk import (
    ApiError,
    Capability,
    ChatRequest,
    ChatResponse,
    DocumentPart,
    FinishReason,
    ImagePart,
    InvalidRequest,
    Message,
    ModelInfo,
    ModelNotFound,
    ProviderError,
    ReasoningDelta,
    ReasoningEffort,
    ReasoningPart,
    ResponseFormatKind,
    StreamEvent,
    TextDelta,
    TextPart,
    ToolCall,
    ToolCallEvent,
    ToolChoiceMode,
    Usage,
)
from clawdesk.provider import ProviderConfig, hookimpl

CLAWDESK_CONTRACT = 2
NAME = "lark"
log = logging.getLogger(__name__)
CAPS = frozenset(Capability) - {Capability.EMBEDDING}
_MODELS = (ModelInfo("lark-1", CAPS, context_length=32768),)
_STOPS = {"end": FinishReason.STOP, "max_tokens": FinishReason.LENGTH, "tool_call": FinishReason.TOOL_CALLS}
_CHOICES = {ToolChoiceMode.AUTO: "auto", ToolChoiceMode.NONE: "none", ToolChoiceMode.REQUIRED: "any"}


@frozen(kw_only=True)
class LarkConfig(ProviderConfig):
    api_key_env: str | None = "LARK_API_KEY"
    requires_api_key: bool = True


@frozen(kw_only=True)
class LarkOptions:
    """``provider_options={"lark": {"creativity": 0.5}}``."""

    creativity: float | None = None


@hookimpl
def provider_name() -> str:
    return NAME


@hookimpl
def provider_config_type() -> type[ProviderConfig]:
    return LarkConfig


@hookimpl
def provider_options_type() -> type:
    return LarkOptions


@hookimpl
async def provider_models(config: ProviderConfig, http: Any, refresh: bool) -> Sequence[ModelInfo]:
    return _MODELS


@hookimpl
def provider_capabilities(config: ProviderConfig, model: str) -> frozenset[Capability] | None:
    return CAPS if model == "lark-1" else None


# -- the request -------------------------------------------------------------------


def _source(part: ImagePart | DocumentPart) -> dict[str, Any]:
    if part.data is not None:
        data = part.data
        return {"data": base64.b64encode(data).decode("ascii"), "media_type": part.media_type}
    return {"url": part.url}


def _part(part: Any) -> dict[str, Any]:
    if isinstance(part, ReasoningPart):
        return {"type": "thinking", "text": part.text, "signature": part.signature}
    if isinstance(part, ImagePart):
        return {"type": "image", **_source(part)}
    if isinstance(part, DocumentPart):
        return {"type": "document", **_source(part), "name": part.name}
    return {"type": "text", "text": part.text}


def _message(message: Message) -> dict[str, Any]:
    content = [_part(p) for p in message.content]
    for c in message.tool_calls:
        content.append({"type": "tool_call", "id": c.id, "name": c.name, "arguments": dict(c.arguments)})
    out: dict[str, Any] = {"role": message.role.value, "content": content}
    if message.tool_call_id is not None:
        out["call_id"] = message.tool_call_id
    return out


def _payload(request: ChatRequest, provider: str, *, stream: bool) -> dict[str, Any]:
    options = request.options
    payload: dict[str, Any] = {
        "model": request.model,
        "messages": [_message(m) for m in request.messages],
        "stream": stream,
    }
    params: dict[str, Any] = {}
    for name in ("temperature", "top_p", "top_k", "seed"):
        if getattr(options, name) is not None:
            params[name] = getattr(options, name)
    if options.max_tokens is not None:
        params["max_tokens"] = options.max_tokens
    if options.stop:
        params["stop"] = list(options.stop)
    if params:
        payload["params"] = params
    if options.tools:
        payload["tools"] = [
            {"name": t.name, "description": t.description, "input_schema": dict(t.parameters)} for t in options.tools
        ]
    choice = options.tool_choice
    if choice is not None:
        if choice.mode is ToolChoiceMode.FUNCTION:
            payload["tool_choice"] = {"type": "tool", "name": choice.name}
        else:
            payload["tool_choice"] = {"type": _CHOICES[choice.mode]}
    fmt = options.response_format
    if fmt is not None:
        if fmt.kind is ResponseFormatKind.JSON_SCHEMA:
            payload["format"] = {"type": "json_schema", "name": fmt.name, "schema": dict(fmt.schema or {})}
        else:
            payload["format"] = {"type": fmt.kind.value}
    reasoning = options.reasoning
    if reasoning is not None:
        if not reasoning.enabled:
            payload["thinking"] = {"enabled": False}
        elif reasoning.budget_tokens is not None:
            payload["thinking"] = {"budget": reasoning.budget_tokens}
        else:
            payload["thinking"] = {"effort": (reasoning.effort or ReasoningEffort.MEDIUM).value}
    own = request.provider_options
    if isinstance(own, LarkOptions) and own.creativity is not None:
        payload["creativity"] = own.creativity
    return payload


# -- the answer --------------------------------------------------------------------


def _usage(data: Any) -> Usage:
    data = data if isinstance(data, dict) else {}
    return Usage(data.get("in"), data.get("out"), raw=data)


def _finish(raw: Any) -> FinishReason:
    return _STOPS.get(raw, FinishReason.OTHER) if isinstance(raw, str) else FinishReason.OTHER


def _answer(content: list[dict[str, Any]]) -> Message:
    parts: list[Any] = []
    calls: list[ToolCall] = []
    for block in content:
        if block["type"] == "text":
            parts.append(TextPart(block["text"]))
        elif block["type"] == "thinking":
            parts.append(ReasoningPart(block["text"], signature=block.get("signature"), source=NAME))
        elif block["type"] == "tool_call":
            calls.append(ToolCall(block["id"], block["name"], block["arguments"]))
    return Message.assistant(parts, tool_calls=calls)


def _classify(error: Any) -> ProviderError | None:
    data = error.json
    body = data.get("error") if isinstance(data, dict) else None
    kind = body.get("kind") if isinstance(body, dict) else None
    if error.status == 400 and kind == "unknown_model":
        return ModelNotFound(error.message, model=error.model, **error.kw())
    return None


def _wire(config: ProviderConfig, http: Any) -> Any:
    from clawdesk.provider import Wire, bearer

    return Wire(config, http, auth=bearer(config.api_key), classify=_classify)


@hookimpl
async def provider_chat(config: ProviderConfig, http: Any, request: ChatRequest) -> ChatResponse:
    wire = _wire(config, http)
    payload = _payload(request, wire.provider, stream=False)
    reply = await wire.json("POST", "/v1/chat", payload, model=request.model)
    data = reply.data
    try:
        return ChatResponse(
            message=_answer(data["content"]),
            finish_reason=_finish(data.get("stop")),
            finish_reason_raw=data.get("stop"),
            usage=_usage(data.get("usage")),
            provider=wire.provider,
            model=request.model,
            request_id=reply.request_id,
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ApiError(f"unexpected answer: {exc!r}", provider=wire.provider, status=reply.status) from None


def _event(data: str, provider: str) -> dict[str, Any]:
    try:
        event = json.loads(data)
    except ValueError:
        raise ApiError("the stream sent an event that is not JSON", provider=provider) from None
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise ApiError(f"the stream sent an event without a type: {data[:80]!r}", provider=provider)
    return event


@hookimpl
async def provider_stream(config: ProviderConfig, http: Any, request: ChatRequest) -> AsyncIterator[StreamEvent]:
    from clawdesk.provider import DONE, SSEDecoder, StreamTail

    wire = _wire(config, http)
    payload = _payload(request, wire.provider, stream=True)
    decoder = SSEDecoder()
    tail = StreamTail()
    async with wire.stream("POST", "/v1/chat", payload, model=request.model, end_marker="data: [DONE]") as reply:
        async for chunk in reply.chunks():
            for data in decoder.feed(chunk):
                if data == DONE:
                    reply.end()
                    break
                event = _event(data, wire.provider)
                kind = event["type"]
                if kind == "text":
                    yield TextDelta(str(event.get("text", "")))
                elif kind == "thinking":
                    yield ReasoningDelta(str(event.get("text", "")), signature=event.get("signature"), source=NAME)
                elif kind == "tool_call":
                    yield ToolCallEvent(ToolCall(event["id"], event["name"], event["arguments"]))
                elif kind == "error":
                    message = str(event.get("message", "error"))
                    raise ApiError(message, provider=wire.provider, retryable=True)
                elif kind == "stop":
                    if "usage" in event:
                        tail.usage(_usage(event["usage"]))
                    tail.finish(_finish(event.get("stop")), event.get("stop"))
            if reply.ended:
                break
        request_id = reply.request_id
    for final in tail.events(request_id=request_id):
        yield final


__all__ = ["CLAWDESK_CONTRACT", "InvalidRequest", "LarkConfig", "LarkOptions"]
