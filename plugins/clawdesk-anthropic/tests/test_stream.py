"""Streaming end to end through clawdesk (client, guard, fallback engine) against the scripted Claude API."""

from __future__ import annotations

import json
from typing import Any

import anthropic_wire as wire
import pytest

import clawdesk
import clawdesk_anthropic._plugin
from clawdesk import (
    ApiError,
    AuthFailed,
    ChatOptions,
    ChatRequest,
    FallbackConfig,
    FallbackEngine,
    Finish,
    FinishReason,
    InvalidRequest,
    Message,
    ReasoningDelta,
    ReasoningPart,
    Registry,
    Role,
    StreamEvent,
    StreamInterrupted,
    TextDelta,
    TextPart,
    Tool,
    ToolCall,
    ToolCallEvent,
    Truncated,
    Usage,
    UsageEvent,
)
from clawdesk.testing import Reply, ScriptedServer

MODEL = f"anthropic/{wire.MODEL}"
OVERLOADED = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}, "request_id": "req_x"}
WEATHER = Tool("get_weather", "Weather by city", {"type": "object", "properties": {"city": {"type": "string"}}})
SIGNATURE = "EuYBCkQYAiJAgCs1le6/Pol5KgVC+0xZ6ZU5QXgB6ajFrjMZXf/8TFbFYFSW4bR4S++uLIcRFQ6Gx+Y3mTwpIxQ7EIaWtEuAsEgz=="
THOUGHT = 'The user wants Oslo\'s weather.\n  I should call get_weather with {"city": "Oslo"} — "quoted" \\ done.'


def _client(
    server: ScriptedServer, *, chain: list[str] | None = None, retries: int = 2, **extra: Any
) -> clawdesk.Clawdesk:
    """A client with this plugin as `anthropic` and as a named instance `backup`, retries without waiting."""
    text = wire.config_text(server.url, max_retries=retries, **extra)
    text += f'\n[providers.backup]\nplugin = "anthropic"\nbase_url = "{server.url}"\nmax_retries = {retries}\n'
    registry = Registry(discover=False)
    registry.register(clawdesk_anthropic._plugin)
    cd = clawdesk.Clawdesk(registry=registry, config=clawdesk.parse_config(text), env={"ANTHROPIC_API_KEY": wire.KEY})
    # The engine is set up in Python: the retry waits are cut to a millisecond.
    fallback = FallbackConfig(
        chain=tuple(chain or ()), max_retries_per_provider=retries, backoff_base_secs=0.001, backoff_max_secs=0.001
    )
    cd.engine = FallbackEngine(cd, fallback)
    return cd


async def _collect(cd: clawdesk.Clawdesk, model: Any = MODEL, messages: Any = "Hi", options: Any = None) -> Any:
    async with cd.stream(model, messages, options) as events:
        return [e async for e in events], events


@pytest.mark.anyio
async def test_text_streams_with_the_api_headers(server: ScriptedServer) -> None:
    """Text deltas arrive in order, then usage and Finish; the key, version and betas travel in headers."""
    server.add(wire.sse_reply(wire.text_events("Hel", "lo", " there")))
    async with _client(server, betas=["interleaved-thinking-2025-05-14", "context-1m-2025-08-07"]) as cd:
        events, stream = await _collect(cd, options=ChatOptions(provider_options={"anthropic": {"betas": ["b-1"]}}))
    assert events == [
        TextDelta("Hel"),
        TextDelta("lo"),
        TextDelta(" there"),
        UsageEvent(Usage(12, 6, raw={"input_tokens": 12, "output_tokens": 6})),
        Finish(FinishReason.STOP, "end_turn", request_id=wire.REQUEST_ID),
    ]
    sent = server.requests[0]
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == wire.KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.headers["anthropic-beta"] == "interleaved-thinking-2025-05-14,context-1m-2025-08-07,b-1"
    assert "authorization" not in sent.headers
    assert sent.json()["stream"] is True
    assert stream.target.provider == "anthropic"


