"""The provider contract: the hooks a provider plugin implements.

A provider plugin is a module (or object) registered under the entry-point
group ``clawdesk.providers``; the entry point's name must equal what its
``provider_name`` hook returns. It declares the contract version it was
written for (``CLAWDESK_CONTRACT = 2``, a plain number, never imported from
clawdesk) and implements the hooks below with the :data:`hookimpl` marker.
pluggy checks the signatures when the plugin is registered: an
implementation may take any subset of a hook's arguments, by these exact
names, and nothing else.

Core never broadcasts a call over all plugins: each call goes to the one
provider the caller chose, so plugins never see each other's requests.

Rules that hold for every hook:

- Importing the plugin module must be cheap and must not do I/O: no network,
  no reading files, no ``import httpx`` at module level (import it inside the
  hooks that send requests). ``clawdesk plugins`` loads every plugin and
  must stay fast.
- Errors are :class:`~clawdesk.ProviderError` subclasses carrying the
  provider's name (``config.name``: a named instance of the plugin has its
  own). The wire toolkit in :mod:`clawdesk.provider` maps statuses and
  transport failures; a plugin classifies only what is its backend's own.
  Any other exception escaping a hook is a bug in the plugin and is reported
  as one.
- An option, a message part or a tool the backend cannot honour is refused
  before anything is sent, never dropped: :class:`~clawdesk.CapabilityMissing`
  when another provider or model might honour it (a fallback chain moves
  on), :class:`~clawdesk.InvalidRequest` when the request is wrong for anyone
  (the chain stops).
- Never put the API key in a message, a log line or a repr.
"""

# Hookspecs are contracts, never called: their bodies are docstrings only.
# mypy: disable-error-code="empty-body"
from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import httpx

    from ._provider_config import ProviderConfig
    from ._types import Capability, ChatRequest, ChatResponse, ModelInfo, StreamEvent

__all__ = [
    "CONTRACT_ATTRIBUTE",
    "CONTRACT_VERSION",
    "PROJECT",
    "REQUIRED_HOOKS",
    "SUPPORTED_CONTRACTS",
    "hookimpl",
    "hookspec",
]

PROJECT = "clawdesk"
#: The contract this clawdesk speaks. Version 2 brought the wire toolkit,
#: ``provider_options``, reasoning parts and named instances.
CONTRACT_VERSION = 2
#: Contract versions a plugin may declare and still be loaded.
SUPPORTED_CONTRACTS = frozenset({2})
#: The plugin attribute that declares its contract version.
CONTRACT_ATTRIBUTE = "CLAWDESK_CONTRACT"
hookspec = pluggy.HookspecMarker(PROJECT)
#: Mark a function as the implementation of one of the hooks below.
hookimpl = pluggy.HookimplMarker(PROJECT)

#: Hooks every provider must implement; ``provider_config_type`` and
#: ``provider_options_type`` are optional.
REQUIRED_HOOKS = (
    "provider_name",
    "provider_models",
    "provider_capabilities",
    "provider_chat",
    "provider_stream",
)


@hookspec
def provider_name() -> str:
    """The provider's name, e.g. ``"mistral"`` (sync).

    Lower-case letters, digits, ``-`` and ``_``; no ``/``. It is the first part
    of model ids (``mistral/mistral-small-latest``), the name of the
    ``[providers.<name>]`` config table, and must equal the entry point's
    name. Must not raise.
    """


@hookspec
def provider_config_type() -> type[ProviderConfig]:
    """The provider's config class, a subclass of :class:`~clawdesk.ProviderConfig` (sync, optional).

    Core structures the ``[providers.<name>]`` table into it. Without this hook
    the provider gets the plain :class:`~clawdesk.ProviderConfig`.
    """


@hookspec
def provider_options_type() -> type:
    """The provider's options class for :attr:`~clawdesk.ChatOptions.provider_options` (sync, optional).

    A frozen, keyword-only attrs class whose fields are the settings only
    this backend understands (Ollama's ``num_ctx``, Anthropic's prompt
    caching, ...), each with a default. Core structures the caller's table
    for this provider into it (the plugin's name first, then a named
    instance's own table on top), refusing unknown keys and wrong types with
    :class:`~clawdesk.InvalidRequest` naming the key path, and passes it as
    ``request.provider_options``. Without this hook a provider takes no
    provider options and a table for it is refused.
    """


@hookspec
async def provider_models(config: ProviderConfig, http: httpx.AsyncClient, refresh: bool) -> Sequence[ModelInfo]:
    """The models this provider offers (async).

    With ``refresh=False`` answer from built-in knowledge or a cache without
    network I/O where the provider can (a local server that must be asked may
    ask). With ``refresh=True`` ask the backend. Raises
    :class:`~clawdesk.ProviderError` when the backend cannot be asked; the
    caller turns that into a warning, never a crash.
    """


@hookspec
def provider_capabilities(config: ProviderConfig, model: str) -> frozenset[Capability] | None:
    """What ``model`` (provider-local id) can do (sync, no I/O).

    Answer from built-in knowledge or from what ``provider_models`` learnt.
    Return ``None`` when the model is unknown: the negotiator then lets the
    provider try and relies on its :class:`~clawdesk.CapabilityMissing` error.
    """


@hookspec
async def provider_chat(config: ProviderConfig, http: httpx.AsyncClient, request: ChatRequest) -> ChatResponse:
    """Send one chat request and return the whole answer (async).

    ``request.model`` is the provider-local id (already without the
    ``provider/`` prefix, and already defaulted from ``config.default_model``);
    ``request.provider_options`` this provider's options (see
    ``provider_options_type``). Anything the backend cannot honour is refused
    before anything is sent (see the rules above). A missing key never
    reaches the hook when ``config.requires_api_key`` is set: core refuses the
    call with :class:`~clawdesk.AuthFailed` first. Raises any
    :class:`~clawdesk.ProviderError`.
    """


@hookspec
def provider_stream(
    config: ProviderConfig, http: httpx.AsyncClient, request: ChatRequest
) -> AsyncIterator[StreamEvent]:
    """Stream one chat request as typed events (an async generator).

    Yields :class:`~clawdesk.TextDelta`, :class:`~clawdesk.ReasoningDelta`,
    :class:`~clawdesk.ToolCallEvent` (each call once, complete, with parsed
    arguments) and at most one :class:`~clawdesk.UsageEvent`, and ends with
    exactly one :class:`~clawdesk.Finish`. A stream that ends before the
    backend's end marker raises :class:`~clawdesk.Truncated` (it is never a
    success), an error the backend reports inside the stream raises its
    typed error, and an error status raises before the first event. The
    generator must hold its HTTP response in ``async with`` so that closing
    it early (``aclose()``) releases the connection.
    """
