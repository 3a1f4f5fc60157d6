"""Streaming against a scripted Gemini that frames SSE as Google does (CRLF, no end marker), and as it misbehaves."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import clawdesk_gemini._plugin as gemini_plugin
from clawdesk import (
    ApiError,
    ChatOptions,
    ChatRequest,
    Clawdesk,
    Finish,
    FinishReason,
    InvalidRequest,
    Message,
    RateLimited,
    Reasoning,
    ReasoningDelta,
    Registry,
    StreamEvent,
    StreamInterrupted,
    TextDelta,
    Tool,
    ToolCall,
    ToolCallEvent,
    Usage,
    UsageEvent,
    parse_config,
)
from clawdesk.testing import Reply, ScriptedServer

Make = Callable[..., Clawdesk]
MODEL = "gemini/gemini-2.5-flash"
W = __import__("sys").modules["clawdesk_gemini_testwire"]
GW = W.GeminiWire()


async def _events(cd: Clawdesk, messages: Any = "hi", options: ChatOptions | None = None) -> list[StreamEvent]:
    """One guarded stream from the provider, without retries or fallback."""
    target = cd.resolve(MODEL)
    chat = [Message.user(messages)] if isinstance(messages, str) else list(messages)
    request = ChatRequest(target.model, tuple(chat), options or ChatOptions())
    async with cd.stream_target(target, request) as stream:
        return [e async for e in stream]


def _texts(events: list[StreamEvent]) -> list[str]:
    return [e.text for e in events if isinstance(e, TextDelta)]


@pytest.mark.anyio
async def test_text_stream(server: ScriptedServer, make_client: Make, gw: Any) -> None:
    """Text deltas in order, then the usage of the last chunk, then Finish; the request asks for SSE with the key."""
    server.add(gw.stream(*gw.text_stream("Hel", "lo", " world")))
    async with make_client() as cd:
        events = await _events(cd)
    assert events == [
        TextDelta("Hel"),
        TextDelta("lo"),
        TextDelta(" world"),
        UsageEvent(Usage(9, 3, raw=gw.usage(9, 3))),
        Finish(FinishReason.STOP, "STOP", request_id=W.RESPONSE_ID),
    ]
    sent = server.requests[0]
    assert sent.path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    assert sent.headers["accept"] == "text/event-stream"
    assert sent.headers["x-goog-api-key"] == W.KEY
    assert "authorization" not in sent.headers
    assert W.KEY not in sent.path


@pytest.mark.anyio
async def test_last_chunk_with_text_and_finish(server: ScriptedServer, make_client: Make, gw: Any) -> None:
    """The finishReason may come on the chunk with the last text: that text is kept and the stream ends there."""
    chunks = [gw.response(gw.text("a"), finish=None), gw.response(gw.text("b"), usage=gw.usage(3, 2))]
    server.add(gw.stream(*chunks))
    async with make_client() as cd:
        events = await _events(cd)
    assert _texts(events) == ["a", "b"]
    assert events[-1] == Finish(FinishReason.STOP, "STOP", request_id=W.RESPONSE_ID)


@pytest.mark.anyio
async def test_thoughts_signatures_and_usage(server: ScriptedServer, make_client: Make, gw: Any) -> None:
    """Thought parts are gemini's ReasoningDelta, signatures ride on their deltas, thinking tokens are output."""
    sig = "c2lnbmF0dXJlLWJ5dGVz"
    chunks = [
        gw.response(gw.text("**Plan** add them", thought=True), finish=None),
        gw.response(gw.text("", thought=True, signature=sig), finish=None),
        gw.response(gw.text("4"), finish=None),
        gw.response(finish="STOP", no_content=True, usage=gw.usage(10, 1, thoughts=52, cached=4)),
    ]
    server.add(gw.stream(*chunks))
    async with make_client() as cd:
        events = await _events(cd, "2+2?", ChatOptions(reasoning=Reasoning(budget_tokens=1024)))
    assert events[:3] == [
        ReasoningDelta("**Plan** add them", source="gemini"),
        ReasoningDelta("", signature=sig, source="gemini"),
        TextDelta("4"),
    ]
    usage = next(e.usage for e in events if isinstance(e, UsageEvent))
    assert (usage.input_tokens, usage.output_tokens, usage.reasoning_tokens, usage.cache_read_tokens) == (10, 53, 52, 4)
    config = server.requests[0].json()["generationConfig"]
    assert config["thinkingConfig"] == {"includeThoughts": True, "thinkingBudget": 1024}


