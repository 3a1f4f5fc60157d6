"""The echo provider with three deliberate contract violations, to show the kit catches each.

1. HTTP 429 becomes a generic ApiError instead of RateLimited.
2. A stream the server cut short ends with a Finish event, as if it were complete.
3. A refused key raises an error whose cause carries the API key.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from echo_provider import (
    NAME,
    _headers,
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
    ProviderConfig,
    ProviderError,
    StreamEvent,
    TextDelta,
    Usage,
    hookimpl,
)

__all__ = ["provider_capabilities", "provider_config_type", "provider_models", "provider_name"]


def _classify(config: ProviderConfig):  # type: ignore[no-untyped-def]
    def classify(status: int, body: bytes, message: str) -> ProviderError | None:
        if status == 429:  # flaw 1: no RateLimited, no retry_after
            return ApiError(message, provider=NAME, status=status, retryable=False)
        if status == 401:  # flaw 3: the key rides along in the cause
            key = config.api_key.reveal() if config.api_key else ""
            try:
                raise ValueError(f"the server refused key {key}")
            except ValueError as cause:
                error = AuthFailed(message, provider=NAME, status=status)
                error.__cause__ = cause
                return error
        return None

    return classify


@hookimpl
async def provider_chat(config: ProviderConfig, http: Any, request: ChatRequest) -> ChatResponse:
    import httpx

    from clawdesk.http import map_transport_error, raise_for_response

    try:
        response = await http.post(f"{config.base_url}/chat", json=_payload(request, False), headers=_headers(config))
        await raise_for_response(NAME, response, classify=_classify(config))
    except httpx.HTTPError as exc:
        raise map_transport_error(NAME, exc) from exc
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
    import httpx

    from clawdesk.http import map_transport_error, raise_for_response

    try:
        async with http.stream(
            "POST", f"{config.base_url}/chat", json=_payload(request, True), headers=_headers(config)
        ) as response:
            await raise_for_response(NAME, response, classify=_classify(config))
            try:
                async for line in response.aiter_lines():
                    data = json.loads(line)
                    if data.get("done"):
                        yield Finish(_reason(data.get("done_reason")))
                        return
                    yield TextDelta(data["text"])
            except httpx.HTTPError:
                pass  # flaw 2: a broken stream is treated as a finished one
            yield Finish(FinishReason.STOP)
    except httpx.HTTPError as exc:
        raise map_transport_error(NAME, exc) from exc
