"""The gateway application in process (httpx's ASGI transport), on asyncio and trio: the protocol's details.

The acceptance tests run the real process (test_gateway.py); these cover the
mapping's breadth quickly: reasoning, images, usage details, a stream that
breaks after its first chunk, a chain whose every candidate is cooling down.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest
from backends import KEY_B, KEY_B_ENV, KEY_C, SLOW_PROMPT

from clawdesk import Usage, parse_config
from clawdesk._serve._app import ChatCompletions, Gateway, create_app
from clawdesk._serve._protocol import usage_json
from clawdesk.testing import Reply
from conftest import Backends

pytestmark = pytest.mark.anyio
AUTH = {"authorization": f"Bearer {KEY_C}"}
USER = [{"role": "user", "content": "Say hello."}]
PNG = (
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _client(backends: Backends, cooldown: int = 0) -> tuple[Gateway, httpx.AsyncClient]:
    config = parse_config(backends.config(cooldown=cooldown))
    gateway = Gateway(config, env={KEY_B_ENV: KEY_B})
    transport = httpx.ASGITransport(app=create_app(gateway))
    return gateway, httpx.AsyncClient(transport=transport, base_url="http://gateway", timeout=30)


@pytest.fixture
async def app(backends: Backends) -> AsyncIterator[httpx.AsyncClient]:
    gateway, client = _client(backends)
    async with client:
        yield client
    await gateway.client.aclose()


def events(text: str) -> list[Any]:
    """The data of each SSE event, JSON-decoded (``[DONE]`` kept as is)."""
    out: list[Any] = []
    for block in text.split("\n\n"):
        if block.startswith("data: "):
            data = block[len("data: ") :]
            out.append(data if data == "[DONE]" else json.loads(data))
    return out


async def test_reasoning_streams_as_reasoning_content(app: httpx.AsyncClient, backends: Backends) -> None:
    """Ollama's thinking (asked for with reasoning_effort) streams as `reasoning_content` before the text."""
    body = {"model": "ollama/llama3.2", "messages": USER, "stream": True, "reasoning_effort": "low"}
    response = await app.post("/v1/chat/completions", json=body, headers=AUTH)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    got = events(response.text)
    assert got[-1] == "[DONE]"
    deltas = [e["choices"][0]["delta"] for e in got[:-1] if e["choices"]]
    assert [d.get("reasoning_content") for d in deltas if "reasoning_content" in d] == ["Greet them back."]
    kinds = [k for d in deltas for k in d if k in ("reasoning_content", "content") and d[k]]
    assert kinds == ["reasoning_content", "content"]
    assert backends.ollama.bodies[0]["think"] in (True, "low")


async def test_reasoning_in_a_whole_answer(app: httpx.AsyncClient) -> None:
    """Not streamed, the reasoning is the message's `reasoning_content`."""
    body = {"model": "ollama/llama3.2", "messages": USER, "reasoning_effort": "low"}
    message = (await app.post("/v1/chat/completions", json=body, headers=AUTH)).json()["choices"][0]["message"]
    assert message["reasoning_content"] == "Greet them back."
    assert message["content"] == "Hello from the backend."


async def test_image_parts_reach_the_provider(app: httpx.AsyncClient, backends: Backends) -> None:
    """An image_url part (a data: URL) goes to Mistral as an image."""
    content = [{"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": PNG}}]
    body = {"model": "mistral/mistral-small-latest", "messages": [{"role": "user", "content": content}]}
    response = await app.post("/v1/chat/completions", json=body, headers=AUTH)
    assert response.json()["choices"][0]["message"]["content"] == "A small orange cat."
    sent = backends.mistral.bodies[0]["messages"][0]["content"]
    assert [p["type"] for p in sent] == ["text", "image_url"]


async def test_sampling_options_reach_the_provider(app: httpx.AsyncClient, backends: Backends) -> None:
    """temperature, top_p, max_completion_tokens, stop and seed arrive in the provider's request."""
    body = {
        "model": "mistral/mistral-small-latest",
        "messages": USER,
        "temperature": 0.2,
        "top_p": 0.9,
        "max_completion_tokens": 64,
        "stop": ["END"],
        "seed": 7,
    }
    assert (await app.post("/v1/chat/completions", json=body, headers=AUTH)).status_code == 200
    sent = backends.mistral.bodies[0]
    assert (sent["temperature"], sent["top_p"], sent["max_tokens"], sent["stop"]) == (0.2, 0.9, 64, ["END"])
    assert sent["random_seed"] == 7


async def test_stream_broken_after_the_first_chunk_ends_with_an_error_event(
    app: httpx.AsyncClient, backends: Backends
) -> None:
    """Mistral's stream cut after a chunk: 200, the chunks so far, then one error event and no [DONE]."""
    base = {"id": "c", "created": 1, "model": "mistral-small-latest", "object": "chat.completion.chunk"}
    frames = [
        b"data: " + json.dumps({**base, "choices": [{"index": 0, "delta": {"content": "Hel"}}]}).encode() + b"\n\n",
        b"data: " + json.dumps({**base, "choices": [{"index": 0, "delta": {"content": "lo"}}]}).encode() + b"\n\n",
    ]
    backends.mistral.fail_with = Reply.stream(frames, content_type="text/event-stream", cut_after=2)
    body = {"model": "mistral/mistral-small-latest", "messages": USER, "stream": True}
    response = await app.post("/v1/chat/completions", json=body, headers=AUTH)
    assert response.status_code == 200
    got = events(response.text)
    assert "[DONE]" not in got
    assert "".join(e["choices"][0]["delta"].get("content") or "" for e in got[:-1]) == "Hello"
    assert got[-1]["error"]["type"] == "upstream_error"
    assert "mistral" in got[-1]["error"]["message"]


