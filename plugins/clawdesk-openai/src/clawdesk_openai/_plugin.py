"""The ``openai`` provider: clawdesk's hooks for OpenAI and every OpenAI-compatible server.

Importing this module is cheap (no httpx, no I/O): the hooks that talk to the
network import :mod:`clawdesk_openai._api` when first called.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING

from clawdesk.provider import ProviderConfig, hookimpl

from ._config import OpenAIConfig, OpenAIOptions
from ._models import BUILTIN, MEMORY, family_capabilities

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


def _is_openai(config: ProviderConfig) -> bool:
    return isinstance(config, OpenAIConfig) and config.server.name == "openai"


@hookimpl
def provider_name() -> str:
    return "openai"


@hookimpl
def provider_config_type() -> type[ProviderConfig]:
    return OpenAIConfig


@hookimpl
def provider_options_type() -> type:
    return OpenAIOptions


@hookimpl
async def provider_models(config: ProviderConfig, http: httpx.AsyncClient, refresh: bool) -> Sequence[ModelInfo]:
    """OpenAI's built-in list, or what ``GET {base_url}/models`` says.

    A compatible server has no built-in list: without ``refresh`` its last
    listing in this process is given, and the first time it is asked.
    """
    if not refresh:
        if _is_openai(config):
            return list(BUILTIN)
        known = MEMORY.listing(config.base_url)
        if known is not None:
            return list(known)
    from ._api import list_models

    return await list_models(config, http)


@hookimpl
def provider_capabilities(config: ProviderConfig, model: str) -> frozenset[Capability] | None:
    """What a listing of this ``base_url`` said; else, for OpenAI, the model's family; else ``None`` (unknown)."""
    learnt = MEMORY.capabilities(config.base_url, model)
    if learnt is not None:
        return learnt
    return family_capabilities(model) if _is_openai(config) else None


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
