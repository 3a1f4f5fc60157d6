"""The conformance kit: base test classes that check a provider against the contract, offline.

A provider author subclasses :class:`ProviderConformance` in their own test
suite and fills in a small adapter: which plugin to test and how their
backend's wire format answers a few scripted situations. The kit then runs
every check against a :class:`~clawdesk.testing.ScriptedServer` on
127.0.0.1, on asyncio and on trio::

    from clawdesk.testing import ProviderConformance

    import clawdesk_acme._plugin


    class TestAcmeConformance(AcmeWire, ProviderConformance):
        plugin = clawdesk_acme._plugin
        entry_point = "acme"

where ``AcmeWire`` holds the backend's answers (:meth:`ProviderConformance.chat_reply`
and the rest); a backend that speaks OpenAI's chat completions takes the ready
``OpenAICompatibleWire`` of ``clawdesk_openai_compat.testing`` instead.

The hooks are called directly, not through :class:`~clawdesk.Clawdesk`, so
nothing the client would paper over (an escaped httpx exception, a stream
without a finish event) goes unnoticed.

Disabling a check needs a reason, as a mapping from the check's name to the
reason (``disabled_checks = {"test_stream_timeout": "why"}``) or by
overriding the check with a ``pytest.mark.xfail``/``skip`` mark that carries
one. A disabled check is run as a strict xfail: once it passes, the kit says
so and the entry can go. Overriding a check without a reason is an error at
import time.

This module imports pytest; it is loaded only when a kit name is used, so
``import clawdesk.testing`` works without pytest for the server alone.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import subprocess
import sys
import traceback
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from importlib import metadata
from typing import Any, ClassVar, NoReturn

import anyio
import attrs
import httpx
import pytest

from .._client import Clawdesk
from .._config import Config
from .._errors import (
    ApiError,
    AuthFailed,
    CapabilityMissing,
    ClawdeskError,
    ConfigError,
    ConnectionFailed,
    InvalidRequest,
    ModelNotFound,
    PermissionDenied,
    PluginError,
    ProviderError,
    QuotaExceeded,
    RateLimited,
    TimedOut,
    Truncated,
)
from .._hookspecs import REQUIRED_HOOKS
from .._options import provider_options_for
from .._provider_config import ProviderConfig
from .._registry import ENTRY_POINT_GROUP, Provider, Registry
from .._stream import Target
from .._types import (
    Capability,
    ChatOptions,
    ChatRequest,
    ChatResponse,
    Finish,
    FinishReason,
    Message,
    ModelInfo,
    ReasoningDelta,
    Role,
    TextDelta,
    Tool,
    ToolCall,
    ToolCallEvent,
    Usage,
    UsageEvent,
)
from ._server import Reply, ScriptedServer, unused_port

__all__ = ["CHECKS", "ERROR_STATUSES", "TOOL_CALL", "ProviderConformance"]

#: The user message every check sends; the kit looks for it in the request body.
PROMPT = "clawdesk conformance check: say hello"
#: The answer text the scripted replies carry.
ANSWER = "Hello from the conformance kit"
STREAM_TEXTS = ("Hello", " from", " the", " kit")
#: The tool call the tool-call checks script; arguments nest to catch shallow parsing.
TOOL_CALL = ToolCall("call_conformance_1", "lookup_weather", {"city": "Zürich", "days": 2, "units": {"temp": "C"}})
#: What the scripted error bodies say; the kit expects it in the raised error.
ERROR_MESSAGE = "scripted failure for the conformance kit"
RETRY_AFTER = 7

#: Each status the kit scripts, and the error it must become.
ERROR_STATUSES: Mapping[int, type[ProviderError]] = {
    400: InvalidRequest,
    401: AuthFailed,
    402: QuotaExceeded,
    403: PermissionDenied,
    404: ModelNotFound,
    429: RateLimited,
    500: ApiError,
    503: ApiError,
}
_RETRYABLE = {429, 500, 503}
_EVENT_TYPES = (TextDelta, ReasoningDelta, ToolCallEvent, UsageEvent, Finish)
# Capabilities that only make sense for a model one can chat with.
_NEEDS_CHAT = frozenset(Capability) - {Capability.CHAT, Capability.EMBEDDING}
_SYNC_HOOKS = ("provider_name", "provider_config_type", "provider_capabilities")
_ASYNC_HOOKS = ("provider_models", "provider_chat")

try:  # trio is optional for authors; without it the kit says so instead of failing.
    import trio  # noqa: F401

    _HAVE_TRIO = True
except ImportError:  # pragma: no cover - the dev environment has trio
    _HAVE_TRIO = False


def _fail(message: str) -> NoReturn:
    pytest.fail(message, pytrace=False)


@attrs.frozen
class _Outcome:
    """What one hook call did: its result, the exception it raised, or that it hung."""

    result: Any = None
    error: BaseException | None = None
    hung: bool = False
    events: tuple[Any, ...] = ()
    closeable: bool = True


@attrs.define
class _Harness:
    provider: Provider
    config: ProviderConfig
    http: httpx.AsyncClient
    server: ScriptedServer


def _carries(body: bytes, value: object) -> bool:
    """Whether ``value`` appears anywhere in a request body (a JSON value, else its text)."""
    try:
        data = json.loads(body)
    except ValueError:
        return str(value).encode() in body
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif item == value and type(item) is not bool:
            return True
    return False


def _mark_reason(function: Callable[..., Any]) -> str | None:
    """The reason of an xfail/skip mark on ``function``, ``""`` for a mark without one, ``None`` for no mark."""
    found: str | None = None
    for mark in getattr(function, "pytestmark", ()):
        if mark.name not in ("xfail", "skip", "skipif"):
            continue
        reason = mark.kwargs.get("reason")
        if reason is None and mark.name == "skip" and mark.args and isinstance(mark.args[0], str):
            reason = mark.args[0]
        found = reason.strip() if isinstance(reason, str) else ""
        if found:
            return found
    return found


class ProviderConformance:
    """Checks that a provider honours the contract. Subclass it as ``Test...`` and fill in the adapter.

    The adapter (class attributes and methods an author sets):

    - ``plugin``: the plugin object (usually the ``_plugin`` module), or
      ``None`` to load it from ``entry_point``;
    - ``entry_point``: the name in the ``clawdesk.providers`` group, checked
      against ``provider_name`` when the package is installed;
    - ``model``: the provider-local model id the checks ask for;
    - :meth:`config_table`: the ``[providers.<name>]`` table for a base URL;
    - :meth:`chat_reply`, :meth:`stream_pieces`, :meth:`stream_cut_after`,
      :meth:`error_reply`, :meth:`script_models`: the backend's wire format;
    - ``disabled_checks``: check name -> the reason it is disabled;
    - ``api_key``, ``timeout_secs``, ``hang_limit_secs``: the fake key and
      the waits, rarely changed.
    """

    plugin: object = None
    entry_point: ClassVar[str | None] = None
    model: ClassVar[str] = "conformance-model"
    #: A distinctive fake key; the kit looks for it wherever it must not be.
    api_key: ClassVar[str] = "ck-conformance-5e1f0a9d7c3b"
    stream_content_type: ClassVar[str] = "text/event-stream"
    #: ``timeout_secs`` for the timeout checks (the scripted server never answers).
    timeout_secs: ClassVar[float] = 0.25
    #: The longest any single check waits for a hook before calling it hung.
    hang_limit_secs: ClassVar[float] = 10.0
    disabled_checks: ClassVar[Mapping[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        mro = cls.__mro__
        after = mro[mro.index(ProviderConformance) + 1 :]
        for name in _ADAPTER:
            owner = next(k for k in mro if name in k.__dict__)
            shadowed = [k for k in after if name in k.__dict__]
            if owner is ProviderConformance and shadowed:
                raise TypeError(
                    f"{cls.__name__}: {shadowed[0].__name__} comes after ProviderConformance in the bases, so its "
                    f"{name} is never used; list {shadowed[0].__name__} first"
                )
        for name in CHECKS:
            override = cls.__dict__.get(name)
            if override is not None and not _mark_reason(override):
                raise TypeError(
                    f"{cls.__name__} overrides the conformance check {name} without a reason: "
                    f"put it in disabled_checks = {{{name!r}: 'why'}} or mark the override "
                    f"with @pytest.mark.xfail(reason='why')"
                )

    # -- the adapter ---------------------------------------------------------------

    def config_table(self, base_url: str, timeout_secs: float) -> dict[str, Any]:
        """The ``[providers.<name>]`` table that points the provider at ``base_url``.

        ``timeout_secs`` is how long the check is willing to wait (short in the
        timeout checks): apply it to every timeout your config has. Override to
        add keys your config needs.
        """
        return {"base_url": base_url, "api_key": self.api_key, "timeout_secs": timeout_secs}

    def chat_reply(self, text: str) -> Reply:
        """Your backend's successful, non-streamed answer whose assistant text is ``text`` (finish: stop)."""
        raise NotImplementedError(f"{type(self).__name__} must define chat_reply(text) -> Reply")

    def stream_pieces(self, texts: Sequence[str]) -> Sequence[bytes]:
        """Your backend's streamed answer as byte pieces: one text delta per entry of ``texts``, then the end.

        The stream finishes normally (reason: stop). Each piece becomes one
        HTTP chunk, so a piece may hold several events or part of one.
        """
        raise NotImplementedError(f"{type(self).__name__} must define stream_pieces(texts) -> list of bytes")

    def stream_cut_after(self, pieces: Sequence[bytes]) -> int:
        """After how many of ``pieces`` the server cuts a stream short (before anything marks its end)."""
        return 1

    def error_reply(self, status: int, message: str) -> Reply:
        """Your backend's error answer with ``status`` and ``message`` (the kit adds ``Retry-After`` to 429)."""
        return Reply.json({"error": {"message": message, "code": status}}, status=status)

    def tool_call_reply(self, call: ToolCall) -> Reply | None:
        """Your backend's non-streamed answer that asks for ``call`` (one tool call), or ``None`` to skip the check.

        Backends that send no call ids may ignore ``call.id``: the kit then
        only wants a stable, non-empty id from the provider.
        """
        return None

    def tool_call_pieces(self, call: ToolCall) -> Sequence[bytes] | None:
        """Your backend's streamed answer that asks for ``call``, as byte pieces, or ``None`` to skip the check.

        Split the arguments over several pieces where the backend does: the
        provider must emit the call once, whole.
        """
        return None

    def script_models(self, server: ScriptedServer) -> bool:
        """Script how your backend lists models (``server.route(...)``); return ``True`` when you did.

        Then ``provider_models(refresh=True)`` is checked as well. The default
        scripts nothing: the provider lists models without its backend.
        """
        return False

    # -- plumbing ------------------------------------------------------------------

    @pytest.fixture(params=["asyncio", "trio"])
    def anyio_backend(self, request: pytest.FixtureRequest) -> str:
        """Every async check runs on asyncio and on trio."""
        backend = str(request.param)
        if backend == "trio" and not _HAVE_TRIO:
            pytest.skip("trio is not installed: pip install trio to run the kit on trio too")
        return backend

    @pytest.fixture(autouse=True)
    def _clawdesk_disabled_check(self, request: pytest.FixtureRequest) -> None:
        name = getattr(request.node, "originalname", request.node.name)
        if name not in self.disabled_checks:
            return
        reason = self.disabled_checks[name]
        if not isinstance(reason, str) or not reason.strip():
            _fail(f"{name} is disabled without a reason: disabled_checks[{name!r}] must say why")
        request.applymarker(pytest.mark.xfail(reason=f"disabled: {reason}", strict=True))

    def _ck_plugin(self) -> object:
        if self.plugin is not None:
            return self.plugin
        if self.entry_point is None:
            raise TypeError(f"{type(self).__name__} must set plugin = <your plugin module> or entry_point = 'name'")
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP, name=self.entry_point):
            loaded: object = ep.load()
            return loaded
        raise LookupError(
            f"no entry point {self.entry_point!r} in group {ENTRY_POINT_GROUP!r}: "
            "is the package installed (pip install -e .)?"
        )

    def _ck_provider(self) -> Provider:
        registry = Registry(discover=False)
        try:
            return registry.register(self._ck_plugin())
        except PluginError as exc:
            _fail(f"the plugin does not register: {exc}")

    def _ck_config(
        self, provider: Provider, base_url: str, *, timeout_secs: float, without_key: bool = False
    ) -> ProviderConfig:
        table = dict(self.config_table(base_url, timeout_secs))
        if without_key:
            table.pop("api_key", None)
        config = Config(providers={provider.name: table})
        try:
            result: ProviderConfig = config.provider_config(provider.name, provider.config_type, env={})
        except ConfigError as exc:
            _fail(f"config_table() gives a table {provider.config_type.__name__} refuses: {exc}")
        return result

    @asynccontextmanager
    async def _ck_harness(
        self,
        *,
        base_url: str | None = None,
        timeout_secs: float | None = None,
        limits: httpx.Limits | None = None,
        pool_timeout: float | None = None,
        without_key: bool = False,
    ) -> AsyncIterator[_Harness]:
        provider = self._ck_provider()
        server = ScriptedServer().start()
        try:
            secs = self.hang_limit_secs / 2 if timeout_secs is None else timeout_secs
            config = self._ck_config(provider, base_url or server.url, timeout_secs=secs, without_key=without_key)
            timeout = httpx.Timeout(config.timeout_secs, pool=pool_timeout or config.timeout_secs)
            async with httpx.AsyncClient(timeout=timeout, limits=limits or httpx.Limits()) as http:
                yield _Harness(provider, config, http, server)
        finally:
            server.stop()

    def _ck_request(self, options: ChatOptions | None = None) -> ChatRequest:
        options = options or ChatOptions()
        provider = self._ck_provider()
        # What core does before every call: this provider's share of provider_options, typed.
        typed = provider_options_for(provider, provider.name, options)
        return ChatRequest(self.model, (Message.user(PROMPT),), options, provider_options=typed)

    async def _ck_chat(
        self, h: _Harness, *, limit: float | None = None, request: ChatRequest | None = None
    ) -> _Outcome:
        outcome = _Outcome(hung=True)
        request = request or self._ck_request()
        with anyio.move_on_after(limit or self.hang_limit_secs):
            try:
                result = await h.provider.call("provider_chat", config=h.config, http=h.http, request=request)
            except Exception as exc:  # noqa: BLE001 - every exception is judged by the check
                outcome = _Outcome(error=exc)
            else:
                outcome = _Outcome(result=result)
        return outcome

    async def _ck_stream(
        self,
        h: _Harness,
        *,
        limit: float | None = None,
        close_after: int | None = None,
        request: ChatRequest | None = None,
    ) -> _Outcome:
        request = request or self._ck_request()
        events: list[Any] = []
        error: BaseException | None = None
        hung = True
        closeable = True
        with anyio.move_on_after(limit or self.hang_limit_secs):
            try:
                agen = h.provider.call("provider_stream", config=h.config, http=h.http, request=request)
                if not hasattr(agen, "__anext__"):
                    raise TypeError(f"provider_stream returned {type(agen).__name__}, expected an async iterator")
                closeable = hasattr(agen, "aclose")
                try:
                    while close_after is None or len(events) < close_after:
                        try:
                            events.append(await agen.__anext__())
                        except StopAsyncIteration:
                            break
                finally:
                    aclose = getattr(agen, "aclose", None)
                    if aclose is not None:
                        with anyio.CancelScope(shield=True):
                            await aclose()
            except Exception as exc:  # noqa: BLE001 - every exception is judged by the check
                error = exc
            hung = False
        return _Outcome(error=error, hung=hung, events=tuple(events), closeable=closeable)

    def _ck_expect_error(
        self, outcome: _Outcome, expected: type[ProviderError], what: str, provider: Provider
    ) -> ProviderError:
        if outcome.hung:
            _fail(f"{what}: no answer within {self.hang_limit_secs:g}s, expected {expected.__name__}")
        error = outcome.error
        if error is None:
            got = f"yielded {len(outcome.events)} events" if outcome.events else "returned normally"
            _fail(f"{what}: expected {expected.__name__}, but the call {got}")
        if not isinstance(error, ClawdeskError):
            _fail(
                f"{what}: raised {type(error).__module__}.{type(error).__name__} ({error}), "
                f"expected clawdesk.{expected.__name__}; map it with the wire toolkit (clawdesk.provider)"
            )
        if not isinstance(error, expected):
            _fail(f"{what}: raised {type(error).__name__} ({error}), expected {expected.__name__}")
        assert isinstance(error, ProviderError)
        if error.provider != provider.name:
            _fail(f"{what}: the {type(error).__name__} names provider {error.provider!r}, not {provider.name!r}")
        return error

    def _ck_leaks(self, text: str) -> bool:
        return self.api_key in text

    def _ck_error_leak(self, error: BaseException) -> str | None:
        """Where ``error`` shows the API key, or ``None``."""
        if self._ck_leaks(repr(error)) or self._ck_leaks(str(error)):
            return "its message"
        for key, value in vars(error).items():
            if isinstance(value, str) and self._ck_leaks(value):
                return f"its {key} attribute"
        if self._ck_leaks("".join(traceback.format_exception(error))):
            return "its traceback (the exception chain)"
        return None

    # -- registration ----------------------------------------------------------------

    def test_hooks_register(self) -> None:
        """The plugin registers: every required hook is there, with valid signatures and the right sync/async kind."""
        provider = self._ck_provider()
        plugin = provider.plugin
        for hook in REQUIRED_HOOKS:
            function = getattr(plugin, hook, None)
            if function is None:
                continue  # registered under another attribute name (pluggy's specname): trust the registry
            if hook in _SYNC_HOOKS and (inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function)):
                _fail(f"{hook} must be a plain (sync) function")
            if hook in _ASYNC_HOOKS and not inspect.iscoroutinefunction(function):
                _fail(f"{hook} must be an async def coroutine function")
            if hook == "provider_stream" and inspect.iscoroutinefunction(function):
                _fail(
                    "provider_stream must give an async iterator when called (an async generator function, "
                    "or a plain function returning an async generator), not a coroutine"
                )
        if not issubclass(provider.config_type, ProviderConfig):  # pragma: no cover - the registry checks it
            _fail("provider_config_type must return a ProviderConfig subclass")

    def test_import_is_cheap(self) -> None:
        """Importing the plugin module in a fresh interpreter pulls in no HTTP stack (httpx, httpcore)."""
        provider = self._ck_provider()
        module = getattr(provider.plugin, "__name__", None)
        if not isinstance(module, str) or sys.modules.get(module) is not provider.plugin:
            pytest.skip("the plugin is not a module, so there is no import to measure")
        code = (
            "import importlib, json, sys\n"
            f"importlib.import_module({module!r})\n"
            "print(json.dumps(sorted(m for m in ('httpx', 'httpcore', 'h11', 'h2') if m in sys.modules)))\n"
        )
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        run = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env, check=False
        )
        if run.returncode != 0:
            lines = run.stderr.strip().splitlines()
            _fail(f"importing {module} in a fresh interpreter failed: {lines[-1] if lines else run.returncode}")
        loaded = json.loads(run.stdout.strip().splitlines()[-1])
        if loaded:
            _fail(
                f"importing {module} imports {', '.join(loaded)}: import httpx inside the hooks that send "
                "requests, so that `clawdesk plugins` stays fast"
            )

    def test_name_matches_entry_point(self) -> None:
        """The entry point that installs the plugin has the name ``provider_name`` returns."""
        provider = self._ck_provider()
        module = getattr(provider.plugin, "__name__", None)
        found = [
            ep
            for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)
            if (self.entry_point is not None and ep.name == self.entry_point)
            or (module is not None and ep.value.split(":")[0] == module)
        ]
        if not found:
            if self.entry_point is not None:
                _fail(
                    f"no entry point {self.entry_point!r} in group {ENTRY_POINT_GROUP!r}: "
                    "declare it in pyproject.toml and install the package (pip install -e .)"
                )
            pytest.skip("the plugin is not installed through an entry point, so there is no name to compare")
        for ep in found:
            if ep.name != provider.name:
                _fail(f"the entry point is named {ep.name!r} but provider_name returns {provider.name!r}")
            if module is not None and ep.value.split(":")[0] != module:
                _fail(f"the entry point {ep.name!r} loads {ep.value!r}, not the tested plugin {module!r}")

    @pytest.mark.anyio
    async def test_models_are_well_formed(self) -> None:
        """``provider_models`` returns unique, well-formed ModelInfo, with and without refresh."""
        async with self._ck_harness() as h:
            scripted = self.script_models(h.server)
            for refresh in (False, True) if scripted else (False,):
                models = await self._ck_models(h, refresh=refresh)
                where = f"provider_models(refresh={refresh})"
                if not models:
                    _fail(f"{where} listed no models")
                seen: set[str] = set()
                for model in models:
                    if not isinstance(model, ModelInfo):
                        _fail(f"{where} returned a {type(model).__name__}, expected ModelInfo")
                    if not isinstance(model.id, str) or not model.id.strip():
                        _fail(f"{where} returned a model with an empty id: {model!r}")
                    if model.id in seen:
                        _fail(f"{where} lists model {model.id!r} twice")
                    seen.add(model.id)
                    wrong = [c for c in model.capabilities if not isinstance(c, Capability)]
                    if wrong:
                        _fail(f"{where}: model {model.id!r} has capabilities that are not Capability: {wrong!r}")
                    if model.capabilities & _NEEDS_CHAT and Capability.CHAT not in model.capabilities:
                        _fail(f"{where}: model {model.id!r} has {sorted(model.capabilities)} but not chat")
                    length = model.context_length
                    if length is not None and (not isinstance(length, int) or isinstance(length, bool) or length <= 0):
                        _fail(f"{where}: model {model.id!r} has context_length {length!r}, expected None or an int > 0")

    async def _ck_models(self, h: _Harness, *, refresh: bool) -> list[ModelInfo]:
        where = f"provider_models(refresh={refresh})"
        try:
            with anyio.fail_after(self.hang_limit_secs):
                result = await h.provider.call("provider_models", config=h.config, http=h.http, refresh=refresh)
        except TimeoutError:
            _fail(f"{where} did not return within {self.hang_limit_secs:g}s")
        except ClawdeskError as exc:
            hint = "" if refresh else " (script the backend's listing in script_models)"
            _fail(f"{where} raised {type(exc).__name__}: {exc}{hint}")
        if not isinstance(result, (list, tuple)):
            _fail(f"{where} returned a {type(result).__name__}, expected a list of ModelInfo")
        return list(result)

    @pytest.mark.anyio
    async def test_models_listing_failure_is_a_provider_error(self) -> None:
        """A backend that fails the model listing makes ``provider_models(refresh=True)`` raise a ProviderError."""
        async with self._ck_harness() as h:
            if not self.script_models(h.server):
                pytest.skip("the listing needs no backend (script_models returns False)")
            # Queued replies answer before routes: every listing request of this check fails.
            h.server.add(*(self._ck_error_reply(500) for _ in range(20)))
            try:
                with anyio.fail_after(self.hang_limit_secs):
                    await h.provider.call("provider_models", config=h.config, http=h.http, refresh=True)
            except TimeoutError:
                _fail(f"provider_models(refresh=True) did not return within {self.hang_limit_secs:g}s")
            except ProviderError as exc:
                if exc.provider != h.provider.name:
                    _fail(f"the {type(exc).__name__} names provider {exc.provider!r}, not {h.provider.name!r}")
            except Exception as exc:  # noqa: BLE001 - the check reports it
                _fail(
                    f"provider_models(refresh=True) raised {type(exc).__name__} ({exc}) on HTTP 500, "
                    "expected a ProviderError"
                )
            else:
                _fail("provider_models(refresh=True) succeeded although the backend answered HTTP 500")

    @pytest.mark.anyio
    async def test_capabilities_agree_with_models(self) -> None:
        """``provider_capabilities`` gives a set of Capability or None, agrees with the listing, and does no I/O."""
        async with self._ck_harness() as h:
            scripted = self.script_models(h.server)
            models = await self._ck_models(h, refresh=scripted)
            sent = len(h.server.requests)
            for model in models:
                caps = self._ck_capabilities(h, model.id)
                if caps is not None and caps != model.capabilities:
                    _fail(
                        f"provider_capabilities(model={model.id!r}) returns {sorted(caps)} "
                        f"but provider_models lists {sorted(model.capabilities)}"
                    )
            for model_id in (self.model, "clawdesk-conformance-no-such-model"):
                self._ck_capabilities(h, model_id)
            if len(h.server.requests) != sent:
                _fail("provider_capabilities sent requests; it must answer from what it knows, without I/O")

    def _ck_capabilities(self, h: _Harness, model: str) -> frozenset[Capability] | None:
        where = f"provider_capabilities(model={model!r})"
        try:
            caps = h.provider.call("provider_capabilities", config=h.config, model=model)
        except Exception as exc:  # noqa: BLE001 - the check reports it
            _fail(f"{where} raised {type(exc).__name__}: {exc}; it must answer without I/O and return None if unsure")
        if caps is None:
            return None
        if not isinstance(caps, (set, frozenset)) or not all(isinstance(c, Capability) for c in caps):
            _fail(f"{where} returned {caps!r}, expected a frozenset of Capability or None")
        return frozenset(caps)

    # -- chat and stream ---------------------------------------------------------------

    @pytest.mark.anyio
    async def test_chat_round_trip(self) -> None:
        """A scripted answer comes back as a ChatResponse with its text, finish reason and provider."""
        async with self._ck_harness() as h:
            h.server.add(self.chat_reply(ANSWER))
            outcome = await self._ck_chat(h)
            if outcome.hung:
                _fail(f"provider_chat did not return within {self.hang_limit_secs:g}s")
            if outcome.error is not None:
                _fail(f"provider_chat failed on a successful answer: {type(outcome.error).__name__}: {outcome.error}")
            response = outcome.result
            if not isinstance(response, ChatResponse):
                _fail(f"provider_chat returned {type(response).__name__}, expected ChatResponse")
            if response.message.role is not Role.ASSISTANT:
                _fail(f"the answer's role is {response.message.role!r}, expected assistant")
            if response.message.text != ANSWER:
                _fail(f"the answer's text is {response.message.text!r}, expected {ANSWER!r}")
            if response.finish_reason is not FinishReason.STOP:
                _fail(f"finish_reason is {response.finish_reason!r}, expected FinishReason.STOP")
            if response.provider != h.provider.name:
                _fail(f"ChatResponse.provider is {response.provider!r}, expected {h.provider.name!r}")
            if not isinstance(response.model, str) or not response.model:
                _fail(f"ChatResponse.model is {response.model!r}, expected the model id")
            if not isinstance(response.usage, Usage):
                _fail(f"ChatResponse.usage is {response.usage!r}, expected Usage")
            self._ck_check_sent(h, "provider_chat")

    def _ck_check_sent(self, h: _Harness, hook: str) -> None:
        if not h.server.requests:
            _fail(f"{hook} sent no request to the configured base_url")
        request = h.server.requests[-1]
        if PROMPT.encode() not in request.body and json.dumps(PROMPT).encode() not in request.body:
            _fail(f"{hook} did not send the user's message (not found in the request body)")
        if self.model.encode() not in request.body and self.model not in request.path:
            _fail(f"{hook} did not send the model id {self.model!r} (not in the request body or path)")
        uses_keys = h.config.requires_api_key or h.config.api_key_env is not None
        if uses_keys and h.config.api_key and not any(self.api_key in v for v in request.headers.values()):
            _fail(f"{hook} did not send the configured api_key in any request header")

    @pytest.mark.anyio
    async def test_stream_round_trip(self) -> None:
        """A scripted stream yields typed events: the text deltas, at most one usage, and exactly one Finish last."""
        async with self._ck_harness() as h:
            h.server.add(Reply.stream(self.stream_pieces(STREAM_TEXTS), content_type=self.stream_content_type))
            outcome = await self._ck_stream(h)
            if outcome.hung:
                _fail(f"provider_stream did not finish within {self.hang_limit_secs:g}s")
            if outcome.error is not None:
                _fail(f"provider_stream failed on a successful stream: {type(outcome.error).__name__}: {outcome.error}")
            events = outcome.events
            wrong = [e for e in events if not isinstance(e, _EVENT_TYPES)]
            if wrong:
                _fail(f"provider_stream yielded {type(wrong[0]).__name__}, which is not a stream event")
            finishes = [e for e in events if isinstance(e, Finish)]
            if len(finishes) != 1:
                _fail(f"the stream yielded {len(finishes)} Finish events, expected exactly one")
            if not isinstance(events[-1], Finish):
                _fail(f"the stream's last event is {type(events[-1]).__name__}, expected Finish")
            if finishes[0].reason is not FinishReason.STOP:
                _fail(f"Finish.reason is {finishes[0].reason!r}, expected FinishReason.STOP")
            if sum(isinstance(e, UsageEvent) for e in events) > 1:
                _fail("the stream yielded more than one UsageEvent")
            text = "".join(e.text for e in events if isinstance(e, TextDelta))
            if text != "".join(STREAM_TEXTS):
                _fail(f"the stream's text is {text!r}, expected {''.join(STREAM_TEXTS)!r}")
            self._ck_check_sent(h, "provider_stream")

    def _ck_tool_request(self) -> ChatRequest:
        tool = Tool(
            TOOL_CALL.name,
            "Look up the weather",
            {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}},
        )
        return self._ck_request(ChatOptions(tools=(tool,)))

    def _ck_check_call(self, call: object, where: str) -> None:
        if not isinstance(call, ToolCall):
            _fail(f"{where}: got {type(call).__name__}, expected ToolCall")
        if call.name != TOOL_CALL.name:
            _fail(f"{where}: the call's name is {call.name!r}, expected {TOOL_CALL.name!r}")
        if dict(call.arguments) != dict(TOOL_CALL.arguments):
            _fail(f"{where}: the call's arguments are {dict(call.arguments)!r}, expected {dict(TOOL_CALL.arguments)!r}")
        if not isinstance(call.id, str) or not call.id:
            _fail(f"{where}: the call has no id; make a stable one when the backend sends none")

    @pytest.mark.anyio
    async def test_chat_tool_call(self) -> None:
        """An answer that asks for a tool call gives a message with that call, its arguments parsed."""
        reply = self.tool_call_reply(TOOL_CALL)
        if reply is None:
            pytest.skip("the adapter scripts no tool call: define tool_call_reply(call) to check tool calls")
        async with self._ck_harness() as h:
            h.server.add(reply)
            outcome = await self._ck_chat(h, request=self._ck_tool_request())
            if outcome.hung or outcome.error is not None:
                _fail(f"provider_chat failed on a tool call answer: {outcome.error!r}")
            response = outcome.result
            if not isinstance(response, ChatResponse):
                _fail(f"provider_chat returned {type(response).__name__}, expected ChatResponse")
            calls = response.message.tool_calls
            if len(calls) != 1:
                _fail(f"the answer carries {len(calls)} tool calls, expected 1")
            self._ck_check_call(calls[0], "chat tool call")
            if response.finish_reason not in (FinishReason.TOOL_CALLS, FinishReason.STOP):
                _fail(f"finish_reason is {response.finish_reason!r} for a tool call answer")

    @pytest.mark.anyio
    async def test_stream_tool_call(self) -> None:
        """A streamed tool call comes out as exactly one ToolCallEvent, whole and parsed, before the Finish."""
        pieces = self.tool_call_pieces(TOOL_CALL)
        if pieces is None:
            pytest.skip("the adapter scripts no streamed tool call: define tool_call_pieces(call) to check them")
        async with self._ck_harness() as h:
            h.server.add(Reply.stream(pieces, content_type=self.stream_content_type))
            outcome = await self._ck_stream(h, request=self._ck_tool_request())
            if outcome.hung or outcome.error is not None:
                _fail(f"provider_stream failed on a streamed tool call: {outcome.error!r}")
            calls = [e for e in outcome.events if isinstance(e, ToolCallEvent)]
            if len(calls) != 1:
                _fail(f"the stream yielded {len(calls)} ToolCallEvents, expected exactly 1")
            self._ck_check_call(calls[0].call, "stream tool call")
            if not outcome.events or not isinstance(outcome.events[-1], Finish):
                _fail("the stream with a tool call did not end with Finish")

    # -- errors ----------------------------------------------------------------------

    def _ck_error_reply(self, status: int) -> Reply:
        reply = self.error_reply(status, ERROR_MESSAGE)
        if status == 429:
            reply = attrs.evolve(reply, headers=(*reply.headers, ("retry-after", str(RETRY_AFTER))))
        return reply

    def _ck_check_status_error(self, error: ProviderError, status: int, what: str) -> None:
        if error.status != status:
            _fail(f"{what}: the {type(error).__name__} has status {error.status!r}, expected {status}")
        if error.retryable != (status in _RETRYABLE):
            _fail(
                f"{what}: the {type(error).__name__} has retryable={error.retryable}, expected {status in _RETRYABLE}"
            )
        if isinstance(error, RateLimited) and error.retry_after != RETRY_AFTER:
            _fail(f"{what}: retry_after is {error.retry_after!r}, expected {RETRY_AFTER} from the Retry-After header")
        if ERROR_MESSAGE not in str(error):
            _fail(f"{what}: the error does not carry the backend's message {ERROR_MESSAGE!r}: {error}")

    @pytest.mark.anyio
    @pytest.mark.parametrize("status", sorted(ERROR_STATUSES))
    async def test_chat_error_status(self, status: int) -> None:
        """An error status becomes the right ProviderError, with status, retryable, retry_after and the message."""
        async with self._ck_harness() as h:
            h.server.add(self._ck_error_reply(status))
            what = f"chat answered with HTTP {status}"
            error = self._ck_expect_error(await self._ck_chat(h), ERROR_STATUSES[status], what, h.provider)
            self._ck_check_status_error(error, status, what)

    @pytest.mark.anyio
    @pytest.mark.parametrize("status", sorted(ERROR_STATUSES))
    async def test_stream_error_status(self, status: int) -> None:
        """An error status on a stream raises the right ProviderError before any event."""
        async with self._ck_harness() as h:
            h.server.add(self._ck_error_reply(status))
            what = f"stream answered with HTTP {status}"
            outcome = await self._ck_stream(h)
            error = self._ck_expect_error(outcome, ERROR_STATUSES[status], what, h.provider)
            if outcome.events:
                _fail(f"{what}: yielded {len(outcome.events)} events before raising; an error status raises first")
            self._ck_check_status_error(error, status, what)

    @pytest.mark.anyio
    async def test_chat_connection_refused(self) -> None:
        """A backend nobody listens on gives ConnectionFailed for chat."""
        async with self._ck_harness(base_url=f"http://127.0.0.1:{unused_port()}") as h:
            self._ck_expect_error(await self._ck_chat(h), ConnectionFailed, "chat to a refused port", h.provider)

    @pytest.mark.anyio
    async def test_stream_connection_refused(self) -> None:
        """A backend nobody listens on gives ConnectionFailed for a stream."""
        async with self._ck_harness(base_url=f"http://127.0.0.1:{unused_port()}") as h:
            self._ck_expect_error(await self._ck_stream(h), ConnectionFailed, "stream to a refused port", h.provider)

    @pytest.mark.anyio
    async def test_chat_timeout(self) -> None:
        """A backend that never answers gives Timeout for chat, within about ``timeout_secs``."""
        async with self._ck_harness(timeout_secs=self.timeout_secs) as h:
            h.server.add(Reply.stall())
            outcome = await self._ck_chat(h, limit=self.timeout_secs + 5)
            what = f"chat to a backend that never answers (timeout_secs={self.timeout_secs:g})"
            self._ck_expect_error(outcome, TimedOut, what, h.provider)

    @pytest.mark.anyio
    async def test_stream_timeout(self) -> None:
        """A backend that never answers gives Timeout for a stream, within about ``timeout_secs``."""
        async with self._ck_harness(timeout_secs=self.timeout_secs) as h:
            h.server.add(Reply.stall())
            outcome = await self._ck_stream(h, limit=self.timeout_secs + 5)
            what = f"stream from a backend that never answers (timeout_secs={self.timeout_secs:g})"
            self._ck_expect_error(outcome, TimedOut, what, h.provider)

    @pytest.mark.anyio
    @pytest.mark.parametrize("how", ["closed", "reset"])
    async def test_stream_cut_short_is_an_error(self, how: str) -> None:
        """A stream the server cuts off (clean close or reset) before its end raises Truncated, retryable.

        Never a success: one error for both ways a body can end early, whatever
        the framing, so that the engine can ask again (or report
        StreamInterrupted once events were delivered).
        """
        async with self._ck_harness() as h:
            pieces = list(self.stream_pieces(STREAM_TEXTS))
            cut = self.stream_cut_after(pieces)
            reply = Reply.stream(
                pieces, content_type=self.stream_content_type, cut_after=cut, reset_on_cut=how == "reset"
            )
            h.server.add(reply)
            outcome = await self._ck_stream(h)
            what = f"a stream the server cut short ({how}) after {cut} of {len(pieces)} pieces"
            if outcome.hung:
                _fail(f"{what}: did not end within {self.hang_limit_secs:g}s")
            if outcome.error is None:
                finished = any(isinstance(e, Finish) for e in outcome.events)
                how = "with a Finish event" if finished else "without raising"
                _fail(f"{what} was reported as a success ({how}); a truncated stream must raise Truncated")
            error = self._ck_expect_error(outcome, Truncated, what, h.provider)
            if not error.retryable:
                _fail(f"{what}: Truncated with retryable=False; a truncated answer may succeed when asked again")

    @pytest.mark.anyio
    async def test_stream_early_close_releases_connection(self) -> None:
        """Closing a stream after its first event frees its connection for the next request (one-connection pool)."""
        async with self._ck_harness(limits=httpx.Limits(max_connections=1), pool_timeout=1.0) as h:
            # Many slow pieces, so the stream is still open when the check closes it.
            texts = [f"piece {i} " for i in range(40)]
            h.server.add(
                Reply.stream(self.stream_pieces(texts), content_type=self.stream_content_type, delay=0.02),
                self.chat_reply(ANSWER),
            )
            first = await self._ck_stream(h, close_after=1)
            if first.error is not None or first.hung or len(first.events) != 1:
                problem = "hung" if first.hung else f"raised {first.error!r}" if first.error else "yielded nothing"
                _fail(f"the stream {problem} before its first event")
            if not first.closeable:
                _fail("provider_stream returned an iterator without aclose(): return an async generator")
            second = await self._ck_chat(h, limit=5.0)
            if second.error is not None or second.hung:
                _fail(
                    "closing a stream early (aclose() after the first event) did not release its HTTP connection: "
                    "the next request found no free connection in a one-connection pool; "
                    "hold the response in `async with wire.stream(...)` (clawdesk.provider.Wire) inside the generator"
                )

    @pytest.mark.anyio
    async def test_stream_stalled_midway_times_out(self) -> None:
        """A stream whose backend goes silent after its first piece raises Timeout within about ``timeout_secs``."""
        async with self._ck_harness(timeout_secs=self.timeout_secs) as h:
            pieces = list(self.stream_pieces(STREAM_TEXTS))
            cut = self.stream_cut_after(pieces)
            h.server.add(Reply.stream(pieces, content_type=self.stream_content_type, stall_after=cut))
            outcome = await self._ck_stream(h, limit=self.timeout_secs + 5)
            what = f"a stream that goes silent after {cut} of {len(pieces)} pieces (timeout_secs={self.timeout_secs:g})"
            self._ck_expect_error(outcome, TimedOut, what, h.provider)

    @pytest.mark.anyio
    async def test_options_are_sent_or_refused(self) -> None:
        """Each generation option reaches the backend or is refused before sending; none is dropped.

        A refusal is CapabilityMissing (another provider may honour the option) or InvalidRequest
        (no provider could: a value out of any range).
        """
        options: dict[str, tuple[dict[str, Any], object]] = {
            "temperature": ({"temperature": 0.37}, 0.37),
            "top_p": ({"top_p": 0.73}, 0.73),
            "max_tokens": ({"max_tokens": 777}, 777),
            "seed": ({"seed": 424242}, 424242),
            "stop": ({"stop": ("ck-stop-word",)}, "ck-stop-word"),
        }
        async with self._ck_harness() as h:
            for name, (kwargs, value) in options.items():
                before = len(h.server.requests)
                h.server.add(self.chat_reply(ANSWER))
                outcome = await self._ck_chat(h, request=self._ck_request(ChatOptions(**kwargs)))
                what = f"chat with ChatOptions({name}={kwargs[name]!r})"
                refused = outcome.error
                if isinstance(refused, CapabilityMissing) and refused.option != name:
                    _fail(f"{what}: refused with CapabilityMissing naming option {refused.option!r}, not {name!r}")
                if isinstance(refused, (InvalidRequest, CapabilityMissing)):
                    if len(h.server.requests) > before:
                        _fail(f"{what}: refused with {type(refused).__name__}, but only after sending the request")
                    continue  # its queued reply answers the next option's request: all replies are alike
                if outcome.hung or outcome.error is not None:
                    _fail(f"{what}: failed with {outcome.error!r}; expected an answer or a refusal before sending")
                sent = h.server.requests[-1]
                if not _carries(sent.body, value):
                    _fail(
                        f"{what}: the value {value!r} is not in the request; "
                        "send it or refuse with CapabilityMissing (or InvalidRequest)"
                    )

    @pytest.mark.anyio
    @pytest.mark.parametrize("hook", ["chat", "stream"])
    async def test_other_providers_options_are_ignored(self, hook: str) -> None:
        """Provider options meant for another provider neither break the call nor reach this backend."""
        async with self._ck_harness() as h:
            if hook == "chat":
                h.server.add(self.chat_reply(ANSWER))
            else:
                h.server.add(Reply.stream(self.stream_pieces(STREAM_TEXTS), content_type=self.stream_content_type))
            marker = "clawdesk-conformance-foreign-option"
            options = ChatOptions(provider_options={"clawdesk-conformance-other": {marker: marker}})
            request = self._ck_request(options)
            if hook == "chat":
                outcome = await self._ck_chat(h, request=request)
            else:
                outcome = await self._ck_stream(h, request=request)
            what = f"{hook} with provider_options for another provider"
            if outcome.hung or outcome.error is not None:
                _fail(f"{what}: failed with {outcome.error!r}; another provider's table is not this one's business")
            if h.server.requests and marker.encode() in h.server.requests[-1].body:
                _fail(f"{what}: the other provider's option reached the request")

    @pytest.mark.anyio
    @pytest.mark.parametrize("hook", ["chat", "stream"])
    async def test_missing_key_is_refused(self, hook: str) -> None:
        """Without a key, a provider whose config requires one is refused by core (AuthFailed) before any request."""
        async with self._ck_harness(without_key=True) as h:
            if not h.config.requires_api_key:
                pytest.skip(f"{type(h.config).__name__}.requires_api_key is false: the provider works without a key")
            h.server.add(self.chat_reply(ANSWER))
            registry = Registry(discover=False)
            registry.register(self._ck_plugin())
            table = dict(self.config_table(h.server.url, h.config.timeout_secs))
            table.pop("api_key", None)
            client = Clawdesk(registry=registry, config=Config(providers={h.provider.name: table}), env={})
            target = Target(h.provider.name, self.model)
            what = f"{hook} without an API key"
            try:
                if hook == "chat":
                    await client.chat_target(target, self._ck_request())
                else:
                    async with client.stream_target(target, self._ck_request()) as events:
                        async for _ in events:
                            pass
            except AuthFailed as exc:
                if "no API key" not in str(exc):
                    _fail(f"{what}: AuthFailed without the hint saying which variable to set: {exc}")
            except Exception as exc:  # noqa: BLE001 - judged below
                _fail(f"{what}: raised {exc!r}, expected AuthFailed")
            else:
                _fail(f"{what}: no error; the config's api_key_env/requires_api_key do not say a key is needed")
            finally:
                await client.aclose()
            if h.server.requests:
                _fail(f"{what}: a request was sent; refuse before sending anything")

    # -- secrets -----------------------------------------------------------------------

    @pytest.mark.anyio
    async def test_api_key_never_leaks(self, caplog: pytest.LogCaptureFixture) -> None:
        """The API key appears in no error (message, attributes, traceback), no repr and no log record at DEBUG."""
        caplog.set_level(logging.DEBUG)
        errors: list[tuple[str, BaseException]] = []
        texts: list[tuple[str, str]] = []
        async with self._ck_harness() as h:
            texts.append(("repr(config)", repr(h.config)))
            texts.append(("str(config)", str(h.config)))
            h.server.add(self.chat_reply(ANSWER))
            outcome = await self._ck_chat(h)
            texts.append(("repr(ChatResponse)", repr(outcome.result)))
            h.server.add(Reply.stream(self.stream_pieces(STREAM_TEXTS), content_type=self.stream_content_type))
            outcome = await self._ck_stream(h)
            texts.append(("repr(stream events)", repr(outcome.events)))
            for status in (400, 401, 403, 429, 500):
                h.server.add(self._ck_error_reply(status))
                outcome = await self._ck_chat(h)
                if outcome.error is not None:
                    errors.append((f"the error raised for HTTP {status} (chat)", outcome.error))
                h.server.add(self._ck_error_reply(status))
                outcome = await self._ck_stream(h)
                if outcome.error is not None:
                    errors.append((f"the error raised for HTTP {status} (stream)", outcome.error))
            pieces = list(self.stream_pieces(STREAM_TEXTS))
            h.server.add(
                Reply.stream(pieces, content_type=self.stream_content_type, cut_after=self.stream_cut_after(pieces))
            )
            outcome = await self._ck_stream(h)
            if outcome.error is not None:
                errors.append(("the error raised for a stream cut short", outcome.error))
        async with self._ck_harness(base_url=f"http://127.0.0.1:{unused_port()}") as h:
            outcome = await self._ck_chat(h)
            if outcome.error is not None:
                errors.append(("the error raised for a refused connection", outcome.error))
        problems = [f"{what} shows it in {where}" for what, e in errors if (where := self._ck_error_leak(e))]
        problems += [f"{what} shows it" for what, text in texts if self._ck_leaks(text)]
        for record in caplog.records:
            text = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                text += "".join(traceback.format_exception(record.exc_info[1]))
            if self._ck_leaks(text):
                problems.append(f"the log record of {record.name!r} at {record.levelname} shows it")
        if problems:
            _fail("the API key leaks: " + "; ".join(dict.fromkeys(problems)))

    # -- the kit itself ----------------------------------------------------------------

    def test_disabled_checks_name_real_checks(self) -> None:
        """Every entry of ``disabled_checks`` names a check of the kit and gives a reason."""
        problems = []
        for name, reason in self.disabled_checks.items():
            if name not in CHECKS:
                problems.append(f"disabled_checks names {name!r}, which is not a check of the kit")
            elif not isinstance(reason, str) or not reason.strip():
                problems.append(f"disabled_checks[{name!r}] gives no reason; say why the check is disabled")
        if problems:
            _fail("; ".join(problems) + f" (checks: {', '.join(CHECKS)})")


#: The adapter's parts a mixin (a backend's wire half, listed before the kit) may provide.
_ADAPTER = (
    "config_table",
    "chat_reply",
    "stream_pieces",
    "stream_cut_after",
    "stream_content_type",
    "error_reply",
    "tool_call_reply",
    "tool_call_pieces",
    "script_models",
)

#: The names of every check, in the order they are defined.
CHECKS: tuple[str, ...] = tuple(name for name in vars(ProviderConformance) if name.startswith("test_"))
