"""Streaming against a scripted server that frames SSE exactly as La Plateforme does."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import clawdesk
import clawdesk_mistral._plugin
from clawdesk import (
    ApiError,
    AuthFailed,
    ChatOptions,
    ChatRequest,
    ConnectionFailed,
    Finish,
    FinishReason,
    InvalidRequest,
    Message,
    ModelNotFound,
    PermissionDenied,
    RateLimited,
    ReasoningDelta,
    Registry,
    ResponseFormat,
    StreamEvent,
    StreamInterrupted,
    TextDelta,
    Timeout,
    Tool,
    ToolCall,
    ToolCallEvent,
    Truncated,
    Usage,
    UsageEvent,
)
from clawdesk.testing import Reply, ScriptedServer, unused_port

Make = Callable[..., clawdesk.Clawdesk]
MODEL = "mistral/mistral-small-latest"

_USAGE = Usage(7, 3, raw={"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10})


async def _collect(
    cd: clawdesk.Clawdesk, messages: Any = "hi", options: ChatOptions | None = None
) -> list[StreamEvent]:
    async with cd.stream(MODEL, messages, options) as events:
        return [e async for e in events]


async def _collect_once(cd: clawdesk.Clawdesk, options: ChatOptions | None = None) -> list[StreamEvent]:
    """One guarded stream from the provider, without the fallback engine."""
    target = cd.resolve(MODEL)
    request = ChatRequest(target.model, (Message.user("hi"),), options or ChatOptions())
    async with cd.stream_target(target, request) as events:
        return [e async for e in events]


@pytest.mark.anyio
async def test_streaming_text(server: ScriptedServer, make_client: Make, helpers: Any) -> None:
    """Text deltas arrive in order, then usage, then Finish last; the request asks for a stream."""
    server.add(helpers.sse_reply(helpers.text_stream("Hel", "lo", " world")))
    async with make_client() as cd:
        events = await _collect(cd)
    assert events == [
        TextDelta("Hel"),
        TextDelta("lo"),
        TextDelta(" world"),
        UsageEvent(_USAGE),
        Finish(FinishReason.STOP, "stop"),
    ]
    sent = server.requests[0]
    assert sent.json()["stream"] is True
    assert sent.headers["accept"] == "text/event-stream"


@pytest.mark.anyio
async def test_stream_without_usage(server: ScriptedServer, make_client: Make, helpers: Any) -> None:
    """A stream whose last chunk has no usage yields no UsageEvent."""
    server.add(helpers.sse_reply(helpers.text_stream("x", finish="length", usage=None)))
    async with make_client() as cd:
        events = await _collect(cd)
    assert events == [TextDelta("x"), Finish(FinishReason.LENGTH, "length")]


@pytest.mark.anyio
async def test_streamed_tool_call_whole(server: ScriptedServer, make_client: Make, helpers: Any) -> None:
    """Mistral's whole-call delta becomes one ToolCallEvent with parsed arguments, before usage and Finish."""
    call = {"id": "D681PevKs", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}, "index": 0}
    frames = [
        helpers.frame(helpers.chunk("", role="assistant")),
        helpers.frame(helpers.chunk(None, tool_calls=[call])),
        helpers.frame(helpers.chunk("", finish="tool_calls", usage=helpers.USAGE)),
        helpers.DONE,
    ]
    server.add(helpers.sse_reply(frames))
    tool = Tool("get_weather", parameters={"type": "object", "properties": {"city": {"type": "string"}}})
    async with make_client() as cd:
        events = await _collect(cd, "Weather?", ChatOptions(tools=[tool]))
    assert events == [
        ToolCallEvent(ToolCall("D681PevKs", "get_weather", {"city": "Paris"})),
        UsageEvent(_USAGE),
        Finish(FinishReason.TOOL_CALLS, "tool_calls"),
    ]


