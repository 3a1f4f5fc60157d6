"""Chat and streaming against a scripted Ollama speaking its wire format byte for byte."""

from __future__ import annotations

import base64
import time
from typing import Any

import anyio
import attrs
import pytest

from clawdesk import (
    ApiError,
    AuthFailed,
    Capability,
    CapabilityMissing,
    ChatOptions,
    ChatRequest,
    ConnectionFailed,
    Finish,
    FinishReason,
    ImagePart,
    InvalidRequest,
    Message,
    ModelNotFound,
    Reasoning,
    ReasoningDelta,
    ResponseFormat,
    StreamInterrupted,
    Target,
    TextDelta,
    TextPart,
    TimedOut,
    Tool,
    ToolCall,
    ToolCallEvent,
    ToolChoice,
    ToolChoiceMode,
    Truncated,
    Usage,
    UsageEvent,
)
from clawdesk.testing import RecordedRequest, Reply, unused_port

pytestmark = pytest.mark.anyio

TARGET = Target("ollama", "llama3.2")
WEATHER = Tool(
    "get_weather",
    "Current weather in a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01"


def request(*messages: Message, ollama: dict[str, Any] | None = None, **options: Any) -> ChatRequest:
    """A request; ``ollama`` is the caller's ``provider_options["ollama"]`` table (core types it)."""
    if ollama is not None:
        options["provider_options"] = {"ollama": ollama}
    return ChatRequest("llama3.2", messages or (Message.user("hi"),), ChatOptions(**options))


def usage(prompt: int | None, output: int | None) -> Usage:
    """The usage the scripted final line reports: the counts, and Ollama's own figures as raw."""
    raw: dict[str, int] = {"total_duration": 5191566416, "load_duration": 2154458}
    if prompt is not None:
        raw["prompt_eval_count"] = prompt
        raw["prompt_eval_duration"] = 383809000
    if output is not None:
        raw["eval_count"] = output
        raw["eval_duration"] = 4799921000
    return Usage(prompt, output, raw=raw)


async def events_of(cd: Any, chat_request: ChatRequest) -> list[Any]:
    async with cd.stream_target(TARGET, chat_request) as events:
        return [event async for event in events]


async def call(cd: Any, mode: str, chat_request: ChatRequest) -> Any:
    """One chat or one stream, so that error tests run both ways."""
    if mode == "chat":
        return await cd.chat_target(TARGET, chat_request)
    return await events_of(cd, chat_request)


# -- success -----------------------------------------------------------------------


async def test_chat_round_trip(server, client, wire) -> None:
    """A non-streaming chat sends stream:false and maps the answer, finish reason and usage."""
    server.add(wire.answer("Hello there!", prompt=26, output=4))
    async with client() as cd:
        response = await cd.chat_target(TARGET, request(Message.system("Be brief."), Message.user("hi")))
    assert response.message.text == "Hello there!"
    assert response.message.role == "assistant"
    assert response.finish_reason is FinishReason.STOP
    assert response.finish_reason_raw == "stop"
    assert response.usage == usage(26, 4)
    assert (response.provider, response.model) == ("ollama", "llama3.2")
    sent = server.requests[0]
    assert (sent.method, sent.path) == ("POST", "/api/chat")
    assert sent.headers["content-type"] == "application/json"
    assert sent.json() == {
        "model": "llama3.2",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
        "stream": False,
    }


async def test_stream_text_and_usage(server, client, wire) -> None:
    """Streamed content lines become text deltas, the done line usage and a finish."""
    server.add(wire.stream(wire.line("Hel"), wire.line("lo"), wire.line(", world"), wire.final(prompt=9, output=3)))
    async with client() as cd:
        events = await events_of(cd, request())
    assert events == [
        TextDelta("Hel"),
        TextDelta("lo"),
        TextDelta(", world"),
        UsageEvent(usage(9, 3)),
        Finish(FinishReason.STOP, "stop"),
    ]
    assert server.requests[0].json()["stream"] is True


async def test_stream_length_finish(server, client, wire) -> None:
    """done_reason "length" is the normalised LENGTH, raw kept."""
    server.add(wire.stream(wire.line("abc"), wire.final(reason="length")))
    async with client() as cd:
        events = await events_of(cd, request(max_tokens=1))
    assert events[-1] == Finish(FinishReason.LENGTH, "length")
    assert server.requests[0].json()["options"] == {"num_predict": 1}


async def test_usage_with_missing_counts(server, client, wire) -> None:
    """A count Ollama leaves out (it omits zeros) is reported as unknown, not invented."""
    server.add(wire.stream(wire.line("x"), wire.final(prompt=None, output=1)))
    async with client() as cd:
        events = await events_of(cd, request())
    assert UsageEvent(usage(None, 1)) in events


async def test_stream_thinking_deltas(server, client, wire) -> None:
    """message.thinking fragments become reasoning deltas, before the answer's text."""
    server.add(
        wire.stream(
            wire.line(thinking="Let me "),
            wire.line(thinking="think."),
            wire.line("Answer"),
            wire.final(),
        )
    )
    async with client() as cd:
        events = await events_of(cd, request(ollama={"think": True}))
    assert events[:3] == [ReasoningDelta("Let me "), ReasoningDelta("think."), TextDelta("Answer")]
    assert server.requests[0].json()["think"] is True


async def test_chat_thinking(server, client, wire) -> None:
    """A non-streaming answer's thinking lands in Message.reasoning."""
    server.add(wire.answer("42", thinking="6 times 7"))
    async with client() as cd:
        response = await cd.chat_target(TARGET, request(ollama={"think": "high"}))
    assert response.message.reasoning == "6 times 7"
    assert response.message.text == "42"
    assert server.requests[0].json()["think"] == "high"


async def test_stream_tool_call_gets_stable_id(server, client, wire) -> None:
    """A tool call without id gets one made from the answer, the same each time, distinct per call."""
    calls = [
        {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}},
        {"function": {"name": "get_weather", "arguments": {"city": "Oslo"}}},
    ]
    reply = wire.stream(wire.line(tool_calls=calls), wire.final())
    server.add(reply, reply)
    async with client() as cd:
        first = await events_of(cd, request(tools=[WEATHER]))
        second = await events_of(cd, request(tools=[WEATHER]))
    tool_events = [e for e in first if isinstance(e, ToolCallEvent)]
    assert [(e.call.name, dict(e.call.arguments)) for e in tool_events] == [
        ("get_weather", {"city": "Paris"}),
        ("get_weather", {"city": "Oslo"}),
    ]
    ids = [e.call.id for e in tool_events]
    assert all(i.startswith("call_") for i in ids)
    assert len(set(ids)) == 2
    assert ids == [e.call.id for e in second if isinstance(e, ToolCallEvent)]
    assert first[-1] == Finish(FinishReason.TOOL_CALLS, "stop")
    assert server.requests[0].json()["tools"] == [
        {
            "type": "function",
            "function": {"name": "get_weather", "description": WEATHER.description, "parameters": WEATHER.parameters},
        }
    ]


