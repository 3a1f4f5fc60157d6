"""The gateway as clients see it: `clawdesk serve` in a real process, the official `openai` package as the client.

One gateway process (one worker) serves the whole module, in front of a
scripted Mistral and a scripted Ollama; every backend request is counted.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import openai
import pytest
from backends import KEY_A, KEY_B, KEY_C, MISTRAL_KEY, SLOW_PROMPT, USAGE, WEATHER_ARGS, GatewayProcess

from clawdesk.testing import Reply
from conftest import Backends

USER = [{"role": "user", "content": "Say hello."}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def client(gateway: GatewayProcess, key: str = KEY_A) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=key, max_retries=0, timeout=30)


def test_streamed_answer_from_scripted_mistral(gateway: GatewayProcess, backends: Backends) -> None:
    """A streamed answer from Mistral arrives as chunks, with usage, and the provider saw one streamed request."""
    chunks = list(
        client(gateway).chat.completions.create(
            model="mistral/mistral-small-latest", messages=USER, stream=True, stream_options={"include_usage": True}
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from the backend."
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.prompt_tokens == USAGE["prompt_tokens"]
    assert {c.model for c in chunks} == {"mistral/mistral-small-latest"}
    assert backends.mistral.count == 1
    assert backends.mistral.bodies[0]["stream"] is True


def test_streamed_answer_from_scripted_ollama(gateway: GatewayProcess, backends: Backends) -> None:
    """A streamed answer from Ollama (NDJSON upstream) arrives as SSE chunks; a key allowed everything may use it."""
    stream = client(gateway, KEY_C).chat.completions.create(model="ollama/llama3.2", messages=USER, stream=True)
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello from the backend."
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert backends.ollama.count == 1
    assert backends.mistral.count == 0


def test_tool_call_round_trip(gateway: GatewayProcess, backends: Backends) -> None:
    """The model asks for a tool (streamed, as deltas), the client answers it, and the model uses the result."""
    api = client(gateway)
    messages: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    stream = api.chat.completions.create(
        model="mistral/mistral-small-latest", messages=messages, tools=[WEATHER_TOOL], stream=True
    )
    calls: dict[int, dict[str, str]] = {}
    finish = None
    for c in stream:
        for delta in c.choices[0].delta.tool_calls or [] if c.choices else []:
            entry = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
            entry["id"] += delta.id or ""
            entry["name"] += (delta.function.name or "") if delta.function else ""
            entry["arguments"] += (delta.function.arguments or "") if delta.function else ""
        if c.choices and c.choices[0].finish_reason:
            finish = c.choices[0].finish_reason
    assert finish == "tool_calls"
    assert list(calls) == [0]
    assert calls[0]["name"] == "weather"
    assert json.loads(calls[0]["arguments"]) == WEATHER_ARGS
    call = calls[0]
    messages.append(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": call["id"], "type": "function", "function": {"name": "weather", "arguments": call["arguments"]}}
            ],
        }
    )
    messages.append({"role": "tool", "tool_call_id": call["id"], "content": "18 C"})
    answer = api.chat.completions.create(model="mistral/mistral-small-latest", messages=messages, tools=[WEATHER_TOOL])
    assert answer.choices[0].message.content == "It is 18 C in Paris."
    sent = backends.mistral.bodies[-1]["messages"]
    assert sent[-1]["role"] == "tool"
    assert sent[-1]["tool_call_id"] == call["id"]
    assert sent[-2]["tool_calls"][0]["function"]["name"] == "weather"


def test_tool_call_whole_answer(gateway: GatewayProcess, backends: Backends) -> None:
    """Not streamed, a tool call comes back in message.tool_calls with its arguments as a JSON string."""
    answer = client(gateway, KEY_C).chat.completions.create(
        model="ollama/llama3.2", messages=USER, tools=[WEATHER_TOOL], tool_choice="auto"
    )
    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    assert json.loads(choice.message.tool_calls[0].function.arguments) == WEATHER_ARGS


def test_option_a_provider_cannot_honour_is_400_before_sending(gateway: GatewayProcess, backends: Backends) -> None:
    """tool_choice 'required' to Ollama (which has none) is refused by the provider before sending: 400."""
    with pytest.raises(openai.BadRequestError) as caught:
        client(gateway, KEY_C).chat.completions.create(
            model="ollama/llama3.2", messages=USER, tools=[WEATHER_TOOL], tool_choice="required"
        )
    assert "tool_choice" in caught.value.message
    assert backends.ollama.count == 0


def test_json_mode_answer(gateway: GatewayProcess, backends: Backends) -> None:
    """response_format json_object reaches the provider as its JSON mode, and the answer parses."""
    answer = client(gateway).chat.completions.create(
        model="mistral/mistral-small-latest", messages=USER, response_format={"type": "json_object"}
    )
    assert json.loads(answer.choices[0].message.content or "") == {"answer": 4}
    assert backends.mistral.bodies[0]["response_format"] == {"type": "json_object"}


def test_json_schema_answer_from_ollama(gateway: GatewayProcess, backends: Backends) -> None:
    """response_format json_schema reaches Ollama as its `format` schema."""
    schema = {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]}
    answer = client(gateway, KEY_C).chat.completions.create(
        model="ollama/llama3.2",
        messages=USER,
        response_format={"type": "json_schema", "json_schema": {"name": "sum", "schema": schema, "strict": True}},
    )
    assert json.loads(answer.choices[0].message.content or "") == {"answer": 4}
    assert backends.ollama.bodies[0]["format"] == schema


def test_upstream_429_falls_back_invisibly(gateway: GatewayProcess, backends: Backends) -> None:
    """An alias whose first candidate answers 429 is served by the next one; the client sees only the answer."""
    backends.mistral.fail_with = Reply.json(
        {"object": "error", "message": "Requests rate limit exceeded", "type": "rate_limited", "code": "1300"},
        status=429,
    )
    chunks = list(client(gateway).chat.completions.create(model="fast", messages=USER, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello from the backend."
    assert {c.model for c in chunks} == {"ollama/llama3.2"}
    assert backends.mistral.count == 1
    assert backends.ollama.count == 1
    whole = client(gateway).chat.completions.create(model="fast", messages=USER)
    assert whole.model == "ollama/llama3.2"
    assert whole.choices[0].message.content == "Hello from the backend."


def test_upstream_429_without_fallback_is_a_429_with_retry_after(gateway: GatewayProcess, backends: Backends) -> None:
    """A pinned model rate limited upstream gives the client 429 and the provider's Retry-After."""
    backends.mistral.fail_with = Reply.json(
        {"object": "error", "message": "Requests rate limit exceeded", "type": "rate_limited", "code": "1300"},
        status=429,
        headers=[("retry-after", "120")],
    )
    with pytest.raises(openai.RateLimitError) as caught:
        client(gateway).chat.completions.create(model="mistral/mistral-small-latest", messages=USER)
    assert caught.value.response.headers["retry-after"] == "120"
    assert "mistral" in caught.value.message
    assert MISTRAL_KEY not in caught.value.response.text


