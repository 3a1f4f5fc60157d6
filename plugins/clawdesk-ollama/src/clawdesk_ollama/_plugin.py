"""The ``ollama`` provider's hooks (entry point ``clawdesk.providers: ollama``).

Importing this module is cheap: httpx and the wire code load inside the hooks
that talk to the server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING

from clawdesk.provider import ProviderConfig, hookimpl

from ._config import OllamaConfig, OllamaOptions

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


def _own(config: ProviderConfig) -> OllamaConfig:
    if not isinstance(config, OllamaConfig):
        raise TypeError(f"the ollama provider needs an OllamaConfig, got {type(config).__name__}")
    return config


@hookimpl
def provider_name() -> str:
    return "ollama"


@hookimpl
def provider_config_type() -> type[ProviderConfig]:
    return OllamaConfig


@hookimpl
def provider_options_type() -> type:
    return OllamaOptions


@hookimpl
async def provider_models(config: ProviderConfig, http: httpx.AsyncClient, refresh: bool) -> Sequence[ModelInfo]:
    from ._models import list_models

    return await list_models(_own(config), http, refresh=refresh)


@hookimpl
def provider_capabilities(config: ProviderConfig, model: str) -> frozenset[Capability] | None:
    # Only what a listing through this config learnt: a model never listed is
    # unknown (None), and the negotiator lets Ollama answer for itself.
    if not isinstance(config, OllamaConfig):
        return None
    return config.model_cache.capabilities(model)


@hookimpl
async def provider_chat(config: ProviderConfig, http: httpx.AsyncClient, request: ChatRequest) -> ChatResponse:
    from ._chat import chat

    return await chat(_own(config), http, request)


@hookimpl
def provider_stream(
    config: ProviderConfig, http: httpx.AsyncClient, request: ChatRequest
) -> AsyncIterator[StreamEvent]:
    from ._chat import stream

    return stream(_own(config), http, request)