async def test_chat_tool_call_keeps_server_id(server, client, wire) -> None:
    """An id the server sends (newer Ollama) is kept, and arguments stay a JSON object."""
    server.add(
        wire.answer(
            tool_calls=[
                {"id": "call_x1", "function": {"index": 0, "name": "get_weather", "arguments": {"city": "Rome"}}}
            ]
        )
    )
    async with client() as cd:
        response = await cd.chat_target(TARGET, request(tools=[WEATHER]))
    assert response.message.tool_calls == (ToolCall("call_x1", "get_weather", {"city": "Rome"}),)
    assert response.finish_reason is FinishReason.TOOL_CALLS


async def test_tool_history_is_sent_as_ollama_expects(server, client, wire) -> None:
    """Assistant tool calls go out with object arguments; a tool result as role tool with tool_name."""
    server.add(wire.answer("It is sunny."))
    history = (
        Message.user("Weather in Paris?"),
        Message.assistant(tool_calls=(ToolCall("call_1", "get_weather", {"city": "Paris"}),)),
        Message.tool_result("call_1", '{"sky": "clear"}'),
    )
    async with client() as cd:
        await cd.chat_target(TARGET, request(*history, tools=[WEATHER]))
    messages = server.requests[0].json()["messages"]
    assert messages[1] == {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}],
    }
    assert messages[2] == {"role": "tool", "content": '{"sky": "clear"}', "tool_name": "get_weather"}


