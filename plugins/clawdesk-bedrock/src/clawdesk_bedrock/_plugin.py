"""The ``bedrock`` provider: clawdesk's hooks for Amazon Bedrock's Converse API.

Importing this module is cheap (no httpx, no I/O, no file read): the hooks
that talk to AWS import :mod:`clawdesk_bedrock._api` when first called, and
credentials are looked for per call, not at import.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING

from clawdesk.provider import ProviderConfig, hookimpl

from ._config import BedrockConfig, BedrockOptions
from ._models import BUILTIN, capabilities_for

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
    return "bedrock"


@hookimpl
def provider_config_type() -> type[ProviderConfig]:
    return BedrockConfig


@hookimpl
def provider_options_type() -> type:
    return BedrockOptions


@hookimpl
async def provider_models(config: ProviderConfig, http: httpx.AsyncClient, refresh: bool) -> Sequence[ModelInfo]:
    """The built-in catalogue, or (``refresh``) the region's text models and inference profiles."""
    if not refresh:
        return list(BUILTIN)
    from ._api import list_models

    return await list_models(config, http)


@hookimpl
def provider_capabilities(config: ProviderConfig, model: str) -> frozenset[Capability] | None:
    """What a refresh learnt about ``model``, else the catalogue (profiles and ARNs by the model they serve)."""
    return capabilities_for(config.name, model)


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