@pytest.mark.anyio
async def test_api_version_is_configurable(server: ScriptedServer) -> None:
    """api_version = "2026-10-21" is sent on every request."""
    server.add(wire.sse_reply(wire.text_events("ok")))
    async with _client(server, api_version="2026-10-21") as cd:
        await _collect(cd)
    assert server.requests[0].headers["anthropic-version"] == "2026-10-21"
    assert "anthropic-beta" not in server.requests[0].headers


@pytest.mark.anyio
async def test_a_stream_without_message_stop_is_truncated(server: ScriptedServer) -> None:
    """A body that ends cleanly before message_stop is Truncated, never a success."""
    frames = wire.text_events("Hel", "lo")
    server.add(wire.sse_reply(frames[:-1]))
    async with _client(server, retries=0) as cd:
        with pytest.raises(StreamInterrupted) as caught:
            await _collect(cd)
    assert isinstance(caught.value.cause, Truncated)
    assert "".join(e.text for e in caught.value.delivered if isinstance(e, TextDelta)) == "Hello"


@pytest.mark.anyio
async def test_overloaded_event_before_the_first_event_is_retried(server: ScriptedServer) -> None:
    """An `event: error` overloaded right after message_start (nothing delivered yet) is retried, then succeeds."""
    server.add(
        wire.sse_reply([wire.event(wire.message_start()), wire.event(OVERLOADED)]),
        wire.sse_reply(wire.text_events("Fine", " now")),
    )
    async with _client(server) as cd:
        events, stream = await _collect(cd)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Fine now"
    attempts = [(a.outcome, a.kind, a.number) for a in stream.attempts]
    assert attempts == [("failed", "api_error", 1), ("ok", None, 2)]
    assert "overloaded_error" in (stream.attempts[0].reason or "")


@pytest.mark.anyio
async def test_overloaded_event_falls_back_to_the_next_candidate(server: ScriptedServer) -> None:
    """With no retries left, an overloaded stream moves on to the next candidate of the chain."""
    server.add(
        wire.sse_reply([wire.event(wire.message_start()), wire.event(OVERLOADED)]),
        wire.sse_reply(wire.text_events("From backup")),
    )
    chain = [MODEL, f"backup/{wire.MODEL}"]
    async with _client(server, chain=chain, retries=0) as cd:
        events, stream = await _collect(cd, model=None)
    assert stream.target.provider == "backup"
    assert [a.provider for a in stream.attempts] == ["anthropic", "backup"]
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "From backup"


@pytest.mark.anyio
async def test_overloaded_after_text_is_stream_interrupted_with_the_text_kept(server: ScriptedServer) -> None:
    """An error event after text reached the caller is StreamInterrupted: the text is kept, nothing is retried."""
    frames = wire.text_events("Partial", " answer")
    server.add(wire.sse_reply([*frames[:5], wire.event(OVERLOADED)]), wire.sse_reply(wire.text_events("never")))
    async with _client(server) as cd:
        with pytest.raises(StreamInterrupted) as caught:
            await _collect(cd)
    error = caught.value
    assert isinstance(error.cause, ApiError)
    assert error.cause.retryable
    assert "overloaded_error" in str(error.cause)
    assert "".join(e.text for e in error.delivered if isinstance(e, TextDelta)) == "Partial answer"
    assert len(server.requests) == 1


@pytest.mark.anyio
async def test_529_is_retried(server: ScriptedServer) -> None:
    """HTTP 529 overloaded is retryable (it is not 503): the next try answers."""
    server.add(
        wire.json_reply(wire.error_body("overloaded_error", "Overloaded"), status=529),
        wire.sse_reply(wire.text_events("ok")),
    )
    async with _client(server) as cd:
        events, stream = await _collect(cd)
    assert [a.status for a in stream.attempts] == [529, None]
    assert TextDelta("ok") in events