@pytest.mark.anyio
async def test_streamed_tool_calls_split_across_deltas(server: ScriptedServer, make_client: Make, helpers: Any) -> None:
    """Arguments split over deltas are put together by index; two calls keep their order."""
    deltas = [
        [{"index": 0, "id": "a1", "type": "function", "function": {"name": "add", "arguments": ""}}],
        [{"index": 0, "function": {"arguments": '{"x": '}}],
        [
            {"index": 0, "id": "null", "function": {"arguments": "1}"}},
            {"index": 1, "id": "b2", "function": {"name": "mul", "arguments": '{"y"'}},
        ],
        [{"index": 1, "function": {"arguments": ": 2}"}}],
    ]
    frames = [helpers.frame(helpers.chunk("Calling.", role="assistant"))]
    frames += [helpers.frame(helpers.chunk(None, tool_calls=d)) for d in deltas]
    frames += [helpers.frame(helpers.chunk(None, finish="tool_calls", usage=helpers.USAGE)), helpers.DONE]
    server.add(helpers.sse_reply(frames))
    async with make_client() as cd:
        events = await _collect(cd)
    assert events == [
        TextDelta("Calling."),
        ToolCallEvent(ToolCall("a1", "add", {"x": 1})),
        ToolCallEvent(ToolCall("b2", "mul", {"y": 2})),
        UsageEvent(_USAGE),
        Finish(FinishReason.TOOL_CALLS, "tool_calls"),
    ]


@pytest.mark.anyio
async def test_parallel_whole_calls_sharing_index(server: ScriptedServer, make_client: Make, helpers: Any) -> None:
    """Two whole calls both sent with index 0 stay two calls."""
    calls = [
        {"id": "c1", "function": {"name": "f", "arguments": '{"n": 1}'}, "index": 0},
        {"id": "c2", "function": {"name": "f", "arguments": '{"n": 2}'}, "index": 0},
    ]
    frames = [
        helpers.frame(helpers.chunk(None, tool_calls=calls, role="assistant")),
        helpers.frame(helpers.chunk("", finish="tool_calls")),
        helpers.DONE,
    ]
    server.add(helpers.sse_reply(frames))
    async with make_client() as cd:
        events = await _collect(cd)
    assert [e.call for e in events if isinstance(e, ToolCallEvent)] == [
        ToolCall("c1", "f", {"n": 1}),
        ToolCall("c2", "f", {"n": 2}),
    ]


@pytest.mark.anyio
async def test_streamed_invalid_arguments(server: ScriptedServer, make_client: Make, helpers: Any) -> None:
    """Streamed tool call arguments that are not JSON end the stream with a clear ApiError."""
    call = {"id": "c1", "function": {"name": "f", "arguments": "{oops"}, "index": 0}
    frames = [
        helpers.frame(helpers.chunk(None, tool_calls=[call])),
        helpers.frame(helpers.chunk("", finish="tool_calls")),
        helpers.DONE,
    ]
    server.add(helpers.sse_reply(frames))
    async with make_client() as cd:
        with pytest.raises(ApiError, match="not valid JSON"):
            await _collect_once(cd)


@pytest.mark.anyio
async def test_json_mode_stream(server: ScriptedServer, make_client: Make, helpers: Any) -> None:
    """JSON mode is requested as json_object and the streamed JSON text arrives intact."""
    server.add(helpers.sse_reply(helpers.text_stream('{"ok"', ": true}")))
    async with make_client() as cd:
        events = await _collect(cd, "json", ChatOptions(response_format=ResponseFormat.json()))
    assert json.loads("".join(e.text for e in events if isinstance(e, TextDelta))) == {"ok": True}
    assert server.requests[0].json()["response_format"] == {"type": "json_object"}


@pytest.mark.anyio
async def test_thinking_deltas(server: ScriptedServer, make_client: Make, helpers: Any) -> None:
    """Thinking chunks in a delta become ReasoningDelta, text chunks TextDelta."""
    thinking = [{"type": "thinking", "thinking": [{"type": "text", "text": "hmm"}]}]
    frames = [
        helpers.frame(helpers.chunk(thinking, role="assistant")),
        helpers.frame(helpers.chunk([{"type": "text", "text": "42"}])),
        helpers.frame(helpers.chunk("", finish="stop")),
        helpers.DONE,
    ]
    server.add(helpers.sse_reply(frames))
    async with make_client() as cd:
        events = await _collect(cd)
    assert events == [ReasoningDelta("hmm"), TextDelta("42"), Finish(FinishReason.STOP, "stop")]