async def test_every_candidate_cooling_down_is_503_with_retry_after(backends: Backends) -> None:
    """After a failure puts Mistral in cooldown, a pinned request is skipped at once: 503 with Retry-After."""
    gateway, client = _client(backends, cooldown=1)
    async with client:
        backends.mistral.fail_with = Reply.json({"message": "overloaded"}, status=503)
        body = {"model": "fast", "messages": USER}
        backends.ollama.fail_with = Reply.json({"error": "down"}, status=500)
        first = await client.post("/v1/chat/completions", json=body, headers={"authorization": f"Bearer {KEY_B}"})
        assert first.status_code == 502
        second = await client.post("/v1/chat/completions", json=body, headers={"authorization": f"Bearer {KEY_B}"})
        assert second.status_code == 503
        assert 1 <= int(second.headers["retry-after"]) <= 30
        assert backends.mistral.count == 1
        assert backends.ollama.count == 1
    await gateway.client.aclose()


async def test_models_lists_aliases_and_provider_models(app: httpx.AsyncClient) -> None:
    """GET /v1/models: the aliases first, then provider/model ids, in the list shape."""
    listing = (await app.get("/v1/models", headers=AUTH)).json()
    assert listing["object"] == "list"
    ids = [m["id"] for m in listing["data"]]
    assert ids[0] == "fast"
    assert "mistral/mistral-small-latest" in ids


def test_usage_details() -> None:
    """Cached and reasoning tokens appear in the usage details when known; unknown usage is left out."""
    usage = Usage(100, 40, cache_read_tokens=60, reasoning_tokens=25)
    assert usage_json(usage) == {
        "prompt_tokens": 100,
        "completion_tokens": 40,
        "total_tokens": 140,
        "prompt_tokens_details": {"cached_tokens": 60},
        "completion_tokens_details": {"reasoning_tokens": 25},
    }
    assert usage_json(Usage(None, 3)) is None


async def test_a_client_that_stops_reading_is_dropped_and_upstream_closed(backends: Backends) -> None:
    """A client whose writes block (flow control) past send_timeout_secs is dropped; the upstream closes too."""
    config = parse_config(backends.config(extra="[serve]\nsend_timeout_secs = 0.5\n"))
    gateway = Gateway(config, env={KEY_B_ENV: KEY_B})
    body = {"model": "mistral/mistral-small-latest", "messages": [{"role": "user", "content": SLOW_PROMPT}]}
    raw = json.dumps({**body, "stream": True}).encode()
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/chat/completions",
        "headers": [(b"authorization", AUTH["authorization"].encode())],
    }
    received = False
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": raw, "more_body": False}
        await anyio.sleep_forever()
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if len(sent) >= 4:  # the client stopped reading: the server's flow control holds this write
            await anyio.sleep_forever()

    with anyio.fail_after(10):
        await ChatCompletions(gateway)(scope, receive, send)
    with anyio.fail_after(2):
        while backends.mistral_server.open_connections:  # noqa: ASYNC110 - a counter of the server's thread
            await anyio.sleep(0.01)
    assert sent[0]["status"] == 200
    assert gateway.metrics.disconnects == 1
    await gateway.client.aclose()


@pytest.mark.parametrize(
    ("choice", "sent"),
    [
        ("none", "none"),
        ("auto", "auto"),
        ("required", "required"),
        ({"type": "function", "function": {"name": "weather"}}, {"type": "function", "function": {"name": "weather"}}),
    ],
)
async def test_every_tool_choice_mode_reaches_mistral(
    app: httpx.AsyncClient, backends: Backends, choice: Any, sent: Any
) -> None:
    """tool_choice none, auto, required and a named function arrive as Mistral's own tool_choice."""
    tool = {"type": "function", "function": {"name": "weather", "parameters": {"type": "object", "properties": {}}}}
    body = {"model": "mistral/mistral-small-latest", "messages": USER, "tools": [tool], "tool_choice": choice}
    response = await app.post("/v1/chat/completions", json=body, headers=AUTH)
    assert response.status_code == 200, response.text
    assert backends.mistral.bodies[0]["tool_choice"] == sent


async def test_a_body_that_does_not_arrive_in_time_is_408(backends: Backends) -> None:
    """Half a body and then nothing: 408 after body_timeout_secs, and nothing reaches a backend."""
    config = parse_config(backends.config(extra="[serve]\nbody_timeout_secs = 0.3\n"))
    gateway = Gateway(config, env={KEY_B_ENV: KEY_B})
    scope = {"type": "http", "method": "POST", "headers": [(b"authorization", AUTH["authorization"].encode())]}
    calls = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if calls == 1:
            return {"type": "http.request", "body": b'{"model": ', "more_body": True}
        await anyio.sleep_forever()
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    with anyio.fail_after(5):
        await ChatCompletions(gateway)(scope, receive, send)
    assert sent[0]["status"] == 408
    assert json.loads(sent[1]["body"])["error"]["code"] == "request_timeout"
    assert backends.mistral.count == 0
    await gateway.client.aclose()
