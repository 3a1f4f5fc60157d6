"""A small, correct provider for a made-up JSON-lines backend, used to test the conformance kit.

Wire format ("echo"): ``POST /chat`` with ``{"model", "messages", "stream"}`` and a
Bearer key. A plain answer is ``{"text", "done_reason", "usage": {"in", "out"}}``; a
stream is one JSON object per line, ``{"text": ...}`` pieces and a last
``{"done": true, "done_reason": ...}``. Errors are ``{"error": "message"}``.
``GET /models`` answers ``{"models": [{"id", "caps"}]}``.

Built on the wire toolkit (:mod:`clawdesk.provider`): the provider is its mapping only.
"""

from __future__ import annotations

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
    Finish,
    FinishReason,
    Message,
    ModelInfo,
    StreamEvent,
    TextDelta,
    Usage,
    UsageEvent,
)
from clawdesk.provider import ProviderConfig, hookimpl

CLAWDESK_CONTRACT = 2
NAME = "echo"
log = logging.getLogger(__name__)
_BUILTIN = (ModelInfo("echo-1", {Capability.CHAT, Capability.STREAMING}, context_length=4096),)


@frozen(kw_only=True)
class EchoConfig(ProviderConfig):
    api_key_env: str | None = "ECHO_API_KEY"
    requires_api_key: bool = True


@frozen(kw_only=True)
class EchoOptions:
    """``provider_options={"echo": {"prefix": "..."}}``: text the backend puts before its answer."""

    prefix: str | None = None


@hookimpl
def provider_name() -> str:
    return NAME


@hookimpl
def provider_config_type() -> type[ProviderConfig]:
    return EchoConfig


@hookimpl
def provider_options_type() -> type:
    return EchoOptions


def _wire(config: ProviderConfig, http: Any) -> Any:
    from clawdesk.provider import Wire, bearer

    return Wire(config, http, auth=bearer(config.api_key))


@hookimpl
async def provider_models(config: ProviderConfig, http: Any, refresh: bool) -> Sequence[ModelInfo]:
    if not refresh:
        return _BUILTIN
    reply = await _wire(config, http).json("GET", "/models")
    return [ModelInfo(m["id"], {Capability(c) for c in m["caps"]}) for m in reply.data["models"]]


@hookimpl
def provider_capabilities(config: ProviderConfig, model: str) -> frozenset[Capability] | None:
    for info in _BUILTIN:
        if info.id == model:
            return info.capabilities
    return None


def _payload(request: ChatRequest, stream: bool) -> dict[str, Any]:
    messages = [{"role": m.role.value, "content": m.text} for m in request.messages]
    payload: dict[str, Any] = {"model": request.model, "messages": messages, "stream": stream}
    options = request.options
    for key in ("temperature", "top_p", "max_tokens", "seed"):
        if getattr(options, key) is not None:
            payload[key] = getattr(options, key)
    if options.stop:
        payload["stop"] = list(options.stop)
    own = request.provider_options
    if isinstance(own, EchoOptions) and own.prefix is not None:
        payload["prefix"] = own.prefix
    return payload


def _reason(raw: str | None) -> FinishReason:
    return {"stop": FinishReason.STOP, "length": FinishReason.LENGTH}.get(raw or "", FinishReason.OTHER)


@hookimpl
async def provider_chat(config: ProviderConfig, http: Any, request: ChatRequest) -> ChatResponse:
    log.debug("chat with %s at %s", request.model, config.base_url)
    wire = _wire(config, http)
    reply = await wire.json("POST", "/chat", _payload(request, False), model=request.model)
    data = reply.data
    try:
        usage = data.get("usage") or {}
        return ChatResponse(
            message=Message.assistant(data["text"]),
            finish_reason=_reason(data.get("done_reason")),
            finish_reason_raw=data.get("done_reason"),
            usage=Usage(usage.get("in"), usage.get("out")),
            provider=wire.provider,
            model=request.model,
        )
    except (AttributeError, KeyError, TypeError) as exc:
        raise ApiError(f"unexpected answer: {exc!r}", provider=wire.provider, status=reply.status) from None


@hookimpl
async def provider_stream(config: ProviderConfig, http: Any, request: ChatRequest) -> AsyncIterator[StreamEvent]:
    from clawdesk.provider import NDJSONDecoder, StreamTail

    wire = _wire(config, http)
    lines = NDJSONDecoder()
    tail = StreamTail()
    async with wire.stream(
        "POST", "/chat", _payload(request, True), model=request.model, end_marker="the done line"
    ) as reply:
        async for chunk in reply.chunks():
            for line in lines.feed(chunk):
                try:
                    data = json.loads(line)
                except ValueError:
                    raise ApiError("the stream sent a line that is not JSON", provider=wire.provider) from None
                if not isinstance(data, dict) or not isinstance(data.get("text", ""), str):
                    raise ApiError("the stream sent a line that is not an event", provider=wire.provider)
                if data.get("done"):
                    if "usage" in data:
                        tail.usage(Usage(data["usage"].get("in"), data["usage"].get("out")))
                    tail.finish(_reason(data.get("done_reason")), data.get("done_reason"))
                    reply.end()
                    break
                yield TextDelta(data.get("text", ""))
            if reply.ended:
                break
    for event in tail.events():
        yield event


__all__ = ["CLAWDESK_CONTRACT", "EchoConfig", "EchoOptions", "Finish", "UsageEvent"]