@pytest.mark.anyio
async def test_crlf_comments_and_split_frames(server: ScriptedServer, make_client: Make, helpers: Any) -> None:
    """CRLF framing, keep-alive comments and frames split mid-line across HTTP chunks decode the same."""
    body = b"".join(helpers.text_stream("a", "b")).replace(b"\n", b"\r\n")
    body = b": ping\r\n\r\n" + body
    pieces = [body[i : i + 7] for i in range(0, len(body), 7)]
    server.add(helpers.sse_reply(pieces))
    async with make_client() as cd:
        events = await _collect(cd)
    assert events == [TextDelta("a"), TextDelta("b"), UsageEvent(_USAGE), Finish(FinishReason.STOP, "stop")]


@pytest.mark.anyio
async def test_usage_in_a_chunk_without_choices(server: ScriptedServer, make_client: Make, helpers: Any) -> None:
    """Usage sent in its own last chunk with empty choices (as OpenAI-style servers do) is still reported."""
    usage_only = {"id": "c", "object": "chat.completion.chunk", "model": "m", "choices": [], "usage": helpers.USAGE}
    frames = [
        b"id: 1\nevent: message\n" + helpers.frame(helpers.chunk("a", role="assistant")),
        helpers.frame(helpers.chunk(None, finish="stop")),
        helpers.frame(usage_only),
        helpers.DONE,
    ]
    server.add(helpers.sse_reply(frames))
    async with make_client() as cd:
        events = await _collect(cd)
    assert events == [TextDelta("a"), UsageEvent(_USAGE), Finish(FinishReason.STOP, "stop")]


@pytest.mark.anyio
async def test_unicode_line_separators_in_text(server: ScriptedServer, make_client: Make, helpers: Any) -> None:
    """Raw U+2028/U+0085 inside the JSON (which httpx's aiter_lines would split at) reach the caller intact."""
    server.add(helpers.sse_reply(helpers.text_stream("a\u2028b", "c\u0085d")))
    async with make_client() as cd:
        events = await _collect(cd)
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["a\u2028b", "c\u0085d"]


# -- failures -----------------------------------------------------------------------


@pytest.mark.anyio
async def test_stream_cut_before_done(server: ScriptedServer, make_client: Make, helpers: Any) -> None:
    """A connection closed before [DONE] is an error carrying the delivered deltas, never a success."""
    frames = helpers.text_stream("Hel", "lo")
    server.add(helpers.sse_reply(frames, cut_after=3))
    async with make_client() as cd:
        with pytest.raises(StreamInterrupted) as info:
            await _collect_once(cd)
    assert info.value.delivered == (TextDelta("Hel"), TextDelta("lo"))
    assert isinstance(info.value.cause, Truncated)
    assert info.value.cause.retryable
    assert "[DONE]" in str(info.value)


@pytest.mark.anyio
async def test_stream_ending_cleanly_without_done(server: ScriptedServer, make_client: Make, helpers: Any) -> None:
    """A body that ends properly but without [DONE] (even after a finish_reason) is still an error."""
    frames = helpers.text_stream("x")[:-1]
    server.add(helpers.sse_reply(frames))
    async with make_client() as cd:
        with pytest.raises(StreamInterrupted) as info:
            await _collect_once(cd)
    assert isinstance(info.value.cause, Truncated)
    assert info.value.cause.retryable
    assert "before data: [DONE]" in str(info.value)


@pytest.mark.anyio
async def test_done_without_blank_line_is_truncated(server: ScriptedServer, make_client: Make, helpers: Any) -> None:
    """``data: [DONE]`` whose event never ended (no blank line) does not finish the stream."""
    frames = [*helpers.text_stream("x")[:-1], b"data: [DONE]\n"]
    server.add(helpers.sse_reply(frames))
    async with make_client() as cd:
        with pytest.raises(StreamInterrupted, match=r"before data: \[DONE\]") as info:
            await _collect_once(cd)
    assert isinstance(info.value.cause, Truncated)


@pytest.mark.anyio
async def test_empty_stream_is_an_error(server: ScriptedServer, make_client: Make, helpers: Any) -> None:
    """A 200 event stream with no events at all raises before any event."""
    server.add(helpers.sse_reply([]))
    async with make_client() as cd:
        with pytest.raises(Truncated, match=r"before data: \[DONE\]") as info:
            await _collect_once(cd)
    assert info.value.retryable


