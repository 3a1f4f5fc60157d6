"""The echo provider with sloppy HTTP handling: httpx at import, errors escape, streams are never closed.

Written by hand on purpose, without the toolkit's Wire (which would make each of these mistakes impossible).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx  # sloppy: every `clawdesk plugins` now pays for the HTTP stack
from echo_provider import (
    NAME,
    _payload,
    _reason,
    provider_capabilities,
    provider_config_type,
    provider_models,
    provider_name,
)

from clawdesk import ChatRequest, ChatResponse, Finish, Message, StreamEvent, TextDelta, Usage
from clawdesk.provider import ProviderConfig, hookimpl

CLAWDESK_CONTRACT = 2
_kept: list[object] = []

__all__ = ["httpx", "provider_capabilities", "provider_config_type", "provider_models", "provider_name"]


def _headers(config: ProviderConfig) -> dict[str, str]:
    return {"authorization": f"Bearer {config.api_key.reveal()}"} if config.api_key else {}


@hookimpl
async def provider_chat(config: ProviderConfig, http: Any, request: ChatRequest) -> ChatResponse:
    from clawdesk.provider import raise_for_response

    # No map_transport_error: a refused connection escapes as an httpx exception.
    response = await http.post(f"{config.base_url}/chat", json=_payload(request, False), headers=_headers(config))
    await raise_for_response(NAME, response)
    data = response.json()
    return ChatResponse(
        message=Message.assistant(data["text"]),
        finish_reason=_reason(data.get("done_reason")),
        usage=Usage(),
        provider=NAME,
        model=request.model,
    )


@hookimpl
async def provider_stream(config: ProviderConfig, http: Any, request: ChatRequest) -> AsyncIterator[StreamEvent]:
    from clawdesk.provider import raise_for_response

    # No `async with`, and the response is kept "for debugging": closing the
    # generator early leaves the response, and so its connection, open.
    response = await http.send(
        http.build_request("POST", f"{config.base_url}/chat", json=_payload(request, True), headers=_headers(config)),
        stream=True,
    )
    await raise_for_response(NAME, response)
    lines = response.aiter_lines()
    _kept.append((response, lines))
    async for line in lines:
        data = json.loads(line)
        if data.get("done"):
            yield Finish(_reason(data.get("done_reason")))
            return
        yield TextDelta(data["text"])
