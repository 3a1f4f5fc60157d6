"""The HTTP side of the plugin: chat, stream and model listing against La Plateforme.

Imported by the hooks on first use (it imports httpx), never at plugin import.
"""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import anyio
import httpx

from clawdesk import (
    ApiError,
    AuthFailed,
    ChatRequest,
    ChatResponse,
    ConnectionFailed,
    Finish,
    InvalidRequest,
    ModelInfo,
    ModelNotFound,
    ProviderConfig,
    ProviderError,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCallEvent,
    UsageEvent,
)
from clawdesk.http import map_transport_error, raise_for_response
from clawdesk.http import safe_url as _safe_url
from clawdesk.sse import DONE, SSEDecoder

from ._models import learn, model_from_card
from ._wire import (
    PROVIDER,
    ToolCallAccumulator,
    decode_chat,
    encode_chat,
    error_in_body,
    finish_reason,
    split_content,
    usage_from,
)

__all__ = ["chat", "list_models", "stream"]

#: How long the end of a stream's body is waited for after [DONE].
_DRAIN_SECS = 0.05
_KEY_HINT = "set MISTRAL_API_KEY or providers.mistral.api_key"
_loads = json.loads
# One encoder for every request: json.dumps with options builds a new one per call.
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


# Both are pure and called per request; parsing a URL with httpx costs tens of µs.
safe_url = functools.lru_cache(maxsize=64)(_safe_url)


@functools.lru_cache(maxsize=16)
def _timeout(seconds: float) -> httpx.Timeout:
    # Passed on every request so that timeout_secs holds whatever client the hook is given.
    return httpx.Timeout(seconds)


def _url(config: ProviderConfig, path: str) -> str:
    return config.base_url.rstrip("/") + path


def _headers(config: ProviderConfig, accept: str) -> dict[str, str]:
    if not config.api_key:
        raise AuthFailed(f"no API key: {_KEY_HINT}", provider=PROVIDER)
    return {
        "authorization": f"Bearer {config.api_key.reveal()}",
        "accept": accept,
        "content-type": "application/json",
    }


def _body(request: ChatRequest, *, stream: bool) -> bytes:
    body = encode_chat(request, stream=stream)
    try:
        return _encode(body).encode()
    except (TypeError, ValueError) as exc:
        # NaN in a schema, a set in tool arguments, ...: JSON cannot carry it.
        raise InvalidRequest(f"the request holds a value JSON cannot carry: {exc}", provider=PROVIDER) from None


def _error_type(body: bytes) -> str | None:
    try:
        data = _loads(body)
    except ValueError:
        return None
    kind = data.get("type") if isinstance(data, dict) else None
    return kind if isinstance(kind, str) else None


def _classifier(model: str | None, url: str) -> Callable[[int, bytes, str], ProviderError | None]:
    """Mistral's own ways of saying things, on top of :func:`clawdesk.http.error_for_status`."""

    def classify(status: int, body: bytes, message: str) -> ProviderError | None:
        if status == 400 and (
            _error_type(body) == "invalid_model" or message.lower().startswith(("invalid model", "model not found"))
        ):
            return ModelNotFound(
                message or f"unknown model {model!r}", model=model, provider=PROVIDER, status=status, url=url
            )
        if status == 404 and model is not None:
            detail = f": {message}" if message else ""
            return ModelNotFound(
                f"model {model!r} not found{detail}", model=model, provider=PROVIDER, status=404, url=url
            )
        if status == 401:
            return AuthFailed(
                f"{message or 'the API key was refused'} ({_KEY_HINT})", provider=PROVIDER, status=401, url=url
            )
        return None

    return classify


async def chat(config: ProviderConfig, http: httpx.AsyncClient, request: ChatRequest) -> ChatResponse:
    """One chat completion, read whole."""
    headers = _headers(config, "application/json")
    content = _body(request, stream=False)
    url = _url(config, "/chat/completions")
    # Sent with stream=True so the status is judged before the body is decoded: an error page with
    # a broken content-encoding must still say 503 (retryable), not "could not decode" (not
    # retryable). send() rather than the http.stream() context manager, which costs ~40 us a call.
    try:
        response = await http.send(
            http.build_request("POST", url, content=content, headers=headers, timeout=_timeout(config.timeout_secs)),
            stream=True,
        )
        try:
            await raise_for_response(
                PROVIDER, response, model=request.model, classify=_classifier(request.model, safe_url(url))
            )
            body = await response.aread()
        finally:
            await response.aclose()
    except httpx.HTTPError as exc:
        raise map_transport_error(PROVIDER, exc, url=safe_url(url)) from exc
    try:
        data = _loads(body)
    except ValueError:
        raise ApiError(
            "the answer is not JSON", provider=PROVIDER, status=response.status_code, url=safe_url(url)
        ) from None
    return decode_chat(data, model=request.model)


def _broken(exc: httpx.HTTPError, url: str) -> ProviderError:
    error = map_transport_error(PROVIDER, exc, url=url)
    if type(error) is ConnectionFailed:
        return ConnectionFailed(f"the stream broke before data: [DONE]: {error.detail}", provider=PROVIDER, url=url)
    return error