def test_upstream_down_is_502(gateway: GatewayProcess, backends: Backends) -> None:
    """Both candidates failing with server errors: 502 with the chain's summary, in the protocol's error shape."""
    backends.mistral.fail_with = Reply.json({"message": "overloaded"}, status=503)
    backends.ollama.fail_with = Reply.json({"error": "boom"}, status=500)
    response = httpx.post(
        f"{gateway.url}/v1/chat/completions",
        headers={"authorization": f"Bearer {KEY_A}"},
        json={"model": "fast", "messages": USER},
        timeout=30,
    )
    assert response.status_code == 502
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert "mistral" in error["message"]
    assert "ollama" in error["message"]


def test_unknown_and_missing_keys_get_401(gateway: GatewayProcess) -> None:
    """No key, or a key the gateway does not know: 401, on chat and on the model list."""
    with pytest.raises(openai.AuthenticationError):
        client(gateway, "gw-not-a-key-0000000000").chat.completions.create(model="fast", messages=USER)
    with pytest.raises(openai.AuthenticationError):
        client(gateway, "gw-not-a-key-0000000000").models.list()
    response = httpx.post(f"{gateway.url}/v1/chat/completions", json={"model": "fast", "messages": USER})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


def test_key_limited_to_some_models_gets_403_for_another(gateway: GatewayProcess, backends: Backends) -> None:
    """team-a may use `fast` and `mistral/*`: ollama/llama3.2 is 403, and nothing reaches any backend."""
    with pytest.raises(openai.PermissionDeniedError) as caught:
        client(gateway).chat.completions.create(model="ollama/llama3.2", messages=USER)
    assert caught.value.code == "model_not_allowed"
    assert backends.ollama.count == 0
    assert backends.mistral.count == 0
    ids = [m.id for m in client(gateway).models.list()]
    assert "fast" in ids
    assert not any(i.startswith("ollama/") for i in ids)


