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

import math
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, overload

import anyio
from attrs import frozen

from ._config import Config, load_config
from ._errors import (
    AuthFailed,
    ClawdeskError,
    ConfigError,
    InvalidModelId,
    PluginError,
    ProviderError,
    ProviderNotFound,
    StreamInterrupted,
    TimedOut,
)
from ._keys import secret_map
from ._limits import OFFER, StreamLimits
from ._messages import MessageLike
from ._modelid import parse_model_id
from ._options import provider_options_for
from ._provider_config import ProviderConfig, clean_key, key_variables
from ._registry import Provider, Registry
from ._secret import Secret
from ._stream import ChatStream, RunRecord, Target, as_messages
from ._types import (
    Capability,
    ChatOptions,
    ChatRequest,
    ChatResponse,
    Finish,
    ModelInfo,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCallEvent,
    UsageEvent,
)

if TYPE_CHECKING:
    import httpx

    from ._fallback import ChatResult, FallbackEngine, Models
    from ._tools import ToolLike, ToolRun, ToolStream

T = TypeVar("T")
#: What a call takes as messages: one string (a user message), one message, or a list of them.
#: A message is a :class:`~clawdesk.Message` or a dict (OpenAI-style or clawdesk's JSON shape).
Messages = str | MessageLike | Iterable[MessageLike]

__all__ = ["ChatStream", "Clawdesk", "Messages", "ProviderModels", "Target", "default_candidates"]

_EVENT_TYPES = (TextDelta, ReasoningDelta, ToolCallEvent, UsageEvent, Finish)
_EVENT_TYPES_SET = frozenset(_EVENT_TYPES)  # an exact type is a set lookup; isinstance only for subclasses


@frozen
class ProviderModels:
    """One provider's answer to a model listing: its models, or the error that stopped it."""

    provider: str
    models: tuple[ModelInfo, ...] = ()
    error: ClawdeskError | None = None


def default_candidates(client: Clawdesk) -> list[str]:
    """The chain used when no model and no ``[fallback] chain`` is given: :meth:`Clawdesk.default_candidates`."""
    return client.default_candidates()