async def stream(config: ProviderConfig, http: httpx.AsyncClient, request: ChatRequest) -> AsyncIterator[StreamEvent]:
    """One streamed chat completion as events; see the ``provider_stream`` hook for the contract."""
    headers = _headers(config, "text/event-stream")
    content = _body(request, stream=True)
    url = _url(config, "/chat/completions")
    where = safe_url(url)
    decoder = SSEDecoder()
    calls = ToolCallAccumulator()
    usage: Any = None
    raw_reason: str | None = None
    done = False
    answering = False
    try:
        async with http.stream(
            "POST", url, content=content, headers=headers, timeout=_timeout(config.timeout_secs)
        ) as response:
            await raise_for_response(
                PROVIDER, response, model=request.model, classify=_classifier(request.model, where)
            )
            answering = True
            chunks = response.aiter_bytes()
            async for chunk in chunks:
                for data in decoder.feed(chunk):
                    if data == DONE:
                        done = True
                        break
                    try:
                        event = _loads(data)
                        choice = event["choices"][0]
                        delta = choice["delta"]
                        text = delta.get("content")
                    except (ValueError, LookupError, TypeError, AttributeError):
                        if data.strip() == DONE:  # [DONE] with stray whitespace
                            done = True
                            break
                        usage = _odd_chunk(data, usage)
                        continue
                    if text:
                        if type(text) is str:
                            yield TextDelta(text)
                        else:
                            answer, thinking = split_content(text)
                            if thinking:
                                yield ReasoningDelta(thinking)
                            if answer:
                                yield TextDelta(answer)
                    if delta.get("tool_calls"):
                        calls.add(delta["tool_calls"])
                    reason = choice.get("finish_reason")
                    if reason is not None:
                        if reason == "error":
                            raise ApiError(
                                "the model stopped with finish_reason 'error'", provider=PROVIDER, retryable=True
                            )
                        raw_reason = reason if isinstance(reason, str) else str(reason)
                    if event.get("usage") is not None:
                        usage = event["usage"]
                if done:
                    break
            if not done:
                cut = "in the middle of an event" if decoder.pending else "after the last event"
                raise ConnectionFailed(f"the stream ended {cut}, before data: [DONE]", provider=PROVIDER, url=where)
            for call in calls.complete():
                yield ToolCallEvent(call)
            if usage is not None:
                yield UsageEvent(usage_from(usage))
            yield Finish(finish_reason(raw_reason), raw_reason)
            # Read what is left (normally just the end of the chunked body,
            # already on its way) so the connection goes back to the pool. A
            # server that keeps the body open after [DONE] is not waited for:
            # the response is closed and the connection dropped instead.
            with anyio.move_on_after(_DRAIN_SECS):
                try:
                    async for _ in chunks:
                        pass
                except httpx.HTTPError:
                    pass
    except httpx.HTTPError as exc:
        raise (_broken(exc, where) if answering else map_transport_error(PROVIDER, exc, url=where)) from exc


def _odd_chunk(data: str, usage: Any) -> Any:
    """A stream event that is not a plain choice chunk: usage alone, an error object, or garbage."""
    try:
        event = _loads(data)
    except ValueError:
        shown = data if len(data) <= 60 else data[:57] + "..."
        raise ApiError(f"a stream event is not JSON: {shown!r}", provider=PROVIDER) from None
    problem = error_in_body(event)
    if problem is not None:
        raise ApiError(f"the server sent an error in the stream: {problem}", provider=PROVIDER)
    if isinstance(event, Mapping) and isinstance(event.get("choices"), list) and not event["choices"]:
        # Some OpenAI-style servers send usage in a last chunk without choices.
        return event.get("usage", usage)
    raise ApiError("a stream event has no choices[0].delta", provider=PROVIDER)


async def list_models(config: ProviderConfig, http: httpx.AsyncClient) -> list[ModelInfo]:
    """``GET /models``, mapped; what it says is remembered for ``provider_capabilities``."""
    headers = _headers(config, "application/json")
    url = _url(config, "/models")
    try:
        response = await http.get(url, headers=headers, timeout=_timeout(config.timeout_secs))
    except httpx.HTTPError as exc:
        raise map_transport_error(PROVIDER, exc, url=safe_url(url)) from exc
    await raise_for_response(PROVIDER, response, classify=_classifier(None, safe_url(url)))
    try:
        data = _loads(response.content)
    except ValueError:
        raise ApiError("the model list is not JSON", provider=PROVIDER, status=response.status_code) from None
    cards = data.get("data") if isinstance(data, Mapping) else data
    if not isinstance(cards, list):
        raise ApiError("the model list has no data array", provider=PROVIDER, status=response.status_code)
    models: dict[str, ModelInfo] = {}
    aliases: dict[str, list[str]] = {}
    for card in cards:
        if not isinstance(card, Mapping):
            continue
        model = model_from_card(card)
        if model is None or model.id in models:
            continue
        models[model.id] = model
        names = card.get("aliases")
        if isinstance(names, list):
            aliases[model.id] = [a for a in names if isinstance(a, str)]
    learn(config.base_url, models.values(), aliases)
    return list(models.values())
