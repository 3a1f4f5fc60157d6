"""The ``gemini`` provider's hooks (entry point ``clawdesk.providers: gemini``).

Importing this module is cheap (no httpx, no I/O): the hooks that talk to the
network import :mod:`clawdesk_gemini._api` when first called.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING

from clawdesk.provider import ProviderConfig, hookimpl

from ._config import GeminiConfig, GeminiOptions
from ._models import BUILTIN, builtin_capabilities

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


def _own(config: ProviderConfig) -> GeminiConfig:
    if not isinstance(config, GeminiConfig):
        raise TypeError(f"the gemini provider needs a GeminiConfig, got {type(config).__name__}")
    return config


@hookimpl
def provider_name() -> str:
    return "gemini"


@hookimpl
def provider_config_type() -> type[ProviderConfig]:
    return GeminiConfig


@hookimpl
def provider_options_type() -> type:
    return GeminiOptions


@hookimpl
async def provider_models(config: ProviderConfig, http: httpx.AsyncClient, refresh: bool) -> Sequence[ModelInfo]:
    """The built-in catalogue, or (``refresh``) every page of ``GET {base_url}/v1beta/models``."""
    if not refresh:
        return list(BUILTIN)
    from ._api import list_models

    return await list_models(_own(config), http)


@hookimpl
def provider_capabilities(config: ProviderConfig, model: str) -> frozenset[Capability] | None:
    """What the last refresh through this config learnt about ``model``, else the catalogue; ``None`` if unknown."""
    if not isinstance(config, GeminiConfig):
        return builtin_capabilities(model.removeprefix("models/"))
    return config.capabilities(model)


@hookimpl
async def provider_chat(config: ProviderConfig, http: httpx.AsyncClient, request: ChatRequest) -> ChatResponse:
    from ._api import chat

    return await chat(_own(config), http, request)


@hookimpl
def provider_stream(
    config: ProviderConfig, http: httpx.AsyncClient, request: ChatRequest
) -> AsyncIterator[StreamEvent]:
    from ._api import stream

    return stream(_own(config), http, request)
