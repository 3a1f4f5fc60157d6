"""ConverseStream end to end: signed requests, binary frames, in-stream exceptions, truncation, any chunking."""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import clawdesk
import clawdesk_bedrock._plugin
from clawdesk import (
    ApiError,
    ContextLengthExceeded,
    Finish,
    FinishReason,
    RateLimited,
    ReasoningDelta,
    StreamInterrupted,
    TextDelta,
    ToolCallEvent,
    Truncated,
    UsageEvent,
)
from clawdesk.testing import ScriptedServer

pytestmark = pytest.mark.anyio


async def _collect(client: clawdesk.Clawdesk, model: str, prompt: str = "hi", **kw: Any) -> list[Any]:
    events = []
    async with client.stream(model, prompt, **kw) as stream:
        async for event in stream:
            events.append(event)
    return events


async def test_stream_signed_with_environment_credentials(
    fake: Any, helpers: Any, make_client: Any, env_keys: None
) -> None:
    """With only the AWS variables set, the stream is SigV4-signed (session token included) and yields typed events."""
    fake.add(helpers.stream_reply(helpers.text_frames("Hello", " from", " Bedrock")))
    async with make_client(max_retries=0) as client:
        events = await _collect(client, f"bedrock/{helpers.MODEL}")
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Hello", " from", " Bedrock"]
    usage = [e for e in events if isinstance(e, UsageEvent)]
    assert len(usage) == 1
    assert (usage[0].usage.input_tokens, usage[0].usage.output_tokens) == (12, 5)
    assert events[-1] == Finish(FinishReason.STOP, "end_turn", request_id=helpers.REQUEST_ID)
    assert fake.accepted == [f"sigv4:{helpers.KEY_ID}"]
    sent = fake.requests[0]
    assert sent.path == "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream"
    assert sent.headers["accept"] == helpers.EVENTSTREAM
    assert sent.headers["x-amz-security-token"] == helpers.TOKEN
    assert sent.json()["messages"] == [{"role": "user", "content": [{"text": "hi"}]}]


async def test_tool_input_fragments_are_joined_per_block(
    fake: Any, helpers: Any, make_client: Any, env_keys: None
) -> None:
    """Tool input pieces join per content block; a block whose input is all ``""`` gives ``{}``; one event per call."""
    frames = [helpers.frame("messageStart", {"role": "assistant"})]
    frames += helpers.tool_frames("tooluse_a", "weather", ['{"city": "Z', 'ürich", "days"', ": 2}"], index=0)
    frames += helpers.tool_frames("tooluse_b", "now", ["", ""], index=1)
    frames += [helpers.frame("messageStop", {"stopReason": "tool_use"})]
    fake.add(helpers.stream_reply(frames))
    async with make_client(max_retries=0) as client:
        events = await _collect(client, f"bedrock/{helpers.MODEL}")
    calls = [e.call for e in events if isinstance(e, ToolCallEvent)]
    assert [(c.id, c.name, dict(c.arguments)) for c in calls] == [
        ("tooluse_a", "weather", {"city": "Zürich", "days": 2}),
        ("tooluse_b", "now", {}),
    ]
    assert events[-1].reason is FinishReason.TOOL_CALLS
    # No metadata event came: no usage, and that is no error.
    assert not any(isinstance(e, UsageEvent) for e in events)


async def test_reasoning_deltas_carry_signature_and_redaction(
    fake: Any, helpers: Any, make_client: Any, env_keys: None
) -> None:
    """Reasoning text streams as ReasoningDelta; the signature and redacted content close their parts, unchanged."""
    frames = [helpers.frame("messageStart", {"role": "assistant"})]
    frames += [
        helpers.frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "Let me"}}}),
        helpers.frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": " think"}}}),
        helpers.frame(
            "contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "sig=="}}}
        ),
        helpers.frame("contentBlockStop", {"contentBlockIndex": 0}),
        helpers.frame(
            "contentBlockDelta",
            {"contentBlockIndex": 1, "delta": {"reasoningContent": {"redactedContent": "UkVEQUNURUQ="}}},
        ),
        helpers.frame("contentBlockStop", {"contentBlockIndex": 1}),
    ]
    frames += helpers.text_frames("Done.", start=False)
    fake.add(helpers.stream_reply(frames))
    async with make_client(max_retries=0) as client:
        events = await _collect(client, f"bedrock/{helpers.MODEL}")
    reasoning = [e for e in events if isinstance(e, ReasoningDelta)]
    assert reasoning == [
        ReasoningDelta("Let me", source="bedrock"),
        ReasoningDelta(" think", source="bedrock"),
        ReasoningDelta("", signature="sig==", source="bedrock"),
        ReasoningDelta("", redacted="UkVEQUNURUQ=", source="bedrock"),
    ]
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Done."]


