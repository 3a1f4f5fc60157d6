"""Connection pools over real loopback HTTP: the per-provider connection limit is configurable
(``[http] max_connections``, ``Clawdesk(max_connections=...)``) and calls beyond it wait for a free connection
instead of failing; waiting in our own pool never counts against the provider; ``aclose()`` ends a call in
flight at once with a clear error, and that call is not retried on a new client."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import pytest

import clawdesk
from clawdesk import ChatOptions, Registry, TimedOut
from clawdesk.testing import Reply, ScriptedServer

from .conftest import KEY, MISTRAL_MODEL, SSE_END, client, mistral_body, sse_frame, sse_reply

pytestmark = pytest.mark.anyio

MODEL = f"mistral/{MISTRAL_MODEL}"
CHAT = "/v1/chat/completions"


async def until(condition: Callable[[], bool]) -> None:
    """Wait (at most a minute) until ``condition()`` holds."""
    for _ in range(6000):
        if condition():
            return
        await anyio.sleep(0.01)
    raise AssertionError("the condition never held")


def chat_requests(server: ScriptedServer) -> int:
    return sum(1 for r in list(server.requests) if r.path == CHAT)


async def test_more_streams_than_connections_all_succeed(server: ScriptedServer, registry: Registry) -> None:
    """Eight concurrent streams through a pool of two connections (each stream ~0.5 s) all finish whole."""
    server.route("POST", CHAT, sse_reply([sse_frame("a "), sse_frame("b "), SSE_END], delay=0.15))
    texts: list[str] = []
    peak = 0

    async def one(cd: clawdesk.Clawdesk) -> None:
        nonlocal peak
        response = await cd.stream(MODEL, "hi").collect()
        texts.append(response.message.text)

    async def watch() -> None:
        nonlocal peak
        while True:
            peak = max(peak, server.open_connections)
            await anyio.sleep(0.01)

    # timeout_secs is shorter than the wait for a free connection: today's pool timeout would fire.
    async with client(server, registry, timeout_secs=0.5) as base:
        cd = clawdesk.Clawdesk(registry=registry, config=base.config, env={}, max_connections=2)
        async with cd, anyio.create_task_group() as outer:
            outer.start_soon(watch)
            async with anyio.create_task_group() as tg:
                for _ in range(8):
                    tg.start_soon(one, cd)
            outer.cancel_scope.cancel()
    assert texts == ["a b "] * 8
    assert peak <= 2
    assert chat_requests(server) == 8


async def test_max_connections_from_the_config(server: ScriptedServer, registry: Registry) -> None:
    """[http] max_connections sizes every provider's pool."""
    async with client(server, registry, toml="[http]\nmax_connections = 3\n") as cd:
        http = cd.http_client("mistral")
        pool: Any = http._transport._pool  # type: ignore[attr-defined]
        assert pool._max_connections == 3


async def test_waiting_for_a_connection_is_not_a_provider_failure(server: ScriptedServer, registry: Registry) -> None:
    """A call that waits longer than timeout_secs for our one busy connection succeeds; no cooldown follows."""
    server.add(
        sse_reply([sse_frame("slow ")] * 6 + [SSE_END], delay=0.2),
        Reply.json(json.loads(mistral_body("fast"))),
    )
    toml = "[http]\nmax_connections = 1\n[fallback]\ncooldown_failures = 1\n"
    async with client(server, registry, toml=toml, timeout_secs=0.3) as cd:
        results: dict[str, str] = {}

        async def slow() -> None:
            results["slow"] = (await cd.stream(MODEL, "hi").collect()).message.text

        async def fast() -> None:
            await anyio.sleep(0.1)  # the slow stream has the connection by now
            results["fast"] = (await cd.chat(MODEL, "hi")).message.text

        async with anyio.create_task_group() as tg:
            tg.start_soon(slow)
            tg.start_soon(fast)
        assert results == {"slow": "slow " * 6, "fast": "fast"}
        assert await cd.engine.cooldown_remaining("mistral") == 0


