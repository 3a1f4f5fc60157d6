"""The fault-matrix harness: real HTTP on 127.0.0.1 through the real provider plugins.

Every case builds a fresh :class:`clawdesk.Clawdesk` (fresh HTTP client, so a
case never inherits another's pool), points one provider at a module-wide
:class:`~clawdesk.testing.ScriptedServer`, makes exactly one chat or stream
call through the public API (``chat_target`` / ``stream_target``: one attempt,
no retries, no fallback) and records an :class:`Outcome`:

- what came back (response, events) or what was raised;
- how long it took;
- how many requests reached the server's chat endpoint;
- which pooled connections were still checked out afterwards (read from the
  provider's own ``httpx.AsyncClient``: ``client._transport._pool`` is an
  ``httpcore.AsyncConnectionPool``; a connection that is neither idle nor
  closed, or a pool request still registered, is a leak);
- every log record emitted at DEBUG while the call ran.

Each outcome is also swept for the fake API key: error messages, reprs, the
whole ``__cause__``/``__context__`` chain, delivered events and log records.

The wire builders speak each provider's wire format as the real service does
(see ``/work/shared/protocols/{mistral,ollama}.md``, summarised in the class
docstrings below so the tests need nothing outside the repository).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import anyio
import pytest
from attrs import define, field

import clawdesk
from clawdesk import (
    ChatRequest,
    ChatResponse,
    Finish,
    Message,
    ModelInfo,
    ProviderError,
    Registry,
    StreamEvent,
    StreamInterrupted,
    TextDelta,
)
from clawdesk.testing import Reply, ScriptedServer

#: A key nobody could mistake for anything else: if it shows up anywhere, it leaked.
FAKE_KEY = "sk-clawdesk-LEAKCHECK-7f3a9c1e5b2d4680"
#: Per-read timeout every case configures; stall cases must end close to it.
TIMEOUT = 0.5
#: Slack on top of the timeout for "returned in time" (a busy 2-core CI machine).
MARGIN = 1.0


# -- wire formats ------------------------------------------------------------------


class Wire:
    """What one provider's backend sends: success bodies, stream frames, end markers, error bodies."""

    name: str
    model: str
    #: Appended to the server's URL to form the provider's ``base_url``.
    base_path: str
    #: The path the provider POSTs chat requests to.
    chat_path: str
    #: The path the provider GETs to list models.
    models_path: str
    stream_content_type: str

    def chat_body(self, text: str) -> bytes:
        raise NotImplementedError

    def frame(self, text: str) -> bytes:
        """One stream frame carrying a piece of text (one :class:`TextDelta`)."""
        raise NotImplementedError

    def final_frame(self) -> bytes:
        """The frame with the finish reason and usage."""
        raise NotImplementedError

    def end_marker(self) -> bytes:
        """What ends the stream after the final frame (empty when the final frame is the end)."""
        raise NotImplementedError

    def error_json(self, status: int, message: str) -> bytes:
        """An error body in the provider's own JSON shape."""
        raise NotImplementedError

    def stream_error_frame(self, message: str) -> bytes:
        """The provider's in-band signal that generation failed mid-stream."""
        raise NotImplementedError

    def malformed_frame(self) -> bytes:
        """A frame whose payload is not valid JSON."""
        raise NotImplementedError

    # -- derived -----------------------------------------------------------------

    def stream_pieces(self, texts: Sequence[str]) -> list[bytes]:
        """A complete, well-formed stream: one frame per text, the final frame, the end marker."""
        pieces = [self.frame(t) for t in texts] + [self.final_frame()]
        end = self.end_marker()
        return [*pieces, end] if end else pieces

    def chat_reply(self, text: str = "Hello there", **kw: Any) -> Reply:
        return Reply(status=200, headers=(("content-type", "application/json"),), chunks=(self.chat_body(text),), **kw)

    def stream_reply(self, pieces: Sequence[bytes], **kw: Any) -> Reply:
        return Reply.stream(pieces, content_type=self.stream_content_type, **kw)