async def test_corrupted_frame_is_a_typed_error(fake: Any, helpers: Any, make_client: Any, env_keys: None) -> None:
    """A frame whose bytes were damaged fails its CRC check: ApiError naming the malformed stream, not retried."""
    frames = helpers.text_frames("one", "two")
    damaged = bytearray(frames[2])
    damaged[-8] ^= 0x01  # a payload byte: the message CRC no longer matches
    frames[2] = bytes(damaged)
    fake.add(helpers.stream_reply(frames))
    async with make_client(max_retries=2) as client:
        with pytest.raises(StreamInterrupted) as caught:
            await _collect(client, f"bedrock/{helpers.MODEL}")
    cause = caught.value.cause
    assert isinstance(cause, ApiError)
    assert "checksum" in str(cause)
    assert [e.text for e in caught.value.delivered] == ["one"]
    assert len(fake.requests) == 1


async def test_garbage_instead_of_frames_fails_before_any_event(
    fake: Any, helpers: Any, make_client: Any, env_keys: None
) -> None:
    """A 200 whose body is not an event stream (a proxy's page) is ApiError at the first bytes."""
    from clawdesk.testing import Reply

    fake.add(Reply.stream([b"<html><body>gateway says hi</body></html>"], content_type="text/html"))
    events, raised = await _hook_stream(fake, helpers)
    assert events == []
    assert isinstance(raised, ApiError)
    assert "expected a stream, got HTML" in str(raised)
    assert not raised.retryable


async def test_throttling_before_the_first_event_is_retried(
    fake: Any, helpers: Any, make_client: Any, env_keys: None
) -> None:
    """An in-stream throttlingException before any event is RateLimited: the engine asks again and succeeds."""
    fake.add(
        helpers.stream_reply(
            [
                helpers.frame("messageStart", {"role": "assistant"}),
                helpers.exception_frame("throttlingException", "Too many tokens, please wait"),
            ]
        ),
        helpers.stream_reply(helpers.text_frames("second", " try")),
    )
    async with make_client(max_retries=1) as client:
        events = await _collect(client, f"bedrock/{helpers.MODEL}")
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "second try"
    assert len(fake.requests) == 2
    assert fake.accepted == [f"sigv4:{helpers.KEY_ID}"] * 2


async def test_throttling_after_the_first_event_interrupts(
    fake: Any, helpers: Any, make_client: Any, env_keys: None
) -> None:
    """The same exception after a text delta is StreamInterrupted, with what was delivered and the RateLimited cause."""
    frames = [*helpers.text_frames("partial")[:2], helpers.exception_frame("throttlingException", "Too many requests")]
    fake.add(helpers.stream_reply(frames), helpers.stream_reply(helpers.text_frames("never asked")))
    async with make_client(max_retries=3) as client:
        with pytest.raises(StreamInterrupted) as caught:
            await _collect(client, f"bedrock/{helpers.MODEL}")
    assert isinstance(caught.value.cause, RateLimited)
    assert caught.value.cause.retryable
    assert [e.text for e in caught.value.delivered] == ["partial"]
    assert len(fake.requests) == 1


@pytest.mark.parametrize("how", ["ended", "closed", "reset"])
async def test_stream_cut_before_message_stop_is_truncated(
    fake: Any, helpers: Any, make_client: Any, env_keys: None, how: str
) -> None:
    """A body ending (complete, closed mid-body, reset) before messageStop is Truncated: retryable, not a success."""
    frames = helpers.text_frames("a", "b")
    if how == "ended":
        fake.add(helpers.stream_reply(frames[:3]))  # a well-formed body that simply stops
    else:
        fake.add(helpers.stream_reply(frames, cut_after=3, reset_on_cut=how == "reset"))
    events, raised = await _hook_stream(fake, helpers)
    assert [e.text for e in events] == ["a", "b"]
    assert isinstance(raised, Truncated)
    assert raised.retryable
    if how == "ended":
        assert "before messageStop" in str(raised)


async def test_cut_after_message_stop_loses_only_the_usage(
    fake: Any, helpers: Any, make_client: Any, env_keys: None
) -> None:
    """messageStop is the end marker: a connection reset while the metadata is on its way still ends in Finish."""
    frames = helpers.text_frames("whole")
    fake.add(helpers.stream_reply(frames, cut_after=len(frames) - 1, reset_on_cut=True))
    async with make_client(max_retries=0) as client:
        events = await _collect(client, f"bedrock/{helpers.MODEL}")
    assert [type(e) for e in events] == [TextDelta, Finish]