class Clawdesk:
    """Chat with any loaded provider.

    Everything is keyword-only and optional:

    - ``registry``: the provider plugins (default: discovered through entry points);
    - ``config``: a :class:`~clawdesk.Config` (default: read with
      :func:`~clawdesk.load_config` from ``config_path`` or the usual places);
    - ``transport``: an ``httpx.AsyncBaseTransport`` every provider's client
      uses instead of the network (tests, proxies);
    - ``env``: where API keys are looked up (default: ``os.environ``);
    - ``keys``: saved keys by provider name, used when neither the config
      nor the environment has one (``keys=load_keys()`` reads the file
      ``clawdesk keys set`` writes; default: none);
    - ``max_connections``: the most connections open at once to one provider
      (default: the config's ``[http] max_connections``, 100). Calls beyond
      it wait for a free connection; the wait never counts against the
      provider.

    A provider is a loaded plugin (``ollama``) or a named instance of one
    that the config declares (``[providers.gpu2] plugin = "ollama"``); both
    work everywhere a provider name does. Configuration errors for a
    provider surface when that provider is first used, as
    :class:`~clawdesk.ConfigError` naming the key path.
    """

    def __init__(
        self,
        *,
        registry: Registry | None = None,
        config: Config | None = None,
        config_path: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        env: Mapping[str, str] | None = None,
        keys: Mapping[str, str | Secret] | None = None,
        max_connections: int | None = None,
    ) -> None:
        if max_connections is not None and (isinstance(max_connections, bool) or max_connections < 1):
            raise ValueError(f"max_connections must be an integer >= 1, got {max_connections!r}")
        self.registry = registry if registry is not None else Registry()
        self.config = config if config is not None else load_config(config_path, env=env)
        self._max_connections = max_connections if max_connections is not None else self.config.http.max_connections
        # Calls in flight, so that aclose() can end them instead of leaving them on closed clients;
        # _aborted holds those it ended, until each has raised its error.
        self._inflight: set[anyio.CancelScope] = set()
        self._aborted: set[anyio.CancelScope] = set()
        # Every stream's limits: aclose() marks them aborted, for a stream whose wire holds them has
        # no engine scope to cancel (its reads fail as the clients close).
        self._streams: set[StreamLimits] = set()
        self._slot_map: dict[str, anyio.Semaphore] = {}
        self._transport = transport
        self._env = env
        self._keys = secret_map(keys) if keys is not None else None
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
        """Close every provider's HTTP client and the state store's connections (idempotent).

        Calls still in flight end at once with ``RuntimeError`` ("the client
        was closed"), which no retry or fallback catches. The client may be
        used again afterwards: later calls open new connections.
        """
        for scope in list(self._inflight):
            self._aborted.add(scope)
            scope.cancel()
        for limits in self._streams:
            limits.aborted = True  # their reads fail as the clients close below
        self._slot_map = {}  # the next call may run in another event loop (the interactive CLI's turns)
        clients, self._clients = self._clients, {}
        with anyio.CancelScope(shield=True):
            for client in clients.values():
                await client.aclose()
            close_state = getattr(self._engine.state, "aclose", None) if self._engine is not None else None
            if close_state is not None:
                await close_state()

    # -- providers and config ------------------------------------------------

    def providers(self) -> list[str]:
        """The names of the usable providers: the loaded plugins, then the config's named instances of them."""
        names = self.registry.names()
        loaded = set(names)
        names += [name for name, plugin in self.config.instances().items() if plugin in loaded and name not in loaded]
        return names

    def plugin(self, name: str) -> Provider:
        """The plugin that serves provider ``name`` (itself, or the plugin a named instance names).

        Raises :class:`~clawdesk.ProviderNotFound` naming every usable provider.
        """
        plugin = self.config.plugin_of(name)
        try:
            return self.registry.provider(plugin)
        except ProviderNotFound:
            if plugin != name:
                raise ProviderNotFound(
                    name, self.providers(), reason=f"its plugin {plugin!r} is not installed or failed to load"
                ) from None
            raise ProviderNotFound(name, self.providers()) from None

    def provider_config(self, name: str) -> ProviderConfig:
        """The provider's structured config (cached); raises :class:`~clawdesk.ConfigError`."""
        try:
            return self._configs[name]
        except KeyError:
            plugin = self.plugin(name)
            config = self.config.provider_config(name, plugin.config_type, env=self._env)
            if config.api_key is None and self._keys is not None and name in self._keys:
                # After the config file and the environment: a saved key is the last resort.
                import attrs

                try:
                    key = clean_key(self._keys[name])
                except ValueError as exc:
                    raise ConfigError(f"the saved key of provider {name!r}: {exc}") from None
                config = attrs.evolve(config, api_key=key)
            self._configs[name] = config
            return config

    def http_client(self, name: str) -> httpx.AsyncClient:
        """The pooled HTTP client of provider ``name``, made on first use."""
        client = self._clients.get(name)
        if client is None:
            import httpx

            from ._wire._http import client_timeout
            from ._wire._proxy import check_proxies

            config = self.provider_config(name)
            if self._transport is None:
                # httpx reads the proxy variables only without a transport of ours; a bad one is a
                # ConfigError naming it, not an ImportError or ValueError from deep inside httpx.
                check_proxies()
            client = httpx.AsyncClient(
                timeout=client_timeout(config),
                transport=self._transport,
                verify=config.verify_tls,
                follow_redirects=False,
                trust_env=True,
                # Keep as many idle connections as may be open: with httpx's default of 20, a 32-wide
                # burst closed and reopened most connections (seen in the soak run).
                limits=httpx.Limits(
                    max_connections=self._max_connections, max_keepalive_connections=self._max_connections
                ),
                headers={"user-agent": "clawdesk"},
            )
            self._clients[name] = client
        return client

    def resolve(self, model_id: str) -> Target:
        """``provider/model`` (or a bare ``provider``: its ``default_model``) as a :class:`Target`."""
        name, model = parse_model_id(model_id)
        self.plugin(name)  # raises ProviderNotFound early
        if model is None:
            model = self.provider_config(name).default_model
            if not model:
                raise InvalidModelId(f"provider {name!r} has no default_model; use '{name}/<model>'")
        return Target(name, model)

    def capabilities(self, target: Target) -> frozenset[Capability] | None:
        """What ``target`` can do, as its provider knows without I/O (``None``: unknown)."""
        provider = self.plugin(target.provider)
        config = self.provider_config(target.provider)
        result = _guard_sync(provider, target.provider, "provider_capabilities", config=config, model=target.model)
        if result is None:
            return None
        if not isinstance(result, (set, frozenset)) or not all(isinstance(c, Capability) for c in result):
            raise PluginError(
                provider.name, f"provider_capabilities returned {type(result).__name__}, expected a set of Capability"
            )
        return frozenset(result)

    def default_candidates(self) -> list[str]:
        """The chain used when no model is named and the engine has no ``chain``.

        ``default_model`` if set; else the providers that have a
        ``[providers.*]`` table; else every loaded provider that is usable
        as it is (see :meth:`ProviderConfig.usable <clawdesk.provider.ProviderConfig.usable>`):
        first those that need no key (a local server), then those whose
        credentials are set. Raises :class:`~clawdesk.ConfigError` when that
        leaves nothing.
        """
        config = self.config
        if config.default_model:
            return [config.default_model]
        names = self.providers()
        configured = [name for name in config.providers if name in names]
        if configured:
            return configured
        import os

        environ = os.environ if self._env is None else self._env
        keyless: list[str] = []
        keyed: list[str] = []
        for name in names:
            try:
                provider_config = self.provider_config(name)
            except ConfigError:
                keyed.append(name)  # listed, so its skip reason shows the config error
                continue
            if not provider_config.usable(environ):
                continue
            (keyed if provider_config.api_key else keyless).append(name)
        candidates = keyless + keyed
        if not candidates:
            raise ConfigError(
                "no provider to use: install a provider plugin (see `clawdesk plugins`), set its API key "
                "or configure it, and pass -m PROVIDER/MODEL"
            )
        return candidates

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
        provider = self.plugin(name)
        try:
            config = self.provider_config(name)
            with anyio.fail_after(config.timeout_secs + 1):
                result = await _guard_async(
                    provider, name, "provider_models", config=config, http=self.http_client(name), refresh=refresh
                )
        except TimeoutError:
            return ProviderModels(name, error=TimedOut("listing models timed out", provider=name))
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

            self._engine = FallbackEngine(self, env=self._env)
        return self._engine

    @engine.setter
    def engine(self, engine: FallbackEngine) -> None:
        self._engine = engine

    async def chat(
        self,
        model: Models,
        messages: Messages,
        options: ChatOptions | None = None,
        *,
        fallbacks: Sequence[str] = (),
    ) -> ChatResponse:
        """Send ``messages`` and return the whole answer.

        ``model`` is ``provider/model`` (or ``provider``: its default model),
        pinned with retries; a list of them is a chain for this call
        (``["mistral/mistral-small-latest", "ollama/llama3.2"]``); ``None``
        uses the configured chain (see :meth:`default_candidates`).
        ``fallbacks`` adds entries after ``model``. A plain string is one
        user message; messages may be :class:`~clawdesk.Message` objects or
        OpenAI-style dicts (a bad dict raises ``ValueError`` naming its key
        path, before anything is sent). Raises :class:`~clawdesk.AllProvidersFailed` when every
        candidate failed, :class:`~clawdesk.InvalidRequest` as is when the
        request itself is wrong. :meth:`chat_with_attempts` also returns how
        the answer was reached.
        """
        return (await self.engine.chat(model, as_messages(messages), options, fallbacks=fallbacks)).response

    async def chat_with_attempts(
        self,
        model: Models,
        messages: Messages,
        options: ChatOptions | None = None,
        *,
        fallbacks: Sequence[str] = (),
    ) -> ChatResult:
        """Like :meth:`chat`, returning a :class:`~clawdesk.ChatResult`: the response, the target and every attempt."""
        return await self.engine.chat(model, as_messages(messages), options, fallbacks=fallbacks)

    def _prepare(self, target: Target) -> tuple[Provider, ProviderConfig]:
        provider = self.plugin(target.provider)
        config = self.provider_config(target.provider)
        if config.requires_api_key and not config.api_key:
            hint = _missing_key_hint(target.provider, config, keys=self._keys is not None)
            raise AuthFailed(hint, provider=target.provider)
        return provider, config

    def _request(self, provider: Provider, target: Target, request: ChatRequest) -> ChatRequest:
        if request.provider_options is not None or (
            provider.options_type is None and not request.options.provider_options
        ):
            return request
        typed = provider_options_for(provider, target.provider, request.options)
        if typed is None:
            return request
        return ChatRequest(request.model, request.messages, request.options, provider_options=typed)

    def _limits(self, options: ChatOptions) -> tuple[float | None, str, float | None]:
        """The call's overall limit (seconds or ``None``) and its name, and the idle limit."""
        http = self.config.http
        if options.timeout is not None:
            return options.timeout, "the call's timeout", http.idle_timeout_secs
        return http.call_timeout_secs, "http.call_timeout_secs", http.idle_timeout_secs

    def _slots(self, name: str) -> anyio.Semaphore:
        # One per provider: a call holds a slot while it runs (a stream until it ends), so that calls
        # beyond max_connections wait here, where the wait is ours, before any of the provider's
        # limits start counting; httpx's own pool then always has a connection for them.
        slots = self._slot_map.get(name)
        if slots is None:
            slots = self._slot_map[name] = anyio.Semaphore(self._max_connections)
        return slots

    def _no_slot(self, name: str, seconds: float | None, what: str) -> TimedOut:
        return TimedOut(
            f"no free connection within {seconds:g}s ({what}; http.max_connections = {self._max_connections})",
            provider=name,
            limit="pool",
        )

    async def chat_target(self, target: Target, request: ChatRequest) -> ChatResponse:
        """One chat call to one provider, guarded (no retries, no fallback)."""
        provider, config = self._prepare(target)
        request = self._request(provider, target, request)
        http = self.http_client(target.provider)
        name = target.provider
        seconds, what, idle = self._limits(request.options)
        ends = anyio.current_time() + seconds if seconds is not None else math.inf
        slots = self._slots(name)
        acquired = False
        idle_ends = math.inf
        with anyio.CancelScope(deadline=ends) as scope:
            self._inflight.add(scope)
            try:
                await slots.acquire()
                acquired = True
                try:
                    if idle is not None:
                        # For a whole answer the idle limit bounds it all: it is its one event (never
                        # shorter than the provider's own wait for an answer to start).
                        idle = _first_wait(idle, config)
                        idle_ends = anyio.current_time() + idle
                        scope.deadline = min(ends, idle_ends)
                    result = await _guard_async(
                        provider, name, "provider_chat", config=config, http=http, request=request
                    )
                finally:
                    slots.release()
            finally:
                self._inflight.discard(scope)
        if scope in self._aborted:
            self._aborted.discard(scope)
            raise _closed_error()
        if scope.cancelled_caught:
            if not acquired:
                raise self._no_slot(name, seconds, what)
            if idle_ends < ends:
                raise TimedOut(f"no answer within {idle:g}s (http.idle_timeout_secs)", provider=name, limit="idle")
            raise TimedOut(f"no answer within {seconds:g}s ({what})", provider=name, limit="call")
        if not isinstance(result, ChatResponse):
            raise PluginError(provider.name, f"provider_chat returned {type(result).__name__}, expected ChatResponse")
        if result.provider != name:
            # A named instance answers under its own name, whatever the plugin wrote.
            import attrs

            result = attrs.evolve(result, provider=name)
        return result

    def stream(
        self,
        model: Models,
        messages: Messages,
        options: ChatOptions | None = None,
        *,
        fallbacks: Sequence[str] = (),
    ) -> ChatStream:
        """Stream the answer as typed events, falling back before the first event.

        ``model`` and ``fallbacks`` as for :meth:`chat`. Use as ``async with
        cd.stream(...) as events: async for event in events`` (or iterate
        directly and call ``aclose()``); leaving early closes the HTTP
        response. Errors before the first event move on to the next
        candidate (or raise :class:`~clawdesk.AllProvidersFailed`); after it,
        a failure raises :class:`~clawdesk.StreamInterrupted` carrying what
        was delivered. The stream's ``attempts`` and ``target`` tell what was
        tried and chosen; once it is over, ``response`` is the whole answer
        (or ``await stream.collect()`` reads the rest and returns it).
        """
        return self.engine.stream(model, as_messages(messages), options, fallbacks=fallbacks)

    def stream_target(self, target: Target, request: ChatRequest) -> ChatStream:
        """One stream from one provider, guarded (no retries, no fallback)."""
        # The guard keeps each event it delivers (for StreamInterrupted) in the stream's own list, so
        # the ChatStream needs no generator of its own to keep them: one layer less per event.
        # Not ChatStream(kept=...): the events kept for the response are all of them, while a failed
        # stream's `delivered` stops at http.max_delivered_events.
        return ChatStream(self._events(target, request), record=RunRecord(target))

    # -- tool loops and structured output --------------------------------------------

    async def chat_with_tools(
        self,
        model: Models,
        messages: Messages,
        tools: Iterable[ToolLike],
        options: ChatOptions | None = None,
        *,
        max_steps: int = 8,
        fallbacks: Sequence[str] = (),
    ) -> ToolRun:
        """Chat, running the model's tool calls with ``tools`` until it answers without asking for one.

        ``tools`` are plain functions (sync or async; the declaration comes
        from the signature and docstring) or :class:`~clawdesk.FunctionTool`
        values; ``options`` must not declare tools of its own. Each step goes
        through the fallback engine like :meth:`chat`. Returns a
        :class:`~clawdesk.ToolRun` (the last answer, every step, the whole
        conversation). Raises :class:`~clawdesk.ToolStepsExceeded` when
        ``max_steps`` answers all asked for tools; an exception raised by a
        tool function propagates as is (a call of an unknown tool or with
        arguments that do not fit goes back to the model as an error instead).
        """
        from ._tools import run_tools

        return await run_tools(
            self, model, as_messages(messages), tools, options, max_steps=max_steps, fallbacks=fallbacks
        )

    def stream_with_tools(
        self,
        model: Models,
        messages: Messages,
        tools: Iterable[ToolLike],
        options: ChatOptions | None = None,
        *,
        max_steps: int = 8,
        fallbacks: Sequence[str] = (),
    ) -> ToolStream:
        """:meth:`chat_with_tools`, streamed: every step's events and a :class:`~clawdesk.ToolResultEvent` per call.

        Use as ``async with cd.stream_with_tools(...) as events: async for
        event in events``; afterwards ``events.run`` is the
        :class:`~clawdesk.ToolRun`.
        """
        from ._tools import ToolStream

        return ToolStream(self, model, as_messages(messages), tools, options, max_steps=max_steps, fallbacks=fallbacks)

    @overload
    async def chat_structured(
        self,
        model: Models,
        messages: Messages,
        output: type[T],
        options: ChatOptions | None = None,
        *,
        strict: bool | None = None,
        fallbacks: Sequence[str] = (),
    ) -> T: ...

    @overload
    async def chat_structured(
        self,
        model: Models,
        messages: Messages,
        output: Mapping[str, Any],
        options: ChatOptions | None = None,
        *,
        strict: bool | None = None,
        fallbacks: Sequence[str] = (),
    ) -> Any: ...

    async def chat_structured(
        self,
        model: Models,
        messages: Messages,
        output: type[T] | Mapping[str, Any],
        options: ChatOptions | None = None,
        *,
        strict: bool | None = None,
        fallbacks: Sequence[str] = (),
    ) -> Any:
        """Ask for JSON that follows ``output`` and return it parsed.

        ``output`` is a JSON schema (a mapping: the parsed JSON value is
        returned) or an attrs class (an instance is returned). The request
        carries it as its ``response_format`` (``options`` must not set one);
        ``strict`` as :func:`~clawdesk._structured.output_format` says.
        Raises :class:`~clawdesk.InvalidOutput` (with the raw text, the
        problems and the response) when the answer is not JSON, breaks the
        schema or does not fit the class; otherwise the errors of :meth:`chat`.
        """
        import attrs

        from ._structured import output_format, parse_output

        base = options if options is not None else ChatOptions()
        if base.response_format is not None:
            raise ValueError("chat_structured sets the response_format itself; leave it out of options")
        request_options = attrs.evolve(base, response_format=output_format(output, strict=strict))
        response = await self.chat(model, messages, request_options, fallbacks=fallbacks)
        return parse_output(response.message.text, output, response=response)

    async def _events(self, target: Target, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        provider, config = self._prepare(target)
        request = self._request(provider, target, request)
        http = self.http_client(target.provider)
        name = target.provider
        seconds, what, idle = self._limits(request.options)
        ends = anyio.current_time() + seconds if seconds is not None else math.inf
        slots = self._slots(name)
        with anyio.CancelScope(deadline=ends) as waiting:
            self._inflight.add(waiting)
            try:
                await slots.acquire()
            finally:
                self._inflight.discard(waiting)
        if waiting in self._aborted:
            self._aborted.discard(waiting)
            raise _closed_error()
        if waiting.cancelled_caught:
            raise self._no_slot(name, seconds, what)
        events = self._slot_events(provider, name, config, http, request, ends, seconds, what, idle)
        try:
            async for event in events:
                yield event
        finally:
            try:
                # Closed here, not left to the garbage collector: it closes the plugin's response.
                with anyio.CancelScope(shield=True):
                    await events.aclose()
            finally:
                slots.release()

    async def _slot_events(
        self,
        provider: Provider,
        name: str,
        config: ProviderConfig,
        http: httpx.AsyncClient,
        request: ChatRequest,
        ends: float,
        seconds: float | None,
        what: str,
        idle: float | None,
    ) -> AsyncGenerator[StreamEvent, None]:
        keep = self.config.http.max_delivered_events
        delivered: list[StreamEvent] = []
        dropped = 0
        try:
            agen = provider.call("provider_stream", config=config, http=http, request=request)
        except Exception as exc:
            raise _plugin_failure(provider, name, "provider_stream", exc) from exc
        if not hasattr(agen, "__anext__"):
            raise PluginError(
                provider.name, f"provider_stream returned {type(agen).__name__}, expected an async iterator"
            )
        finished = False
        # The first event may take as long as the provider's own wait for an answer to start.
        wait = _first_wait(idle, config) if idle is not None else None
        limits = StreamLimits(provider=name, idle=idle, first=wait, ends=ends, seconds=seconds, what=what)
        self._streams.add(limits)
        try:
            while True:
                scope = None
                offered = OFFER.set(limits)
                try:
                    if limits.claimed:
                        # The plugin's wire enforces both limits at each read (see clawdesk._limits): no
                        # scope here, which would cost as much as the rest of the event's path.
                        event = await agen.__anext__()
                    else:
                        # One scope per event: the call's end and the idle limit (which only an event
                        # resets: keep-alive comments and dripped bytes never reach here), and aclose().
                        # The offer lets a wire opened in this step take the limits over.
                        limits.idle_at = anyio.current_time() + wait if wait is not None else math.inf
                        limits.window = limits.events
                        deadline = min(ends, limits.idle_at)
                        with anyio.CancelScope(deadline=deadline) as scope:
                            self._inflight.add(scope)
                            limits.scoped = True
                            try:
                                event = await agen.__anext__()
                            finally:
                                limits.scoped = False
                                self._inflight.discard(scope)
                except StopAsyncIteration:
                    break
                except Exception as exc:
                    if limits.aborted:
                        raise _closed_error() from exc
                    error = _interrupted(
                        name, delivered, _plugin_failure(provider, name, "provider_stream", exc), dropped
                    )
                    if error is exc:
                        raise
                    raise error from exc
                finally:
                    OFFER.reset(offered)
                if scope is None:
                    if limits.aborted:
                        raise _closed_error()
                    if ends != math.inf and anyio.current_time() >= ends:
                        raise _interrupted(name, delivered, limits.call_error(), dropped)
                else:
                    if scope in self._aborted:
                        self._aborted.discard(scope)
                        raise _closed_error()
                    if scope.cancelled_caught:
                        cause = limits.call_error() if deadline == ends else limits.idle_error(wait or 0.0)
                        raise _interrupted(name, delivered, cause, dropped)
                if finished or (type(event) not in _EVENT_TYPES_SET and not isinstance(event, _EVENT_TYPES)):
                    what = "an event after Finish" if finished else f"{type(event).__name__}, not a stream event"
                    raise _interrupted(
                        name, delivered, PluginError(provider.name, f"provider_stream yielded {what}"), dropped
                    )
                if len(delivered) < keep:
                    delivered.append(event)
                else:
                    dropped += 1
                wait = idle
                limits.events += 1
                finished = isinstance(event, Finish)
                yield event
            if not finished:
                # The plugin's generator ended without saying how: a bug in it (a backend's stream
                # that ends early is the plugin's to report, as Truncated).
                bug = PluginError(provider.name, "provider_stream ended without a Finish event")
                raise _interrupted(name, delivered, bug, dropped)
        finally:
            self._streams.discard(limits)
            aclose = getattr(agen, "aclose", None)
            if aclose is not None:
                with anyio.CancelScope(shield=True):
                    await aclose()


def _first_wait(idle: float, config: ProviderConfig) -> float:
    """The idle limit for the first event: at least the provider's ``first_byte_timeout_secs``, if it has one."""
    first = getattr(config, "first_byte_timeout_secs", None)
    return max(idle, first) if isinstance(first, (int, float)) else idle


def _closed_error() -> RuntimeError:
    return RuntimeError("clawdesk: the client was closed (aclose) while this call was in flight")


def _missing_key_hint(name: str, config: ProviderConfig, *, keys: bool = False) -> str:
    """The one "no API key" message: which variable and which config key would give one (and the keys file)."""
    first, *others = key_variables(config) or ("",)
    env = f"{first} (or {', '.join(others)})" if others else first
    places = ([env] if env else []) + [f"providers.{name}.api_key"]
    if keys:
        places.append(f"run `clawdesk keys set {name}`")
        return f"no API key: set {', '.join(places[:-1])}, or {places[-1]}"
    return f"no API key: set {' or '.join(places)}"


def _interrupted(name: str, delivered: Sequence[StreamEvent], cause: ClawdeskError, dropped: int = 0) -> ClawdeskError:
    if not delivered:
        return cause
    if isinstance(cause, StreamInterrupted):
        return cause
    return StreamInterrupted(provider=name, delivered=delivered, cause=cause, dropped=dropped)


def _plugin_failure(provider: Provider, name: str, hook: str, exc: Exception) -> ClawdeskError:
    """What an exception that escaped a hook means, reported under the provider name ``name``.

    An httpx exception is a transport failure the plugin forgot to map: map it
    here rather than report the provider as broken. Anything else that is not
    ours is a bug in the plugin.
    """
    if isinstance(exc, ProviderError):
        exc._renamed(name)
        return exc
    if isinstance(exc, ClawdeskError):
        return exc
    module = type(exc).__module__ or ""
    if module.startswith(("httpx", "httpcore")):
        from ._wire._http import map_transport_error

        return map_transport_error(name, exc)
    return PluginError(provider.name, f"{hook} raised {type(exc).__name__}: {exc}")


def _guard_sync(provider: Provider, name: str, hook: str, **kwargs: Any) -> Any:
    try:
        return provider.call(hook, **kwargs)
    except Exception as exc:
        error = _plugin_failure(provider, name, hook, exc)
        if error is exc:
            raise
        raise error from exc


async def _guard_async(provider: Provider, name: str, hook: str, **kwargs: Any) -> Any:
    try:
        return await provider.call(hook, **kwargs)
    except Exception as exc:
        error = _plugin_failure(provider, name, hook, exc)
        if error is exc:
            raise
        raise error from exc