@pytest.mark.anyio
async def test_400_stops_the_chain(server: ScriptedServer) -> None:
    """An invalid request is wrong for anyone: the chain stops at once, the next candidate is never asked."""
    server.add(wire.json_reply(wire.error_body("invalid_request_error", "messages: field required"), status=400))
    async with _client(server, chain=[MODEL, f"backup/{wire.MODEL}"]) as cd:
        with pytest.raises(InvalidRequest, match="invalid_request_error"):
            await _collect(cd, model=None)
    assert len(server.requests) == 1


@pytest.mark.anyio
async def test_401_moves_on_at_once(server: ScriptedServer) -> None:
    """A refused key is not retried: the chain moves on to the next candidate after one try."""
    server.add(
        wire.json_reply(wire.error_body("authentication_error", "invalid x-api-key"), status=401),
        wire.sse_reply(wire.text_events("backup here")),
    )
    async with _client(server, chain=[MODEL, f"backup/{wire.MODEL}"]) as cd:
        _, stream = await _collect(cd, model=None)
    assert [(a.provider, a.outcome, a.kind) for a in stream.attempts] == [
        ("anthropic", "failed", "auth_failed"),
        ("backup", "ok", None),
    ]
    error = stream.attempts[0].error
    assert isinstance(error, AuthFailed)
    assert "ANTHROPIC_API_KEY or providers.anthropic.api_key" in str(error)
    assert wire.REQUEST_ID in str(error)


def _assistant(events: list[StreamEvent]) -> Message:
    """The assistant message a caller builds from a stream (a reasoning delta with a signature closes its part)."""
    parts: list[Any] = []
    thought: list[str] = []
    calls: list[ToolCall] = []
    for event in events:
        if isinstance(event, ReasoningDelta):
            thought.append(event.text)
            if event.signature is not None or event.redacted is not None:
                parts.append(
                    ReasoningPart(
                        "".join(thought), signature=event.signature, redacted=event.redacted, source=event.source
                    )
                )
                thought = []
        elif isinstance(event, TextDelta):
            parts.append(TextPart(event.text))
        elif isinstance(event, ToolCallEvent):
            calls.append(event.call)
    return Message(Role.ASSISTANT, parts, tool_calls=calls)


def _thinking_tool_frames() -> list[bytes]:
    w = wire
    return [
        w.event(w.message_start()),
        w.event(w.block_start(0, {"type": "thinking", "thinking": "", "signature": ""})),
        w.event(w.delta(0, {"type": "thinking_delta", "thinking": THOUGHT[:20]})),
        w.event(w.delta(0, {"type": "thinking_delta", "thinking": THOUGHT[20:]})),
        w.event(w.delta(0, {"type": "signature_delta", "signature": SIGNATURE})),
        w.event(w.block_stop(0)),
        w.event(
            w.block_start(
                1, {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather", "input": {}}
            )
        ),
        w.event(w.delta(1, {"type": "input_json_delta", "partial_json": '{"city": '})),
        w.event(w.delta(1, {"type": "input_json_delta", "partial_json": '"Oslo"}'})),
        w.event(w.block_stop(1)),
        w.event(w.message_delta("tool_use")),
        w.event(w.MESSAGE_STOP),
    ]


@pytest.mark.anyio
async def test_tool_loop_with_thinking_sends_the_thinking_block_back_byte_for_byte(server: ScriptedServer) -> None:
    """The second request of a tool-use loop carries the first answer's thinking and signature unchanged."""
    server.add(wire.sse_reply(_thinking_tool_frames()), wire.sse_reply(wire.text_events("It is -3C in Oslo.")))
    options = ChatOptions(tools=(WEATHER,), reasoning=clawdesk.Reasoning(effort="high"))
    question = Message.user("Weather in Oslo?")
    async with _client(server) as cd:
        first, _ = await _collect(cd, messages=[question], options=options)
        assistant = _assistant(first)
        call = assistant.tool_calls[0]
        follow_up = [question, assistant, Message.tool_result(call.id, "-3C")]
        second, _ = await _collect(cd, messages=follow_up, options=options)
    assert "".join(e.text for e in second if isinstance(e, TextDelta)) == "It is -3C in Oslo."
    raw = server.requests[1].body
    # Byte for byte: the thinking text and the signature appear in the body exactly as the API encoded them.
    assert json.dumps(SIGNATURE).encode() in raw
    assert json.dumps(THOUGHT, ensure_ascii=False).encode() in raw
    sent = server.requests[1].json()
    assert sent["thinking"] == {"type": "adaptive"}
    assert sent["messages"][1] == {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": THOUGHT, "signature": SIGNATURE},
            {
                "type": "tool_use",
                "id": "toolu_01A09q90qw90lq917835lq9",
                "name": "get_weather",
                "input": {"city": "Oslo"},
            },
        ],
    }
    assert sent["messages"][2] == {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "toolu_01A09q90qw90lq917835lq9", "content": "-3C"}],
    }