async def test_json_schema_format(server, client, wire) -> None:
    """A JSON-schema response format is sent as format: {schema}."""
    schema = {"type": "object", "properties": {"age": {"type": "integer"}}, "required": ["age"]}
    server.add(wire.answer('{"age": 22}'))
    async with client() as cd:
        response = await cd.chat_target(TARGET, request(response_format=ResponseFormat.json_schema(schema)))
    assert response.message.text == '{"age": 22}'
    assert server.requests[0].json()["format"] == schema


async def test_json_mode(server, client, wire) -> None:
    """JSON mode is sent as format: "json"."""
    server.add(wire.stream(wire.line("{}"), wire.final()))
    async with client() as cd:
        await events_of(cd, request(response_format=ResponseFormat.json()))
    assert server.requests[0].json()["format"] == "json"


async def test_images_from_bytes_and_data_url(server, client, wire) -> None:
    """Inline bytes and data: URLs are sent as bare base64 in images, text as content."""
    server.add(wire.answer("A tiny PNG."))
    encoded = base64.b64encode(PNG).decode()
    message = Message.user(
        [
            TextPart("What is this?"),
            ImagePart(data=PNG, media_type="image/png"),
            ImagePart(url=f"data:image/png;base64,{encoded}"),
        ]
    )
    async with client() as cd:
        await cd.chat_target(TARGET, request(message))
    sent = server.requests[0].json()["messages"][0]
    assert sent == {"role": "user", "content": "What is this?", "images": [encoded, encoded]}


async def test_image_url_is_capability_missing(server, client) -> None:
    """An http(s) image URL cannot be sent to Ollama: CapabilityMissing (another provider may fetch it).

    Nothing is sent."""
    message = Message.user([TextPart("see"), ImagePart(url="https://example.com/cat.png")])
    async with client() as cd:
        with pytest.raises(CapabilityMissing, match="inline"):
            await cd.chat_target(TARGET, request(message))
    assert server.requests == []


async def test_options_and_extras_mapping(server, client, wire) -> None:
    """Core options and provider options land where Ollama reads them; the config's keep_alive applies."""
    server.add(wire.answer("ok"))
    async with client(keep_alive="10m") as cd:
        await cd.chat_target(
            TARGET,
            request(
                temperature=0.2,
                top_p=0.9,
                max_tokens=64,
                stop=["\n\n", "END"],
                seed=7,
                top_k=40,
                ollama={"num_ctx": 8192, "min_p": 0.05, "repeat_penalty": 1.1},
            ),
        )
    body = server.requests[0].json()
    assert body["options"] == {
        "temperature": 0.2,
        "top_p": 0.9,
        "num_predict": 64,
        "stop": ["\n\n", "END"],
        "seed": 7,
        "top_k": 40,
        "num_ctx": 8192,
        "min_p": 0.05,
        "repeat_penalty": 1.1,
    }
    assert body["keep_alive"] == "10m"


