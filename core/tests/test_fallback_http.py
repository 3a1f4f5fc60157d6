"""The fallback engine over real HTTP on 127.0.0.1, with a small NDJSON test provider and ScriptedServer."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from clawdesk import (
    AllProvidersFailed,
    ChatRequest,
    ChatResponse,
    Clawdesk,
    Config,
    ConnectionFailed,
    FallbackConfig,
    FallbackEngine,
    Finish,
    FinishReason,
    Message,
    Registry,
    StreamEvent,
    StreamInterrupted,
    TextDelta,
)
from clawdesk.provider import hookimpl
from clawdesk.testing import FakeClock, Reply, ScriptedServer, unused_port


class NdjsonProvider:
    """A test provider: ``POST /chat`` answers ``{"content"}``; ``POST /stream`` answers NDJSON lines.

    Stream lines are ``{"text": "..."}`` (one TextDelta each) and a final
    ``{"done": true}`` (the Finish). Errors are mapped with the wire toolkit, as
    a real plugin maps them.
    """

    CLAWDESK_CONTRACT = 2

    def __init__(self, name: str) -> None:
        self.name = name

    @hookimpl
    def provider_name(self) -> str:
        return self.name

    @hookimpl
    async def provider_models(self) -> list[Any]:
        return []

    @hookimpl
    def provider_capabilities(self, model: str) -> None:
        return None

    def _body(self, request: ChatRequest) -> dict[str, Any]:
        return {"model": request.model, "messages": [m.text for m in request.messages]}

    @hookimpl
    async def provider_chat(self, config: Any, http: Any, request: ChatRequest) -> ChatResponse:
        import httpx

        from clawdesk.provider import map_transport_error, raise_for_response

        try:
            response = await http.post(config.base_url + "/chat", json=self._body(request))
        except httpx.HTTPError as exc:
            raise map_transport_error(self.name, exc) from exc
        await raise_for_response(self.name, response, model=request.model)
        return ChatResponse(
            message=Message.assistant(response.json()["content"]),
            finish_reason=FinishReason.STOP,
            provider=self.name,
            model=request.model,
        )

    @hookimpl
    def provider_stream(self, config: Any, http: Any, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        return self._stream(config, http, request)

    async def _stream(self, config: Any, http: Any, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        import httpx

        from clawdesk.provider import map_transport_error, raise_for_response

        try:
            async with http.stream("POST", config.base_url + "/stream", json=self._body(request)) as response:
                await raise_for_response(self.name, response, model=request.model)
                async for line in response.aiter_lines():
                    if not line.strip():
                        continue
                    data = json.loads(line)
                    if data.get("done"):
                        yield Finish(FinishReason.STOP)
                        return
                    yield TextDelta(data["text"])
        except httpx.HTTPError as exc:
            raise map_transport_error(self.name, exc) from exc
        raise ConnectionFailed("the stream ended without a done line", provider=self.name)


def ndjson(*texts: str, done: bool = True) -> list[bytes]:
    lines = [json.dumps({"text": t}).encode() + b"\n" for t in texts]
    return [*lines, b'{"done": true}\n'] if done else lines


def client_for(urls: dict[str, str], time: FakeClock | None = None, **fallback: Any) -> Clawdesk:
    """A client whose providers (named as ``urls``' keys) talk to those base URLs, chained in that order."""
    registry = Registry(discover=False)
    for name in urls:
        registry.register(NdjsonProvider(name))
    fallback.setdefault("chain", tuple(urls))
    client = Clawdesk(
        registry=registry,
        config=Config(
            providers={name: {"base_url": url, "default_model": "m", "timeout_secs": 5} for name, url in urls.items()},
            fallback=FallbackConfig(**fallback),
        ),
    )
    if time is not None:
        client.engine = FallbackEngine(client, clock=time.clock, sleep=time.sleep, rng=random.Random(0))
    return client


@pytest.mark.anyio
async def test_429_with_retry_after_is_retried_after_that_wait() -> None:
    """A 429 with Retry-After: 1 is retried on the same provider after waiting exactly 1 s, then succeeds."""
    time = FakeClock()
    with ScriptedServer() as first, ScriptedServer() as second:
        first.add(Reply.json({"message": "slow down"}, status=429, headers=[("retry-after", "1")]))
        first.add(Reply.json({"content": "hello"}))
        async with client_for({"first": first.url, "second": second.url}, time) as client:
            result = await client.chat_with_attempts(None, "hi")
    assert result.response.message.text == "hello"
    assert time.waits == [1.0]
    assert [(a.provider, a.outcome, a.kind, a.status) for a in result.attempts] == [
        ("first", "failed", "rate_limited", 429),
        ("first", "ok", None, None),
    ]
    assert result.attempts[1].wait_secs == 1.0
    assert len(first.requests) == 2
    assert second.requests == []


@pytest.mark.anyio
async def test_429_wait_happens_in_real_time() -> None:
    """With the real clock, the retry after Retry-After: 1 comes about a second after the 429."""
    with ScriptedServer() as server:
        server.add(Reply.json({"message": "slow down"}, status=429, headers=[("retry-after", "1")]))
        server.add(Reply.json({"content": "hello"}))
        async with client_for({"first": server.url}) as client:
            began = anyio.current_time()
            result = await client.chat_with_attempts(None, "hi")
            took = anyio.current_time() - began
    assert result.response.message.text == "hello"
    assert result.attempts[1].wait_secs == 1.0
    assert 0.9 <= took < 5


@pytest.mark.anyio
async def test_refused_connection_falls_through_to_the_second_provider() -> None:
    """A provider that refuses connections is retried, then the chain falls through to the next one."""
    time = FakeClock()
    dead = f"http://127.0.0.1:{unused_port()}"
    with ScriptedServer() as second:
        second.add(Reply.json({"content": "from second"}))
        async with client_for({"first": dead, "second": second.url}, time, max_retries_per_provider=1) as client:
            result = await client.chat_with_attempts(None, "hi")
    assert result.response.message.text == "from second"
    assert [(a.provider, a.outcome, a.kind) for a in result.attempts] == [
        ("first", "failed", "connection_failed"),
        ("first", "failed", "connection_failed"),
        ("second", "ok", None),
    ]
    assert len(time.waits) == 1


@pytest.mark.anyio
async def test_stream_cut_after_three_events_is_interrupted() -> None:
    """A stream cut after three events raises StreamInterrupted holding exactly those three events."""
    with ScriptedServer() as first, ScriptedServer() as second:
        first.add(Reply.stream(ndjson("a", "b", "c", "d"), content_type="application/x-ndjson", cut_after=3))
        async with client_for({"first": first.url, "second": second.url}, FakeClock()) as client:
            got: list[StreamEvent] = []
            stream = client.stream(None, "hi")
            with pytest.raises(StreamInterrupted) as info:
                await _read(stream, got)
    assert got == [TextDelta("a"), TextDelta("b"), TextDelta("c")]
    assert info.value.delivered == tuple(got)
    assert isinstance(info.value.cause, ConnectionFailed)
    assert second.requests == []  # never restarted elsewhere
    assert len(first.requests) == 1  # nor on the same provider
    assert stream.attempts[-1].kind == "stream_interrupted"


@pytest.mark.anyio
async def test_stream_error_status_before_the_first_event_falls_back() -> None:
    """A stream answered with 503 before any event moves on; the caller sees only the second provider's stream."""
    with ScriptedServer() as first, ScriptedServer() as second:
        first.add(Reply.json({"message": "down"}, status=503))
        second.add(Reply.stream(ndjson("x", "y"), content_type="application/x-ndjson"))
        async with client_for(
            {"first": first.url, "second": second.url}, FakeClock(), max_retries_per_provider=0
        ) as client:
            got: list[StreamEvent] = []
            stream = client.stream(None, "hi")
            await _read(stream, got)
    assert got == [TextDelta("x"), TextDelta("y"), Finish(FinishReason.STOP)]
    assert str(stream.target) == "second/m"
    assert [(a.provider, a.kind, a.status) for a in stream.attempts] == [
        ("first", "api_error", 503),
        ("second", None, None),
    ]


@pytest.mark.anyio
async def test_deadline_cancels_a_stalled_request_and_closes_its_connection() -> None:
    """At the chain's deadline the slow request is cancelled, its connection closed, and nothing else is tried."""
    with ScriptedServer() as first, ScriptedServer() as second:
        first.add(drip("application/json", b" "))
        async with client_for({"first": first.url, "second": second.url}, deadline_secs=0.3) as client:
            with anyio.fail_after(5), pytest.raises(AllProvidersFailed) as info:
                await client.chat(None, "hi")
            await _until(lambda: first.open_connections == 0)
    assert [(a.provider, a.outcome, a.kind) for a in info.value.attempts] == [
        ("first", "failed", "timeout"),
        ("second", "skipped", "deadline"),
    ]
    assert second.requests == []


@pytest.mark.anyio
async def test_cancelling_the_caller_closes_the_response_and_tries_nothing_else() -> None:
    """Cancelling the caller mid-stream closes the HTTP response at once and starts no further attempt."""
    with ScriptedServer() as first, ScriptedServer() as second:
        first.add(drip("application/x-ndjson", b"\n"))
        async with client_for({"first": first.url, "second": second.url}) as client:
            with anyio.move_on_after(0.3) as scope:
                await _read(client.stream(None, "hi"), [])
            assert scope.cancelled_caught
            await _until(lambda: first.open_connections == 0)
    assert len(first.requests) == 1
    assert second.requests == []


async def _read(stream: Any, into: list[StreamEvent]) -> None:
    async with stream as events:
        async for event in events:
            into.append(event)


async def _until(condition: Any) -> None:
    """Wait (up to 5 s) until ``condition()`` holds: the server notices a closed connection on its next write."""
    for _ in range(500):
        if condition():
            return
        await anyio.sleep(0.01)
    raise AssertionError("condition not reached within 5 s")


def drip(content_type: str, piece: bytes) -> Reply:
    """Headers at once, then ``piece`` every 50 ms for 10 s: a backend that is slow but alive."""
    return Reply.stream([piece] * 200, content_type=content_type, delay=0.05)