@pytest.mark.anyio
async def test_tool_loop_with_thinking_without_streaming(server: ScriptedServer) -> None:
    """The same loop through chat(): thinking and redacted thinking blocks go back exactly as they came."""
    content = [
        {"type": "thinking", "thinking": THOUGHT, "signature": SIGNATURE},
        {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4aMOYds"},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}},
    ]
    server.add(
        wire.json_reply(wire.message(content, stop_reason="tool_use")),
        wire.json_reply(wire.message([{"type": "text", "text": "-3C"}])),
    )
    options = ChatOptions(tools=(WEATHER,), reasoning=clawdesk.Reasoning(budget_tokens=4000))
    question = Message.user("Weather in Oslo?")
    async with _client(server) as cd:
        first = await cd.chat("anthropic/claude-opus-4-6", [question], options)
        follow_up = [question, first.message, Message.tool_result("toolu_1", "-3C")]
        await cd.chat("anthropic/claude-opus-4-6", follow_up, options)
    assert server.requests[1].json()["messages"][1]["content"] == content
    assert server.requests[0].json()["thinking"] == {"type": "enabled", "budget_tokens": 4000}


@pytest.mark.anyio
async def test_stream_error_status_raises_before_any_event(server: ScriptedServer) -> None:
    """A 403 on a stream raises PermissionDenied from the single-target stream with nothing yielded."""
    server.add(wire.json_reply(wire.error_body("permission_error", "no access to this model"), status=403))
    async with _client(server, retries=0) as cd:
        target = cd.resolve(MODEL)
        request = ChatRequest(target.model, (Message.user("Hi"),))
        events: list[StreamEvent] = []
        with pytest.raises(clawdesk.PermissionDenied, match="permission_error"):
            async with cd.stream_target(target, request) as stream:
                events.extend([e async for e in stream])
    assert events == []


@pytest.mark.anyio
async def test_a_reset_mid_stream_is_truncated(server: ScriptedServer) -> None:
    """A connection reset in the middle of the body is Truncated (retryable), not a success."""
    server.add(wire.sse_reply(wire.text_events("a", "b", "c"), cut_after=4, reset_on_cut=True))
    async with _client(server, retries=0) as cd:
        with pytest.raises(StreamInterrupted) as caught:
            await _collect(cd)
    assert isinstance(caught.value.cause, Truncated)
    assert caught.value.cause.retryable


@pytest.mark.anyio
async def test_refusal_mid_answer_keeps_the_text(server: ScriptedServer) -> None:
    """stop_reason refusal ends the stream with CONTENT_FILTER and what came before."""
    server.add(wire.sse_reply(wire.text_events("I can help with part", stop_reason="refusal")))
    async with _client(server) as cd:
        events, _ = await _collect(cd)
    assert events[0] == TextDelta("I can help with part")
    assert events[-1] == Finish(FinishReason.CONTENT_FILTER, "refusal", request_id=wire.REQUEST_ID)


def test_scripted_stream_reply_type() -> None:
    """The helper's replies are real SSE replies (a guard against testing another content type)."""
    reply = wire.sse_reply(wire.text_events("x"))
    assert isinstance(reply, Reply)
    assert ("content-type", wire.SSE_TYPE) in reply.headers
