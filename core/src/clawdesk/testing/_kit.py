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
import socket
import subprocess
import sys
import threading
import time
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
    StreamInterrupted,
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
    DocumentPart,
    Finish,
    FinishReason,
    ImagePart,
    Message,
    ModelInfo,
    Reasoning,
    ReasoningDelta,
    ReasoningEffort,
    ReasoningPart,
    ResponseFormat,
    ResponseFormatKind,
    Role,
    TextDelta,
    Tool,
    ToolCall,
    ToolCallEvent,
    ToolChoice,
    ToolChoiceMode,
    Usage,
    UsageEvent,
)
from ._readback import SentRequest, compare_messages, compare_options
from ._server import RecordedRequest, Reply, ScriptedServer, unused_port

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


def _retryable(status: int) -> bool:
    """Whether asking again may help: a timeout, a conflict, a rate limit, a server error."""
    return status in (408, 409, 429) or status >= 500


#: The inline image and document the message checks send (a 1x1 PNG, a tiny PDF).
IMAGE_BYTES = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0000003010100c9fe92ef0000000049454e44ae426082"
)
DOCUMENT_BYTES = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
IMAGE_URL = "https://images.example.com/conformance/cat.png"
#: The tool every tool check offers; its parameters nest, to catch shallow copies.
TOOL = Tool(
    TOOL_CALL.name,
    "Look up the weather",
    {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}, "units": {"type": "object"}},
        "required": ["city"],
    },
)
OTHER_TOOL = Tool(
    "lookup_time", "Tell the time in a city", {"type": "object", "properties": {"city": {"type": "string"}}}
)
SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "temp_c": {"type": "number"}},
    "required": ["city", "temp_c"],
    "additionalProperties": False,
}
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


@attrs.frozen
class _Case:
    """One request of the request checks: what it asks, and what a refusal may not contradict."""

    label: str
    messages: tuple[Message, ...]
    options: ChatOptions
    capability: Capability | None = None
    option: str | None = None


_FIELD_GROUPS = ("options", "tools", "tool_choice", "response_format", "reasoning", "messages", "provider_options")


def _choice_text(choice: ToolChoice) -> str:
    return repr(choice.mode.value) if choice.name is None else f"function {choice.name!r}"


def _piece_text(piece: bytes, limit: int = 60) -> str:
    text = repr(piece)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _compare_tools(asked: Sequence[Tool], sent: Sequence[Tool]) -> list[str]:
    if not sent:
        return [f"tools ({', '.join(t.name for t in asked)}) asked by the request are not in what was sent"]
    problems = []
    by_name = {t.name: t for t in sent}
    for tool in asked:
        got = by_name.get(tool.name)
        if got is None:
            problems.append(f"the tool {tool.name!r} asked by the request is not in what was sent")
            continue
        if got.description != tool.description:
            problems.append(
                f"tool {tool.name!r}: description sent as {got.description!r} "
                f"but the request asked {tool.description!r}"
            )
        if dict(got.parameters) != dict(tool.parameters):
            problems.append(
                f"tool {tool.name!r}: parameters sent as {dict(got.parameters)!r} "
                f"but the request asked {dict(tool.parameters)!r}"
            )
    if [t.name for t in sent] != [t.name for t in asked] and not problems:
        problems.append(f"tools sent as {[t.name for t in sent]} but the request asked {[t.name for t in asked]}")
    return problems


def _compare_format(asked: ResponseFormat, sent: ResponseFormat | None) -> list[str]:
    if sent is None:
        if asked.kind is ResponseFormatKind.TEXT:
            return []  # plain text is what every backend answers without being asked
        return [f"response_format ({asked.kind.value}) asked by the request is not in what was sent"]
    if sent.kind is not asked.kind:
        return [f"response_format sent as {sent.kind.value} but the request asked {asked.kind.value}"]
    if asked.schema is not None and dict(sent.schema or {}) != dict(asked.schema):
        got = dict(sent.schema or {})
        return [f"response_format: the schema sent is {got!r}, not the one asked {dict(asked.schema)!r}"]
    return []