async def test_keep_alive_option_overrides_config(server, client, wire) -> None:
    """A request's keep_alive provider option wins over the configured one."""
    server.add(wire.answer("ok"))
    async with client(keep_alive="10m") as cd:
        await cd.chat_target(TARGET, request(ollama={"keep_alive": -1}))
    assert server.requests[0].json()["keep_alive"] == -1


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"tool_choice": ToolChoice(ToolChoiceMode.REQUIRED), "tools": [WEATHER]}, "tool_choice 'required'"),
        ({"tool_choice": ToolChoice.function("get_weather"), "tools": [WEATHER]}, "function 'get_weather'"),
        ({"reasoning": Reasoning(budget_tokens=512)}, "no reasoning budget"),
        ({"ollama": {"mirostat_xyz": 1}}, r"provider_options\.ollama\.mirostat_xyz: unknown key"),
        ({"ollama": {"temperature": 0.5}}, r"provider_options\.ollama\.temperature: unknown key"),
        ({"ollama": {"num_ctx": "big"}}, r"provider_options\.ollama\.num_ctx: expected an integer"),
        ({"ollama": {"think": "very"}}, r"provider_options\.ollama\.think: expected one of"),
        ({"ollama": {"keep_alive": "5 minutes"}}, r"provider_options\.ollama\.keep_alive"),
        ({"temperature": float("nan")}, "JSON"),
    ],
)
async def test_unsupported_options_are_rejected_before_sending(server, client, options, match) -> None:
    """An option Ollama cannot honour is refused before any request is sent.

    InvalidRequest when the request is wrong for anyone (a bad provider option, NaN); CapabilityMissing
    when another provider may honour it (tool_choice, a reasoning budget).
    """
    expected = CapabilityMissing if "tool_choice" in options or "reasoning" in options else InvalidRequest
    async with client() as cd:
        with pytest.raises(expected, match=match):
            await cd.chat_target(TARGET, request(**options))
        with pytest.raises(expected, match=match):
            await events_of(cd, request(**options))
    assert server.requests == []


async def test_tool_choice_none_offers_no_tools(server, client, wire) -> None:
    """tool_choice none is honoured by not offering the tools (Ollama has no tool_choice field)."""
    server.add(wire.answer("no tools"))
    async with client() as cd:
        await cd.chat_target(TARGET, request(tools=[WEATHER], tool_choice=ToolChoice(ToolChoiceMode.NONE)))
    assert "tools" not in server.requests[0].json()


async def test_api_key_is_sent_as_bearer_only_when_configured(server, client, wire) -> None:
    """Hosted Ollama gets the key as a bearer token; a local server gets no authorization header."""
    server.add(wire.answer("a"), wire.answer("b"))
    async with client(api_key="sk-ollama-secret-123") as cd:
        await cd.chat_target(TARGET, request())
    async with client() as cd:
        await cd.chat_target(TARGET, request())
    assert server.requests[0].headers["authorization"] == "Bearer sk-ollama-secret-123"
    assert "authorization" not in server.requests[1].headers


async def test_unicode_line_separators_inside_content(server, client, wire) -> None:
    """U+0085 and U+2028 inside a JSON string do not split an NDJSON line."""
    server.add(
        Reply.stream(
            [
                wire.ndjson(wire.line("a\x85b"))[0],
                '{"model":"m","message":{"content":"c\u2028d"},"done":false}\n'.encode(),
                *wire.ndjson(wire.final()),
            ],
            content_type="application/x-ndjson",
        )
    )
    async with client() as cd:
        events = await events_of(cd, request())
    assert events[:2] == [TextDelta("a\x85b"), TextDelta("c\u2028d")]


async def test_lines_after_done_are_ignored(server, client, wire) -> None:
    """What a server sends after the done:true line (even garbage) is not part of the answer."""
    pieces = [*wire.ndjson(wire.line("Hi"), wire.final()), *wire.ndjson(wire.line(" extra")), b"{not json\n"]
    server.add(Reply.stream(pieces, content_type="application/x-ndjson"))
    async with client() as cd:
        events = await events_of(cd, request())
    assert events == [TextDelta("Hi"), UsageEvent(usage(26, 12)), Finish(FinishReason.STOP, "stop")]


async def test_server_keeping_the_body_open_after_done_does_not_hold_the_caller(server, client, wire) -> None:
    """A body left open after done:true ends the stream after a short grace, not after a timeout."""
    server.add(wire.stream(wire.line("Hi"), wire.final(), wire.line(" never"), stall_after=2))
    started = time.monotonic()
    async with client(timeout_secs=5, first_byte_timeout_secs=5) as cd:
        events = await events_of(cd, request())
    assert events[-1] == Finish(FinishReason.STOP, "stop")
    assert time.monotonic() - started < 2


async def test_connection_is_reused_after_a_full_stream(server, client, wire) -> None:
    """A stream read to its end leaves the connection in the pool for the next request."""
    reply = wire.stream(wire.line("x"), wire.final())
    server.add(reply, reply)
    async with client() as cd:
        await events_of(cd, request())
        await events_of(cd, request())
    assert server.connections_opened == 1


