"""The ``anthropic`` provider: clawdesk's hooks for the Claude API (the Messages API).

Importing this module is cheap (no httpx, no I/O): the hooks that talk to the
network import :mod:`clawdesk_anthropic._api` when first called.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING

from clawdesk.provider import ProviderConfig, hookimpl

from ._config import PLUGIN, AnthropicConfig, AnthropicOptions
from ._models import CATALOGUE, capabilities_for

if TYPE_CHECKING:
    import httpx

    from clawdesk import Capability, ChatRequest, ChatResponse, ModelInfo, StreamEvent

__all__ = [
    "CLAWDESK_CONTRACT",
    "provider_capabilities",
    "provider_chat",
    "provider_config_type",
    "provider_models",
    "provider_name",
    "provider_options_type",
    "provider_stream",
]

#: The provider contract this plugin was written for.
CLAWDESK_CONTRACT = 2


@hookimpl
def provider_name() -> str:
    return PLUGIN


@hookimpl
def provider_config_type() -> type[ProviderConfig]:
    return AnthropicConfig


@hookimpl
def provider_options_type() -> type:
    return AnthropicOptions


@hookimpl
async def provider_models(config: ProviderConfig, http: httpx.AsyncClient, refresh: bool) -> Sequence[ModelInfo]:
    """The built-in catalogue, or (``refresh``) every page of ``GET {base_url}/v1/models``."""
    if not refresh:
        return [spec.info() for spec in CATALOGUE]
    from ._api import list_models

    return await list_models(config, http)


@hookimpl
def provider_capabilities(config: ProviderConfig, model: str) -> frozenset[Capability] | None:
    """What a refresh learnt about ``model``, else the catalogue; ``None`` for a model neither knows."""
    return capabilities_for(config.base_url, model)


@hookimpl
async def provider_chat(config: ProviderConfig, http: httpx.AsyncClient, request: ChatRequest) -> ChatResponse:
    from ._api import chat

    return await chat(config, http, request)


@hookimpl
def provider_stream(
    config: ProviderConfig, http: httpx.AsyncClient, request: ChatRequest
) -> AsyncIterator[StreamEvent]:
    from ._api import stream

    return stream(config, http, request)
