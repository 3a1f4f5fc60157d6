"""Chat (non-streaming) against a scripted server speaking Mistral's wire format."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any

import pytest

import clawdesk
from clawdesk import (
    ApiError,
    AuthFailed,
    ChatOptions,
    ChatRequest,
    ConnectionFailed,
    FinishReason,
    ImagePart,
    InvalidRequest,
    Message,
    ModelNotFound,
    PermissionDenied,
    RateLimited,
    ResponseFormat,
    TextPart,
    Timeout,
    Tool,
    ToolCall,
)
from clawdesk.testing import Reply, ScriptedServer, unused_port

Make = Callable[..., clawdesk.Clawdesk]


async def _chat_once(cd: clawdesk.Clawdesk, model: str, messages: Any, options: ChatOptions | None = None) -> Any:
    """One guarded call to the provider, without the fallback engine's retries."""
    target = cd.resolve(model)
    msgs = (Message.user(messages),) if isinstance(messages, str) else tuple(messages)
    return await cd.chat_target(target, ChatRequest(target.model, msgs, options or ChatOptions()))


@pytest.mark.anyio
async def test_chat_round_trip(server: ScriptedServer, make_client: Make, helpers: Any) -> None:
    """A chat sends Mistral's body with the bearer key and returns text, finish reason and usage."""
    server.add(Reply.json(helpers.completion("Bonjour !")))
    async with make_client() as cd:
        response = await cd.chat("mistral/mistral-small-latest", [Message.system("Be brief."), Message.user("Hi")])
    assert response.message.text == "Bonjour !"
    assert response.finish_reason is FinishReason.STOP
    assert response.finish_reason_raw == "stop"
    assert response.usage.input_tokens == 7
    assert response.usage.output_tokens == 3
    assert response.provider == "mistral"
    sent = server.requests[0]
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {helpers.KEY}"
    assert sent.json() == {
        "model": "mistral-small-latest",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
    }


@pytest.mark.anyio
async def test_chat_options_on_the_wire(server: ScriptedServer, make_client: Make, helpers: Any) -> None:
    """Sampling options, stop, seed and JSON mode are sent under Mistral's names."""
    server.add(Reply.json(helpers.completion('{"a": 1}')))
    options = ChatOptions(
        temperature=0.3, top_p=0.9, max_tokens=50, stop=["END"], seed=42, response_format=ResponseFormat.json()
    )
    async with make_client() as cd:
        response = await cd.chat("mistral/mistral-small-latest", "json please", options)
    assert response.message.text == '{"a": 1}'
    body = server.requests[0].json()
    assert body["temperature"] == 0.3
    assert body["top_p"] == 0.9
    assert body["max_tokens"] == 50
    assert body["stop"] == ["END"]
    assert body["random_seed"] == 42
    assert "seed" not in body
    assert body["response_format"] == {"type": "json_object"}


@pytest.mark.anyio
async def test_json_schema_mode(server: ScriptedServer, make_client: Make, helpers: Any) -> None:
    """A JSON schema response format is sent as Mistral's json_schema object."""
    server.add(Reply.json(helpers.completion('{"name": "x"}')))
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    async with make_client() as cd:
        await cd.chat(
            "mistral/mistral-small-latest",
            "go",
            ChatOptions(response_format=ResponseFormat.json_schema(schema, name="thing")),
        )
    assert server.requests[0].json()["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "thing", "schema": schema, "strict": True},
    }


@pytest.mark.anyio
async def test_image_parts(server: ScriptedServer, make_client: Make, helpers: Any) -> None:
    """Image URLs, data URLs and inline bytes are sent as image_url chunks next to the text."""
    server.add(Reply.json(helpers.completion("a cat")))
    message = Message.user(
        [
            TextPart("What is this?"),
            ImagePart(url="https://example.com/cat.png"),
            ImagePart(url="data:image/jpeg;base64,/9j/4AAQ"),
            ImagePart(data=b"\x89PNG", media_type="image/png"),
        ]
    )
    async with make_client() as cd:
        response = await cd.chat("mistral/pixtral-12b-latest", [message])
    assert response.message.text == "a cat"
    content = server.requests[0].json()["messages"][0]["content"]
    assert content == [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": "https://example.com/cat.png"},
        {"type": "image_url", "image_url": "data:image/jpeg;base64,/9j/4AAQ"},
        {"type": "image_url", "image_url": "data:image/png;base64," + base64.b64encode(b"\x89PNG").decode()},
    ]


