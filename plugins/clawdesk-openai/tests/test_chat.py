"""Chat through clawdesk against a scripted OpenAI: requests, answers, errors and retries, byte for byte."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any

import pytest

import clawdesk
from clawdesk import (
    AllProvidersFailed,
    ApiError,
    AuthFailed,
    CapabilityMissing,
    ChatOptions,
    ChatRequest,
    ContextLengthExceeded,
    ImagePart,
    InvalidRequest,
    Message,
    ModelNotFound,
    PermissionDenied,
    QuotaExceeded,
    RateLimited,
    ResponseFormat,
    TimedOut,
    Tool,
    ToolCall,
    ToolChoice,
    ToolChoiceMode,
)
from clawdesk.testing import Reply, ScriptedServer
from clawdesk_openai_compat.testing import completion, error_body, error_reply, token_usage, tool_call

pytestmark = pytest.mark.anyio
Make = Callable[..., clawdesk.Clawdesk]
TARGET = clawdesk.Target("openai", "gpt-4o-mini")
PNG = b"\x89PNG\r\n\x1a\n tiny"


def request(*messages: Message, **options: Any) -> ChatRequest:
    return ChatRequest("gpt-4o-mini", messages or (Message.user("hi"),), ChatOptions(**options))


async def test_chat_sends_openai_request_and_reads_the_answer(server: ScriptedServer, make_client: Make) -> None:
    """System prompt and user turn go as messages with the bearer key; the answer, usage and request id come back."""
    server.add(
        Reply.json(
            completion("Bonjour !", usage=token_usage(25, 4, cached=20, reasoning=0)),
            headers=[("x-request-id", "req_7f3a")],
        )
    )
    async with make_client() as cd:
        response = await cd.chat("openai/gpt-4o-mini", [Message.system("Be brief."), Message.user("Hi")])
    sent = server.requests[0]
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"].startswith("Bearer sk-test-")
    assert sent.json()["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    assert response.message.text == "Bonjour !"
    usage = response.usage
    assert (usage.input_tokens, usage.output_tokens, usage.cache_read_tokens, usage.reasoning_tokens) == (25, 4, 20, 0)
    assert (response.provider, response.model, response.request_id) == ("openai", "gpt-4o-mini", "req_7f3a")


async def test_organization_and_project_headers(server: ScriptedServer, make_client: Make) -> None:
    """organization and project go as OpenAI-Organization and OpenAI-Project."""
    server.add(Reply.json(completion("ok")))
    async with make_client(organization="org-abc", project="proj_123") as cd:
        await cd.chat_target(TARGET, request())
    headers = server.requests[0].headers
    assert (headers["openai-organization"], headers["openai-project"]) == ("org-abc", "proj_123")


async def test_images_by_url_and_inline(server: ScriptedServer, make_client: Make) -> None:
    """An image URL and inline image bytes both reach OpenAI as image_url parts."""
    server.add(Reply.json(completion("A cat.")))
    message = Message.user(
        ["What is this?", ImagePart(url="https://x/cat.png"), ImagePart(data=PNG, media_type="image/png")]
    )
    async with make_client() as cd:
        await cd.chat_target(TARGET, request(message))
    content = server.requests[0].json()["messages"][0]["content"]
    assert content[1] == {"type": "image_url", "image_url": {"url": "https://x/cat.png"}}
    assert content[2]["image_url"]["url"] == "data:image/png;base64," + base64.b64encode(PNG).decode()


async def test_parallel_tool_calls_and_their_results(server: ScriptedServer, make_client: Make) -> None:
    """Two tool calls in one answer come back parsed; their results go back as tool messages by call id."""
    calls = [ToolCall("call_1", "weather", {"city": "Paris"}), ToolCall("call_2", "weather", {"city": "Rome"})]
    server.add(Reply.json(completion(None, finish="tool_calls", tool_calls=[tool_call(c) for c in calls])))
    server.add(Reply.json(completion("Sunny in both.")))
    tools = [Tool("weather", "Weather in a city", {"type": "object", "properties": {"city": {"type": "string"}}})]
    options = ChatOptions(tools=tools, tool_choice=ToolChoice(ToolChoiceMode.REQUIRED))
    async with make_client() as cd:
        first = await cd.chat("openai/gpt-4o-mini", "Weather in Paris and Rome?", options)
        assert first.message.tool_calls == tuple(calls)
        history = [
            Message.user("Weather in Paris and Rome?"),
            first.message,
            Message.tool_result("call_1", "sunny"),
            Message.tool_result("call_2", "sunny"),
        ]
        second = await cd.chat("openai/gpt-4o-mini", history, options)
    assert second.message.text == "Sunny in both."
    sent = server.requests[1].json()
    assert sent["tool_choice"] == "required"
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "tool", "tool"]
    assert sent["messages"][1]["tool_calls"][1]["function"] == {"name": "weather", "arguments": '{"city":"Rome"}'}
    assert sent["messages"][3] == {"role": "tool", "tool_call_id": "call_2", "content": "sunny"}


@pytest.mark.parametrize(
    ("fmt", "sent"),
    [
        (ResponseFormat.json(), {"type": "json_object"}),
        (
            ResponseFormat.json_schema(
                {
                    "type": "object",
                    "properties": {"a": {"type": "integer"}},
                    "required": ["a"],
                    "additionalProperties": False,
                },
                name="answer",
            ),
            {
                "type": "json_schema",
                "json_schema": {
                    "name": "answer",
                    "schema": {
                        "type": "object",
                        "properties": {"a": {"type": "integer"}},
                        "required": ["a"],
                        "additionalProperties": False,
                    },
                    "strict": True,
                },
            },
        ),
    ],
    ids=["json_object", "json_schema-strict"],
)
async def test_response_formats(server: ScriptedServer, make_client: Make, fmt: ResponseFormat, sent: Any) -> None:
    """JSON mode and a strict JSON schema are sent as OpenAI's response_format."""
    server.add(Reply.json(completion('{"a": 4}')))
    async with make_client() as cd:
        response = await cd.chat_target(TARGET, request(Message.user("JSON please"), response_format=fmt))
    assert server.requests[0].json()["response_format"] == sent
    assert response.message.text == '{"a": 4}'


