"""The gateway's ASGI application (Starlette) over one :class:`~clawdesk.Clawdesk` per worker.

Routes: ``POST /v1/chat/completions``, ``GET /v1/models``, ``GET /healthz``,
``GET /metrics``. The chat route is a plain ASGI callable rather than a
Starlette endpoint, because it needs what a request/response handler hides:
it reads the body itself (bounded in size and time), and it listens for the
client's disconnect the whole time it waits on a provider, so that a client
that goes away cancels the upstream request at once (the provider's HTTP
response is closed, and with it its connection).

Order of checks on a chat request: key (401), body size and time (413, 408),
the body itself (400), the key's models (403), the key's budget (429), the
model (404), then the fallback engine.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from .._client import Clawdesk
from .._config import Config
from .._errors import ClawdeskError
from .._fallback import Attempt
from .._registry import Registry
from .._secret import Secret
from .._stream import ChatStream
from .._types import Finish, ReasoningDelta, TextDelta, ToolCallEvent, Usage, UsageEvent
from ._auth import GatewayKey, KeyRing, budget_name
from ._metrics import METRICS_DIR_ENV, Metrics, SharedMetrics
from ._protocol import (
    BadRequest,
    ErrorReply,
    ParsedChat,
    chunk,
    completion,
    error_body,
    error_of,
    finish_reason,
    parse_chat,
    tool_call_json,
    usage_json,
)

__all__ = ["Gateway", "app_from_environment", "create_app"]

log = logging.getLogger("clawdesk.serve")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

CHAT_ROUTE = "/v1/chat/completions"
#: How long a listing of every provider's models is reused.
MODELS_TTL_SECS = 60.0
_DONE = b"data: [DONE]\n\n"


class _Disconnected(Exception):
    """The client went away."""


class _TooLarge(Exception):
    """The body is over ``max_body_bytes``."""


class Gateway:
    """What one worker serves with: the client (providers, engine, state store), the keys, the counters.

    ``config`` is the whole configuration (its ``[serve]`` table included);
    ``registry``, ``env`` and ``keys`` (saved provider keys) go to the
    :class:`~clawdesk.Clawdesk`. Raises :class:`~clawdesk.ConfigError` for
    gateway keys that cannot be used.
    """

    def __init__(
        self,
        config: Config,
        *,
        registry: Registry | None = None,
        env: Mapping[str, str] | None = None,
        keys: Mapping[str, str | Secret] | None = None,
    ) -> None:
        self.config = config
        self.serve = config.serve
        self.keys = KeyRing.from_config(config.serve, env)
        # Enough upstream connections for every client a worker serves: with requests queueing for a
        # connection, httpcore's pool scan cost 7.5-12.5 ms of CPU per stream at 250 streams a worker,
        # against 6 ms with no queue (benchmarks/gateway.py). A larger [http] max_connections wins.
        pool = max(config.http.max_connections, config.serve.max_connections or 1000)
        self.client = Clawdesk(registry=registry, config=config, env=env, keys=keys, max_connections=pool)
        self.metrics = Metrics()
        directory = (os.environ if env is None else env).get(METRICS_DIR_ENV)
        self.shared = SharedMetrics(self.metrics, directory) if directory else None
        self._models: tuple[float, list[dict[str, Any]]] | None = None

    def authenticate(self, authorization: str | None) -> GatewayKey | ErrorReply | None:
        """The caller's key (``None`` on a gateway without keys), or the 401 to answer."""
        if self.keys.anonymous:
            return None
        key = self.keys.find(authorization)
        if key is not None:
            return key
        said = "missing" if not authorization else "not a known gateway key"
        message = f"the Authorization header is {said}: send 'Authorization: Bearer <gateway key>'"
        return ErrorReply(401, message, "invalid_request_error", "invalid_api_key", kind="unauthenticated")

    def chain(self, model: str) -> str | list[str]:
        """What ``model`` names: an alias's chain (a list), or one ``provider/model`` checked to exist.

        Raises :class:`~clawdesk.ProviderNotFound` or :class:`~clawdesk.InvalidModelId`.
        """
        alias = self.serve.models.get(model)
        if alias is not None:
            return list(alias.chain)
        self.client.resolve(model)
        return model

    async def models(self) -> list[dict[str, Any]]:
        """The aliases, then every provider's models (a provider that cannot list them is left out, and logged)."""
        now = time.monotonic()
        if self._models is not None and now - self._models[0] < MODELS_TTL_SECS:
            return self._models[1]
        rows: list[dict[str, Any]] = [
            {"id": alias, "object": "model", "created": 0, "owned_by": "clawdesk"} for alias in self.serve.models
        ]
        for listing in await self.client.models():
            if listing.error is not None:
                log.warning("GET /v1/models: %s", listing.error)
            for model in listing.models:
                row_id = f"{listing.provider}/{model.id}"
                rows.append({"id": row_id, "object": "model", "created": 0, "owned_by": listing.provider})
        self._models = (now, rows)
        return rows

    async def cooldown(self, error: BaseException) -> float | None:
        """The shortest cooldown left among the providers a failed chain skipped (for ``Retry-After``)."""
        attempts: Sequence[Attempt] = getattr(error, "attempts", ())
        waits = [await self.client.engine.cooldown_remaining(a.provider) for a in attempts if a.outcome == "skipped"]
        waits = [w for w in waits if w > 0]
        return min(waits) if waits else None


