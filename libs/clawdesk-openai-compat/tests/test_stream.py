"""The shared wire's streams against a scripted server, byte for byte as OpenAI-style servers write them."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
from compat_helpers import call_stream
from hypothesis import given, settings
from hypothesis import strategies as st

from clawdesk import (
    ApiError,
    Finish,
    FinishReason,
    InvalidRequest,
    QuotaExceeded,
    RateLimited,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    ToolCallEvent,
    Truncated,
    Usage,
    UsageEvent,
)
from clawdesk.testing import ScriptedServer
from clawdesk_openai_compat.testing import (
    DONE,
    chunk,
    sse,
    sse_reply,
    text_stream,
    token_usage,
    tool_call,
    tool_call_stream,
    usage_chunk,
)

pytestmark = pytest.mark.anyio


def _texts(events: Any) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


async def test_text_then_usage_chunk_then_finish() -> None:
    """Text deltas in order, the include_usage chunk (choices: []) as one UsageEvent, one Finish with the request id."""
    with ScriptedServer() as server:
        server.add(
            sse_reply(
                text_stream("Hel", "lo", usage=token_usage(12, 2, cached=8, reasoning=1)),
                headers=[("x-request-id", "req_abc")],
            )
        )
        events = await call_stream(server.url)
        sent = server.requests[0]
    assert events[:2] == [TextDelta("Hel"), TextDelta("lo")]
    usage = events[2]
    assert isinstance(usage, UsageEvent)
    assert (usage.usage.input_tokens, usage.usage.output_tokens) == (12, 2)
    assert (usage.usage.cache_read_tokens, usage.usage.reasoning_tokens) == (8, 1)
    assert events[3] == Finish(FinishReason.STOP, "stop", request_id="req_abc")
    assert len(events) == 4
    body = sent.json()
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert sent.headers["accept"] == "text/event-stream"


async def test_usage_on_the_finishing_chunk() -> None:
    """Usage sent on the chunk that finishes (Mistral's way, and OpenRouter's) is reported too."""
    with ScriptedServer() as server:
        server.add(sse_reply(text_stream("a", usage=token_usage(3, 1), usage_apart=False)))
        events = await call_stream(server.url)
    assert events[-2] == UsageEvent(Usage(3, 1, raw=token_usage(3, 1)))


async def test_usage_chunk_without_choices_key() -> None:
    """A last chunk with usage and no choices key at all (some servers do that) is usage, not an error."""
    with ScriptedServer() as server:
        server.add(sse_reply([sse(chunk("x")), sse(chunk(finish="stop")), sse({"usage": token_usage(2, 1)}), DONE]))
        events = await call_stream(server.url)
    assert [type(e).__name__ for e in events] == ["TextDelta", "UsageEvent", "Finish"]


async def test_groq_usage_under_x_groq() -> None:
    """Groq's x_groq.usage on its last chunk is the stream's usage."""
    last = chunk(finish="stop", x_groq={"id": "req_01", "usage": token_usage(5, 4)})
    with ScriptedServer() as server:
        server.add(sse_reply([sse(chunk("hi")), sse(last), DONE]))
        events = await call_stream(server.url)
    assert events[-2] == UsageEvent(Usage(5, 4, raw=token_usage(5, 4)))


async def test_parallel_tool_calls_interleaved_are_joined_by_index() -> None:
    """Two calls whose argument pieces interleave, even within one chunk, come out whole and in order."""
    first = {"index": 0, "id": "call_a", "type": "function", "function": {"name": "weather", "arguments": ""}}
    second = {"index": 1, "id": "call_b", "type": "function", "function": {"name": "time", "arguments": '{"tz"'}}
    events_in = [
        sse(chunk(role="assistant", delta={"content": None})),
        sse(chunk(tool_calls=[first, second])),
        sse(
            chunk(
                tool_calls=[
                    {"index": 0, "function": {"arguments": '{"city": "Pa'}},
                    {"index": 1, "function": {"arguments": ': "UTC"}'}},
                ]
            )
        ),
        sse(chunk(tool_calls=[{"index": 0, "function": {"arguments": 'ris"}'}}])),
        sse(chunk(finish="tool_calls")),
        sse(usage_chunk()),
        DONE,
    ]
    with ScriptedServer() as server:
        server.add(sse_reply(events_in))
        events = await call_stream(server.url)
    calls = [e.call for e in events if isinstance(e, ToolCallEvent)]
    assert calls == [ToolCall("call_a", "weather", {"city": "Paris"}), ToolCall("call_b", "time", {"tz": "UTC"})]
    assert events[-1] == Finish(FinishReason.TOOL_CALLS, "tool_calls")


async def test_a_new_id_at_a_used_index_starts_a_new_call() -> None:
    """A server that reuses index 0 for every call (with new ids, and no type) still gives each call apart."""
    pieces = [
        {"index": 0, "id": "c1", "function": {"name": "f", "arguments": '{"n": 1}'}},
        {"index": 0, "id": "c2", "function": {"name": "f", "arguments": '{"n": 2}'}},
    ]
    with ScriptedServer() as server:
        server.add(sse_reply([sse(chunk(tool_calls=[p])) for p in pieces] + [sse(chunk(finish="tool_calls")), DONE]))
        events = await call_stream(server.url)
    assert [e.call for e in events if isinstance(e, ToolCallEvent)] == [
        ToolCall("c1", "f", {"n": 1}),
        ToolCall("c2", "f", {"n": 2}),
    ]


async def test_sse_comments_and_blank_lines_are_skipped() -> None:
    """OpenRouter's ': OPENROUTER PROCESSING' and DeepSeek's ': keep-alive' never reach the JSON parser."""
    events_in = [b": OPENROUTER PROCESSING\n\n", b": keep-alive\n\n\n", *text_stream("ok")]
    with ScriptedServer() as server:
        server.add(sse_reply(events_in))
        events = await call_stream(server.url)
    assert _texts(events) == "ok"
    assert isinstance(events[-1], Finish)


async def test_reasoning_fields_become_reasoning_deltas() -> None:
    """reasoning_content (DeepSeek, llama.cpp) and reasoning (OpenRouter) deltas come before the text."""
    events_in = [
        sse(chunk(reasoning="Two plus ", delta={"content": None})),
        sse(chunk(delta={"reasoning": "two.", "content": None})),
        sse(chunk("4")),
        sse(chunk(finish="stop")),
        DONE,
    ]
    with ScriptedServer() as server:
        server.add(sse_reply(events_in))
        events = await call_stream(server.url)
    assert events[:3] == [ReasoningDelta("Two plus "), ReasoningDelta("two."), TextDelta("4")]


async def test_refusal_deltas_are_text() -> None:
    """A model's refusal, streamed in delta.refusal, reaches the caller as text (it is the answer)."""
    events_in = [
        sse(chunk(delta={"refusal": "I can't "})),
        sse(chunk(delta={"refusal": "help."})),
        sse(chunk(finish="stop")),
        DONE,
    ]
    with ScriptedServer() as server:
        server.add(sse_reply(events_in))
        events = await call_stream(server.url)
    assert _texts(events) == "I can't help."