async def test_refused_before_anything_is_sent(server: ScriptedServer, make_client: Make) -> None:
    """A sampling setting o3 refuses is CapabilityMissing without a request."""
    o3 = ChatRequest("o3", [Message.user("hi")], ChatOptions(temperature=0.5))
    async with make_client() as cd:
        with pytest.raises(CapabilityMissing, match="temperature"):
            await cd.chat_target(clawdesk.Target("openai", "o3"), o3)
    assert server.requests == []


_ERRORS = [
    (400, error_body("Invalid 'messages[0].content'", param="messages"), InvalidRequest, False),
    (401, error_body("Incorrect API key provided", code="invalid_api_key"), AuthFailed, False),
    (
        403,
        error_body("Country, region, or territory not supported", code="unsupported_country_region_territory"),
        PermissionDenied,
        False,
    ),
    (
        404,
        error_body("The model `nope` does not exist or you do not have access to it.", code="model_not_found"),
        ModelNotFound,
        False,
    ),
    (
        400,
        error_body("This model's maximum context length is 128000 tokens.", code="context_length_exceeded"),
        ContextLengthExceeded,
        False,
    ),
    (
        429,
        error_body("You exceeded your current quota", type="insufficient_quota", code="insufficient_quota"),
        QuotaExceeded,
        False,
    ),
    (429, error_body("Rate limit reached", type="requests", code="rate_limit_exceeded"), RateLimited, True),
    (500, error_body("The server had an error", type="server_error"), ApiError, True),
    (503, b"<html><title>Service Unavailable</title></html>", ApiError, True),
]


@pytest.mark.parametrize(("status", "body", "kind", "retryable"), _ERRORS)
async def test_error_statuses_and_codes(
    server: ScriptedServer, make_client: Make, status: int, body: Any, kind: type[Exception], retryable: bool
) -> None:
    """Each status and error code becomes its error, retryable or not, with OpenAI's x-request-id and no key."""
    reply = Reply.json(body, status=status) if isinstance(body, dict) else Reply.text(body.decode(), status=status)
    server.add(attrs_with_headers(reply, ("x-request-id", "req_err_1")))
    async with make_client() as cd:
        with pytest.raises(kind) as info:
            await cd.chat_target(TARGET, request())
    error = info.value
    assert type(error) is kind
    assert error.retryable is retryable  # type: ignore[attr-defined]
    assert error.request_id == "req_err_1"  # type: ignore[attr-defined]
    assert "req_err_1" in str(error)
    assert "sk-test-" not in str(error)


