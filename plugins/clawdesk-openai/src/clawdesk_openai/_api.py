"""The HTTP side of the plugin: chat, stream and model listing on the shared chat completions wire.

The wire is :mod:`clawdesk_openai_compat`'s, in the dialect the config
names. What is OpenAI's own here: its organization and project headers, its
provider options, and its catalogue's refusals (a model that cannot do what
the request needs, sampling settings its reasoning models refuse), all
before anything is sent. Imported by the hooks on first use (the wire
imports httpx), never at plugin import.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

import attrs
import httpx

from clawdesk import (
    Capability,
    CapabilityMissing,
    ChatRequest,
    ChatResponse,
    ModelInfo,
    StreamEvent,
    missing_capabilities,
    required_capabilities,
)
from clawdesk.provider import ProviderConfig, Wire
from clawdesk_openai_compat import chat as send_chat
from clawdesk_openai_compat import encode_chat, make_wire, model_from_card
from clawdesk_openai_compat import list_models as list_cards
from clawdesk_openai_compat import stream as send_stream

from ._config import OpenAIConfig, OpenAIOptions
from ._models import MEMORY, family_capabilities, openai_listing, rejects_stop

__all__ = ["chat", "check_request", "encode_options", "list_models", "stream"]

_DEFAULT_OPTIONS = OpenAIOptions()
_OPTION_FIELDS = tuple(a.name for a in attrs.fields(OpenAIOptions))
# What OpenAI's reasoning models refuse: settings of the sampling they do not do.
_SAMPLING = ("presence_penalty", "frequency_penalty", "logit_bias")


def _config(config: ProviderConfig) -> OpenAIConfig:
    # Core structures the table into the class provider_config_type names.
    return cast(OpenAIConfig, config)


def _headers(config: OpenAIConfig) -> dict[str, str]:
    headers = {}
    if config.organization:
        headers["openai-organization"] = config.organization
    if config.project:
        headers["openai-project"] = config.project
    return headers


def _wire(config: OpenAIConfig, http: httpx.AsyncClient, *, streaming: bool = False) -> Wire:
    return make_wire(
        config,
        http,
        dialect=config.server,
        headers=_headers(config),
        streaming=streaming,
        first_byte_timeout=config.first_byte_timeout_secs,
        first_byte_hint=f"a model that thinks long may need more (providers.{config.name}.first_byte_timeout_secs)",
    )


def check_request(request: ChatRequest, config: OpenAIConfig, *, provider: str, stream: bool) -> ChatRequest:
    """``request`` as OpenAI's catalogue allows it, or :class:`~clawdesk.CapabilityMissing` before sending.

    For OpenAI's known models (any other dialect's request passes as is): a
    request needing what the model cannot do (tools, images, documents, JSON
    schemas, reasoning) is refused; ``Reasoning`` turned off for a model
    that does not reason is honoured by asking nothing; a reasoning model
    refuses a ``temperature`` or ``top_p`` other than 1 and the penalties
    and ``logit_bias`` of ``provider_options.openai``, o3 and o4-mini ``stop``.
    """
    if config.server.name != "openai":
        return request
    model = request.model
    # Only what OpenAI documents for the family refuses anything: a listing's bare card says too little.
    caps = family_capabilities(model)
    if caps is None:
        return request  # unknown: let OpenAI say (an unsupported parameter is CapabilityMissing then too)
    options = request.options
    reasons = Capability.REASONING in caps
    if not reasons and options.reasoning is not None and not options.reasoning.enabled:
        request = attrs.evolve(request, options=attrs.evolve(options, reasoning=None))
        options = request.options
    missing = missing_capabilities(required_capabilities(request, stream=stream), caps)
    if missing:
        first = sorted(missing)[0]
        raise CapabilityMissing(
            f"OpenAI's {model!r} lacks {', '.join(sorted(c.value for c in missing))}",
            capability=first,
            provider=provider,
        )
    if not reasons:
        return request
    for name in ("temperature", "top_p"):
        value = getattr(options, name)
        if value is not None and value != 1:
            raise CapabilityMissing(
                f"options.{name}: OpenAI's reasoning model {model!r} takes only the default {name} (1)",
                option=name,
                provider=provider,
            )
    if options.stop and rejects_stop(model):
        raise CapabilityMissing(
            f"options.stop: OpenAI's {model!r} takes no stop sequences", option="stop", provider=provider
        )
    own = request.provider_options
    if isinstance(own, OpenAIOptions):
        for name in _SAMPLING:
            if getattr(own, name) is not None:
                raise CapabilityMissing(
                    f"provider_options.openai.{name}: OpenAI's reasoning model {model!r} takes no {name}",
                    option=name,
                    provider=provider,
                )
    return request


def encode_options(options: object, body: dict[str, Any]) -> None:
    """The fields of ``provider_options.openai`` (typed and checked by core) that are set, into ``body``."""
    own = options if isinstance(options, OpenAIOptions) else _DEFAULT_OPTIONS
    for name in _OPTION_FIELDS:
        value = getattr(own, name)
        if value is not None:
            body[name] = dict(value) if name in ("logit_bias", "metadata") else value


def _body(config: OpenAIConfig, request: ChatRequest, provider: str, *, stream: bool) -> dict[str, Any]:
    request = check_request(request, config, provider=provider, stream=stream)
    body = encode_chat(request, dialect=config.server, provider=provider, stream=stream)
    encode_options(request.provider_options, body)
    return body


async def chat(config: ProviderConfig, http: httpx.AsyncClient, request: ChatRequest) -> ChatResponse:
    """One chat completion, read whole."""
    own = _config(config)
    wire = _wire(own, http)
    body = _body(own, request, wire.provider, stream=False)
    return await send_chat(wire, body, model=request.model)


def stream(config: ProviderConfig, http: httpx.AsyncClient, request: ChatRequest) -> AsyncIterator[StreamEvent]:
    """One streamed chat completion as events; see the ``provider_stream`` hook for the contract.

    The request is encoded (and refused, if it must be) at once; the events
    come from the shared wire's generator, which holds the response.
    """
    own = _config(config)
    wire = _wire(own, http, streaming=True)
    body = _body(own, request, wire.provider, stream=True)
    return send_stream(wire, body, model=request.model)


async def list_models(config: ProviderConfig, http: httpx.AsyncClient) -> list[ModelInfo]:
    """``GET /models``, mapped (OpenAI's with its families' capabilities) and remembered for this ``base_url``."""
    own = _config(config)
    models = [m for card in await list_cards(_wire(own, http)) if (m := model_from_card(card)) is not None]
    if own.server.name == "openai":
        models = openai_listing(models)
    MEMORY.learn(own.base_url, models)
    return models