@pytest.mark.anyio
async def test_finish_reason_error_in_stream(server: ScriptedServer, make_client: Make, helpers: Any) -> None:
    """finish_reason error ends the stream with an error, not a Finish."""
    server.add(helpers.sse_reply(helpers.text_stream("part", finish="error")))
    async with make_client() as cd:
        with pytest.raises(StreamInterrupted) as info:
            await _collect_once(cd)
    assert info.value.delivered == (TextDelta("part"),)
    assert isinstance(info.value.cause, ApiError)
    assert "finish_reason 'error'" in str(info.value.cause)


@pytest.mark.anyio
async def test_error_object_in_stream(server: ScriptedServer, make_client: Make, helpers: Any) -> None:
    """An error object sent as an event is raised with its message."""
    frames = [helpers.frame({"object": "error", "message": "Service overloaded", "type": "internal", "code": "3000"})]
    server.add(helpers.sse_reply(frames))
    async with make_client() as cd:
        with pytest.raises(ApiError, match="Service overloaded"):
            await _collect_once(cd)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "event",
    [b'{"id": "x", "choices": [{"index": 0, "delta": null}]}', b'{"choices": "none"}', b"[1, 2]", b'"text"'],
)
async def test_odd_shaped_events(server: ScriptedServer, make_client: Make, helpers: Any, event: bytes) -> None:
    """JSON events of the wrong shape are a clear ApiError, never a crash of the plugin."""
    server.add(helpers.sse_reply([b"data: " + event + b"\n\n", helpers.DONE]))
    async with make_client() as cd:
        with pytest.raises(ApiError, match="choices"):
            await _collect_once(cd)


@pytest.mark.anyio
async def test_done_with_trailing_space(server: ScriptedServer, make_client: Make, helpers: Any) -> None:
    """``data: [DONE] `` (a stray space) still ends the stream."""
    server.add(helpers.sse_reply([*helpers.text_stream("x")[:-1], b"data: [DONE] \n\n"]))
    async with make_client() as cd:
        events = await _collect_once(cd)
    assert events[-1] == Finish(FinishReason.STOP, "stop")


@pytest.mark.anyio
async def test_garbage_event(server: ScriptedServer, make_client: Make, helpers: Any) -> None:
    """An event that is not JSON is an ApiError quoting it."""
    server.add(helpers.sse_reply([b"data: {broken\n\n"]))
    async with make_client() as cd:
        with pytest.raises(ApiError, match="not JSON"):
            await _collect_once(cd)


_STREAM_ERRORS: list[tuple[int, Any, type[Exception], bool]] = [
    (401, {"message": "Unauthorized", "request_id": "x"}, AuthFailed, False),
    (403, {"message": "Forbidden"}, PermissionDenied, False),
    (404, {"detail": "Not Found"}, ModelNotFound, False),
    (
        400,
        {"object": "error", "message": "Invalid model: x", "type": "invalid_model", "param": None, "code": "1500"},
        ModelNotFound,
        False,
    ),
    (400, {"object": "error", "message": "bad", "type": "invalid_request_error"}, InvalidRequest, False),
    (
        422,
        {"detail": [{"loc": ["body", "messages"], "msg": "Field required", "type": "missing"}]},
        InvalidRequest,
        False,
    ),
    (
        429,
        {"object": "error", "message": "Rate limit exceeded", "type": "rate_limited", "code": "1300"},
        RateLimited,
        True,
    ),
    (500, {"message": "oops"}, ApiError, True),
    (502, "Bad Gateway", ApiError, True),
    (503, "", ApiError, True),
    (504, "<html><title>Gateway Timeout</title></html>", ApiError, True),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("status", "body", "error", "retryable"), _STREAM_ERRORS)