@pytest.mark.anyio
async def test_function_calls_arrive_whole(server: ScriptedServer, make_client: Make, gw: Any) -> None:
    """Each functionCall part is one ToolCallEvent at once, arguments as objects, a stable id; finish TOOL_CALLS."""
    chunks = [
        gw.response(gw.call("lookup", {"q": "Zürich", "n": [1, 2]}), finish=None),
        gw.response(gw.call("lookup", {"q": "Bern"}), finish="STOP", usage=gw.usage(5, 8)),
    ]
    server.add(gw.stream(*chunks), gw.answer(*(c["candidates"][0]["content"]["parts"][0] for c in chunks)))
    tool = Tool("lookup", "find", {"type": "object", "properties": {"q": {"type": "string"}}})
    async with make_client() as cd:
        events = await _events(cd, "find", ChatOptions(tools=(tool,)))
        whole = await cd.chat(MODEL, "find", ChatOptions(tools=(tool,)))
    calls = [e.call for e in events if isinstance(e, ToolCallEvent)]
    assert [(c.name, dict(c.arguments)) for c in calls] == [
        ("lookup", {"q": "Zürich", "n": [1, 2]}),
        ("lookup", {"q": "Bern"}),
    ]
    assert calls[0].id != calls[1].id
    assert all(c.id.startswith("call_") for c in calls)
    # The same answer gives the same ids, streamed or not.
    assert [c.id for c in whole.message.tool_calls] == [c.id for c in calls]
    assert events[-1] == Finish(FinishReason.TOOL_CALLS, "STOP", request_id=W.RESPONSE_ID)


@pytest.mark.anyio
async def test_error_chunk_after_text(server: ScriptedServer, make_client: Make, gw: Any) -> None:
    """A ``data:`` chunk holding Google's error object ends the stream with that typed error, after what came."""
    error = gw.error_body(503, "The model is overloaded. Please try again later.")
    server.add(gw.stream(gw.response(gw.text("partial"), finish=None), error))
    async with make_client() as cd:
        with pytest.raises(StreamInterrupted) as info:
            await _events(cd)
    cause = info.value.cause
    assert isinstance(cause, ApiError)
    assert (cause.status, cause.retryable) == (503, True)
    assert "overloaded" in str(cause)
    assert _texts(list(info.value.delivered)) == ["partial"]


@pytest.mark.anyio
@pytest.mark.parametrize("line_end", [b"\r\n", b"\n"])
async def test_raw_json_error_lines(server: ScriptedServer, make_client: Make, gw: Any, line_end: bytes) -> None:
    """Google's raw, pretty-printed error object written into the stream (no ``data:``) raises its typed error."""
    details = [gw.retry_info("3s")]
    error = json.dumps(gw.error_body(429, "Resource has been exhausted.", details=details), indent=2).encode()
    pieces = [*gw.sse(gw.response(gw.text("so far"), finish=None)), error.replace(b"\n", line_end) + line_end]
    server.add(Reply.stream(pieces, content_type=W.SSE))
    async with make_client() as cd:
        with pytest.raises(StreamInterrupted) as info:
            await _events(cd)
    cause = info.value.cause
    assert isinstance(cause, RateLimited)
    assert cause.retry_after == 3.0
    assert "Resource has been exhausted" in str(cause)


@pytest.mark.anyio
async def test_error_status_raises_before_events(server: ScriptedServer, make_client: Make, gw: Any) -> None:
    """An error status raises before any event, also with the stream endpoint's list-shaped body."""
    body = [gw.error_body(400, 'Invalid JSON payload received. Unknown name "foo": Cannot find field.')]
    server.add(gw.json(body, status=400))
    async with make_client() as cd:
        with pytest.raises(InvalidRequest, match="Unknown name"):
            await _events(cd)


@pytest.mark.anyio
async def test_event_that_is_not_json(server: ScriptedServer, make_client: Make) -> None:
    """A ``data:`` payload that is not JSON is a clear ApiError quoting its start, not a crash."""
    server.add(Reply.stream([b"data: {not json\r\n\r\n"], content_type=W.SSE))
    async with make_client() as cd:
        with pytest.raises(ApiError, match="not JSON"):
            await _events(cd)


@pytest.mark.anyio
@pytest.mark.parametrize(("finish", "retryable"), [("MALFORMED_FUNCTION_CALL", True), ("TOO_MANY_TOOL_CALLS", False)])
async def test_failed_finish_is_an_error(
    server: ScriptedServer, make_client: Make, gw: Any, finish: str, retryable: bool
) -> None:
    """A finishReason saying the model failed is an ApiError (retryable where asking again can help), never a stop."""
    stopped = gw.response(no_content=True, finish=finish, candidate={"finishMessage": "Malformed function call: x"})
    server.add(gw.stream(stopped))
    async with make_client() as cd:
        with pytest.raises(ApiError, match=finish) as info:
            await _events(cd)
    assert info.value.retryable is retryable


@pytest.mark.anyio
async def test_empty_answer_is_an_error(server: ScriptedServer, make_client: Make, gw: Any) -> None:
    """A stream that finishes with STOP but said nothing is a retryable ApiError, not an empty success."""
    server.add(gw.stream(gw.response(finish="STOP", no_content=True, usage=gw.usage(9, None))))
    async with make_client() as cd:
        with pytest.raises(ApiError, match="empty answer") as info:
            await _events(cd)
    assert info.value.retryable