@pytest.mark.parametrize(
    ("error", "kind", "retryable"),
    [
        ({"error": {"message": "The server had an error", "type": "server_error", "code": None}}, ApiError, True),
        ({"error": {"code": 502, "message": "Provider returned error", "metadata": {}}}, ApiError, True),
        (
            {"error": {"message": "quota", "type": "insufficient_quota", "code": "insufficient_quota"}},
            QuotaExceeded,
            False,
        ),
        ({"error": {"message": "slow down", "type": "rate_limit_error"}}, RateLimited, True),
        (
            {"object": "error", "message": "bad", "type": "BadRequestError", "param": None, "code": 400},
            InvalidRequest,
            False,
        ),
    ],
    ids=["openai-server-error", "openrouter-502", "quota", "rate-limit", "vllm-400"],
)
async def test_error_object_inside_a_200_stream_is_raised(
    error: dict[str, Any], kind: type[Exception], retryable: bool
) -> None:
    """An error sent as a data event (OpenAI, OpenRouter, vLLM shapes) raises its typed error, never a success."""
    with ScriptedServer() as server:
        server.add(sse_reply([sse(chunk("par")), sse(error)]))
        with pytest.raises(kind) as info:
            await call_stream(server.url)
    assert info.type is kind
    assert getattr(info.value, "retryable", None) is retryable
    assert info.value.provider == "acme"