async def test_stream_error_statuses(
    server: ScriptedServer, make_client: Make, status: int, body: Any, error: type[Exception], retryable: bool
) -> None:
    """An error status raises its error before the first event."""
    if isinstance(body, str):
        server.add(Reply.text(body, status=status, headers=[("retry-after", "3")]))
    else:
        server.add(Reply.json(body, status=status, headers=[("retry-after", "3")]))
    async with make_client() as cd:
        with pytest.raises(error) as info:
            await _collect_once(cd)
    assert not isinstance(info.value, StreamInterrupted)
    assert getattr(info.value, "status", None) == status
    assert getattr(info.value, "retryable", None) is retryable
    if error is RateLimited:
        assert info.value.retry_after == 3.0  # type: ignore[attr-defined]


@pytest.mark.anyio
async def test_stream_timeout_before_headers(server: ScriptedServer, make_client: Make) -> None:
    """A server that never answers a stream request gives Timeout within the configured time."""
    server.add(Reply.stall())
    async with make_client(timeout_secs=0.3) as cd:
        start = time.monotonic()
        with pytest.raises(Timeout):
            await _collect_once(cd)
    assert time.monotonic() - start < 0.3 + 2


@pytest.mark.anyio
async def test_stream_stall_after_headers(server: ScriptedServer, make_client: Make, helpers: Any) -> None:
    """A stream that sends headers and then nothing times out as Timeout."""
    server.add(Reply.stall_after_headers(content_type=helpers.SSE_TYPE))
    async with make_client(timeout_secs=0.3) as cd:
        with pytest.raises(Timeout):
            await _collect_once(cd)


@pytest.mark.anyio
async def test_stream_connection_refused(make_client: Make) -> None:
    """Nothing listening is a ConnectionFailed before any event."""
    async with make_client(base_url=f"http://127.0.0.1:{unused_port()}/v1") as cd:
        with pytest.raises(ConnectionFailed):
            await _collect_once(cd)


@pytest.mark.anyio
async def test_stream_invalid_option_sends_nothing(server: ScriptedServer, make_client: Make) -> None:
    """An option Mistral cannot honour fails the stream before any request."""
    async with make_client() as cd:
        with pytest.raises(InvalidRequest, match="temperature"):
            await _collect_once(cd, ChatOptions(temperature=1.9))
    assert server.requests == []


@pytest.mark.anyio
async def test_aclose_releases_the_connection(server: ScriptedServer, make_client: Make, helpers: Any) -> None:
    """Leaving a stream early closes its HTTP response (the server sees the connection go)."""
    frames = helpers.text_stream(*[f"t{i}" for i in range(50)])
    server.add(helpers.sse_reply(frames, delay=0.02))
    async with make_client() as cd:
        async with cd.stream(MODEL, "hi") as events:
            first = await events.__anext__()
        assert first == TextDelta("t0")
        for _ in range(100):
            if server.open_connections == 0:
                break
            await anyio.sleep(0.01)
        assert server.open_connections == 0


@pytest.mark.anyio
async def test_connection_reused_after_done(server: ScriptedServer, make_client: Make, helpers: Any) -> None:
    """Two streams in a row use one connection: the body is read to its end after [DONE]."""
    server.add(helpers.sse_reply(helpers.text_stream("a")), helpers.sse_reply(helpers.text_stream("b")))
    async with make_client() as cd:
        await _collect(cd)
        await _collect(cd)
    assert server.connections_opened == 1


class _StallAfter(httpx.AsyncByteStream):
    """A body that sends its pieces and then keeps the response open."""

    def __init__(self, pieces: list[bytes]) -> None:
        self._pieces = pieces

    async def __aiter__(self):  # type: ignore[no-untyped-def]
        for piece in self._pieces:
            yield piece
        await anyio.sleep(30)