async def test_closing_a_stream_early_releases_the_connection(server, client, wire) -> None:
    """Leaving a stream after the first event closes its HTTP response."""
    server.add(wire.stream(*[wire.line(f"w{i} ") for i in range(50)], wire.final(), delay=0.01))
    async with client() as cd:
        async with cd.stream_target(TARGET, request()) as events:
            async for event in events:
                assert event == TextDelta("w0 ")
                break
        for _ in range(250):  # the server thread sees the close a moment later
            if not server.open_connections:
                break
            await anyio.sleep(0.02)
    assert server.open_connections == 0


# -- errors ------------------------------------------------------------------------

MODES = ["chat", "stream"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("message", ["model 'llama3.2' not found", 'model "llama3.2" not found, try pulling it first'])
async def test_missing_model_suggests_pull(server, client, wire, mode, message) -> None:
    """404 model not found is ModelNotFound naming the model and suggesting `ollama pull`."""
    server.add(wire.error(404, message))
    async with client() as cd:
        with pytest.raises(ModelNotFound) as info:
            await call(cd, mode, request())
    assert info.value.model == "llama3.2"
    assert info.value.status == 404
    assert "ollama pull llama3.2" in str(info.value)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("what", "capability"),
    [
        ("tools", Capability.FUNCTION_CALLING),
        ("chat", Capability.CHAT),
        ("thinking", Capability.REASONING),
        ("completion", Capability.CHAT),
    ],
)
async def test_does_not_support_is_capability_missing(server, client, wire, mode, what, capability) -> None:
    """400 '"x" does not support <what>' is CapabilityMissing with the matching capability."""
    server.add(wire.error(400, f'"llama3.2" does not support {what}'))
    async with client() as cd:
        with pytest.raises(CapabilityMissing) as info:
            await call(cd, mode, request())
    assert info.value.capability is capability
    assert info.value.status == 400
    assert not info.value.retryable


@pytest.mark.parametrize("mode", MODES)
async def test_server_busy_is_retryable(server, client, wire, mode) -> None:
    """503 server busy is a retryable ApiError."""
    server.add(wire.error(503, "server busy, please try again.  maximum pending requests exceeded"))
    async with client() as cd:
        with pytest.raises(ApiError) as info:
            await call(cd, mode, request())
    assert info.value.status == 503
    assert info.value.retryable
    assert "server busy" in str(info.value)


@pytest.mark.parametrize("mode", MODES)
async def test_error_status_is_kept_whatever_the_body(server, client, mode) -> None:
    """A 503 whose body claims gzip but is not stays a retryable 503 (the status is judged before decoding)."""
    server.add(
        Reply(
            status=503,
            headers=(("content-type", "application/json"), ("content-encoding", "gzip")),
            chunks=(b'{"error":"server busy"}',),
        )
    )
    async with client() as cd:
        with pytest.raises(ApiError) as info:
            await call(cd, mode, request())
    assert info.value.status == 503
    assert info.value.retryable


@pytest.mark.parametrize("mode", MODES)
async def test_internal_error_is_api_error(server, client, wire, mode) -> None:
    """500 is an ApiError carrying Ollama's message."""
    server.add(wire.error(500, "model requires more system memory (8.0 GiB) than is available (4.0 GiB)"))
    async with client() as cd:
        with pytest.raises(ApiError) as info:
            await call(cd, mode, request())
    assert info.value.status == 500
    assert "more system memory" in str(info.value)


@pytest.mark.parametrize("mode", MODES)
async def test_other_bad_request_is_invalid_request(server, client, wire, mode) -> None:
    """Any other 400 is an InvalidRequest with Ollama's words."""
    server.add(wire.error(400, "invalid options: num_ctx"))
    async with client() as cd:
        with pytest.raises(InvalidRequest, match="invalid options"):
            await call(cd, mode, request())


