"""The provider contract: the hooks a provider plugin implements.

A provider plugin is a module (or object) registered under the entry-point
group ``clawdesk.providers``; the entry point's name must equal what its
``provider_name`` hook returns. It implements the hooks below with the
:data:`hookimpl` marker. pluggy checks the signatures when the plugin is
registered: an implementation may take any subset of a hook's arguments, by
these exact names, and nothing else.

Core never broadcasts a call over all plugins: each call goes to the one
provider the caller chose, so plugins never see each other's requests.

Rules that hold for every hook:

- Importing the plugin module must be cheap and must not do I/O: no network,
  no reading files, no ``import httpx`` at module level (import it inside the
  hooks that send requests). ``clawdesk plugins`` loads every plugin and
  must stay fast.
- Errors are :class:`~clawdesk.ProviderError` subclasses carrying the
  provider's name. Use :func:`clawdesk.http.raise_for_response` and
  :func:`clawdesk.http.map_transport_error` for what is not provider-specific.
  Any other exception escaping a hook is a bug in the plugin and is reported
  as one.
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

__all__ = ["PROJECT", "REQUIRED_HOOKS", "hookimpl", "hookspec"]

PROJECT = "clawdesk"
hookspec = pluggy.HookspecMarker(PROJECT)
#: Mark a function as the implementation of one of the hooks below.
hookimpl = pluggy.HookimplMarker(PROJECT)

#: Hooks every provider must implement; ``provider_config_type`` is optional.
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
    ``provider/`` prefix, and already defaulted from ``config.default_model``).
    An option the backend cannot honour raises
    :class:`~clawdesk.InvalidRequest` before anything is sent, and a missing
    key raises :class:`~clawdesk.AuthFailed`; it is never dropped silently.
    Raises any :class:`~clawdesk.ProviderError`.
    """


@hookspec
def provider_stream(
    config: ProviderConfig, http: httpx.AsyncClient, request: ChatRequest
) -> AsyncIterator[StreamEvent]:
    """Stream one chat request as typed events (an async generator).

    Yields :class:`~clawdesk.TextDelta`, :class:`~clawdesk.ReasoningDelta`,
    :class:`~clawdesk.ToolCallEvent` (each call once, complete, with parsed
    arguments) and at most one :class:`~clawdesk.UsageEvent`, and ends with
    exactly one :class:`~clawdesk.Finish`. A stream the backend cut short
    raises (it is never a success); an error status raises before the first
    event. The generator must hold its HTTP response in ``async with`` so that
    closing it early (``aclose()``) releases the connection.
    """