class MistralWire(Wire):
    """La Plateforme: OpenAI-style chat completions; SSE ``data: {json}`` frames ended by ``data: [DONE]``.

    Errors are ``{"object":"error","message","type","param","code"}`` (422: ``{"detail":[{loc,msg,type}]}``).
    Source: /work/shared/protocols/mistral.md (Mistral OpenAPI spec and SDK models, 2026).
    """

    name = "mistral"
    model = "mistral-small-latest"
    base_path = "/v1"
    chat_path = "/v1/chat/completions"
    models_path = "/v1/models"
    stream_content_type = "text/event-stream; charset=utf-8"
    _head: ClassVar[dict[str, Any]] = {
        "id": "cmpl-rel-1",
        "object": "chat.completion.chunk",
        "created": 1760000000,
        "model": model,
    }

    def chat_body(self, text: str) -> bytes:
        body = {
            "id": "cmpl-rel-1",
            "object": "chat.completion",
            "created": 1760000000,
            "model": self.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
        }
        return json.dumps(body).encode()

    def _chunk(self, delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        data = {**self._head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
        return b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"

    def frame(self, text: str) -> bytes:
        return self._chunk({"role": "assistant", "content": text})

    def final_frame(self) -> bytes:
        usage = {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
        return self._chunk({"content": ""}, "stop", usage=usage)

    def end_marker(self) -> bytes:
        return b"data: [DONE]\n\n"

    def error_json(self, status: int, message: str) -> bytes:
        if status == 422:
            detail = [{"type": "missing", "loc": ["body", "messages"], "msg": message, "input": None}]
            return json.dumps({"detail": detail}).encode()
        kind = {401: "unauthorized", 429: "rate_limited"}.get(status, "invalid_request_error" if status < 500 else "")
        return json.dumps(
            {"object": "error", "message": message, "type": kind or "internal_error", "param": None, "code": "3000"}
        ).encode()

    def stream_error_frame(self, message: str) -> bytes:
        # Mistral documents no error event: finish_reason "error" is the in-band failure signal.
        return self._chunk({"content": ""}, "error")

    def malformed_frame(self) -> bytes:
        return b'data: {"id": "cmpl-rel-1", "choices": [{"index": 0, "delta": {"content": "x"\n\n'


class OllamaWire(Wire):
    """Ollama's native ``/api/chat``: one JSON object per line (NDJSON), the last one ``"done": true``.

    Errors are ``{"error": "message"}``, also as a line inside a 200 stream.
    Source: /work/shared/protocols/ollama.md (ollama/ollama api/types.go and docs/api.md, 2026).
    """

    name = "ollama"
    model = "llama3.2"
    base_path = ""
    chat_path = "/api/chat"
    models_path = "/api/tags"
    stream_content_type = "application/x-ndjson"

    def _line(self, data: dict[str, Any]) -> bytes:
        return json.dumps({"model": self.model, "created_at": "2026-01-01T00:00:00Z", **data}).encode() + b"\n"

    def _final(self) -> dict[str, Any]:
        return {
            "done": True,
            "done_reason": "stop",
            "total_duration": 1000,
            "load_duration": 10,
            "prompt_eval_count": 5,
            "prompt_eval_duration": 100,
            "eval_count": 2,
            "eval_duration": 100,
        }

    def chat_body(self, text: str) -> bytes:
        return self._line({"message": {"role": "assistant", "content": text}, **self._final()}).rstrip(b"\n")

    def frame(self, text: str) -> bytes:
        return self._line({"message": {"role": "assistant", "content": text}, "done": False})

    def final_frame(self) -> bytes:
        return self._line({"message": {"role": "assistant", "content": ""}, **self._final()})

    def end_marker(self) -> bytes:
        return b""

    def error_json(self, status: int, message: str) -> bytes:
        return json.dumps({"error": message}).encode()

    def stream_error_frame(self, message: str) -> bytes:
        return json.dumps({"error": message}).encode() + b"\n"

    def malformed_frame(self) -> bytes:
        return b'{"model": "llama3.2", "message": {"content": "x"\n'


WIRES: dict[str, Wire] = {"mistral": MistralWire(), "ollama": OllamaWire()}


# -- outcomes ----------------------------------------------------------------------


def _chain(exc: BaseException | None) -> Iterator[BaseException]:
    seen: set[int] = set()
    stack = [exc] if exc is not None else []
    while stack:
        item = stack.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        stack.extend([item.__cause__, item.__context__, getattr(item, "cause", None)])


@define
class Outcome:
    """What one call did. The ``assert_*`` methods check it and say precisely what differed."""

    case: str
    mode: str
    timeout: float
    error: BaseException | None = None
    response: ChatResponse | None = None
    models: tuple[ModelInfo, ...] = ()
    events: list[StreamEvent] = field(factory=list)
    elapsed: float = 0.0
    requests: int = 0
    busy_connections: list[str] = field(factory=list)
    cancelled: bool = False
    logs: list[str] = field(factory=list)

    def text(self) -> str:
        if self.response is not None:
            return self.response.message.text
        return "".join(e.text for e in self.events if isinstance(e, TextDelta))

    def describe(self) -> str:
        got = f"{type(self.error).__name__}: {self.error}" if self.error is not None else "success"
        return f"[{self.case} / {self.mode}] got {got} after {self.elapsed:.2f}s"

    def assert_hygiene(self, *, budget: float | None = None) -> None:
        """Returned in time, nothing left checked out of the pool, and the key appears nowhere."""
        limit = (self.timeout if budget is None else budget) + MARGIN
        assert self.elapsed <= limit, f"{self.describe()}: took longer than {limit:.2f}s"
        assert not self.busy_connections, f"{self.describe()}: connections still checked out: {self.busy_connections}"
        texts: list[str] = list(self.logs)
        for exc in _chain(self.error):
            texts += [str(exc), repr(exc), *(str(a) for a in exc.args)]
        texts += [repr(e) for e in self.events]
        if self.response is not None:
            texts.append(repr(self.response))
        leaked = [t for t in texts if FAKE_KEY in t]
        assert not leaked, f"{self.describe()}: the API key leaked into: {leaked[0][:200]!r}"

    def assert_ok(self, *, text: str | None = None, budget: float | None = None) -> None:
        """The call succeeded (a stream: exactly one Finish, last) with ``text`` when given."""
        assert self.error is None, f"{self.describe()}: expected success"
        if self.mode == "stream":
            finishes = [e for e in self.events if isinstance(e, Finish)]
            assert len(finishes) == 1, f"{self.describe()}: expected one Finish, got {self.events!r}"
            assert isinstance(self.events[-1], Finish), f"{self.describe()}: Finish is not the last event"
        elif self.mode == "models":
            assert self.models, f"{self.describe()}: no models listed"
        else:
            assert self.response is not None
        if text is not None:
            got = self.text()
            assert got == text, f"{self.describe()}: text {got[:60]!r}... (len {len(got)}), expected len {len(text)}"
        self.assert_hygiene(budget=budget)

    def assert_error(
        self,
        kind: type[ProviderError],
        *,
        retryable: bool,
        status: int | None = None,
        budget: float | None = None,
    ) -> ProviderError:
        """The call raised exactly ``kind`` with this ``retryable`` flag (and HTTP ``status``), in one clean line."""
        error = self.error
        assert error is not None, f"{self.describe()}: expected {kind.__name__}"
        assert type(error) is kind, f"{self.describe()}: expected exactly {kind.__name__}"
        assert isinstance(error, ProviderError)
        assert error.retryable is retryable, f"{self.describe()}: retryable={error.retryable}, expected {retryable}"
        if status is not None:
            assert error.status == status, f"{self.describe()}: status={error.status}, expected {status}"
        message = str(error)
        assert "\n" not in message, f"{self.describe()}: not one line"
        assert message.strip() == message, f"{self.describe()}: stray whitespace around the message"
        assert message.startswith(f"{error.provider}: "), f"{self.describe()}: message does not name the provider"
        assert error.provider == WIRES[error.provider].name
        self.assert_hygiene(budget=budget)
        return error

    def assert_interrupted(
        self, *, delivered: int, cause: tuple[type[ProviderError], ...], budget: float | None = None
    ) -> StreamInterrupted:
        """A stream failed after ``delivered`` text events: StreamInterrupted holding them and a ``cause`` error."""
        error = self.assert_error(StreamInterrupted, retryable=False, budget=budget)
        assert isinstance(error, StreamInterrupted)
        texts = [e for e in error.delivered if isinstance(e, TextDelta)]
        assert len(texts) == delivered, f"{self.describe()}: delivered {error.delivered!r}, expected {delivered}"
        assert list(error.delivered) == self.events, f"{self.describe()}: delivered != events the caller saw"
        assert isinstance(error.cause, cause), (
            f"{self.describe()}: cause {type(error.cause).__name__}, expected {[c.__name__ for c in cause]}"
        )
        return error


# -- harness -----------------------------------------------------------------------


def _busy(client: Any) -> list[str]:
    """Connections of the client's pool that are still checked out (neither idle nor closed)."""
    pool = getattr(client._transport, "_pool", None)
    assert pool is not None, f"cannot see the pool of {client._transport!r}"
    busy = [repr(c) for c in pool.connections if not (c.is_idle() or c.is_closed())]
    pending = len(getattr(pool, "_requests", ()))
    if pending:
        busy.append(f"{pending} request(s) still registered with the pool")
    return busy


def _toml(table: dict[str, Any]) -> str:
    # JSON strings, numbers and booleans are valid TOML values.
    return "\n".join(f"{key} = {json.dumps(value)}" for key, value in table.items())


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def provider_table(name: str, *, base_url: str, timeout: float = TIMEOUT, **extra: Any) -> dict[str, Any]:
    """The ``[providers.<name>]`` table a case runs with: the fake key, no retries, a short timeout.

    ``extra`` adds or overrides keys; a key given as ``None`` is left out (so its default applies).
    """
    table = {
        "api_key": FAKE_KEY,
        "base_url": base_url,
        "timeout_secs": timeout,
        "max_retries": 0,
        "default_model": WIRES[name].model,
        # Every case talks plain http:// on loopback, where TLS plays no part; without this each case's
        # new client would load the CA bundle (~20-70 ms), most of the matrix's run time. Certificate
        # checking itself is tested in test_secrets_tls.py, with verify_tls left at its default.
        "verify_tls": False,
        # Ollama waits longer for the first byte (a model may be loading); the matrix wants one short timeout.
        **({"first_byte_timeout_secs": timeout} if name == "ollama" else {}),
        **extra,
    }
    return {key: value for key, value in table.items() if value is not None}


@define
class Harness:
    """Runs one case against the module's server; see the module docstring."""

    server: ScriptedServer
    registry: Registry

    def wire(self, name: str) -> Wire:
        return WIRES[name]

    def url(self, name: str) -> str:
        return self.server.url + WIRES[name].base_path

    def table(self, name: str, **extra: Any) -> dict[str, Any]:
        """The provider table of a case pointed at this harness's server."""
        return provider_table(name, base_url=self.url(name), **extra)

    def clawdesk(self, name: str, table: dict[str, Any]) -> clawdesk.Clawdesk:
        config = clawdesk.parse_config(f"[providers.{name}]\n{_toml(table)}\n")
        return clawdesk.Clawdesk(registry=self.registry, config=config, env={})

    async def run(
        self,
        name: str,
        reply: Reply | Any,
        *,
        mode: str,
        case: str = "",
        base_url: str | None = None,
        timeout: float = TIMEOUT,  # noqa: ASYNC109 - the provider's configured timeout, not a deadline for run()
        limit_events: int | None = None,
        cancel_after: float | None = None,
        **extra: Any,
    ) -> Outcome:
        """Answer the provider's endpoint with ``reply`` (a Reply or a handler) and make one call.

        ``mode`` is ``"chat"``, ``"stream"`` or ``"models"`` (a refreshed model
        listing: the reply answers the listing endpoint). ``limit_events``
        stops reading a stream after that many events; ``cancel_after``
        cancels the call (an anyio cancel scope) after that many seconds.
        """
        wire = WIRES[name]
        if mode == "models":
            self.server.route("GET", wire.models_path, reply)
        else:
            self.server.route("POST", wire.chat_path, reply)
        table = provider_table(name, base_url=base_url or self.url(name), timeout=timeout, **extra)
        outcome = Outcome(case=case or name, mode=mode, timeout=timeout)
        before = self._requests(wire, mode)
        records = _Records()
        records.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        root = logging.getLogger()
        old_level = root.level
        root.addHandler(records)
        root.setLevel(logging.DEBUG)
        cd = self.clawdesk(name, table)
        try:
            target = cd.resolve(f"{name}/{wire.model}")
            request = ChatRequest(wire.model, (Message.user("hello"),))
            start = time.monotonic()
            try:
                with anyio.move_on_after(math.inf if cancel_after is None else cancel_after) as scope:
                    if mode == "chat":
                        outcome.response = await cd.chat_target(target, request)
                    elif mode == "models":
                        (listing,) = await cd.models(name, refresh=True)
                        outcome.error, outcome.models = listing.error, listing.models
                    else:
                        async with cd.stream_target(target, request) as events:
                            async for event in events:
                                outcome.events.append(event)
                                if limit_events is not None and len(outcome.events) >= limit_events:
                                    break
                outcome.cancelled = scope.cancelled_caught
            except Exception as exc:  # noqa: BLE001 - any escape is recorded and judged by the test
                outcome.error = exc
            outcome.elapsed = time.monotonic() - start
            outcome.busy_connections = self.busy(cd, name)
        finally:
            await cd.aclose()
            root.removeHandler(records)
            root.setLevel(old_level)
        outcome.logs = records.lines
        outcome.requests = self._requests(wire, mode) - before
        return outcome

    @staticmethod
    def busy(cd: clawdesk.Clawdesk, name: str) -> list[str]:
        """The connections of provider ``name``'s pool that are checked out right now."""
        return _busy(cd.http_client(name))

    def _requests(self, wire: Wire, mode: str) -> int:
        path = wire.models_path if mode == "models" else wire.chat_path
        return sum(1 for r in list(self.server.requests) if r.path == path)


def _plugin(package: str) -> object:
    import importlib

    # The object each distribution's entry point names.
    return importlib.import_module(f"{package}._plugin")


@pytest.fixture(scope="session")
def registry() -> Registry:
    """Both real provider plugins, registered directly (no entry-point discovery)."""
    reg = Registry(discover=False)
    reg.register(_plugin("clawdesk_mistral"))
    reg.register(_plugin("clawdesk_ollama"))
    return reg


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedServer]:
    """One scripted server per module; each case re-routes the chat endpoint."""
    with ScriptedServer() as srv:
        yield srv


@pytest.fixture
def harness(server: ScriptedServer, registry: Registry) -> Harness:
    """The case runner bound to this module's server."""
    return Harness(server, registry)


@pytest.fixture
def anyio_backend() -> str:
    """The matrix runs on asyncio; test_trio.py repeats a representative subset on trio."""
    return "asyncio"


@pytest.fixture
def fake_key() -> str:
    """The API key every case is configured with; it must never show up anywhere."""
    return FAKE_KEY
