"""The HTTP side of the plugin: Converse, ConverseStream and the model listing, on the wire toolkit.

Imported by the hooks on first use (the toolkit imports httpx), never at plugin import.

Each call finds its credentials and region (:mod:`clawdesk_bedrock._credentials`),
then sends through one :class:`~clawdesk.provider.Wire` signed with SigV4
(:class:`~clawdesk_bedrock._sigv4.SigV4Signer`, signing name ``bedrock``) or
carrying the Bedrock API key as a bearer token. The model id is one
percent-encoded path segment (``:`` as ``%3A``, an ARN's ``/`` as ``%2F``).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import quote

import attrs
import httpx

from clawdesk import (
    ApiError,
    AuthFailed,
    ChatRequest,
    ChatResponse,
    InvalidRequest,
    ModelInfo,
    ProviderError,
    StreamEvent,
)
from clawdesk.provider import (
    Auth,
    Classify,
    ErrorResponse,
    EventStreamDecoder,
    EventStreamMessage,
    Wire,
    bearer,
)

from ._config import BedrockConfig
from ._credentials import Access, resolve_access
from ._errors import STATUS, code_from_header, error_for_code, message_from
from ._models import learn, models_from_listing
from ._sigv4 import SigV4Signer
from ._wire import ConverseStream, decode_converse, encode_converse, payload

__all__ = ["chat", "list_models", "stream"]

REQUEST_ID_HEADER = "x-amzn-requestid"
_STREAM_TYPE = "application/vnd.amazon.eventstream"
#: The most pages of inference profiles a refresh reads (1000 each).
_MAX_PAGES = 20


@functools.lru_cache(maxsize=64)
def _with_base(config: BedrockConfig, base_url: str) -> BedrockConfig:
    # Wire reads base_url from the config; the region is filled in once per config and URL.
    return attrs.evolve(config, base_url=base_url)


def _url(template: str, access: Access, config: BedrockConfig) -> str:
    if "{region}" not in template:
        return template
    if access.region is None:
        raise AuthFailed(_no_region(config), provider=config.name or "bedrock")
    return template.replace("{region}", access.region)


def _no_region(config: BedrockConfig) -> str:
    name = config.name or "bedrock"
    return f"no AWS region: set AWS_REGION, providers.{name}.region, or region in the AWS profile"


def _classify(access: Access) -> Classify:
    def classify(error: ErrorResponse) -> ProviderError | None:
        data = error.json
        code = code_from_header(error.headers.get("x-amzn-errortype"))
        if code is None and isinstance(data, Mapping):
            raw = data.get("__type") or data.get("code") or data.get("Code")
            code = code_from_header(raw) if isinstance(raw, str) else None
        original = data.get("originalStatusCode") if isinstance(data, Mapping) else None
        return error_for_code(
            code,
            message_from(data, error.message),
            kw=error.kw(),
            model=error.model,
            region=access.region,
            original_status=original if type(original) is int else None,
        )

    return classify


def _wire(config: BedrockConfig, http: httpx.AsyncClient, access: Access, *, base_url: str, stream: bool) -> Wire:
    auth: Auth | None
    if access.kind == "bearer":
        auth = bearer(access.token)
    else:
        if access.region is None:
            raise AuthFailed(_no_region(config), provider=config.name or "bedrock")
        assert access.credentials is not None
        auth = SigV4Signer(access.credentials, region=access.region)
    name = config.name or "bedrock"
    return Wire(
        _with_base(config, base_url),
        http,
        auth=auth,
        classify=_classify(access),
        request_id_header=REQUEST_ID_HEADER,
        headers={"accept": _STREAM_TYPE} if stream else None,
        first_byte_timeout=config.first_byte_timeout_secs,
        first_byte_hint=(
            "Bedrock sends a whole answer only once the model is done: stream it, or raise "
            f"providers.{name}.first_byte_timeout_secs"
        ),
    )


def _path(model: str, operation: str, provider: str) -> str:
    if not model or model in (".", "..") or len(model) > 2048:
        raise InvalidRequest(f"{model[:60]!r} is not a Bedrock model id", provider=provider)
    return f"/model/{quote(model, safe='')}/{operation}"


def _config(config: Any) -> BedrockConfig:
    if not isinstance(config, BedrockConfig):  # pragma: no cover - core always structures our own class
        raise TypeError(f"the bedrock provider needs a BedrockConfig, got {type(config).__name__}")
    return config


async def chat(config: Any, http: httpx.AsyncClient, request: ChatRequest) -> ChatResponse:
    """One Converse call, read whole."""
    config = _config(config)
    provider = config.name or "bedrock"
    path = _path(request.model, "converse", provider)
    body = encode_converse(request, provider=provider)
    access = await resolve_access(config)
    wire = _wire(config, http, access, base_url=_url(config.base_url, access, config), stream=False)
    reply = await wire.json("POST", path, wire.encode(body), model=request.model, accept="application/json")
    return decode_converse(reply.data, model=request.model, provider=provider, request_id=reply.request_id)


async def stream(config: Any, http: httpx.AsyncClient, request: ChatRequest) -> AsyncIterator[StreamEvent]:
    """One ConverseStream call as events; see the ``provider_stream`` hook for the contract.

    ``messageStop`` is the end marker: a body that ends before it is
    :class:`~clawdesk.Truncated`. After it the ``metadata`` event (the usage)
    is still read; a connection that breaks then loses only the usage. An
    exception the service reports inside the stream raises its typed error
    (see :mod:`clawdesk_bedrock._errors`); a corrupted or malformed frame is
    :class:`~clawdesk.ApiError`.
    """
    config = _config(config)
    provider = config.name or "bedrock"
    path = _path(request.model, "converse-stream", provider)
    body = encode_converse(request, provider=provider, stream=True)
    access = await resolve_access(config)
    wire = _wire(config, http, access, base_url=_url(config.base_url, access, config), stream=True)
    decoder = EventStreamDecoder(max_message_bytes=wire.max_frame_bytes)
    state = ConverseStream(provider)
    async with wire.stream(
        "POST",
        path,
        wire.encode(body),
        model=request.model,
        end_marker="messageStop",
        accept="application/vnd.amazon.eventstream",
    ) as reply:
        request_id = reply.request_id
        try:
            async for chunk in reply.chunks():
                for message in decoder.feed(chunk):
                    # The headers read directly (not through the message's properties, which also check
                    # that the values are strings): an :event-type that is not one matches no event.
                    headers = message.headers
                    if headers.get(":message-type") == "event":
                        event = state.event(
                            headers.get(":event-type"),  # type: ignore[arg-type]
                            payload(message.payload, provider, request_id),
                            request_id,
                        )
                        if event is not None:
                            yield event
                        if state.stopped and not reply.ended:
                            reply.end()
                    else:
                        raise _stream_error(message, provider, request_id, wire.url(path), access, request.model)
        except httpx.TransportError:
            if not reply.ended:
                raise
            # messageStop came: the answer is whole, and only what follows it (the usage) was lost.
    for event in state.closing(request_id):
        yield event


def _stream_error(
    message: EventStreamMessage, provider: str, request_id: str | None, url: str, access: Access, model: str
) -> ProviderError:
    """The error for an ``exception`` (modeled) or ``error`` (unmodeled) message inside a stream."""
    kind = message.message_type
    if kind == "exception":
        name = message.exception_type or "unknown"
        code = name[:1].upper() + name[1:]
        try:
            data: Any = payload(message.payload, provider, request_id)
        except ApiError:
            data = None
        text = message_from(data, f"the stream reported {name}")
        original = data.get("originalStatusCode") if isinstance(data, Mapping) else None
    elif kind == "error":
        raw_code, raw_text = message.headers.get(":error-code"), message.headers.get(":error-message")
        code = raw_code if isinstance(raw_code, str) and raw_code else "UnknownError"
        text = raw_text if isinstance(raw_text, str) and raw_text else f"the stream reported {code}"
        original = None
    else:
        return ApiError(f"the stream sent a message of unknown type {kind!r}", provider=provider, request_id=request_id)
    status = STATUS.get(code)
    kw: dict[str, Any] = {"provider": provider, "status": status, "url": url, "request_id": request_id}
    error = error_for_code(
        code,
        text,
        kw=kw,
        model=model,
        region=access.region,
        original_status=original if type(original) is int else None,
    )
    return error if error is not None else ApiError(f"{code}: {text}", **kw)


async def list_models(config: Any, http: httpx.AsyncClient) -> list[ModelInfo]:
    """``ListFoundationModels`` (text models) and ``ListInferenceProfiles``, mapped and remembered."""
    config = _config(config)
    provider = config.name or "bedrock"
    access = await resolve_access(config)
    wire = _wire(config, http, access, base_url=_url(config.control_url, access, config), stream=False)
    listing = await wire.json("GET", "/foundation-models?byOutputModality=TEXT")
    summaries = _list(listing.data, "modelSummaries", provider, listing.request_id)
    profiles: list[Any] = []
    token: str | None = None
    for _ in range(_MAX_PAGES):
        query = "maxResults=1000" + (f"&nextToken={quote(token, safe='-_.~')}" if token else "")
        page = await wire.json("GET", f"/inference-profiles?{query}")
        profiles += _list(page.data, "inferenceProfileSummaries", provider, page.request_id)
        token = page.data.get("nextToken") if isinstance(page.data, Mapping) else None
        if not isinstance(token, str) or not token:
            break
    models = models_from_listing(summaries, profiles)
    learn(provider, models)
    return models


def _list(data: Any, key: str, provider: str, request_id: str | None) -> list[Any]:
    items = data.get(key, []) if isinstance(data, Mapping) else None
    if not isinstance(items, list):
        raise ApiError(f"the listing has no {key} array", provider=provider, request_id=request_id)
    return items