@pytest.mark.anyio
async def test_tool_call_round_trip(server: ScriptedServer, make_client: Make, helpers: Any) -> None:
    """Tools go out as functions; the answer's tool calls come back parsed; results go back as tool messages."""
    calls = [
        {"id": "D681PevKs", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
    ]
    server.add(Reply.json(helpers.completion("", finish="tool_calls", tool_calls=calls)))
    server.add(Reply.json(helpers.completion("Sunny.")))
    tool = Tool("get_weather", "Weather of a city", {"type": "object", "properties": {"city": {"type": "string"}}})
    async with make_client() as cd:
        first = await cd.chat("mistral/mistral-small-latest", "Weather in Paris?", ChatOptions(tools=[tool]))
        assert first.finish_reason is FinishReason.TOOL_CALLS
        assert first.message.tool_calls == (ToolCall("D681PevKs", "get_weather", {"city": "Paris"}),)
        history = [
            Message.user("Weather in Paris?"),
            first.message,
            Message.tool_result("D681PevKs", '{"sky": "clear"}', name="get_weather"),
        ]
        second = await cd.chat("mistral/mistral-small-latest", history, ChatOptions(tools=[tool]))
    assert second.message.text == "Sunny."
    body = server.requests[0].json()
    assert body["tools"] == [
        {
            "type": "function",
            "function": {"name": "get_weather", "description": "Weather of a city", "parameters": tool.parameters},
        }
    ]
    messages = server.requests[1].json()["messages"]
    assert messages[1] == {
        "role": "assistant",
        "tool_calls": [
            {
                "id": "D681PevKs",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
            }
        ],
    }
    assert messages[2] == {
        "role": "tool",
        "tool_call_id": "D681PevKs",
        "name": "get_weather",
        "content": '{"sky": "clear"}',
    }


@pytest.mark.anyio
async def test_invalid_tool_arguments_are_an_error(server: ScriptedServer, make_client: Make, helpers: Any) -> None:
    """Tool call arguments that are not JSON raise a clear ApiError."""
    calls = [{"id": "x", "type": "function", "function": {"name": "f", "arguments": "{not json"}}]
    server.add(Reply.json(helpers.completion("", finish="tool_calls", tool_calls=calls)))
    async with make_client() as cd:
        with pytest.raises(ApiError, match="not valid JSON"):
            await _chat_once(cd, "mistral/mistral-small-latest", "hi")


@pytest.mark.anyio
async def test_model_length_is_length(server: ScriptedServer, make_client: Make, helpers: Any) -> None:
    """finish_reason model_length is normalised to LENGTH and kept raw."""
    server.add(Reply.json(helpers.completion("cut", finish="model_length")))
    async with make_client() as cd:
        response = await cd.chat("mistral/mistral-small-latest", "hi")
    assert response.finish_reason is FinishReason.LENGTH
    assert response.finish_reason_raw == "model_length"


@pytest.mark.anyio
async def test_finish_reason_error_is_an_error(server: ScriptedServer, make_client: Make, helpers: Any) -> None:
    """finish_reason error is raised, never returned as an answer."""
    server.add(Reply.json(helpers.completion("partial", finish="error")))
    async with make_client() as cd:
        with pytest.raises(ApiError, match="finish_reason 'error'"):
            await _chat_once(cd, "mistral/mistral-small-latest", "hi")


@pytest.mark.anyio
async def test_thinking_chunks_become_reasoning(server: ScriptedServer, make_client: Make, helpers: Any) -> None:
    """A content list with thinking and text chunks gives reasoning and text apart."""
    content = [
        {"type": "thinking", "thinking": [{"type": "text", "text": "Let me see."}]},
        {"type": "text", "text": "42"},
    ]
    server.add(Reply.json(helpers.completion(content)))
    async with make_client() as cd:
        response = await cd.chat("mistral/magistral-small-latest", "6*7?")
    assert response.message.text == "42"
    assert response.message.reasoning == "Let me see."


# -- errors ------------------------------------------------------------------------

_ERRORS: list[tuple[int, Any, type[Exception], str, bool]] = [
    (401, {"message": "Unauthorized", "request_id": "abc"}, AuthFailed, "Unauthorized", False),
    (401, {"detail": "Unauthorized"}, AuthFailed, "MISTRAL_API_KEY", False),
    (
        403,
        {"object": "error", "message": "Forbidden", "type": "forbidden", "param": None, "code": None},
        PermissionDenied,
        "Forbidden",
        False,
    ),
    (404, {"detail": "Not Found"}, ModelNotFound, "Not Found", False),
    (
        400,
        {"object": "error", "message": "Invalid model: nope", "type": "invalid_model", "param": None, "code": "1500"},
        ModelNotFound,
        "Invalid model: nope",
        False,
    ),
    (
        400,
        {
            "object": "error",
            "message": "Prompt contains 40000 tokens, too large",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        },
        InvalidRequest,
        "too large",
        False,
    ),
    (
        422,
        {
            "detail": [
                {"type": "missing", "loc": ["body", "messages", 0, "content"], "msg": "Field required", "input": {}}
            ]
        },
        InvalidRequest,
        "messages.0.content: Field required",
        False,
    ),
    (
        422,
        {
            "object": "error",
            "message": {
                "detail": [
                    {
                        "type": "extra_forbidden",
                        "loc": ["body", "store"],
                        "msg": "Extra inputs are not permitted",
                        "input": True,
                    }
                ]
            },
            "type": "invalid_request_message_error",
            "param": None,
            "code": None,
        },
        InvalidRequest,
        "store: Extra inputs are not permitted",
        False,
    ),
    (
        500,
        {"object": "error", "message": "Internal error", "type": "internal", "param": None, "code": None},
        ApiError,
        "Internal error",
        True,
    ),
    (502, "<html><head><title>502 Bad Gateway</title></head></html>", ApiError, "502 Bad Gateway", True),
    (503, "", ApiError, "HTTP 503", True),
    (504, "upstream timed out", ApiError, "upstream timed out", True),
]


def _error_reply(status: int, body: Any, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    if isinstance(body, str):
        kind = "text/html" if body.startswith("<html") else "text/plain"
        return Reply.text(body, status=status, content_type=kind, headers=headers)
    return Reply.json(body, status=status, headers=headers)


@pytest.mark.anyio
@pytest.mark.parametrize(("status", "body", "error", "text", "retryable"), _ERRORS)
async def test_chat_error_statuses(
    server: ScriptedServer,
    make_client: Make,
    status: int,
    body: Any,
    error: type[Exception],
    text: str,
    retryable: bool,
) -> None:
    """Each error status maps to its error kind, with the server's message and no key."""
    server.add(_error_reply(status, body))
    async with make_client() as cd:
        with pytest.raises(error) as info:
            await _chat_once(cd, "mistral/nope", "hi")
    assert text in str(info.value)
    assert "test-key" not in str(info.value)
    assert getattr(info.value, "status", None) == status
    assert getattr(info.value, "retryable", None) is retryable
    if error is ModelNotFound:
        assert info.value.model == "nope"  # type: ignore[attr-defined]


@pytest.mark.anyio
async def test_rate_limited_with_retry_after(server: ScriptedServer, make_client: Make) -> None:
    """429 is RateLimited, retryable, with retry_after from the header."""
    body = {"object": "error", "message": "Rate limit exceeded", "type": "rate_limited", "param": None, "code": "1300"}
    server.add(Reply.json(body, status=429, headers=[("retry-after", "7")]))
    async with make_client() as cd:
        with pytest.raises(RateLimited) as info:
            await _chat_once(cd, "mistral/mistral-small-latest", "hi")
    assert info.value.retry_after == 7.0
    assert info.value.retryable
    assert "Rate limit exceeded" in str(info.value)


@pytest.mark.anyio
async def test_bad_key_is_auth_failed_without_the_key(server: ScriptedServer, make_client: Make) -> None:
    """A refused key is AuthFailed whose message names the variable and never holds the key."""
    secret = "sk-wrong-key-0000000000"
    server.add(Reply.json({"message": f"Unauthorized key {secret}", "request_id": "r1"}, status=401))
    async with make_client(env={"MISTRAL_API_KEY": secret}) as cd:
        with pytest.raises(AuthFailed) as info:
            await _chat_once(cd, "mistral/mistral-small-latest", "hi")
    assert secret not in str(info.value)
    assert secret not in repr(info.value)
    assert "MISTRAL_API_KEY" in str(info.value)
    assert server.requests[0].headers["authorization"] == f"Bearer {secret}"


@pytest.mark.anyio
async def test_missing_key_fails_before_any_request(server: ScriptedServer, make_client: Make) -> None:
    """Without a key the call fails with AuthFailed naming MISTRAL_API_KEY, and nothing is sent."""
    async with make_client(env={}) as cd:
        with pytest.raises(AuthFailed, match="MISTRAL_API_KEY"):
            await _chat_once(cd, "mistral/mistral-small-latest", "hi")
    assert server.requests == []


@pytest.mark.anyio
async def test_plugin_without_key_sends_no_credentials(server: ScriptedServer, helpers: Any) -> None:
    """Core refuses a missing key (above); called directly without one, the plugin sends no Authorization at all.

    Contract 2 moved the "no API key" refusal into core, so that every provider says it the same way;
    the plugin must still never invent a credential ("Bearer None").
    """
    import httpx

    from clawdesk_mistral._config import MistralConfig
    from clawdesk_mistral._plugin import provider_chat

    server.add(Reply.json({"message": "Unauthorized"}, status=401))
    config = MistralConfig(base_url=server.url + "/v1", name="mistral")
    async with httpx.AsyncClient() as http:
        with pytest.raises(AuthFailed, match="MISTRAL_API_KEY"):
            await provider_chat(config, http, ChatRequest("m", (Message.user("hi"),)))
    assert "authorization" not in server.requests[0].headers


@pytest.mark.anyio
async def test_invalid_option_fails_before_sending(server: ScriptedServer, make_client: Make) -> None:
    """A provider option Mistral does not know is InvalidRequest naming its key path, and nothing is sent."""
    options = ChatOptions(provider_options={"mistral": {"num_ctx": 4096}})
    async with make_client() as cd:
        with pytest.raises(InvalidRequest, match=r"provider_options\.mistral\.num_ctx"):
            await _chat_once(cd, "mistral/mistral-small-latest", "hi", options)
    assert server.requests == []


@pytest.mark.anyio
async def test_non_json_success_body(server: ScriptedServer, make_client: Make) -> None:
    """A 200 answer that is not JSON is an ApiError, not a crash."""
    server.add(Reply.text("<html>hello</html>", content_type="text/html"))
    async with make_client() as cd:
        with pytest.raises(ApiError, match="not JSON"):
            await _chat_once(cd, "mistral/mistral-small-latest", "hi")


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("body", "match"),
    [
        ([], "no choices"),
        ({"choices": []}, "no choices"),
        ({"choices": [{"index": 0, "message": None, "finish_reason": "stop"}]}, "no message"),
        ({"object": "error", "message": "Service overloaded", "type": "internal"}, "Service overloaded"),
        ({"choices": [{"message": {"tool_calls": [{"id": "x"}]}, "finish_reason": "tool_calls"}]}, "function name"),
    ],
)
async def test_odd_shaped_answers(server: ScriptedServer, make_client: Make, body: Any, match: str) -> None:
    """A 200 answer of the wrong shape is a clear ApiError."""
    server.add(Reply.json(body))
    async with make_client() as cd:
        with pytest.raises(ApiError, match=match):
            await _chat_once(cd, "mistral/mistral-small-latest", "hi")


@pytest.mark.anyio
async def test_timeout_honoured(server: ScriptedServer, make_client: Make) -> None:
    """A server that never answers gives Timeout after about timeout_secs."""
    server.add(Reply.stall())
    async with make_client(timeout_secs=0.3) as cd:
        start = time.monotonic()
        with pytest.raises(Timeout):
            await _chat_once(cd, "mistral/mistral-small-latest", "hi")
    assert time.monotonic() - start < 0.3 + 2


@pytest.mark.anyio
async def test_connection_refused(make_client: Make) -> None:
    """Nothing listening at base_url is a retryable ConnectionFailed naming the URL."""
    port = unused_port()
    async with make_client(base_url=f"http://127.0.0.1:{port}/v1") as cd:
        with pytest.raises(ConnectionFailed) as info:
            await _chat_once(cd, "mistral/mistral-small-latest", "hi")
    assert info.value.retryable
    assert str(port) in str(info.value)


@pytest.mark.anyio
async def test_connection_reset(server: ScriptedServer, make_client: Make) -> None:
    """A connection reset before any answer is ConnectionFailed."""
    server.add(Reply.reset())
    async with make_client() as cd:
        with pytest.raises(ConnectionFailed):
            await _chat_once(cd, "mistral/mistral-small-latest", "hi")


@pytest.mark.anyio
async def test_plain_string_and_image_both_reach_mistral(
    server: ScriptedServer, make_client: Make, helpers: Any
) -> None:
    """Message.user(["text", ImagePart(...)]): the string becomes a text chunk next to the image (it was lost once)."""
    server.add(Reply.json(helpers.completion("a cat")))
    async with make_client() as cd:
        await cd.chat(
            "mistral/pixtral-12b-latest", [Message.user(["What is this?", ImagePart(url="https://x/cat.png")])]
        )
    assert server.requests[0].json()["messages"][0]["content"] == [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": "https://x/cat.png"},
    ]


@pytest.mark.anyio
async def test_reasoning_usage_details_and_request_id(server: ScriptedServer, make_client: Make, helpers: Any) -> None:
    """Reasoning goes out as reasoning_effort; thinking comes back as a ReasoningPart; cached tokens and the
    correlation id are reported."""
    answer = helpers.completion(
        [
            {"type": "thinking", "thinking": [{"type": "text", "text": "Let me think."}]},
            {"type": "text", "text": "42"},
        ]
    )
    answer["usage"] = {
        "prompt_tokens": 20,
        "completion_tokens": 5,
        "total_tokens": 25,
        "prompt_tokens_details": {"cached_tokens": 16},
    }
    server.add(Reply.json(answer, headers=[("mistral-correlation-id", "corr-123")]))
    options = ChatOptions(reasoning=clawdesk.Reasoning(effort="medium"))
    async with make_client() as cd:
        response = await cd.chat("mistral/magistral-small-latest", "6 x 7?", options)
    assert server.requests[0].json()["reasoning_effort"] == "high"
    assert response.message.reasoning == "Let me think."
    assert response.message.text == "42"
    assert (response.usage.input_tokens, response.usage.cache_read_tokens, response.usage.output_tokens) == (20, 16, 5)
    assert response.usage.raw["total_tokens"] == 25
    assert response.request_id == "corr-123"


@pytest.mark.anyio
async def test_error_carries_request_id_and_retry_after(server: ScriptedServer, make_client: Make) -> None:
    """A 503 with a correlation id and retry-after-ms: both reach the error, which stays retryable."""
    server.add(
        Reply.json(
            {"message": "overloaded"},
            status=503,
            headers=[("mistral-correlation-id", "corr-9"), ("retry-after-ms", "1500")],
        )
    )
    async with make_client() as cd:
        with pytest.raises(ApiError) as info:
            await _chat_once(cd, "mistral/mistral-small-latest", "hi")
    assert (info.value.request_id, info.value.retry_after, info.value.retryable) == ("corr-9", 1.5, True)
    assert "corr-9" in str(info.value)


@pytest.mark.anyio
async def test_named_instance_errors_carry_its_name(server: ScriptedServer) -> None:
    """A named instance of the plugin ([providers.eu] plugin = "mistral") reports its own name in errors."""
    from clawdesk import Registry
    from clawdesk_mistral import _plugin

    server.add(Reply.json({"message": "no"}, status=403))
    registry = Registry(discover=False)
    registry.register(_plugin)
    text = f'[providers.eu]\nplugin = "mistral"\nbase_url = "{server.url}/v1"\napi_key = "k-123"\n'
    async with clawdesk.Clawdesk(registry=registry, config=clawdesk.parse_config(text), env={}) as cd:
        with pytest.raises(PermissionDenied) as info:
            await _chat_once(cd, "eu/mistral-small-latest", "hi")
    assert info.value.provider == "eu"