@pytest.mark.anyio
async def test_nothing_after_the_finish_is_read(server: ScriptedServer, make_client: Make, gw: Any) -> None:
    """The chunk with the finishReason ends the answer: a stray chunk after it adds nothing."""
    chunks = [*gw.text_stream("done"), gw.response(gw.text(" EXTRA"), finish=None)]
    server.add(gw.stream(*chunks))
    async with make_client() as cd:
        events = await _events(cd)
    assert _texts(events) == ["done"]


# -- any chunking --------------------------------------------------------------------

_piece = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    texts=st.lists(_piece, min_size=1, max_size=5),
    crlf=st.booleans(),
    cuts=st.lists(st.integers(min_value=1, max_value=2000), max_size=10),
    raw_error=st.booleans(),
)
@pytest.mark.anyio
async def test_any_chunking_gives_the_same_events(
    texts: list[str], crlf: bool, cuts: list[int], raw_error: bool
) -> None:
    """Whatever the HTTP chunk boundaries and line ends (CRLF or LF), the same events come out.

    With ``raw_error`` the body ends with Google's raw error object instead
    of the finish: the typed error comes out, at any chunking.
    """
    chunks = GW.text_stream(*texts)
    body = b"".join(GW.sse(*(chunks[:-1] if raw_error else chunks), crlf=crlf))
    if raw_error:
        end = "\r\n" if crlf else "\n"
        body += json.dumps(GW.error_body(500, "Internal error encountered."), indent=2).replace("\n", end).encode()
        body += end.encode()
    bounds = sorted({c for c in cuts if c < len(body)})
    pieces = [body[a:b] for a, b in zip([0, *bounds], [*bounds, len(body)], strict=True)]
    with ScriptedServer() as server:
        server.add(Reply.stream(pieces, content_type=W.SSE))
        registry = Registry(discover=False)
        registry.register(gemini_plugin)
        config = parse_config(W.config_text(server.url))
        async with Clawdesk(registry=registry, config=config, env={"GEMINI_API_KEY": W.KEY}) as cd:
            if raw_error:
                with pytest.raises(StreamInterrupted) as info:
                    await _events(cd)
                assert isinstance(info.value.cause, ApiError)
                assert info.value.cause.status == 500
                assert _texts(list(info.value.delivered)) == texts
                return
            events = await _events(cd)
    assert _texts(events) == texts
    assert events[-1] == Finish(FinishReason.STOP, "STOP", request_id=W.RESPONSE_ID)


def test_stable_ids_are_deterministic() -> None:
    """The ids made for Gemini's id-less calls depend on the answer and the call's position only."""
    from clawdesk_gemini._wire import ChunkReader

    chunk = GW.response(GW.call("f", {"a": 1}), GW.call("f", {"a": 1}), finish="STOP")
    first = [e.call for e in ChunkReader("gemini").feed(chunk) if isinstance(e, ToolCallEvent)]
    again = [e.call for e in ChunkReader("gemini").feed(json.loads(json.dumps(chunk))) if isinstance(e, ToolCallEvent)]
    assert first == again
    assert first[0].id != first[1].id
    other = dict(chunk, responseId="another-answer")
    assert next(e.call.id for e in ChunkReader("gemini").feed(other) if isinstance(e, ToolCallEvent)) != first[0].id
    assert isinstance(first[0], ToolCall)


@pytest.mark.anyio
async def test_stray_text_that_is_not_an_error(server: ScriptedServer, make_client: Make, gw: Any) -> None:
    """Raw JSON in the stream that is not an error object, or too much stray text, is an ApiError naming it."""
    json_lines = [*gw.sse(gw.response(gw.text("a"), finish=None)), b'{"note": "not an event"}\r\n']
    flood = [*gw.sse(gw.response(gw.text("a"), finish=None)), b"{" + b"x" * 70_000 + b"\r\n"]
    server.add(Reply.stream(json_lines, content_type=W.SSE), Reply.stream(flood, content_type=W.SSE))
    async with make_client() as cd:
        with pytest.raises(StreamInterrupted) as first:
            await _events(cd)
        with pytest.raises(StreamInterrupted) as second:
            await _events(cd)
    assert "JSON that is not an event" in str(first.value.cause)
    assert "not server-sent events" in str(second.value.cause)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("part", "match"),
    [
        ({"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}, "inline data"),
        ({"executableCode": {"language": "PYTHON", "code": "print(1)"}}, "executableCode"),
    ],
)
async def test_parts_a_stream_cannot_carry(
    server: ScriptedServer, make_client: Make, gw: Any, part: dict[str, Any], match: str
) -> None:
    """A generated image or code-execution part in a stream is an error naming it, not silently skipped."""
    server.add(gw.stream(gw.response(part, finish="STOP")))
    async with make_client() as cd:
        with pytest.raises(ApiError, match=match):
            await _events(cd)
