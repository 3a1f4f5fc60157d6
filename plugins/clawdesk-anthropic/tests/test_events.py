"""The stream reader on its own: the API's events, split anywhere, give the same clawdesk events."""

from __future__ import annotations

import json
from typing import Any

import anthropic_wire as wire
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clawdesk import (
    ApiError,
    ContextLengthExceeded,
    Finish,
    FinishReason,
    InvalidRequest,
    RateLimited,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallEvent,
    Truncated,
    Usage,
    UsageEvent,
)
from clawdesk.provider import SSEDecoder
from clawdesk_anthropic._events import EventReader

SIGNATURE = "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds+/=="
REDACTED = "EmwKAhgBEgy3va3pzix/LafPsn4aMOYds"


def _thinking_tool_stream() -> list[bytes]:
    """Thinking (two deltas and a signature), a redacted block, text, and a tool call in pieces."""
    w = wire
    return [
        w.event(w.message_start(usage={"input_tokens": 40, "cache_read_input_tokens": 100, "output_tokens": 1})),
        w.event(w.block_start(0, {"type": "thinking", "thinking": "", "signature": ""})),
        w.event(w.delta(0, {"type": "thinking_delta", "thinking": "Let me look "})),
        w.event(w.PING),
        w.event(w.delta(0, {"type": "thinking_delta", "thinking": "up the weather."})),
        w.event(w.delta(0, {"type": "signature_delta", "signature": SIGNATURE})),
        w.event(w.block_stop(0)),
        w.event(w.block_start(1, {"type": "redacted_thinking", "data": REDACTED})),
        w.event(w.block_stop(1)),
        w.event(w.block_start(2, {"type": "text", "text": ""})),
        w.event(w.delta(2, {"type": "text_delta", "text": "Checking Zürich…"})),
        w.event(w.block_stop(2)),
        w.event(w.block_start(3, {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {}})),
        w.event(w.delta(3, {"type": "input_json_delta", "partial_json": ""})),
        w.event(w.delta(3, {"type": "input_json_delta", "partial_json": '{"city": "Zü'})),
        w.event(w.delta(3, {"type": "input_json_delta", "partial_json": 'rich"}'})),
        w.event(w.block_stop(3)),
        w.event(w.message_delta("tool_use", {"output_tokens": 87})),
        w.event(w.MESSAGE_STOP),
    ]


EXPECTED: list[StreamEvent] = [
    ReasoningDelta("Let me look ", source="anthropic"),
    ReasoningDelta("up the weather.", source="anthropic"),
    ReasoningDelta("", signature=SIGNATURE, source="anthropic"),
    ReasoningDelta("", redacted=REDACTED, source="anthropic"),
    TextDelta("Checking Zürich…"),
    ToolCallEvent(ToolCall("toolu_01", "get_weather", {"city": "Zürich"})),
    UsageEvent(
        Usage(
            140,
            87,
            cache_read_tokens=100,
            raw={"input_tokens": 40, "cache_read_input_tokens": 100, "output_tokens": 87},
        )
    ),
    Finish(FinishReason.TOOL_CALLS, "tool_use", request_id="req_1"),
]


def _read(chunks: list[bytes]) -> tuple[list[StreamEvent], EventReader]:
    decoder = SSEDecoder()
    reader = EventReader("anthropic", wire.MODEL)
    events: list[StreamEvent] = []
    for chunk in chunks:
        for data in decoder.feed(chunk):
            event = reader.feed(data)
            if event is not None:
                events.append(event)
    if reader.done:
        events += reader.close("req_1")
    return events, reader


def test_every_block_kind_in_order() -> None:
    """Thinking, its signature, redacted thinking, text and a tool call come out as documented, in order."""
    events, reader = _read(_thinking_tool_stream())
    assert events == EXPECTED
    assert reader.message_id == "msg_01XFDUDYJgAACzvnptvVoYEL"


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_any_chunking_gives_the_same_events(data: st.DataObject) -> None:
    """Whatever the network's chunk boundaries (inside a UTF-8 character, a line, a CRLF), the events are the same."""
    body = b"".join(_thinking_tool_stream())
    cuts = sorted(data.draw(st.sets(st.integers(1, len(body) - 1), max_size=40)))
    chunks = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
    assert _read(chunks)[0] == EXPECTED


def test_crlf_line_ends_are_the_same_stream() -> None:
    """An event stream written with CRLF line ends reads the same."""
    body = b"".join(_thinking_tool_stream()).replace(b"\n", b"\r\n")
    assert _read([body])[0] == EXPECTED


def test_a_tool_without_arguments_gives_an_empty_object() -> None:
    """A tool call whose only input piece is "" has the arguments {} (json.loads("") would fail)."""
    w = wire
    chunks = [
        w.event(w.message_start()),
        w.event(w.block_start(0, {"type": "tool_use", "id": "toolu_9", "name": "get_time", "input": {}})),
        w.event(w.delta(0, {"type": "input_json_delta", "partial_json": ""})),
        w.event(w.block_stop(0)),
        w.event(w.message_delta("tool_use")),
        w.event(w.MESSAGE_STOP),
    ]
    events, _ = _read(chunks)
    assert ToolCallEvent(ToolCall("toolu_9", "get_time", {})) in events