@pytest.mark.parametrize("mode", MODES)
async def test_unauthorized_hints_at_the_key_and_hides_it(server, client, wire, mode) -> None:
    """401 from hosted Ollama is AuthFailed naming OLLAMA_API_KEY, never echoing the key."""
    server.add(wire.error(401, "invalid key sk-ollama-leaky-456"))
    async with client(api_key="sk-ollama-leaky-456") as cd:
        with pytest.raises(AuthFailed) as info:
            await call(cd, mode, request())
    assert "OLLAMA_API_KEY" in str(info.value)
    assert "sk-ollama-leaky-456" not in str(info.value)


async def test_error_line_mid_stream(server, client, wire) -> None:
    """An {"error"} line after events is an error (StreamInterrupted over an ApiError), never success."""
    server.add(
        Reply.stream(
            [*wire.ndjson(wire.line("Hel")), b'{"error":"an error was encountered while running the model: EOF"}\n'],
            content_type="application/x-ndjson",
        )
    )
    async with client() as cd:
        with pytest.raises(StreamInterrupted) as info:
            await events_of(cd, request())
    assert info.value.delivered == (TextDelta("Hel"),)
    assert isinstance(info.value.cause, ApiError)
    assert "while running the model" in str(info.value.cause)


async def test_error_line_first(server, client) -> None:
    """An {"error"} line before any event raises that error as is."""
    server.add(
        Reply.stream([b'{"error":"llama runner process has terminated"}\n'], content_type="application/x-ndjson")
    )
    async with client() as cd:
        with pytest.raises(ApiError, match="runner process has terminated"):
            await events_of(cd, request())


async def test_stream_ending_without_done_is_an_error(server, client, wire) -> None:
    """A body that ends cleanly before done:true is a truncated answer, not a success."""
    server.add(wire.stream(wire.line("Hel"), wire.line("lo")))
    async with client() as cd:
        with pytest.raises(StreamInterrupted) as info:
            await events_of(cd, request())
    assert info.value.delivered == (TextDelta("Hel"), TextDelta("lo"))
    assert "done:true" in str(info.value.cause)
    assert isinstance(info.value.cause, Truncated)
    assert info.value.cause.retryable


async def test_stream_cut_mid_body_is_an_error(server, client, wire) -> None:
    """A connection closed in the middle of the chunked body is a broken stream."""
    server.add(wire.stream(wire.line("Hel"), wire.line("lo"), wire.final(), cut_after=1))
    async with client() as cd:
        with pytest.raises(StreamInterrupted) as info:
            await events_of(cd, request())
    assert info.value.delivered == (TextDelta("Hel"),)
    assert isinstance(info.value.cause, Truncated)
    assert info.value.cause.retryable


async def test_empty_stream_is_an_error(server, client) -> None:
    """A 200 with an empty body delivers nothing and raises."""
    server.add(Reply.stream([], content_type="application/x-ndjson"))
    async with client() as cd:
        with pytest.raises(Truncated, match="done:true"):
            await events_of(cd, request())


async def test_chat_answer_without_done_is_an_error(server, client, wire) -> None:
    """A non-streaming answer without done:true is incomplete."""
    server.add(wire.json({"model": "llama3.2", "message": {"role": "assistant", "content": "Hi"}, "done": False}))
    async with client() as cd:
        with pytest.raises(ApiError, match="done:true"):
            await cd.chat_target(TARGET, request())


@pytest.mark.parametrize("mode", MODES)
async def test_connection_refused_names_url_and_fix(mode, wire) -> None:
    """Nothing listening: ConnectionFailed naming the URL and suggesting `ollama serve`."""
    import clawdesk_ollama._plugin as plugin
    from clawdesk import Clawdesk, Config, Registry

    registry = Registry(discover=False)
    registry.register(plugin)
    url = f"http://127.0.0.1:{unused_port()}"
    async with Clawdesk(registry=registry, config=Config(providers={"ollama": {"base_url": url}}), env={}) as cd:
        with pytest.raises(ConnectionFailed) as info:
            await call(cd, mode, request())
    text = str(info.value)
    assert url in text
    assert "ollama serve" in text
    assert "another provider" in text
    assert info.value.retryable