def _compare_reasoning(asked: Reasoning, sent: Reasoning | None) -> list[str]:
    if not asked.enabled:
        if sent is not None and sent.enabled:
            return [f"reasoning sent as {sent!r} (on) but the request asked {asked!r} (off)"]
        return []
    if sent is None or not sent.enabled:
        return [f"reasoning ({asked!r}) asked by the request is not in what was sent ({sent!r})"]
    if asked.effort is not None and sent.effort is not None and sent.effort is not asked.effort:
        return [f"reasoning effort sent as {sent.effort.value!r} but the request asked {asked.effort.value!r}"]
    if asked.budget_tokens is not None and sent.budget_tokens is not None and sent.budget_tokens != asked.budget_tokens:
        return [f"reasoning budget sent as {sent.budget_tokens} but the request asked {asked.budget_tokens}"]
    return []


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
    - :meth:`read_request`: a captured request read back into a
      :class:`~clawdesk.testing.SentRequest`, so that the request checks can
      compare every field asked with what reached the wire (and
      :meth:`provider_options_sample`, ``reasoning_round_trip``);
    - ``stream_end_marker``/:meth:`stream_end_piece`, :meth:`stream_error_pieces`,
      :meth:`finish_reply`/:meth:`finish_pieces`, :meth:`chat_usage`/:meth:`stream_usage`,
      :meth:`garbled_stream_pieces`, ``error_statuses``: how the backend ends
      streams, reports errors inside them, stops for its length, counts
      tokens, and which statuses it documents;
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

    # -- the adapter: reading requests back, and more of the backend's wire ----------

    #: The statuses your backend documents and the error each must become (``retryable``: 408, 409, 429, 5xx).
    error_statuses: ClassVar[Mapping[int, type[ProviderError]]] = ERROR_STATUSES
    #: The bytes that mark the end of a complete stream (``b"data: [DONE]"``), or ``None`` when the
    #: backend has none and a stream is complete with its last event (see :meth:`stream_end_piece`).
    stream_end_marker: ClassVar[bytes | None] = None
    #: Whether your wire sends the reasoning your provider made (text and signature) back in later turns.
    #: ``False`` for a wire with no place for it: the message checks then leave reasoning parts out.
    reasoning_round_trip: ClassVar[bool] = True

    def read_request(self, sent: RecordedRequest) -> SentRequest:
        """Read a captured request back into what it asks for, in the request's own terms.

        The request checks send requests that use every option, part, tool
        choice and response format, in ``provider_chat`` and
        ``provider_stream``, and compare what was asked with what this gives,
        field by field; a field your wire cannot express must be refused
        before sending. Read strictly: raise ``ValueError`` naming the field
        for anything your backend's documentation would not accept. Without
        this method the request checks are skipped.
        """
        raise NotImplementedError

    def provider_options_sample(self) -> Mapping[str, Any] | None:
        """A table of your provider's own options (``provider_options[<name>]``) to send, or ``None``.

        The kit sends it and expects :attr:`SentRequest.provider_options` to hold it.
        """
        return None

    def stream_end_piece(self, pieces: Sequence[bytes]) -> int:
        """The index of the piece of ``stream_pieces`` that completes the stream.

        The kit cuts a stream cleanly after every piece before it and expects
        ``Truncated``. The default: the first piece holding
        :attr:`stream_end_marker`, else the last piece.
        """
        marker = self.stream_end_marker
        if marker is not None:
            for index, piece in enumerate(pieces):
                if marker in piece:
                    return index
        return len(pieces) - 1

    def stream_error_pieces(self, message: str) -> Sequence[bytes] | None:
        """A 200 stream that carries some text and then your backend's in-band error event with ``message``.

        ``None`` (the default) skips the check; define it when your backend
        reports errors inside a stream.
        """
        return None

    def finish_reply(self, text: str, reason: FinishReason) -> Reply | None:
        """A non-streamed answer with ``text`` that stops for ``reason`` (``LENGTH``), or ``None`` to skip."""
        return None

    def finish_pieces(self, texts: Sequence[str], reason: FinishReason) -> Sequence[bytes] | None:
        """A stream of ``texts`` that stops for ``reason`` (``LENGTH``), or ``None`` to skip."""
        return None

    def chat_usage(self) -> Usage | None:
        """The input and output tokens :meth:`chat_reply` reports, or ``None`` when it reports none."""
        return None

    def stream_usage(self, texts: Sequence[str]) -> Usage | None:
        """The input and output tokens :meth:`stream_pieces` reports, or ``None`` when it reports none."""
        return None

    def garbled_stream_pieces(self) -> Sequence[bytes] | None:
        """A 200 stream whose first event is not what the protocol says (e.g. a line that is not JSON).

        The default knows server-sent events and JSON lines; ``None`` skips the check.
        """
        ctype = self.stream_content_type.split(";")[0].strip().lower()
        if ctype == "text/event-stream":
            return [b'data: {"this is not json\n\n']
        if ctype in ("application/x-ndjson", "application/jsonl", "application/json-lines"):
            return [b'{"this is not json\n']
        return None

    # -- plumbing ------------------------------------------------------------------

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """The status checks run once for each status of this adapter's :attr:`error_statuses`."""
        if "status" in metafunc.fixturenames:
            metafunc.parametrize("status", sorted(self.error_statuses))

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

    def _ck_request(self, options: ChatOptions | None = None, messages: Sequence[Message] | None = None) -> ChatRequest:
        options = options or ChatOptions()
        provider = self._ck_provider()
        # What core does before every call: this provider's share of provider_options, typed.
        typed = provider_options_for(provider, provider.name, options)
        return ChatRequest(self.model, tuple(messages or (Message.user(PROMPT),)), options, provider_options=typed)

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
        # The key or any prefix of six characters or more: a key cut short to "sk-proj-4f…" still leaks.
        return self.api_key[:6] in text

    def _ck_error_leak(self, error: BaseException) -> str | None:
        """Where ``error`` shows the API key, or ``None``."""
        if self._ck_leaks(repr(error)) or self._ck_leaks(str(error)):
            return "its message"
        found = self._ck_find_in(vars(error), "its", set(), 0)
        if found is not None:
            return found
        chain: BaseException | None = error.__cause__ or error.__context__
        seen = {id(error)}
        while chain is not None and id(chain) not in seen:
            seen.add(id(chain))
            # httpx's own exceptions keep the request they failed (its headers hold the key, as sent): the
            # client's business, not the plugin's; their message still counts.
            attributes = {} if isinstance(chain, httpx.HTTPError) else vars(chain)
            if self._ck_leaks(repr(chain)) or self._ck_find_in(attributes, "its", set(), 0) is not None:
                return f"its exception chain ({type(chain).__name__})"
            chain = chain.__cause__ or chain.__context__
        if self._ck_leaks("".join(traceback.format_exception(error))):
            return "its traceback (the exception chain)"
        return None

    def _ck_find_in(self, value: object, where: str, seen: set[int], depth: int) -> str | None:
        """The path to a string inside ``value`` (attributes, mappings, sequences, headers) that shows the key."""
        if depth > 8 or id(value) in seen:
            return None
        seen.add(id(value))
        if isinstance(value, (str, bytes, bytearray)):
            text = value if isinstance(value, str) else bytes(value).decode("latin-1")
            return where if self._ck_leaks(text) else None
        if isinstance(value, (int, float, bool, type(None))):
            return None
        items: list[tuple[str, object]] = []
        if isinstance(value, (Mapping, httpx.Headers)):
            for key, item in list(value.items()):
                items += [(f"{where}[{key!r}] key", key), (f"{where}[{key!r}]", item)]
        elif isinstance(value, (list, tuple, set, frozenset)):
            items = [(f"{where}[{i}]", item) for i, item in enumerate(value)]
        elif isinstance(value, BaseException):
            items = [(f"{where}.args", value.args), (f"{where} ({type(value).__name__})", vars(value))]
        elif attrs.has(type(value)):
            names = [a.name for a in attrs.fields(type(value))]  # type: ignore[arg-type]
            items = [(f"{where}.{name}", getattr(value, name, None)) for name in names]
        elif hasattr(value, "__dict__"):
            items = [(f"{where}.{k}", v) for k, v in vars(value).items()]
        else:
            return where if self._ck_leaks(repr(value)) else None
        if where == "its" and isinstance(value, dict):
            items = [(f"its {k} attribute", v) for k, v in value.items()]
        for path, item in items:
            found = self._ck_find_in(item, path, seen, depth + 1)
            if found is not None:
                return found
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
        if error.retryable != _retryable(status):
            _fail(f"{what}: the {type(error).__name__} has retryable={error.retryable}, expected {_retryable(status)}")
        if isinstance(error, RateLimited) and error.retry_after != RETRY_AFTER:
            _fail(f"{what}: retry_after is {error.retry_after!r}, expected {RETRY_AFTER} from the Retry-After header")
        if ERROR_MESSAGE not in str(error):
            _fail(f"{what}: the error does not carry the backend's message {ERROR_MESSAGE!r}: {error}")

    @pytest.mark.anyio
    async def test_chat_error_status(self, status: int) -> None:
        """An error status becomes the right ProviderError, with status, retryable, retry_after and the message."""
        async with self._ck_harness() as h:
            h.server.add(self._ck_error_reply(status))
            what = f"chat answered with HTTP {status}"
            error = self._ck_expect_error(await self._ck_chat(h), self.error_statuses[status], what, h.provider)
            self._ck_check_status_error(error, status, what)

    @pytest.mark.anyio
    async def test_stream_error_status(self, status: int) -> None:
        """An error status on a stream raises the right ProviderError before any event."""
        async with self._ck_harness() as h:
            h.server.add(self._ck_error_reply(status))
            what = f"stream answered with HTTP {status}"
            outcome = await self._ck_stream(h)
            error = self._ck_expect_error(outcome, self.error_statuses[status], what, h.provider)
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
    async def test_api_key_never_leaks(
        self, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The API key (nor a 6-character prefix of it) shows nowhere it could be read.

        Not in an error (message, attributes of any type walked deeply, the
        exception chain), a repr of the config, the answer or the events, a log
        record of any logger at any level, stdout or stderr, or a URL sent.
        """
        records: list[logging.LogRecord] = []
        original_handle = logging.Logger.handle

        def handle(logger: logging.Logger, record: logging.LogRecord) -> None:
            records.append(record)
            original_handle(logger, record)

        # Every logger at every level, also those that do not propagate or were set above DEBUG.
        monkeypatch.setattr(logging.Logger, "isEnabledFor", lambda logger, level: True)
        monkeypatch.setattr(logging.Logger, "handle", handle)
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
            h.server.add(Reply.text(b"<html>oops</html>", status=502, content_type="text/html"))
            outcome = await self._ck_chat(h)
            if outcome.error is not None:
                errors.append(("the error raised for an HTML error page", outcome.error))
            texts += [(f"the URL of a request ({r.method} …)", r.path) for r in h.server.requests]
        async with self._ck_harness(base_url=f"http://127.0.0.1:{unused_port()}") as h:
            outcome = await self._ck_chat(h)
            if outcome.error is not None:
                errors.append(("the error raised for a refused connection", outcome.error))
        monkeypatch.undo()
        problems = [f"{what} shows it in {where}" for what, e in errors if (where := self._ck_error_leak(e))]
        problems += [f"{what} shows it" for what, text in texts if self._ck_leaks(text)]
        for record in records:
            try:
                text = record.getMessage()
            except Exception:  # noqa: BLE001 - a record whose arguments do not format: judge its parts
                text = f"{record.msg} {record.args!r}"
            if record.exc_info and record.exc_info[1] is not None:
                text += "".join(traceback.format_exception(record.exc_info[1]))
            if self._ck_leaks(text):
                problems.append(f"the log record of {record.name!r} at {record.levelname} shows it")
        captured = capfd.readouterr()
        for stream, text in (("stdout", captured.out), ("stderr", captured.err)):
            if self._ck_leaks(text):
                problems.append(f"what the plugin wrote to {stream} shows it")
        # Give the output back to pytest's capture, so a failing run still shows it.
        sys.stdout.write(captured.out)
        sys.stderr.write(captured.err)
        if problems:
            _fail("the API key leaks: " + "; ".join(dict.fromkeys(problems)))

    # -- what reaches the wire -----------------------------------------------------------

    def _ck_field_cases(self, group: str, provider: str) -> list[_Case]:
        """The requests of one group of the request checks: what each asks, and which capability it needs."""
        user = (Message.user(PROMPT),)
        if group == "options":
            values: dict[str, Any] = {
                "temperature": 0.37,
                "top_p": 0.73,
                "top_k": 17,
                "max_tokens": 777,
                "stop": ("ck-stop-word", "ck-halt"),
                "seed": 424242,
            }
            return [_Case(f"ChatOptions({k}={v!r})", user, ChatOptions(**{k: v}), option=k) for k, v in values.items()]
        if group == "tools":
            return [
                _Case(
                    "two tools",
                    user,
                    ChatOptions(tools=(TOOL, OTHER_TOOL)),
                    capability=Capability.FUNCTION_CALLING,
                    option="tools",
                )
            ]
        if group == "tool_choice":
            choices = (
                ToolChoice(ToolChoiceMode.AUTO),
                ToolChoice(ToolChoiceMode.NONE),
                ToolChoice(ToolChoiceMode.REQUIRED),
                ToolChoice.function(TOOL.name),
            )
            return [
                _Case(
                    f"tool_choice {_choice_text(c)}",
                    user,
                    ChatOptions(tools=(TOOL, OTHER_TOOL), tool_choice=c),
                    capability=Capability.FUNCTION_CALLING,
                    option="tool_choice",
                )
                for c in choices
            ]
        if group == "response_format":
            formats = (
                (ResponseFormat(), None),
                (ResponseFormat.json(), Capability.JSON_MODE),
                (ResponseFormat.json_schema(SCHEMA, name="weather"), Capability.JSON_SCHEMA),
            )
            return [
                _Case(
                    f"response_format {f.kind.value}",
                    user,
                    ChatOptions(response_format=f),
                    capability=cap,
                    option="response_format",
                )
                for f, cap in formats
            ]
        if group == "reasoning":
            asked = (
                Reasoning(effort=ReasoningEffort.HIGH),
                Reasoning(budget_tokens=2048),
                Reasoning(effort=ReasoningEffort.NONE),
            )
            # Only an effort must work on a model that lists reasoning: a budget or turning it off may not.
            return [
                _Case(
                    f"{r!r}",
                    user,
                    ChatOptions(reasoning=r),
                    capability=Capability.REASONING if r.effort is ReasoningEffort.HIGH else None,
                    option="reasoning",
                )
                for r in asked
            ]
        if group == "provider_options":
            sample = self.provider_options_sample()
            if sample is None:
                return []
            return [_Case("its own provider_options", user, ChatOptions(provider_options={provider: dict(sample)}))]
        assert group == "messages"
        tools = ChatOptions(tools=(TOOL,))
        cases = [
            _Case("a system and a user message", (Message.system("Answer in one word."), *user), ChatOptions()),
            _Case(
                "a user message with text, an inline image and more text",
                (Message.user(["Look at this picture:", ImagePart(data=IMAGE_BYTES, media_type="image/png"), PROMPT]),),
                ChatOptions(),
                capability=Capability.VISION,
            ),
            _Case(
                "a user message with an image URL",
                (Message.user([PROMPT, ImagePart(url=IMAGE_URL)]),),
                ChatOptions(),
            ),
            _Case(
                "a user message with an inline PDF",
                (
                    Message.user(
                        [
                            "Summarise the report:",
                            DocumentPart(data=DOCUMENT_BYTES, media_type="application/pdf", name="report.pdf"),
                        ]
                    ),
                ),
                ChatOptions(),
                capability=Capability.DOCUMENTS,
            ),
            _Case(
                "a tool call and its result",
                (
                    *user,
                    Message.assistant("Let me look that up.", tool_calls=(TOOL_CALL,)),
                    Message.tool_result(TOOL_CALL.id, "sunny, 21 C", name=TOOL_CALL.name),
                    Message.user("Thanks. And tomorrow?"),
                ),
                tools,
            ),
        ]
        reasoned = Message.assistant(
            [ReasoningPart("The user wants a greeting.", signature="ck-signature-0001", source=provider), "Hello!"]
        )
        cases.append(
            _Case(
                "an assistant turn with this provider's signed reasoning",
                (*user, reasoned, Message.user("Say it again.")),
                ChatOptions(),
            )
        )
        return cases

    def _ck_read(self, sent: RecordedRequest, what: str) -> SentRequest | None:
        try:
            view = self.read_request(sent)
        except NotImplementedError:
            return None
        except (ValueError, KeyError, TypeError) as exc:
            _fail(f"{what}: the request as sent is not what the wire takes: {exc}")
        if not isinstance(view, SentRequest):
            raise TypeError(f"read_request returned {type(view).__name__}, expected clawdesk.testing.SentRequest")
        return view

    def _ck_compare(self, case: _Case, asked: ChatRequest, view: SentRequest, hook: str) -> list[str]:
        problems: list[str] = []
        if view.model is not None and view.model != asked.model:
            problems.append(f"the model sent as {view.model!r} but the request asked {asked.model!r}")
        if view.stream is not None and view.stream != (hook == "stream"):
            problems.append(f"stream sent as {view.stream!r} in provider_{hook}")
        options = asked.options
        if case.option is not None and case.option not in ("tools", "tool_choice", "response_format", "reasoning"):
            value = getattr(options, case.option)
            problems += compare_options({case.option: value}, view.options)
        choice = options.tool_choice
        if choice is not None and choice.mode is ToolChoiceMode.NONE and not view.tools and view.tool_choice is None:
            pass  # tools not offered at all: what "none" asks, on a wire that has no tool_choice
        elif options.tools:
            problems += _compare_tools(options.tools, view.tools)
        if choice is not None and choice.mode is ToolChoiceMode.AUTO and view.tool_choice is None and view.tools:
            pass  # tools offered without a choice: the model decides, which is "auto" on every wire
        elif choice is not None and choice.mode is ToolChoiceMode.NONE and not view.tools and view.tool_choice is None:
            pass
        elif options.tool_choice is not None and view.tool_choice != options.tool_choice:
            got = "nothing" if view.tool_choice is None else _choice_text(view.tool_choice)
            problems.append(f"tool_choice sent as {got} but the request asked {_choice_text(options.tool_choice)}")
        if options.response_format is not None:
            problems += _compare_format(options.response_format, view.response_format)
        if options.reasoning is not None:
            problems += _compare_reasoning(options.reasoning, view.reasoning)
        if case.option is None and options.provider_options:
            mine = dict(next(iter(options.provider_options.values())))
            problems += [f"provider option {p}" for p in compare_options(mine, view.provider_options)]
        problems += compare_messages(asked.messages, view.messages, reasoning=self.reasoning_round_trip)
        return problems

    @pytest.mark.anyio
    @pytest.mark.parametrize("hook", ["chat", "stream"])
    @pytest.mark.parametrize("group", _FIELD_GROUPS)
    async def test_request_fields_are_sent_or_refused(self, hook: str, group: str) -> None:
        """Every field of a request reaches the wire as asked (read back by ``read_request``) or is refused.

        Options, tools, each tool_choice mode, each response format, reasoning,
        messages with every kind of part and the provider's own options, in
        chat and stream alike. A refusal comes before anything is sent, as
        CapabilityMissing (the request is valid: another provider may honour
        it), and never for what ``provider_capabilities`` says the model can do.
        """
        async with self._ck_harness() as h:
            caps = self._ck_capabilities(h, self.model)
            cases = self._ck_field_cases(group, h.provider.name)
            if not cases:
                pytest.skip(f"the adapter has nothing to send for {group} (see provider_options_sample)")
            for case in cases:
                request = self._ck_request(case.options, case.messages)
                before = len(h.server.requests)
                if hook == "chat":
                    h.server.add(self.chat_reply(ANSWER))
                    outcome = await self._ck_chat(h, request=request)
                else:
                    h.server.add(Reply.stream(self.stream_pieces(STREAM_TEXTS), content_type=self.stream_content_type))
                    outcome = await self._ck_stream(h, request=request)
                what = f"provider_{hook} with {case.label}"
                refused = outcome.error
                if isinstance(refused, (CapabilityMissing, InvalidRequest)):
                    if len(h.server.requests) > before:
                        _fail(f"{what}: refused with {type(refused).__name__}, but only after sending the request")
                    if isinstance(refused, InvalidRequest):
                        _fail(
                            f"{what}: refused with InvalidRequest ({refused}), which stops a fallback chain; "
                            "the request is valid, so a field this backend cannot take is CapabilityMissing"
                        )
                    if case.capability is not None and caps is not None and case.capability in caps:
                        _fail(
                            f"{what}: refused with CapabilityMissing ({refused}) although "
                            f"provider_capabilities({self.model!r}) lists {case.capability.value}"
                        )
                    continue
                if outcome.hung:
                    _fail(f"{what}: no answer within {self.hang_limit_secs:g}s")
                if outcome.error is not None:
                    _fail(f"{what}: failed with {type(outcome.error).__name__}: {outcome.error}")
                if len(h.server.requests) == before:
                    _fail(f"{what}: no request reached the backend")
                view = self._ck_read(h.server.requests[-1], what)
                if view is None:
                    pytest.skip("the adapter defines no read_request(sent): the request checks need it")
                problems = self._ck_compare(case, request, view, hook)
                if problems:
                    _fail(f"{what}: " + "; ".join(problems))

    # -- streams: how they end ------------------------------------------------------------

    def _ck_judge_truncated(self, outcome: _Outcome, what: str, h: _Harness) -> None:
        if outcome.hung:
            _fail(f"{what}: did not end within {self.hang_limit_secs:g}s")
        if outcome.error is None:
            finished = any(isinstance(e, Finish) for e in outcome.events)
            how = "with a Finish event" if finished else "without raising"
            _fail(f"{what} was reported as a success ({how}); a truncated stream must raise Truncated")
        error = outcome.error
        if isinstance(error, StreamInterrupted) and isinstance(error.cause, Truncated):
            error = error.cause
        outcome = attrs.evolve(outcome, error=error)
        found = self._ck_expect_error(outcome, Truncated, what, h.provider)
        if not found.retryable:
            _fail(f"{what}: Truncated with retryable=False; a truncated answer may succeed when asked again")

    @pytest.mark.anyio
    async def test_stream_cut_after_every_event_is_truncated(self) -> None:
        """A stream that ends cleanly after any piece before the one that completes it raises Truncated.

        Each boundary is tried twice, from an empty body to the piece right
        before the end: a body complete for HTTP (a proper end of the chunked
        body, so only the backend's own end, :attr:`stream_end_marker` or
        :meth:`stream_end_piece`, tells a whole answer from a cut one), and a
        connection closed cleanly (no reset) in the middle of the body.
        """
        pieces = list(self.stream_pieces(STREAM_TEXTS))
        end = self.stream_end_piece(pieces)
        async with self._ck_harness() as h:
            for cut in range(end + 1):
                last = f" (the last one: {_piece_text(pieces[cut - 1])})" if cut else ""
                before = f"after {cut} of {len(pieces)} pieces{last}, before the piece that completes it ({end + 1})"
                # A body complete for HTTP, then the same cut as a connection closed (FIN) mid-body.
                h.server.add(Reply.stream(pieces[:cut], content_type=self.stream_content_type))
                self._ck_judge_truncated(await self._ck_stream(h), f"a stream that ends cleanly {before}", h)
                h.server.add(Reply.stream(pieces, content_type=self.stream_content_type, cut_after=cut))
                outcome = await self._ck_stream(h)
                self._ck_judge_truncated(outcome, f"a stream whose connection closes {before}", h)

    @pytest.mark.anyio
    async def test_stream_error_event_raises(self) -> None:
        """An error event inside a 200 stream raises a ProviderError with the backend's message, never a Finish."""
        pieces = self.stream_error_pieces(ERROR_MESSAGE)
        if pieces is None:
            pytest.skip("the adapter scripts no in-band error: define stream_error_pieces(message)")
        async with self._ck_harness() as h:
            h.server.add(Reply.stream(pieces, content_type=self.stream_content_type))
            outcome = await self._ck_stream(h)
            what = "a 200 stream that carries an error event"
            if outcome.hung:
                _fail(f"{what}: did not end within {self.hang_limit_secs:g}s")
            if outcome.error is None:
                finished = any(isinstance(e, Finish) for e in outcome.events)
                _fail(f"{what} was reported as a success ({'with a Finish' if finished else 'without raising'})")
            error = outcome.error
            if not isinstance(error, ProviderError):
                _fail(f"{what}: the plugin crashed with {type(error).__name__} ({error}); raise a ProviderError")
            if any(isinstance(e, Finish) for e in outcome.events):
                _fail(f"{what}: yielded a Finish before raising; an error ends the stream without one")
            if ERROR_MESSAGE not in str(error):
                _fail(f"{what}: the {type(error).__name__} does not carry the backend's message: {error}")

    @pytest.mark.anyio
    @pytest.mark.parametrize("hook", ["chat", "stream"])
    async def test_finish_reason_follows_the_backend(self, hook: str) -> None:
        """An answer the backend stopped for its length finishes with FinishReason.LENGTH, its raw value kept."""
        if hook == "chat":
            reply = self.finish_reply(ANSWER, FinishReason.LENGTH)
        else:
            pieces = self.finish_pieces(STREAM_TEXTS, FinishReason.LENGTH)
            reply = None if pieces is None else Reply.stream(pieces, content_type=self.stream_content_type)
        if reply is None:
            method = "finish_reply" if hook == "chat" else "finish_pieces"
            pytest.skip(f"the adapter scripts no length finish: define {method}")
        async with self._ck_harness() as h:
            h.server.add(reply)
            what = f"provider_{hook} on an answer the backend stopped for its length"
            if hook == "chat":
                outcome = await self._ck_chat(h)
                if outcome.error is not None or outcome.hung:
                    _fail(f"{what}: failed with {outcome.error!r}")
                reason = outcome.result.finish_reason
            else:
                outcome = await self._ck_stream(h)
                if outcome.error is not None or outcome.hung:
                    _fail(f"{what}: failed with {outcome.error!r}")
                finishes = [e for e in outcome.events if isinstance(e, Finish)]
                if len(finishes) != 1:
                    _fail(f"{what}: {len(finishes)} Finish events, expected exactly one")
                reason = finishes[0].reason
            if reason is not FinishReason.LENGTH:
                _fail(f"{what}: the finish reason is {reason!r}, expected FinishReason.LENGTH")

    @pytest.mark.anyio
    @pytest.mark.parametrize("hook", ["chat", "stream"])
    async def test_usage_is_reported(self, hook: str) -> None:
        """The token counts the backend sent come back (ChatResponse.usage, or the one UsageEvent of a stream)."""
        expected = self.chat_usage() if hook == "chat" else self.stream_usage(STREAM_TEXTS)
        if expected is None:
            pytest.skip(f"the adapter says its scripted answer reports no usage (define {hook}_usage)")
        async with self._ck_harness() as h:
            what = f"provider_{hook} on an answer that reports usage"
            if hook == "chat":
                h.server.add(self.chat_reply(ANSWER))
                outcome = await self._ck_chat(h)
                if outcome.error is not None or outcome.hung:
                    _fail(f"{what}: failed with {outcome.error!r}")
                usage = outcome.result.usage
            else:
                h.server.add(Reply.stream(self.stream_pieces(STREAM_TEXTS), content_type=self.stream_content_type))
                outcome = await self._ck_stream(h)
                if outcome.error is not None or outcome.hung:
                    _fail(f"{what}: failed with {outcome.error!r}")
                reports = [e.usage for e in outcome.events if isinstance(e, UsageEvent)]
                if len(reports) != 1:
                    _fail(f"{what}: {len(reports)} UsageEvents, expected exactly one (the backend sent usage)")
                usage = reports[0]
            got = (usage.input_tokens, usage.output_tokens)
            want = (expected.input_tokens, expected.output_tokens)
            if got != want:
                _fail(f"{what}: usage (input, output) is {got}, but the backend sent {want}")

    # -- errors that are not what the protocol says -----------------------------------------

    @pytest.mark.anyio
    @pytest.mark.parametrize("hook", ["chat", "stream"])
    async def test_garbled_error_bodies_are_typed(self, hook: str) -> None:
        """An error body that is not JSON, is cut short or is an HTML page still gives the status's typed error."""
        bodies = (
            (500, "text/plain", b"upstream connect error or disconnect/reset before headers"),
            (502, "text/html", b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"),
            (400, "application/json", b'{"error": {"message": "scripted fail'),
            (503, "application/json", b"null"),
        )
        async with self._ck_harness() as h:
            for status, ctype, body in bodies:
                h.server.add(Reply.text(body, status=status, content_type=ctype))
                outcome = await (self._ck_chat(h) if hook == "chat" else self._ck_stream(h))
                expected = self.error_statuses.get(status, ApiError if status >= 500 else ProviderError)
                what = f"provider_{hook} answered with HTTP {status} and a {ctype} body {body[:24]!r}"
                self._ck_expect_error(outcome, expected, what, h.provider)
                assert isinstance(outcome.error, ProviderError)
                if outcome.error.retryable != _retryable(status):
                    _fail(f"{what}: retryable={outcome.error.retryable}, expected {_retryable(status)}")

    @pytest.mark.anyio
    async def test_chat_unexpected_success_body_is_typed(self) -> None:
        """A 200 whose body is not the protocol's answer (another JSON shape, HTML, cut JSON) is a ProviderError."""
        bodies = (
            ("application/json", b'{"unexpected": "shape", "items": [1, 2]}'),
            ("text/html", b"<html><body>Welcome to nginx!</body></html>"),
            ("application/json", b'{"id": "cut-short", "choi'),
            ("application/json", b"[]"),
        )
        async with self._ck_harness() as h:
            for ctype, body in bodies:
                h.server.add(Reply.text(body, content_type=ctype))
                outcome = await self._ck_chat(h)
                what = f"provider_chat answered with HTTP 200 and a {ctype} body {body[:24]!r}"
                self._ck_expect_error(outcome, ProviderError, what, h.provider)

    @pytest.mark.anyio
    async def test_stream_garbled_event_is_typed(self) -> None:
        """A 200 stream whose event is not what the protocol says (not JSON) raises a ProviderError, not a crash."""
        pieces = self.garbled_stream_pieces()
        if pieces is None:
            pytest.skip("the adapter scripts no garbled stream: define garbled_stream_pieces()")
        async with self._ck_harness() as h:
            h.server.add(Reply.stream(pieces, content_type=self.stream_content_type))
            outcome = await self._ck_stream(h)
            what = f"a 200 stream whose event is not what the protocol says ({_piece_text(pieces[0])})"
            self._ck_expect_error(outcome, ProviderError, what, h.provider)

    # -- hygiene ---------------------------------------------------------------------------------

    @pytest.mark.anyio
    async def test_one_http_client_is_reused(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The hooks use the ``http`` client core passes them: no new ``httpx.AsyncClient`` per request."""
        made: list[str] = []
        original = httpx.AsyncClient.__init__

        def counting(client: httpx.AsyncClient, *args: Any, **kwargs: Any) -> None:
            made.append(inspect.stack()[1].function)
            original(client, *args, **kwargs)

        async with self._ck_harness() as h:
            monkeypatch.setattr(httpx.AsyncClient, "__init__", counting)
            h.server.add(self.chat_reply(ANSWER), self.chat_reply(ANSWER))
            for hook in ("chat", "chat", "stream"):
                if hook == "stream":
                    h.server.add(Reply.stream(self.stream_pieces(STREAM_TEXTS), content_type=self.stream_content_type))
                outcome = await (self._ck_chat(h) if hook == "chat" else self._ck_stream(h))
                if outcome.error is not None or outcome.hung:
                    _fail(f"provider_{hook} failed on a successful answer: {outcome.error!r}")
                if made:
                    _fail(
                        f"provider_{hook} made a new httpx.AsyncClient (in {made[0]}) for a request; "
                        "use the `http` client core passes to the hook, which pools connections across calls"
                    )

    @pytest.mark.anyio
    async def test_hooks_do_not_block_the_event_loop(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """No hook blocks the event loop: no ``time.sleep``, no blocking socket I/O in the loop's thread."""
        loop_thread = threading.get_ident()
        blocked: list[str] = []

        def guard(name: str, original: Callable[..., Any], *, is_socket: bool) -> Callable[..., Any]:
            def guarded(*args: Any, **kwargs: Any) -> Any:
                if threading.get_ident() == loop_thread:
                    if not is_socket:
                        seconds = args[0] if args else kwargs.get("secs", 0)
                        if isinstance(seconds, (int, float)) and seconds > 0:
                            blocked.append(f"time.sleep({seconds!r})")
                    elif args and isinstance(args[0], socket.socket) and args[0].gettimeout() != 0.0:
                        blocked.append(f"a blocking socket {name}()")
                return original(*args, **kwargs)

            return guarded

        async with self._ck_harness() as h:
            monkeypatch.setattr(time, "sleep", guard("sleep", time.sleep, is_socket=False))
            for name in ("connect", "connect_ex", "recv", "recv_into", "send", "sendall"):
                monkeypatch.setattr(socket.socket, name, guard(name, getattr(socket.socket, name), is_socket=True))
            h.server.add(self.chat_reply(ANSWER))
            h.server.add(Reply.stream(self.stream_pieces(STREAM_TEXTS), content_type=self.stream_content_type))
            for hook in ("chat", "stream"):
                outcome = await (self._ck_chat(h) if hook == "chat" else self._ck_stream(h))
                if blocked:
                    _fail(
                        f"provider_{hook} blocks the event loop with {blocked[0]}: every other task (other "
                        "requests, timeouts) stops meanwhile; await anyio.sleep and use the `http` client instead"
                    )
                if outcome.error is not None or outcome.hung:
                    _fail(f"provider_{hook} failed on a successful answer: {outcome.error!r}")
            if self.script_models(h.server):
                await self._ck_models(h, refresh=True)
                if blocked:
                    _fail(f"provider_models blocks the event loop with {blocked[0]}")

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
    "error_statuses",
    "stream_end_marker",
    "reasoning_round_trip",
    "read_request",
    "provider_options_sample",
    "stream_end_piece",
    "stream_error_pieces",
    "finish_reply",
    "finish_pieces",
    "chat_usage",
    "stream_usage",
    "garbled_stream_pieces",
)

#: The names of every check, in the order they are defined.
CHECKS: tuple[str, ...] = tuple(name for name in vars(ProviderConformance) if name.startswith("test_"))