# -- plain ASGI helpers ----------------------------------------------------------------------------


#: One encoder for every body and event (``json.dumps`` with options builds a new one per call).
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _json_bytes(data: Any) -> bytes:
    return _ENCODER.encode(data).encode("utf-8")


def _retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))


async def _send_json(send: Send, status: int, data: Any, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    body = _json_bytes(data)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _send_error(send: Send, reply: ErrorReply, request_id: str | None = None) -> None:
    headers = []
    if reply.retry_after is not None:
        headers.append((b"retry-after", _retry_after(reply.retry_after).encode()))
    if request_id is not None:
        headers.append((b"x-request-id", request_id.encode()))
    await _send_json(send, reply.status, error_body(reply), headers)


def _headers(scope: Scope) -> dict[str, str]:
    return {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope.get("headers", ())}


async def _read_body(receive: Receive, limit: int, seconds: float) -> bytes:
    chunks: list[bytes] = []
    size = 0
    with anyio.fail_after(seconds):
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            piece = message.get("body", b"")
            size += len(piece)
            if size > limit:
                raise _TooLarge
            chunks.append(piece)
            if not message.get("more_body", False):
                return b"".join(chunks)


class _Watch:
    """Watches a request while it is answered: the client's disconnect, and a client that stops reading.

    :meth:`run` waits for ``http.disconnect`` and cancels the answer when it
    comes. :meth:`guard` cancels it when one write to the client has been
    waiting longer than ``seconds`` (a client that does not read fills the
    socket's buffer, and the server's flow control then holds the write): one
    timer for the whole answer instead of a deadline scope around every
    write, which cost about a millisecond per streamed answer.
    """

    def __init__(self) -> None:
        self.gone = False
        self.writing_since: float | None = None

    async def run(self, receive: Receive, scope: anyio.CancelScope) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.gone = True
                scope.cancel()
                return

    async def guard(self, seconds: float, scope: anyio.CancelScope) -> None:
        step = min(1.0, seconds / 4)
        while True:
            await anyio.sleep(step)
            since = self.writing_since
            if since is not None and time.monotonic() - since > seconds:
                self.gone = True
                scope.cancel()
                return


# -- the chat route --------------------------------------------------------------------------------


class ChatCompletions:
    """``POST /v1/chat/completions`` as a plain ASGI app (see the module docstring)."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gateway = self.gateway
        metrics = gateway.metrics
        started = time.perf_counter()
        request_id = f"chatcmpl-{uuid.uuid4().hex}"
        if scope.get("method") != "POST":
            reply = ErrorReply(405, "use POST", "invalid_request_error", "method_not_allowed", kind="bad_method")
            await self._refuse(send, reply, request_id, started)
            return
        headers = _headers(scope)
        key = gateway.authenticate(headers.get("authorization"))
        if isinstance(key, ErrorReply):
            await self._refuse(send, key, request_id, started)
            return
        serve = gateway.serve
        length = headers.get("content-length", "")
        try:
            if length.isdigit() and int(length) > serve.max_body_bytes:
                raise _TooLarge
            body = await _read_body(receive, serve.max_body_bytes, serve.body_timeout_secs)
        except _TooLarge:
            message = f"the request body is larger than {serve.max_body_bytes} bytes"
            reply = ErrorReply(413, message, "invalid_request_error", "request_too_large", kind="too_large")
            await self._refuse(send, reply, request_id, started)
            return
        except TimeoutError:
            message = f"the request body did not arrive within {serve.body_timeout_secs:g}s"
            reply = ErrorReply(408, message, "invalid_request_error", "request_timeout", kind="body_timeout")
            await self._refuse(send, reply, request_id, started)
            return
        except _Disconnected:
            metrics.disconnects += 1
            return
        try:
            parsed = parse_chat(body)
        except BadRequest as exc:
            kind = "invalid_request_error"
            reply = ErrorReply(exc.status, exc.message, kind, exc.code, exc.param, kind="bad_request")
            await self._refuse(send, reply, request_id, started)
            return
        if key is not None and not key.allows(parsed.model):
            message = f"this gateway key may not use the model {parsed.model!r}"
            reply = ErrorReply(403, message, "permission_error", "model_not_allowed", "model", kind="model_not_allowed")
            await self._refuse(send, reply, request_id, started)
            return
        if key is not None and key.limit is not None:
            admission = await gateway.client.engine.state.acquire(budget_name(key.name), key.limit, 0.0)
            if not admission.granted:
                message = f"this gateway key is over its budget; retry after {_retry_after(admission.wait)}s"
                wait = admission.wait
                reply = ErrorReply(429, message, "rate_limit_error", "rate_limit_exceeded", None, wait, "key_budget")
                await self._refuse(send, reply, request_id, started)
                return
        try:
            models = gateway.chain(parsed.model)
        except ClawdeskError as exc:
            await self._refuse(send, error_of(exc), request_id, started)
            return
        metrics.in_flight += 1
        try:
            if parsed.stream:
                await self._stream(parsed, models, receive, send, request_id, started)
            else:
                await self._whole(parsed, models, receive, send, request_id, started)
        finally:
            metrics.in_flight -= 1

    async def _refuse(self, send: Send, reply: ErrorReply, request_id: str, started: float) -> None:
        metrics = self.gateway.metrics
        metrics.failure(reply.kind)
        metrics.request(CHAT_ROUTE, "none", reply.status)
        level = logging.WARNING if reply.status >= 500 else logging.INFO
        log.log(level, "POST %s: %d %s", CHAT_ROUTE, reply.status, reply.message)
        await _send_error(send, reply, request_id)

    def _record(self, attempts: Sequence[Attempt], provider: str, status: int, started: float, usage: Usage) -> None:
        metrics = self.gateway.metrics
        for attempt in attempts:
            metrics.attempt(attempt.provider, attempt.outcome)
        metrics.usage(provider, usage.input_tokens, usage.output_tokens)
        metrics.request(CHAT_ROUTE, provider, status, time.perf_counter() - started)

    async def _failed(self, send: Send, exc: BaseException, attempts: Sequence[Attempt], rid: str, t0: float) -> None:
        gateway = self.gateway
        reply = error_of(exc, cooldown=await gateway.cooldown(exc))
        for attempt in attempts:
            gateway.metrics.attempt(attempt.provider, attempt.outcome)
        await self._refuse(send, reply, rid, t0)

    async def _whole(
        self, parsed: ParsedChat, models: str | list[str], receive: Receive, send: Send, rid: str, started: float
    ) -> None:
        client = self.gateway.client
        watch = _Watch()
        result = None
        failure: BaseException | None = None
        async with anyio.create_task_group() as group:
            group.start_soon(watch.run, receive, group.cancel_scope)
            try:
                result = await client.engine.chat(models, parsed.messages, parsed.options)
            except (ClawdeskError, ValueError) as exc:
                failure = exc
            group.cancel_scope.cancel()
        if watch.gone:
            self.gateway.metrics.disconnects += 1
            return
        if failure is not None or result is None:
            assert failure is not None
            await self._failed(send, failure, getattr(failure, "attempts", ()), rid, started)
            return
        created = int(time.time())
        body = completion(result.response, id=rid, created=created, model=str(result.target))
        self._record(result.attempts, result.target.provider, 200, started, result.response.usage)
        await _send_json(send, 200, body, [(b"x-request-id", rid.encode())])

    async def _stream(
        self, parsed: ParsedChat, models: str | list[str], receive: Receive, send: Send, rid: str, started: float
    ) -> None:
        stream = self.gateway.client.engine.stream(models, parsed.messages, parsed.options)
        watch = _Watch()
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(watch.run, receive, group.cancel_scope)
                group.start_soon(watch.guard, self.gateway.serve.send_timeout_secs, group.cancel_scope)
                try:
                    await self._pump(stream, parsed, send, rid, started, watch)
                except _Disconnected:
                    watch.gone = True
                group.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await stream.aclose()
        if watch.gone:
            self.gateway.metrics.disconnects += 1
            self.gateway.metrics.failure("client_disconnected")

    async def _pump(
        self, stream: ChatStream, parsed: ParsedChat, send: Send, rid: str, started: float, watch: _Watch
    ) -> None:
        gateway = self.gateway
        clock = time.monotonic

        async def emit(data: bytes) -> None:
            watch.writing_since = clock()
            try:
                await send({"type": "http.response.body", "body": data, "more_body": True})
            except OSError:
                raise _Disconnected from None
            watch.writing_since = None

        # The events themselves, not the ChatStream: it would keep every event of the answer for
        # `.response`, which the gateway never reads (a long answer would sit in memory until its end).
        events = stream.events
        try:
            first = await events.__anext__()
        except (ClawdeskError, ValueError) as exc:
            await self._failed(send, exc, stream.attempts, rid, started)
            return
        target = stream.target
        provider = target.provider if target is not None else "none"
        model = str(target) if target is not None else parsed.model
        created = int(time.time())

        def frame(delta: Mapping[str, Any] | None = None, **kw: Any) -> bytes:
            return b"data: " + _json_bytes(chunk(id=rid, created=created, model=model, delta=delta, **kw)) + b"\n\n"

        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream; charset=utf-8"),
                    (b"cache-control", b"no-cache"),
                    (b"x-accel-buffering", b"no"),
                    (b"x-request-id", rid.encode()),
                ],
            }
        )
        usage = Usage()
        tools = 0
        await emit(frame({"role": "assistant", "content": ""}))
        event: Any = first
        try:
            while True:
                kind = type(event)
                if kind is TextDelta:
                    if event.text:
                        await emit(frame({"content": event.text}))
                elif kind is ReasoningDelta:
                    if event.text:
                        await emit(frame({"reasoning_content": event.text}))
                elif kind is ToolCallEvent:
                    await emit(frame({"tool_calls": [tool_call_json(event.call, tools)]}))
                    tools += 1
                elif kind is UsageEvent:
                    usage = event.usage
                elif kind is Finish:
                    await emit(frame({}, finish=finish_reason(event.reason)))
                try:
                    event = await events.__anext__()
                except StopAsyncIteration:
                    break
        except ClawdeskError as exc:
            # Headers are out: the error travels as one last event, and the stream ends without [DONE].
            reply = error_of(exc)
            gateway.metrics.failure(reply.kind)
            log.warning("POST %s: the stream from %s broke: %s", CHAT_ROUTE, provider, reply.message)
            await emit(b"data: " + _json_bytes(error_body(reply)) + b"\n\n")
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            self._record(stream.attempts, provider, 200, started, usage)
            return
        if parsed.include_usage:
            data = usage_json(usage)
            if data is not None:
                await emit(frame(None, usage=data))
        await emit(_DONE)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        self._record(stream.attempts, provider, 200, started, usage)


# -- the other routes ------------------------------------------------------------------------------


def _error_response(reply: ErrorReply) -> JSONResponse:
    headers = {"retry-after": _retry_after(reply.retry_after)} if reply.retry_after is not None else None
    return JSONResponse(error_body(reply), status_code=reply.status, headers=headers)


def create_app(gateway: Gateway) -> Starlette:
    """The ASGI application serving ``gateway``."""

    async def list_models(request: Request) -> Response:
        key = gateway.authenticate(request.headers.get("authorization"))
        if isinstance(key, ErrorReply):
            gateway.metrics.request("/v1/models", "none", key.status)
            return _error_response(key)
        rows = await gateway.models()
        if key is not None:
            rows = [row for row in rows if key.allows(row["id"])]
        gateway.metrics.request("/v1/models", "none", 200)
        return JSONResponse({"object": "list", "data": rows})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "pid": os.getpid()})

    async def metrics(request: Request) -> Response:
        text = gateway.shared.render() if gateway.shared is not None else gateway.metrics.render()
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4; charset=utf-8")

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
        message = f"{request.method} {request.url.path}: {exc.detail}"
        return _error_response(ErrorReply(exc.status_code, message, "invalid_request_error", code))

    async def publish(shared: SharedMetrics) -> None:
        while True:
            try:
                shared.write()
            except OSError as exc:  # a full disk must not stop the worker; the next second tries again
                log.warning("cannot write the metrics snapshot %s: %s", shared.path, exc)
            await anyio.sleep(1.0)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        try:
            async with anyio.create_task_group() as group:
                if gateway.shared is not None:
                    group.start_soon(publish, gateway.shared)
                yield
                group.cancel_scope.cancel()
        finally:
            await gateway.client.aclose()

    return Starlette(
        routes=[
            Route(CHAT_ROUTE, ChatCompletions(gateway), methods=["POST"]),
            Route("/v1/models", list_models, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ],
        exception_handlers={HTTPException: http_error},
        lifespan=lifespan,
    )


def app_from_environment() -> Starlette:
    """The app of one worker process: the config ``$CLAWDESK_CONFIG`` names (uvicorn's factory)."""
    from .._config import load_config
    from .._keys import load_keys
    from .._secret import RedactingFilter

    root = logging.getLogger()
    if not root.handlers:  # a worker process started by uvicorn: log like the CLI does, redacted
        handler = logging.StreamHandler()
        handler.addFilter(RedactingFilter())
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.WARNING)
    return create_app(Gateway(load_config(), keys=load_keys()))