async def test_a_401_names_the_key_variable(server: ScriptedServer, make_client: Make) -> None:
    """A refused key says which variable (or config key) gives it, for a named instance its own."""
    server.add(error_reply(401, "Incorrect API key provided"))
    async with make_client(api_key_env="MY_OPENAI_KEY", env={"MY_OPENAI_KEY": "sk-test-zzz"}) as cd:
        with pytest.raises(AuthFailed, match=r"MY_OPENAI_KEY or providers\.openai\.api_key"):
            await cd.chat_target(TARGET, request())


async def test_insufficient_quota_moves_on_at_once(server: ScriptedServer, helpers: Any) -> None:
    """429 insufficient_quota is not retried: the chain moves to the next candidate at once."""
    server.add(
        error_reply(429, "You exceeded your current quota", type="insufficient_quota", code="insufficient_quota")
    )
    server.add(Reply.json(completion("from the backup")))
    text = helpers.toml_table("openai", {"base_url": server.url + "/v1", "dialect": "openai"})
    text += helpers.toml_table("backup", {"plugin": "openai", "base_url": server.url + "/v1", "dialect": "openai"})
    text += '[fallback]\nchain = ["openai/gpt-4o-mini", "backup/gpt-4o-mini"]\nmax_retries_per_provider = 3\n'
    started = time.monotonic()
    async with helpers.make_clawdesk(text, {"OPENAI_API_KEY": helpers.KEY}) as cd:
        result = await cd.chat_with_attempts(None, "hi")
    assert time.monotonic() - started < 1.0
    assert result.response.message.text == "from the backup"
    assert [(a.provider, a.outcome, a.kind) for a in result.attempts] == [
        ("openai", "failed", "quota_exceeded"),
        ("backup", "ok", None),
    ]
    assert len(server.requests) == 2


@pytest.mark.parametrize(("header", "value", "wait"), [("retry-after-ms", "200", 0.2), ("retry-after", "0.3", 0.3)])
async def test_rate_limit_is_retried_after_the_wait_asked_for(
    server: ScriptedServer, make_client: Make, header: str, value: str, wait: float
) -> None:
    """429 rate_limit_exceeded with retry-after-ms: 200 (or retry-after) is retried after about that long."""
    limited = error_reply(429, "Rate limit reached", type="requests", code="rate_limit_exceeded")
    server.add(attrs_with_headers(limited, (header, value)))
    server.add(Reply.json(completion("after the wait")))
    async with make_client(max_retries=2) as cd:
        started = time.monotonic()
        response = await cd.chat("openai/gpt-4o-mini", "hi")
        elapsed = time.monotonic() - started
    assert response.message.text == "after the wait"
    assert len(server.requests) == 2
    assert wait * 0.9 <= elapsed < wait + 1.0


async def test_x_should_retry_false_is_honoured(server: ScriptedServer, make_client: Make) -> None:
    """A 500 with x-should-retry: false is not retried, even with retries left."""
    server.add(attrs_with_headers(error_reply(500, "The server had an error"), ("x-should-retry", "false")))
    async with make_client(max_retries=3) as cd:
        with pytest.raises(AllProvidersFailed) as info:
            await cd.chat("openai/gpt-4o-mini", "hi")
    assert len(server.requests) == 1
    assert isinstance(info.value.attempts[0].error, ApiError)
    assert not info.value.attempts[0].error.retryable


def attrs_with_headers(reply: Reply, *headers: tuple[str, str]) -> Reply:
    """``reply`` with more headers."""
    import attrs

    return attrs.evolve(reply, headers=(*reply.headers, *headers))


async def test_first_byte_timeout_bounds_the_wait_for_an_answer(server: ScriptedServer, make_client: Make) -> None:
    """A server that never starts its answer is TimedOut after first_byte_timeout_secs, saying which key to raise."""
    server.add(Reply(action="stall"))
    async with make_client(first_byte_timeout_secs=0.3, timeout_secs=10) as cd:
        started = time.monotonic()
        with pytest.raises(TimedOut, match=r"providers\.openai\.first_byte_timeout_secs"):
            await cd.chat_target(TARGET, request())
    assert time.monotonic() - started < 3