@pytest.mark.anyio
async def test_silence_after_done_does_not_hold_the_caller(helpers: Any) -> None:
    """A server that keeps the body open after [DONE] still gives a finished stream at once."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, headers={"content-type": helpers.SSE_TYPE}, stream=_StallAfter(helpers.text_stream("ok"))
        )

    registry = Registry(discover=False)
    registry.register(clawdesk_mistral._plugin)
    config = clawdesk.parse_config(helpers.config_text("http://mistral.test/v1", timeout_secs=20))
    async with clawdesk.Clawdesk(
        registry=registry, config=config, env={"MISTRAL_API_KEY": helpers.KEY}, transport=httpx.MockTransport(handler)
    ) as cd:
        start = time.monotonic()
        with anyio.fail_after(10):
            events = await _collect_once(cd)
    assert events[-1] == Finish(FinishReason.STOP, "stop")
    assert time.monotonic() - start < 5


# -- property: byte boundaries through the whole plugin ----------------------------

_TEXTS = st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=5)


class _Body(httpx.AsyncByteStream):
    def __init__(self, pieces: list[bytes]) -> None:
        self._pieces = pieces

    async def __aiter__(self):  # type: ignore[no-untyped-def]
        for piece in self._pieces:
            yield piece


@pytest.mark.anyio
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=40)
@given(
    texts=_TEXTS,
    cuts=st.lists(st.integers(0, 2000), max_size=15),
    crlf=st.booleans(),
    comments=st.booleans(),
    multiline=st.booleans(),
)
async def test_plugin_stream_any_chunking(
    helpers: Any, texts: list[str], cuts: list[int], crlf: bool, comments: bool, multiline: bool
) -> None:
    """The plugin yields the same events whatever the chunk boundaries, line ends, comment lines and data lines."""
    body = b"".join(helpers.text_stream(*texts))
    if multiline:
        # Each payload over several data lines, split before two keys (a real quote followed
        # by a key name can only open a key: quotes inside strings are escaped).
        for key in (b'"model":', b'"choices":'):
            body = body.replace(b"," + key, b",\ndata: " + key)
    if comments:
        body = body.replace(b"\n\n", b"\n: keep-alive\n\n")
    if crlf:
        body = body.replace(b"\n", b"\r\n")
    bounds = [0, *sorted({c for c in cuts if 0 < c < len(body)}), len(body)]
    pieces = [body[a:b] for a, b in itertools.pairwise(bounds)]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": helpers.SSE_TYPE}, stream=_Body(pieces))

    registry = Registry(discover=False)
    registry.register(clawdesk_mistral._plugin)
    config = clawdesk.parse_config(helpers.config_text("http://mistral.test/v1"))
    async with clawdesk.Clawdesk(
        registry=registry, config=config, env={"MISTRAL_API_KEY": helpers.KEY}, transport=httpx.MockTransport(handler)
    ) as cd:
        events = await _collect_once(cd)
    assert events == [
        *[TextDelta(t) for t in texts],
        UsageEvent(_USAGE),
        Finish(FinishReason.STOP, "stop"),
    ]


@pytest.mark.anyio
async def test_a_compatible_server_is_asked_for_stream_usage(helpers: Any) -> None:
    """Off La Plateforme (here a loopback server, unset stream_usage) a stream asks for its usage with
    stream_options, and the include_usage chunk (choices: []) is its usage: --json no longer shows null."""
    from clawdesk_openai_compat.testing import sse_reply, text_stream, token_usage

    with ScriptedServer() as compatible:
        compatible.add(sse_reply(text_stream("4", usage=token_usage(37, 12))))
        registry = Registry(discover=False)
        registry.register(clawdesk_mistral._plugin)
        text = f'[providers.mistral]\nbase_url = "{compatible.url}/v1"\napi_key = "unused"\n'
        async with clawdesk.Clawdesk(registry=registry, config=clawdesk.parse_config(text), env={}) as cd:
            events = await _collect(cd)
    assert compatible.requests[0].json()["stream_options"] == {"include_usage": True}
    [usage] = [e.usage for e in events if isinstance(e, UsageEvent)]
    assert (usage.input_tokens, usage.output_tokens) == (37, 12)


def test_la_plateforme_is_never_sent_stream_options() -> None:
    """On *.mistral.ai (the default base_url) no stream_options, which La Plateforme refuses with 422;
    stream_usage overrides the choice either way."""
    from clawdesk_mistral._config import MistralConfig
    from clawdesk_mistral._wire import dialect_for

    assert not dialect_for(MistralConfig()).stream_usage
    assert not dialect_for(MistralConfig(base_url="https://eu.api.mistral.ai/v1")).stream_usage
    assert dialect_for(MistralConfig(base_url="http://127.0.0.1:8080/v1")).stream_usage
    assert dialect_for(MistralConfig(stream_usage=True)).stream_usage
    assert not dialect_for(MistralConfig(base_url="http://127.0.0.1:8080/v1", stream_usage=False)).stream_usage