@pytest.mark.parametrize("mode", MODES)
async def test_server_that_never_answers_times_out(server, client, mode) -> None:
    """A server that accepts and never answers gives Timeout after first_byte_timeout_secs, not a hang."""
    server.add(Reply.stall())
    started = time.monotonic()
    async with client(timeout_secs=0.2, first_byte_timeout_secs=0.4) as cd:
        with pytest.raises(TimedOut, match="first_byte_timeout_secs"):
            await call(cd, mode, request())
    assert time.monotonic() - started < 0.4 + 2


async def test_stream_stalling_after_start_uses_timeout_secs(server, client) -> None:
    """Once the answer has started, a stalled stream times out after timeout_secs, not the first-byte wait."""
    server.add(Reply.stall_after_headers(content_type="application/x-ndjson"))
    started = time.monotonic()
    async with client(timeout_secs=0.3, first_byte_timeout_secs=30) as cd:
        with pytest.raises(TimedOut):
            await events_of(cd, request())
    assert time.monotonic() - started < 0.3 + 2


async def test_slow_first_byte_within_first_byte_timeout_succeeds(server, client, wire) -> None:
    """A model that takes longer than timeout_secs to load still answers within first_byte_timeout_secs."""
    reply = wire.stream(wire.line("late"), wire.final())

    def slow_load(_request: RecordedRequest) -> Reply:
        time.sleep(0.5)  # the server thread "loads the model" before sending headers
        return reply

    server.add(slow_load)
    async with client(timeout_secs=0.2, first_byte_timeout_secs=5) as cd:
        events = await events_of(cd, request())
    assert events[0] == TextDelta("late")


async def test_plain_string_and_image_both_reach_ollama(server, client, wire) -> None:
    """Message.user(["text", ImagePart(...)]): the string is the content, the image goes in images (both kept)."""
    server.add(wire.answer("A tiny PNG."))
    async with client() as cd:
        await cd.chat_target(
            TARGET, request(Message.user(["What is this?", ImagePart(data=PNG, media_type="image/png")]))
        )
    sent = server.requests[0].json()["messages"][0]
    assert sent == {"role": "user", "content": "What is this?", "images": [base64.b64encode(PNG).decode()]}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "reply",
    [
        Reply.text("404 page not found"),
        Reply.text("<html><title>Not Found</title></html>", content_type="text/html"),
        # llama.cpp's llama-server, byte for byte: a JSON error object, not Ollama's {"error": "<text>"}.
        Reply.json({"error": {"message": "File Not Found", "type": "not_found_error", "code": 404}}),
    ],
    ids=["go-default", "html", "llama-server"],
)
async def test_server_without_ollama_api_is_said_so(server, client, mode, reply) -> None:
    """A 404 without Ollama's {"error": ...} body is a server that is not Ollama, not an unknown model."""
    server.add(attrs.evolve(reply, status=404))
    async with client() as cd:
        with pytest.raises(ApiError, match="does not look like Ollama") as info:
            await call(cd, mode, request())
    assert not isinstance(info.value, ModelNotFound)
    assert info.value.status == 404
    assert "/api/chat" in str(info.value)
    assert "base_url" in str(info.value)


async def test_stream_line_without_message_is_a_protocol_error(server, client, wire) -> None:
    """A line before done:true that has no message is not Ollama's protocol: an error, not an empty success."""
    server.add(wire.stream(wire.line("Hi"), {"model": "llama3.2", "done": False}, wire.final()))
    async with client() as cd:
        with pytest.raises(StreamInterrupted) as info:
            await events_of(cd, request())
    assert isinstance(info.value.cause, ApiError)
    assert "without 'message'" in str(info.value.cause)


async def test_think_option_and_reasoning(server, client, wire) -> None:
    """provider_options.ollama.think is sent as is; ChatOptions.reasoning maps to think when it is not given."""
    server.add(wire.answer("ok"), wire.answer("ok"))
    async with client() as cd:
        await cd.chat_target(TARGET, request(reasoning=Reasoning(effort="low")))
        await cd.chat_target(TARGET, request(reasoning=Reasoning(effort="low"), ollama={"think": False}))
    assert [r.json()["think"] for r in server.requests] == ["low", False]
