"""A small, correct provider for a made-up JSON-lines backend, used to test the conformance kit.

Wire format ("echo"): ``POST /chat`` with ``{"model", "messages", "stream"}`` and a
Bearer key. A plain answer is ``{"text", "done_reason", "usage": {"in", "out"}}``; a
stream is one JSON object per line, ``{"text": ...}`` pieces and a last
``{"done": true, "done_reason": ...}``. Errors are ``{"error": "message"}``.
``GET /models`` answers ``{"models": [{"id", "caps"}]}``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

from clawdesk import (
    ApiError,
    AuthFailed,
    Capability,
    ChatRequest,
    ChatResponse,
    Finish,
    FinishReason,
    InvalidRequest,
    Message,
    ModelInfo,
    ProviderConfig,
    StreamEvent,
    TextDelta,
    Usage,
    UsageEvent,
    hookimpl,
)

NAME = "echo"
log = logging.getLogger(__name__)
_BUILTIN = (ModelInfo("echo-1", {Capability.CHAT, Capability.STREAMING}, context_length=4096),)


class EchoConfig(ProviderConfig):
    api_key_env = "ECHO_API_KEY"
    requires_api_key = True


@hookimpl
def provider_name() -> str:
    return NAME


@hookimpl
def provider_config_type() -> type[ProviderConfig]:
    return EchoConfig


@hookimpl
async def provider_models(config: ProviderConfig, http: Any, refresh: bool) -> Sequence[ModelInfo]:
    if not refresh:
        return _BUILTIN
    import httpx

    from clawdesk.http import map_transport_error, raise_for_response

    try:
        response = await http.get(f"{config.base_url}/models", headers=_headers(config))
    except httpx.HTTPError as exc:
        raise map_transport_error(NAME, exc) from exc
    await raise_for_response(NAME, response)
    return [ModelInfo(m["id"], {Capability(c) for c in m["caps"]}) for m in response.json()["models"]]


@hookimpl
def provider_capabilities(config: ProviderConfig, model: str) -> frozenset[Capability] | None:
    for info in _BUILTIN:
        if info.id == model:
            return info.capabilities
    return None


def _headers(config: ProviderConfig) -> dict[str, str]:
    if not config.api_key:
        raise AuthFailed("no API key: set ECHO_API_KEY or providers.echo.api_key", provider=NAME)
    return {"authorization": f"Bearer {config.api_key.reveal()}"}


def _payload(request: ChatRequest, stream: bool) -> dict[str, Any]:
    if request.options.extra:
        raise InvalidRequest(f"unknown options: {', '.join(sorted(request.options.extra))}", provider=NAME)
    messages = [{"role": m.role.value, "content": m.text} for m in request.messages]
    payload: dict[str, Any] = {"model": request.model, "messages": messages, "stream": stream}
    options = request.options
    for key in ("temperature", "top_p", "max_tokens", "seed"):
        if getattr(options, key) is not None:
            payload[key] = getattr(options, key)
    if options.stop:
        payload["stop"] = list(options.stop)
    return payload


def _reason(raw: str | None) -> FinishReason:
    return {"stop": FinishReason.STOP, "length": FinishReason.LENGTH}.get(raw or "", FinishReason.OTHER)


@hookimpl
async def provider_chat(config: ProviderConfig, http: Any, request: ChatRequest) -> ChatResponse:
    import httpx

    from clawdesk.http import map_transport_error, raise_for_response

    log.debug("chat with %s at %s", request.model, config.base_url)
    try:
        response = await http.post(f"{config.base_url}/chat", json=_payload(request, False), headers=_headers(config))
        await raise_for_response(NAME, response, model=request.model)
    except httpx.HTTPError as exc:
        raise map_transport_error(NAME, exc) from exc
    data = response.json()
    usage = data.get("usage") or {}
    return ChatResponse(
        message=Message.assistant(data["text"]),
        finish_reason=_reason(data.get("done_reason")),
        finish_reason_raw=data.get("done_reason"),
        usage=Usage(usage.get("in"), usage.get("out")),
        provider=NAME,
        model=request.model,
    )


@hookimpl
async def provider_stream(config: ProviderConfig, http: Any, request: ChatRequest) -> AsyncIterator[StreamEvent]:
    import httpx

    from clawdesk.http import map_transport_error, raise_for_response

    try:
        async with http.stream(
            "POST", f"{config.base_url}/chat", json=_payload(request, True), headers=_headers(config)
        ) as response:
            await raise_for_response(NAME, response, model=request.model)
            async for line in response.aiter_lines():
                if not line.strip():
                    continue
                data = json.loads(line)
                if data.get("done"):
                    if "usage" in data:
                        yield UsageEvent(Usage(data["usage"].get("in"), data["usage"].get("out")))
                    yield Finish(_reason(data.get("done_reason")), data.get("done_reason"))
                    return
                yield TextDelta(data["text"])
    except httpx.HTTPError as exc:
        raise map_transport_error(NAME, exc) from exc
    raise ApiError("the stream ended before its done line", provider=NAME, retryable=False)