@pytest.mark.parametrize(
    ("frame", "error", "retryable"),
    [
        (("modelStreamErrorException", "model broke", {"originalStatusCode": 500}), ApiError, True),
        (("modelStreamErrorException", "bad output", {"originalStatusCode": 400}), ApiError, False),
        (("validationException", "Input is too long for requested model.", {}), ContextLengthExceeded, False),
        (("internalServerException", "oops", {}), ApiError, True),
        (("serviceUnavailableException", "later", {}), ApiError, True),
    ],
)
async def test_in_stream_exceptions_are_typed(
    fake: Any, helpers: Any, env_keys: None, frame: tuple[str, str, dict[str, Any]], error: type, retryable: bool
) -> None:
    """Each in-stream exception the service model lists raises its typed error from the hook, with its message."""
    kind, message, extra = frame
    fake.add(
        helpers.stream_reply(
            [helpers.frame("messageStart", {"role": "assistant"}), helpers.exception_frame(kind, message, **extra)]
        )
    )
    events, raised = await _hook_stream(fake, helpers)
    assert events == []
    assert type(raised) is error
    assert raised.retryable is retryable
    assert message in str(raised)
    assert raised.provider == "bedrock"
    assert raised.request_id == helpers.REQUEST_ID


async def test_unmodeled_error_message_is_an_api_error(fake: Any, helpers: Any, env_keys: None) -> None:
    """A ``:message-type: error`` message (no modeled shape) raises ApiError with its code and message."""
    from clawdesk.provider import encode_event_stream_message

    error = encode_event_stream_message(
        {":message-type": "error", ":error-code": "InternalFailure", ":error-message": "something broke"}, b""
    )
    fake.add(helpers.stream_reply([helpers.frame("messageStart", {"role": "assistant"}), error]))
    _events, raised = await _hook_stream(fake, helpers)
    assert isinstance(raised, ApiError)
    assert "something broke" in str(raised)
    assert raised.retryable


async def _hook_stream(fake: Any, helpers: Any, **table: Any) -> tuple[list[Any], BaseException | None]:
    """Call provider_stream directly (no engine in between): its events and what it raised."""
    registry = clawdesk.Registry(discover=False)
    provider = registry.register(clawdesk_bedrock._plugin)
    config = clawdesk.parse_config(helpers.config_text(fake.url, **table)).provider_config(
        "bedrock", provider.config_type
    )
    events: list[Any] = []
    async with httpx.AsyncClient() as http:
        request = clawdesk.ChatRequest(helpers.MODEL, (clawdesk.Message.user("hi"),))
        try:
            async for event in provider.call("provider_stream", config=config, http=http, request=request):
                events.append(event)
        except clawdesk.ProviderError as exc:
            return events, exc
    return events, None


def _chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, start = [], 0
    for point in [*points, len(data)]:
        if point > start:
            pieces.append(data[start:point])
            start = point
    return pieces


@settings(max_examples=25)
@given(
    texts=st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=6),
    arguments=st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=3),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12),
)
def test_any_chunking_gives_the_same_events(
    helpers: Any, texts: list[str], arguments: dict[str, Any], cuts: list[int]
) -> None:
    """However the bytes are cut into HTTP chunks, the stream yields the same events (frames span chunks)."""
    encoded = json.dumps(arguments)
    frames = [helpers.frame("messageStart", {"role": "assistant"})]
    frames += [helpers.frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": t}}) for t in texts]
    frames += [helpers.frame("contentBlockStop", {"contentBlockIndex": 0})]
    frames += helpers.tool_frames(
        "tooluse_x", "f", [encoded[: len(encoded) // 2], encoded[len(encoded) // 2 :]], index=1
    )
    frames += [helpers.frame("messageStop", {"stopReason": "tool_use"})]
    frames += [helpers.frame("metadata", {"usage": helpers.USAGE, "metrics": {"latencyMs": 1}})]
    body = b"".join(frames)

    async def run() -> list[Any]:
        with ScriptedServer() as server:
            server.add(helpers.stream_reply(_chunked(body, cuts)))
            registry = clawdesk.Registry(discover=False)
            registry.register(clawdesk_bedrock._plugin)
            config = clawdesk.parse_config(helpers.config_text(server.url, api_key=helpers.BEARER, max_retries=0))
            async with clawdesk.Clawdesk(registry=registry, config=config) as client:
                return await _collect(client, f"bedrock/{helpers.MODEL}")

    events = anyio.run(run)
    assert [e.text for e in events if isinstance(e, TextDelta)] == texts
    calls = [e.call for e in events if isinstance(e, ToolCallEvent)]
    assert [dict(c.arguments) for c in calls] == [arguments]
    assert isinstance(events[-1], Finish)
    assert sum(isinstance(e, UsageEvent) for e in events) == 1