async def test_stream_cut_before_done_is_truncated() -> None:
    """A stream that ends without data: [DONE], even after a finish_reason, is Truncated (retryable)."""
    with ScriptedServer() as server:
        server.add(sse_reply(text_stream("a", "b")[:-1]))
        with pytest.raises(Truncated, match=r"data: \[DONE\]") as info:
            await call_stream(server.url)
    assert info.value.retryable


async def test_finish_reason_error_is_a_retryable_error() -> None:
    """finish_reason "error" (OpenRouter, Mistral) is a retryable ApiError, never a finished answer."""
    with ScriptedServer() as server:
        server.add(sse_reply(text_stream("half", finish="error")))
        with pytest.raises(ApiError, match="finish_reason 'error'") as info:
            await call_stream(server.url)
    assert info.value.retryable


@pytest.mark.parametrize("event", [b"{broken", b'{"choices": "none"}', b"[1, 2]", b'{"id": "x"}'])
async def test_malformed_events_are_api_errors(event: bytes) -> None:
    """An event that is not JSON, or not a chunk, is a clear ApiError."""
    with ScriptedServer() as server:
        server.add(sse_reply([b"data: " + event + b"\n\n", DONE]))
        with pytest.raises(ApiError):
            await call_stream(server.url)


async def test_llama_cpp_dialect_closes_the_connection_after_a_stream() -> None:
    """llama.cpp closes its connection after a stream: its dialect asks for Connection: close, so none is reused."""
    from clawdesk_openai_compat import DIALECTS

    with ScriptedServer() as server:
        server.add(sse_reply(text_stream("a")), sse_reply(text_stream("b")))
        await call_stream(server.url, dialect=DIALECTS["llama.cpp"])
        await call_stream(server.url)
    assert server.requests[0].headers.get("connection") == "close"
    assert server.requests[1].headers.get("connection") != "close"


_piece = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=8)
_arguments = st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=3)


@settings(max_examples=40, deadline=None)
@given(
    pieces=st.lists(_piece, min_size=1, max_size=6),
    calls=st.lists(_arguments, max_size=2),
    cuts=st.lists(st.integers(min_value=1, max_value=40), max_size=30),
)
def test_any_answer_over_any_chunking(pieces: list[str], calls: list[dict[str, Any]], cuts: list[int]) -> None:
    """Whatever the text and tool calls, and however the bytes are cut into HTTP chunks (inside UTF-8
    characters too), the events are the text, the calls with their arguments, the usage and one Finish."""
    expected = [ToolCall(f"call_{i}", f"tool_{i}", args) for i, args in enumerate(calls)]
    body = b"".join(text_stream(*pieces)[:-3])
    body += b"".join(tool_call_stream(*expected)[1:]) if expected else b"".join(text_stream("")[-3:])
    parts, start = [], 0
    for cut in cuts:
        if start + cut < len(body):
            parts.append(body[start : start + cut])
            start += cut
    parts.append(body[start:])
    with ScriptedServer() as server:
        server.add(sse_reply(parts))
        events = anyio.run(call_stream, server.url)
    assert _texts(events) == "".join(pieces)
    assert [e.call for e in events if isinstance(e, ToolCallEvent)] == expected
    assert sum(isinstance(e, UsageEvent) for e in events) == 1
    assert isinstance(events[-1], Finish)
    assert events[-1].reason is (FinishReason.TOOL_CALLS if expected else FinishReason.STOP)


def test_tool_call_builder_matches_what_the_wire_reads() -> None:
    """tool_call() writes arguments as a JSON string, as the wire sends them."""
    call = ToolCall("c", "f", {"a": [1, "ü"]})
    assert json.loads(tool_call(call)["function"]["arguments"]) == {"a": [1, "ü"]}
