"""The echo provider with three deliberate contract violations, to show the kit catches each.

1. HTTP 429 becomes a generic ApiError instead of RateLimited.
2. A stream the server cut short ends with a Finish event, as if it were complete.
3. A refused key raises an error whose cause carries the API key.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from echo_provider import (
    NAME,
    _payload,
    _reason,
    provider_capabilities,
    provider_config_type,
    provider_models,
    provider_name,
)

from clawdesk import (
    ApiError,
    AuthFailed,
    ChatRequest,
    ChatResponse,
    Finish,
    FinishReason,
    Message,
    ProviderError,
    StreamEvent,
    TextDelta,
    Usage,
)
from clawdesk.provider import ProviderConfig, hookimpl

CLAWDESK_CONTRACT = 2
__all__ = ["provider_capabilities", "provider_config_type", "provider_models", "provider_name"]


def _classify(config: ProviderConfig) -> Callable[[Any], ProviderError | None]:
    def classify(error: Any) -> ProviderError | None:
        if error.status == 429:  # flaw 1: no RateLimited, no retry_after
            return ApiError(error.message, provider=NAME, status=error.status, retryable=False)
        if error.status == 401:  # flaw 3: the key rides along in the cause
            key = config.api_key.reveal() if config.api_key else ""
            try:
                raise ValueError(f"the server refused key {key}")
            except ValueError as cause:
                refused = AuthFailed(error.message, provider=NAME, status=error.status)
                refused.__cause__ = cause
                return refused
        return None

    return classify


def _wire(config: ProviderConfig, http: Any) -> Any:
    from clawdesk.provider import Wire, bearer

    return Wire(config, http, auth=bearer(config.api_key), classify=_classify(config))


@hookimpl
async def provider_chat(config: ProviderConfig, http: Any, request: ChatRequest) -> ChatResponse:
    reply = await _wire(config, http).json("POST", "/chat", _payload(request, False))
    data = reply.data
    return ChatResponse(
        message=Message.assistant(data["text"]),
        finish_reason=_reason(data.get("done_reason")),
        usage=Usage(),
        provider=NAME,
        model=request.model,
    )


@hookimpl
async def provider_stream(config: ProviderConfig, http: Any, request: ChatRequest) -> AsyncIterator[StreamEvent]:
    import httpx

    async with _wire(config, http).stream("POST", "/chat", _payload(request, True)) as reply:
        try:
            async for line in reply.response.aiter_lines():
                data = json.loads(line)
                if data.get("done"):
                    break
                yield TextDelta(data["text"])
        except httpx.HTTPError:
            pass  # flaw 2: a broken stream is treated as a finished one
        reply.end()
    yield Finish(FinishReason.STOP)