def test_key_over_its_budget_gets_429_with_retry_after(gateway: GatewayProcess, backends: Backends) -> None:
    """team-b may send 3 requests a minute: the 4th gets 429 with Retry-After, and never reaches a backend."""
    api = client(gateway, KEY_B)
    for _ in range(3):
        api.chat.completions.create(model="ollama/llama3.2", messages=USER)
    with pytest.raises(openai.RateLimitError) as caught:
        api.chat.completions.create(model="ollama/llama3.2", messages=USER)
    assert 1 <= int(caught.value.response.headers["retry-after"]) <= 20
    assert backends.ollama.count == 3


def test_unknown_model_is_404(gateway: GatewayProcess) -> None:
    """A provider that does not exist: 404 model_not_found."""
    with pytest.raises(openai.NotFoundError) as caught:
        client(gateway, KEY_C).chat.completions.create(model="nosuch/model", messages=USER)
    assert caught.value.code == "model_not_found"


def test_cancelling_a_stream_closes_the_upstream_connection_within_a_second(
    gateway: GatewayProcess, backends: Backends
) -> None:
    """The client closes a slow stream after two chunks: the gateway closes its Mistral connection within 1 s."""
    server = backends.mistral_server
    stream = client(gateway).chat.completions.create(
        model="mistral/mistral-small-latest", messages=[{"role": "user", "content": SLOW_PROMPT}], stream=True
    )
    iterator = iter(stream)
    next(iterator), next(iterator)
    assert server.open_connections == 1
    stream.close()
    closed_at = time.monotonic()
    deadline = closed_at + 5
    while server.open_connections and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.open_connections == 0
    assert time.monotonic() - closed_at < 1.0
    assert backends.mistral.count == 1


def test_metrics_and_health(gateway: GatewayProcess, backends: Backends) -> None:
    """/healthz answers; /metrics counts requests, tokens, latency and failures per provider in Prometheus text."""
    assert httpx.get(f"{gateway.url}/healthz").json()["status"] == "ok"
    client(gateway).chat.completions.create(model="mistral/mistral-small-latest", messages=USER)
    text = httpx.get(f"{gateway.url}/metrics").text
    lines = dict(line.rsplit(" ", 1) for line in text.splitlines() if not line.startswith("#"))
    ok = 'clawdesk_gateway_requests_total{route="/v1/chat/completions",provider="mistral",status="200"}'
    assert int(lines[ok]) >= 1
    assert int(lines['clawdesk_gateway_tokens_total{provider="mistral",direction="input"}']) >= 12
    assert int(lines['clawdesk_gateway_request_duration_seconds_count{provider="mistral"}']) >= 1
    assert int(lines['clawdesk_gateway_failures_total{kind="unauthenticated"}']) >= 1
    assert "# TYPE clawdesk_gateway_request_duration_seconds histogram" in text


def test_no_secret_in_logs(gateway: GatewayProcess) -> None:
    """After every test of the module, the gateway's log holds neither the provider key nor a gateway key."""
    log = gateway.log
    for secret in (MISTRAL_KEY, KEY_A, KEY_B, KEY_C):
        assert secret not in log