class _PoolTimeoutOnce(httpx.AsyncBaseTransport):
    """The real network, except that the first request finds the pool full (httpx.PoolTimeout)."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.refused = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not self.refused:
            self.refused += 1
            raise httpx.PoolTimeout("no free connection", request=request)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


async def test_a_pool_timeout_is_named_and_never_cools_the_provider_down(
    server: ScriptedServer, registry: Registry
) -> None:
    """httpx.PoolTimeout becomes TimedOut(limit="pool") and is retried, without counting against the provider."""
    server.route("POST", CHAT, Reply.json(json.loads(mistral_body("ok"))))
    transport = _PoolTimeoutOnce()
    toml = "[fallback]\ncooldown_failures = 1\nbackoff_base_secs = 0.01\n"
    async with client(server, registry, toml=toml, max_retries=1) as base:
        cd = clawdesk.Clawdesk(registry=registry, config=base.config, env={}, transport=transport)
        async with cd:
            result = await cd.chat_with_attempts(MODEL, "hi")
            assert result.response.message.text == "ok"
            first = result.attempts[0]
            assert isinstance(first.error, TimedOut)
            assert first.error.limit == "pool"
            assert "waiting for a free connection" in str(first.error)
            assert await cd.engine.cooldown_remaining("mistral") == 0


async def test_aclose_ends_a_chat_in_flight_without_retrying(server: ScriptedServer, registry: Registry) -> None:
    """aclose() while a chat waits on a stalled server ends it at once with RuntimeError; it is sent once."""
    server.route("POST", CHAT, Reply.stall())
    async with client(server, registry, max_retries=3) as cd:
        errors: list[BaseException] = []

        async def call() -> None:
            try:
                await cd.chat(MODEL, "hi", ChatOptions(timeout=60))
            except BaseException as exc:  # noqa: BLE001 - recorded for the assertions
                errors.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(call)
            await until(lambda: chat_requests(server) >= 1)
            await cd.aclose()
        (error,) = errors
        assert isinstance(error, RuntimeError), repr(error)
        assert "closed" in str(error)
        assert chat_requests(server) == 1


async def test_aclose_ends_a_stream_in_flight(server: ScriptedServer, registry: Registry) -> None:
    """aclose() while a stream waits for its next event ends it at once with RuntimeError; nothing is re-sent."""
    server.route("POST", CHAT, sse_reply([sse_frame("Hel")], stall_after=1))
    async with client(server, registry, max_retries=3) as cd:
        seen: list[Any] = []
        errors: list[BaseException] = []

        async def read() -> None:
            try:
                async with cd.stream(MODEL, "hi") as events:
                    async for event in events:
                        seen.append(event)
            except BaseException as exc:  # noqa: BLE001 - recorded for the assertions
                errors.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(read)
            await until(lambda: bool(seen))
            await cd.aclose()
        (error,) = errors
        assert isinstance(error, RuntimeError), repr(error)
        assert chat_requests(server) == 1
        # The client stays usable: a later call opens new connections.
        server.route("POST", CHAT, Reply.json(json.loads(mistral_body("again"))))
        assert (await cd.chat(MODEL, "hi")).message.text == "again"


def test_max_connections_argument_is_checked(registry: Registry) -> None:
    """Clawdesk(max_connections=0) is refused with a message naming the argument."""
    with pytest.raises(ValueError, match="max_connections"):
        clawdesk.Clawdesk(registry=registry, config=clawdesk.Config(), env={"MISTRAL_API_KEY": KEY}, max_connections=0)


async def test_waiting_for_a_connection_does_not_count_against_the_idle_limit(
    server: ScriptedServer, registry: Registry
) -> None:
    """Four ~1.2 s streams through one connection with a 1 s idle limit: the queued ones wait, then succeed."""
    server.route("POST", CHAT, sse_reply([sse_frame("x ")] * 6 + [SSE_END], delay=0.2))
    toml = "[http]\nmax_connections = 1\nidle_timeout_secs = 1\n[fallback]\ncooldown_failures = 1\n"
    texts: list[str] = []
    async with client(server, registry, toml=toml) as cd:

        async def one() -> None:
            texts.append((await cd.stream(MODEL, "hi").collect()).message.text)

        async with anyio.create_task_group() as tg:
            for _ in range(4):
                tg.start_soon(one)
        assert await cd.engine.cooldown_remaining("mistral") == 0
    assert texts == ["x " * 6] * 4


async def test_a_call_timeout_spent_waiting_for_a_connection_is_ours(
    server: ScriptedServer, registry: Registry
) -> None:
    """A call whose own timeout passes while it waits for a connection fails as TimedOut(limit="pool"), no cooldown."""
    server.route("POST", CHAT, sse_reply([sse_frame("x ")] * 10 + [SSE_END], delay=0.2))
    toml = "[http]\nmax_connections = 1\n[fallback]\ncooldown_failures = 1\n"
    async with client(server, registry, toml=toml) as cd:
        errors: list[BaseException] = []

        async def hold() -> None:
            await cd.stream(MODEL, "hi").collect()

        async def late() -> None:
            await until(lambda: chat_requests(server) >= 1)
            try:
                await cd.chat(MODEL, "hi", ChatOptions(timeout=0.3))
            except clawdesk.AllProvidersFailed as exc:
                errors.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(hold)
            tg.start_soon(late)
        (failed,) = errors
        error = failed.attempts[-1].error  # type: ignore[attr-defined]
        assert isinstance(error, TimedOut), repr(error)
        assert error.limit == "pool"
        assert "http.max_connections = 1" in str(error)
        assert await cd.engine.cooldown_remaining("mistral") == 0
    assert chat_requests(server) == 1
