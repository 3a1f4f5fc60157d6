"""The public async API: :class:`Clawdesk`.

It ties the pieces together: a :class:`~clawdesk.Registry` of providers, a
:class:`~clawdesk.Config`, one pooled ``httpx.AsyncClient`` per provider
(made on first use and reused, so connections are kept alive), and the guard
around every hook call that turns a plugin's misbehaviour into a clear
:class:`~clawdesk.PluginError` and an escaped httpx exception into the right
:class:`~clawdesk.ProviderError`.

Works on asyncio and trio (anyio). Use it as ``async with Clawdesk() as cd:``
so the HTTP clients are closed at the end.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio
from attrs import frozen

from ._config import Config, load_config
from ._errors import (
    ApiError,
    AuthFailed,
    ClawdeskError,
    PluginError,
    StreamInterrupted,
    Timeout,
)
from ._modelid import parse_model_id
from ._provider_config import ProviderConfig
from ._registry import Provider, Registry
from ._types import (
    Capability,
    ChatOptions,
    ChatRequest,
    ChatResponse,
    Finish,
    Message,
    ModelInfo,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCallEvent,
    UsageEvent,
)

if TYPE_CHECKING:
    import httpx

    from ._fallback import Attempt, ChatResult, FallbackEngine

__all__ = ["ChatStream", "Clawdesk", "ProviderModels", "Target"]

_EVENT_TYPES = (TextDelta, ReasoningDelta, ToolCallEvent, UsageEvent, Finish)


@frozen
class Target:
    """A resolved model id: the provider and its local model id."""

    provider: str
    model: str

    def __str__(self) -> str:
        return f"{self.provider}/{self.model}"


@frozen
class ProviderModels:
    """One provider's answer to a model listing: its models, or the error that stopped it."""

    provider: str
    models: tuple[ModelInfo, ...] = ()
    error: ClawdeskError | None = None


def _as_messages(messages: str | Message | Iterable[Message]) -> tuple[Message, ...]:
    if isinstance(messages, str):
        return (Message.user(messages),)
    if isinstance(messages, Message):
        return (messages,)
    result = tuple(messages)
    for item in result:
        if not isinstance(item, Message):
            raise TypeError(f"messages must be Message objects, got {type(item).__name__}")
    if not result:
        raise ValueError("messages must not be empty")
    return result