def test_usage_is_a_running_total_replaced_not_added() -> None:
    """message_delta usage replaces what message_start said, key by key (cache counts from the start stay)."""
    w = wire
    start = {"input_tokens": 5, "cache_creation_input_tokens": 300, "output_tokens": 1}
    chunks = [
        w.event(w.message_start(usage=start)),
        w.event(w.message_delta(None, {"output_tokens": 10})),
        w.event(w.message_delta("end_turn", {"output_tokens": 25, "input_tokens": 5})),
        w.event(w.MESSAGE_STOP),
    ]
    events, _ = _read(chunks)
    usage = next(e.usage for e in events if isinstance(e, UsageEvent))
    assert (usage.input_tokens, usage.output_tokens, usage.cache_write_tokens) == (305, 25, 300)


def test_pings_unknown_events_and_unknown_deltas_are_ignored() -> None:
    """New event, block and delta types (the versioning policy allows them) change nothing."""
    w = wire
    chunks = [
        w.event(w.message_start()),
        w.event({"type": "content_block_future", "index": 0}, check=False),
        w.event(w.block_start(0, {"type": "text", "text": ""})),
        w.event(w.delta(0, {"type": "sparkle_delta", "sparkle": "*"}), check=False),
        w.event(w.delta(0, {"type": "text_delta", "text": "Hi"})),
        w.event(w.PING),
        w.event(w.block_stop(0)),
        w.event(w.block_start(1, {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}})),
        w.event(w.block_stop(1)),
        w.event(w.message_delta("end_turn")),
        w.event(w.MESSAGE_STOP),
    ]
    events, _ = _read(chunks)
    assert [e for e in events if not isinstance(e, UsageEvent)] == [
        TextDelta("Hi"),
        Finish(FinishReason.STOP, "end_turn", request_id="req_1"),
    ]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("end_turn", FinishReason.STOP),
        ("stop_sequence", FinishReason.STOP),
        ("max_tokens", FinishReason.LENGTH),
        ("model_context_window_exceeded", FinishReason.LENGTH),
        ("tool_use", FinishReason.TOOL_CALLS),
        ("refusal", FinishReason.CONTENT_FILTER),
        ("pause_turn", FinishReason.OTHER),
        ("brand_new_reason", FinishReason.OTHER),
    ],
)
def test_stop_reasons(raw: str, reason: FinishReason) -> None:
    """Every stop_reason maps without crashing; the raw value is kept."""
    w = wire
    chunks = [w.event(w.message_start()), w.event(w.message_delta(raw), check=False), w.event(w.MESSAGE_STOP)]
    assert _read(chunks)[0][-1] == Finish(reason, raw, request_id="req_1")


def test_a_stream_without_message_stop_is_not_done() -> None:
    """Without message_stop the reader never says the answer is whole (the caller raises Truncated)."""
    _, reader = _read(_thinking_tool_stream()[:-1])
    assert not reader.done


def test_max_tokens_inside_tool_arguments_is_truncation() -> None:
    """Arguments cut by max_tokens are an incomplete answer (Truncated, not retryable), not a parse error."""
    w = wire
    chunks = [
        w.event(w.message_start()),
        w.event(w.block_start(0, {"type": "tool_use", "id": "toolu_2", "name": "write", "input": {}})),
        w.event(w.delta(0, {"type": "input_json_delta", "partial_json": '{"text": "a long ess'})),
        w.event(w.block_stop(0)),
        w.event(w.message_delta("max_tokens")),
        w.event(w.MESSAGE_STOP),
    ]
    with pytest.raises(Truncated) as caught:
        _read(chunks)
    assert not caught.value.retryable
    chunks[-2] = w.event(w.message_delta("tool_use"))
    with pytest.raises(ApiError, match="not valid JSON"):
        _read(chunks)


@pytest.mark.parametrize(
    ("kind", "error", "retryable"),
    [
        ("overloaded_error", ApiError, True),
        ("api_error", ApiError, True),
        ("rate_limit_error", RateLimited, True),
        ("invalid_request_error", InvalidRequest, False),
        ("mystery_error", ApiError, False),
    ],
)
def test_error_events_raise_typed_errors(kind: str, error: type[ApiError], retryable: bool) -> None:
    """An error event after the 200 raises the error its type names, with no HTTP status."""
    body: dict[str, Any] = {"type": "error", "error": {"type": kind, "message": "Overloaded"}}
    chunks = [wire.event(wire.message_start()), wire.event(body, check=kind != "mystery_error")]
    with pytest.raises(error) as caught:
        _read(chunks)
    assert caught.value.retryable is retryable
    assert caught.value.status is None
    assert kind in str(caught.value)


def test_an_error_event_about_the_prompt_length() -> None:
    """An invalid_request_error that says the prompt is too long is ContextLengthExceeded."""
    body = {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "prompt is too long: 1000001 > 1000000"},
    }
    with pytest.raises(ContextLengthExceeded):
        _read([wire.event(body)])


@pytest.mark.parametrize("data", ["not json", "[1, 2]", '{"no": "type"}', json.dumps({"type": None})[:-1]])
def test_garbage_payloads_are_api_errors(data: str) -> None:
    """A payload that is not an event object is the backend's fault: ApiError naming it."""
    with pytest.raises(ApiError, match="stream event"):
        EventReader("anthropic", wire.MODEL).feed(data)
