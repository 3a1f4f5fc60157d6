"""Whole answers: chat against a scripted server, and decoding every shape servers send."""

from __future__ import annotations

from typing import Any

import pytest
from compat_helpers import call_chat
from hypothesis import given
from hypothesis import strategies as st

from clawdesk import ApiError, FinishReason, ToolCall, Usage
from clawdesk.testing import Reply, ScriptedServer
from clawdesk_openai_compat import decode_chat, finish_reason, usage_from
from clawdesk_openai_compat.testing import completion, token_usage, tool_call


@pytest.mark.anyio
async def test_chat_answer_with_usage_and_request_id() -> None:
    """A chat.completion becomes the reply, its usage (cached and reasoning parts too) and the request id."""
    with ScriptedServer() as server:
        server.add(
            Reply.json(
                completion("Bonjour", usage=token_usage(20, 6, cached=16, reasoning=2)),
                headers=[("x-request-id", "req_9")],
            )
        )
        response = await call_chat(server.url)
        sent = server.requests[0]
    assert response.message.text == "Bonjour"
    assert (response.finish_reason, response.finish_reason_raw) == (FinishReason.STOP, "stop")
    usage = response.usage
    assert (usage.input_tokens, usage.output_tokens, usage.cache_read_tokens, usage.reasoning_tokens) == (20, 6, 16, 2)
    assert (response.request_id, response.provider, response.model) == ("req_9", "acme", "gpt-4o-mini")
    assert sent.path == "/chat/completions"
    assert sent.headers["authorization"].startswith("Bearer sk-compat-test-")
    assert "stream" not in sent.json()


def test_tool_calls_reasoning_and_refusal() -> None:
    """Tool calls are parsed (an id-less one gets a stable id), reasoning_content kept, a refusal is the text."""
    calls = [tool_call(ToolCall("c1", "f", {"a": 1})), {"type": "function", "function": {"name": "g", "arguments": ""}}]
    data = completion(None, finish="tool_calls", tool_calls=calls, reasoning="thinking")
    response = decode_chat(data, model="m", provider="acme")
    assert response.message.tool_calls[0] == ToolCall("c1", "f", {"a": 1})
    second = response.message.tool_calls[1]
    assert (second.name, second.arguments) == ("g", {})
    assert second.id == decode_chat(data, model="m", provider="acme").message.tool_calls[1].id
    assert response.message.reasoning == "thinking"
    refused = decode_chat(completion(None, message={"refusal": "I can't help with that."}), model="m", provider="a")
    assert refused.message.text == "I can't help with that."
    assert refused.metadata == {"refusal": "I can't help with that."}


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ([], "no choices"),
        ({"choices": []}, "no choices"),
        ({"choices": [{"index": 0, "message": None, "finish_reason": "stop"}]}, "no message"),
        ({"error": {"message": "Service overloaded", "type": "server_error"}}, "Service overloaded"),
        ({"object": "error", "message": "Service overloaded", "type": "internal"}, "Service overloaded"),
        (completion(None, tool_calls=[{"id": "x"}]), "function name"),
        (completion(None, tool_calls=[{"id": "x", "function": {"name": "f", "arguments": "{oops"}}]), "not valid JSON"),
        (completion("x", finish="error"), "finish_reason 'error'"),
    ],
)
def test_odd_answers_are_api_errors(body: Any, match: str) -> None:
    """A 200 answer of the wrong shape, an error object where the answer should be, finish_reason error: ApiError."""
    with pytest.raises(ApiError, match=match):
        decode_chat(body, model="m", provider="acme")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("stop", FinishReason.STOP),
        ("length", FinishReason.LENGTH),
        ("model_length", FinishReason.LENGTH),
        ("tool_calls", FinishReason.TOOL_CALLS),
        ("function_call", FinishReason.TOOL_CALLS),
        ("content_filter", FinishReason.CONTENT_FILTER),
        ("abort", FinishReason.OTHER),
        (None, FinishReason.OTHER),
    ],
)
def test_finish_reasons(raw: str | None, reason: FinishReason) -> None:
    """Every finish reason servers send has its normalised value; an unknown one is OTHER."""
    assert finish_reason(raw) is reason


def test_deepseek_cache_hits_are_cached_tokens() -> None:
    """DeepSeek's prompt_cache_hit_tokens is the cached part of the prompt."""
    usage = usage_from({"prompt_tokens": 30, "completion_tokens": 4, "prompt_cache_hit_tokens": 24})
    assert usage == Usage(30, 4, cache_read_tokens=24, raw=usage.raw if usage else {})


_value = st.none() | st.booleans() | st.integers() | st.text(max_size=4) | st.lists(st.integers(), max_size=2)


@given(
    st.dictionaries(
        st.sampled_from(
            [
                "prompt_tokens",
                "completion_tokens",
                "prompt_tokens_details",
                "completion_tokens_details",
                "prompt_cache_hit_tokens",
                "x",
            ]
        ),
        _value | st.dictionaries(st.sampled_from(["cached_tokens", "reasoning_tokens"]), _value),
    )
)
def test_any_usage_object_reads_without_error(data: dict[str, Any]) -> None:
    """Whatever a usage object holds, counts are ints or None (a bool or a string is never a count)."""
    usage = usage_from(data)
    assert usage is not None
    for count in (usage.input_tokens, usage.output_tokens, usage.cache_read_tokens, usage.reasoning_tokens):
        assert count is None or type(count) is int