class Clawdesk:
    """Chat with any loaded provider.

    Everything is keyword-only and optional:

    - ``registry``: the providers (default: discovered through entry points);
    - ``config``: a :class:`~clawdesk.Config` (default: read with
      :func:`~clawdesk.load_config` from ``config_path`` or the usual places);
    - ``transport``: an ``httpx.AsyncBaseTransport`` every provider's client
      uses instead of the network (tests, proxies);
    - ``env``: where API keys are looked up (default: ``os.environ``).

    Configuration errors for a provider surface when that provider is first
    used, as :class:`~clawdesk.ConfigError` naming the key path.
    """

    def __init__(
        self,
        *,
        registry: Registry | None = None,
        config: Config | None = None,
        config_path: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.registry = registry if registry is not None else Registry()
        self.config = config if config is not None else load_config(config_path, env=env)
        self._transport = transport
        self._env = env
        self._configs: dict[str, ProviderConfig] = {}
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._engine: FallbackEngine | None = None

    # -- lifecycle -----------------------------------------------------------

    async def __aenter__(self) -> Clawdesk:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every provider's HTTP client (idempotent)."""
        clients, self._clients = self._clients, {}
        with anyio.CancelScope(shield=True):
            for client in clients.values():
                await client.aclose()

    # -- providers and config ------------------------------------------------

    def providers(self) -> list[str]:
        """The names of the loaded providers."""
        return self.registry.names()

    def provider_config(self, name: str) -> ProviderConfig:
        """The provider's structured config (cached); raises :class:`~clawdesk.ConfigError`."""
        try:
            return self._configs[name]
        except KeyError:
            provider = self.registry.provider(name)
            config = self.config.provider_config(name, provider.config_type, env=self._env)
            self._configs[name] = config
            return config

    def http_client(self, name: str) -> httpx.AsyncClient:
        """The pooled HTTP client of provider ``name``, made on first use."""
        client = self._clients.get(name)
        if client is None:
            import httpx

            from .http import client_timeout

            config = self.provider_config(name)
            client = httpx.AsyncClient(
                timeout=client_timeout(config),
                transport=self._transport,
                verify=config.verify_tls,
                follow_redirects=False,
                trust_env=True,
                # Keep as many idle connections as may be open: with httpx's default of 20, a 32-wide
                # burst closed and reopened most connections (seen in the soak run).
                limits=httpx.Limits(max_connections=100, max_keepalive_connections=100),
                headers={"user-agent": "clawdesk"},
            )
            self._clients[name] = client
        return client

    def resolve(self, model_id: str) -> Target:
        """``provider/model`` (or a bare ``provider``: its ``default_model``) as a :class:`Target`."""
        name, model = parse_model_id(model_id)
        self.registry.provider(name)  # raises ProviderNotFound early
        if model is None:
            model = self.provider_config(name).default_model
            if not model:
                from ._errors import InvalidModelId

                raise InvalidModelId(f"provider {name!r} has no default_model; use '{name}/<model>'")
        return Target(name, model)

    def capabilities(self, target: Target) -> frozenset[Capability] | None:
        """What ``target`` can do, as its provider knows without I/O (``None``: unknown)."""
        provider = self.registry.provider(target.provider)
        config = self.provider_config(target.provider)
        result = _guard_sync(provider, "provider_capabilities", config=config, model=target.model)
        if result is None:
            return None
        if not isinstance(result, (set, frozenset)) or not all(isinstance(c, Capability) for c in result):
            raise PluginError(
                provider.name, f"provider_capabilities returned {type(result).__name__}, expected a set of Capability"
            )
        return frozenset(result)

    # -- models --------------------------------------------------------------

    async def models(self, provider: str | None = None, *, refresh: bool = False) -> list[ProviderModels]:
        """Each provider's models (or only ``provider``'s).

        A provider that cannot answer gives a :class:`ProviderModels` with its
        ``error`` set instead of raising, so one backend that is down never
        hides the others. Each provider gets at most its ``timeout_secs``.
        """
        names = [provider] if provider is not None else self.providers()
        results: list[ProviderModels] = []
        for name in names:
            results.append(await self._models_of(name, refresh))
        return results

    async def _models_of(self, name: str, refresh: bool) -> ProviderModels:
        provider = self.registry.provider(name)
        try:
            config = self.provider_config(name)
            with anyio.fail_after(config.timeout_secs + 1):
                result = await _guard_async(
                    provider, "provider_models", config=config, http=self.http_client(name), refresh=refresh
                )
        except TimeoutError:
            return ProviderModels(name, error=Timeout("listing models timed out", provider=name))
        except ClawdeskError as exc:
            return ProviderModels(name, error=exc)
        if not isinstance(result, (list, tuple)) or not all(isinstance(m, ModelInfo) for m in result):
            return ProviderModels(
                name, error=PluginError(name, "provider_models returned something other than a list of ModelInfo")
            )
        return ProviderModels(name, tuple(result))

    # -- chat ----------------------------------------------------------------

    @property
    def engine(self) -> FallbackEngine:
        """The :class:`~clawdesk.FallbackEngine` that :meth:`chat` and :meth:`stream` go through.

        Made on first use from ``config.fallback`` and kept (it holds the
        cooldown state). Assign your own, e.g. one with a test clock.
        """
        if self._engine is None:
            from ._fallback import FallbackEngine

            self._engine = FallbackEngine(self)
        return self._engine

    @engine.setter
    def engine(self, engine: FallbackEngine) -> None:
        self._engine = engine

    async def chat(
        self,
        model: str | None,
        messages: str | Message | Iterable[Message],
        options: ChatOptions | None = None,
    ) -> ChatResponse:
        """Send ``messages`` and return the whole answer.

        ``model`` is ``provider/model`` (or ``provider``: its default model),
        pinned with retries; ``None`` uses the fallback chain (see
        :func:`~clawdesk.default_candidates`). A plain string is one user
        message. Raises :class:`~clawdesk.AllProvidersFailed` when every
        candidate failed, :class:`~clawdesk.InvalidRequest` as is when the
        request itself is wrong. :meth:`chat_with_attempts` also returns how
        the answer was reached.
        """
        return (await self.engine.chat(model, messages, options)).response

    async def chat_with_attempts(
        self,
        model: str | None,
        messages: str | Message | Iterable[Message],
        options: ChatOptions | None = None,
    ) -> ChatResult:
        """Like :meth:`chat`, returning a :class:`~clawdesk.ChatResult`: the response, the target and every attempt."""
        return await self.engine.chat(model, messages, options)

    async def chat_target(self, target: Target, request: ChatRequest) -> ChatResponse:
        """One chat call to one provider, guarded (no retries, no fallback)."""
        provider = self.registry.provider(target.provider)
        config = self.provider_config(target.provider)
        _require_key(provider, config)
        http = self.http_client(target.provider)
        deadline = request.options.timeout
        if deadline is None:
            result = await _guard_async(provider, "provider_chat", config=config, http=http, request=request)
        else:
            try:
                with anyio.fail_after(deadline):
                    result = await _guard_async(provider, "provider_chat", config=config, http=http, request=request)
            except TimeoutError:
                raise Timeout(f"no answer within {deadline:g}s", provider=target.provider) from None
        if not isinstance(result, ChatResponse):
            raise PluginError(provider.name, f"provider_chat returned {type(result).__name__}, expected ChatResponse")
        return result

    def stream(
        self,
        model: str | None,
        messages: str | Message | Iterable[Message],
        options: ChatOptions | None = None,
    ) -> ChatStream:
        """Stream the answer as typed events, falling back before the first event.

        ``model`` as for :meth:`chat`. Use as ``async with cd.stream(...) as
        events: async for event in events`` (or iterate directly and call
        ``aclose()``); leaving early closes the HTTP response. Errors before
        the first event move on to the next candidate (or raise
        :class:`~clawdesk.AllProvidersFailed`); after it, a failure raises
        :class:`~clawdesk.StreamInterrupted` carrying what was delivered. The
        stream's ``attempts`` and ``target`` tell what was tried and chosen.
        """
        return self.engine.stream(model, messages, options)

    def stream_target(self, target: Target, request: ChatRequest) -> ChatStream:
        """One stream from one provider, guarded (no retries, no fallback)."""
        return ChatStream(self._events(target, request), target=target)

    async def _events(self, target: Target, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        provider = self.registry.provider(target.provider)
        config = self.provider_config(target.provider)
        _require_key(provider, config)
        http = self.http_client(target.provider)
        delivered: list[StreamEvent] = []
        try:
            agen = provider.call("provider_stream", config=config, http=http, request=request)
        except Exception as exc:
            raise _plugin_failure(provider, "provider_stream", exc) from exc
        if not hasattr(agen, "__anext__"):
            raise PluginError(
                provider.name, f"provider_stream returned {type(agen).__name__}, expected an async iterator"
            )
        finished = False
        try:
            while True:
                try:
                    event = await agen.__anext__()
                except StopAsyncIteration:
                    break
                except Exception as exc:
                    error = _interrupted(provider.name, delivered, _plugin_failure(provider, "provider_stream", exc))
                    if error is exc:
                        raise
                    raise error from exc
                if finished or not isinstance(event, _EVENT_TYPES):
                    what = "an event after Finish" if finished else f"{type(event).__name__}, not a stream event"
                    raise _interrupted(
                        provider.name, delivered, PluginError(provider.name, f"provider_stream yielded {what}")
                    )
                delivered.append(event)
                finished = isinstance(event, Finish)
                yield event
            if not finished:
                cause = ApiError("the stream ended without a finish event", provider=provider.name, retryable=False)
                raise _interrupted(provider.name, delivered, cause)
        finally:
            aclose = getattr(agen, "aclose", None)
            if aclose is not None:
                with anyio.CancelScope(shield=True):
                    await aclose()


class ChatStream:
    """An async iterator of :data:`~clawdesk.StreamEvent` that is also an async context manager.

    Leaving the ``async with`` block (or calling :meth:`aclose`) closes the
    provider's HTTP response, also when the stream was not read to the end.
    ``target`` is the provider/model that answers (``None`` until a stream
    from a fallback chain has started); ``attempts`` every try and skip so far.
    """

    def __init__(self, events: AsyncIterator[StreamEvent], *, target: Target | None = None) -> None:
        self._events = events
        self._target = target
        self._attempts: list[Attempt] = []

    @property
    def target(self) -> Target | None:
        """Who answers: set when the stream starts (at once for a single-target stream)."""
        return self._target

    @property
    def attempts(self) -> tuple[Attempt, ...]:
        """The :class:`~clawdesk.Attempt` records so far, in order (empty for a single-target stream)."""
        return tuple(self._attempts)

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        # The events themselves, not this wrapper: `async for` then skips one layer per event
        # (~3% of streaming throughput). aclose() still goes through this object.
        return self._events

    async def __anext__(self) -> StreamEvent:
        return await self._events.__anext__()

    async def aclose(self) -> None:
        """Stop the stream and release its connection (idempotent)."""
        aclose = getattr(self._events, "aclose", None)
        if aclose is not None:
            await aclose()

    async def __aenter__(self) -> ChatStream:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


def _require_key(provider: Provider, config: ProviderConfig) -> None:
    if type(config).requires_api_key and not config.api_key:
        env = type(config).api_key_env
        where = f"set {env} or providers.{provider.name}.api_key" if env else f"set providers.{provider.name}.api_key"
        raise AuthFailed(f"no API key: {where}", provider=provider.name)


def _interrupted(name: str, delivered: Sequence[StreamEvent], cause: ClawdeskError) -> ClawdeskError:
    if not delivered:
        return cause
    if isinstance(cause, StreamInterrupted):
        return cause
    return StreamInterrupted(provider=name, delivered=delivered, cause=cause)


def _plugin_failure(provider: Provider, hook: str, exc: Exception) -> ClawdeskError:
    """What an exception that escaped a hook means.

    An httpx exception is a transport failure the plugin forgot to map: map it
    here rather than report the provider as broken. Anything else that is not
    ours is a bug in the plugin.
    """
    if isinstance(exc, ClawdeskError):
        return exc
    module = type(exc).__module__ or ""
    if module.startswith(("httpx", "httpcore")):
        from .http import map_transport_error

        return map_transport_error(provider.name, exc)
    return PluginError(provider.name, f"{hook} raised {type(exc).__name__}: {exc}")


def _guard_sync(provider: Provider, hook: str, **kwargs: Any) -> Any:
    try:
        return provider.call(hook, **kwargs)
    except Exception as exc:
        error = _plugin_failure(provider, hook, exc)
        if error is exc:
            raise
        raise error from exc


async def _guard_async(provider: Provider, hook: str, **kwargs: Any) -> Any:
    try:
        return await provider.call(hook, **kwargs)
    except Exception as exc:
        error = _plugin_failure(provider, hook, exc)
        if error is exc:
            raise
        raise error from exc
