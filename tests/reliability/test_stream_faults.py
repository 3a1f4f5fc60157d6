"""Fault matrix, part 3: broken and unusual successful bodies, through both plugins.

Decisions this file pins down (also stated in docs/reliability.md):

- A stream is a success only when its end marker arrived (Mistral ``data: [DONE]``,
  Ollama the ``"done": true`` line). Anything that ends before it (a clean end of
  the body, half a frame, the final chunk without ``[DONE]``) is an error: after
  events were delivered, :class:`~clawdesk.StreamInterrupted` holding them.
- A malformed frame or a mid-stream error frame is an error, never skipped.
  Before any event it is a non-retryable :class:`~clawdesk.ApiError` (the server
  sent something we cannot read; asking again the same way is not expected to help).
- Duplicate end markers, or anything after the first end marker: the stream has
  already ended successfully at the first one; what follows is ignored (exactly
  one Finish, nothing after it).
- A single event (or a chat answer) larger than 1 MiB is handled like any other.
- A caller that stops reading early releases the connection.
"""

from __future__ import annotations

from typing import Any

import pytest

from clawdesk import ApiError, ChatRequest, Finish, Message, TextDelta, Truncated, UsageEvent
from clawdesk.testing import Reply

pytestmark = pytest.mark.anyio

PROVIDERS = ["mistral", "ollama"]
BIG = "0123456789abcdef" * (96 * 1024)  # 1.5 MiB of text in one event


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_chat_baseline(harness: Any, provider: str) -> None:
    """The well-formed chat answer the faults below are variations of succeeds."""
    outcome = await harness.run(provider, harness.wire(provider).chat_reply("Hello there"), mode="chat")
    outcome.assert_ok(text="Hello there")
    assert outcome.requests == 1


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_stream_baseline(harness: Any, provider: str) -> None:
    """The well-formed stream the faults below are variations of yields its text, usage and one Finish."""
    wire = harness.wire(provider)
    outcome = await harness.run(provider, wire.stream_reply(wire.stream_pieces(["Hel", "lo"])), mode="stream")
    outcome.assert_ok(text="Hello")
    assert any(isinstance(e, UsageEvent) for e in outcome.events), f"{outcome.describe()}: no usage event"


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_truncated_clean_end(harness: Any, provider: str) -> None:
    """A body that ends properly but without the end marker is StreamInterrupted, not a success."""
    wire = harness.wire(provider)
    reply = wire.stream_reply([wire.frame("Hel"), wire.frame("lo")])
    outcome = await harness.run(provider, reply, mode="stream", case=f"{provider} no end marker")
    error = outcome.assert_interrupted(delivered=2, cause=(Truncated,))
    assert error.cause.retryable  # type: ignore[attr-defined]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_truncated_mid_frame(harness: Any, provider: str) -> None:
    """A body that ends in the middle of a frame is StreamInterrupted, the half frame is not parsed."""
    wire = harness.wire(provider)
    last = wire.frame(" there")
    reply = wire.stream_reply([wire.frame("Hel"), wire.frame("lo"), last[: len(last) // 2]])
    outcome = await harness.run(provider, reply, mode="stream", case=f"{provider} half a frame")
    error = outcome.assert_interrupted(delivered=2, cause=(Truncated,))
    assert error.cause.retryable  # type: ignore[attr-defined]


async def test_mistral_final_chunk_without_done(harness: Any) -> None:
    """Mistral: the chunk carrying finish_reason and usage is not the end; without [DONE] it is truncated."""
    wire = harness.wire("mistral")
    reply = wire.stream_reply([wire.frame("Hel"), wire.frame("lo"), wire.final_frame()])
    outcome = await harness.run("mistral", reply, mode="stream", case="mistral final chunk, no [DONE]")
    error = outcome.assert_interrupted(delivered=2, cause=(Truncated,))
    assert error.cause.retryable  # type: ignore[attr-defined]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_malformed_frame_mid_stream(harness: Any, provider: str) -> None:
    """A frame that is not JSON after two good ones is StreamInterrupted caused by a non-retryable ApiError."""
    wire = harness.wire(provider)
    pieces = [wire.frame("Hel"), wire.frame("lo"), wire.malformed_frame(), *wire.stream_pieces(["!"])]
    outcome = await harness.run(provider, wire.stream_reply(pieces), mode="stream", case=f"{provider} malformed")
    error = outcome.assert_interrupted(delivered=2, cause=(ApiError,))
    assert error.cause.retryable is False  # type: ignore[attr-defined]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_malformed_first_frame(harness: Any, provider: str) -> None:
    """A first frame that is not JSON is a non-retryable ApiError (nothing was delivered)."""
    wire = harness.wire(provider)
    pieces = [wire.malformed_frame(), *wire.stream_pieces(["x"])]
    outcome = await harness.run(provider, wire.stream_reply(pieces), mode="stream", case=f"{provider} malformed 1st")
    outcome.assert_error(ApiError, retryable=False)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_error_frame_mid_stream(harness: Any, provider: str) -> None:
    """The provider's in-band error after two events is StreamInterrupted caused by an ApiError."""
    wire = harness.wire(provider)
    pieces = [wire.frame("Hel"), wire.frame("lo"), wire.stream_error_frame("CUDA error: out of memory")]
    if provider == "mistral":
        pieces.append(wire.end_marker())  # finish_reason "error" is followed by [DONE] as usual
    outcome = await harness.run(provider, wire.stream_reply(pieces), mode="stream", case=f"{provider} error frame")
    outcome.assert_interrupted(delivered=2, cause=(ApiError,))


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_duplicate_end_markers(harness: Any, provider: str) -> None:
    """A second end marker is ignored: the stream ended successfully at the first, with exactly one Finish."""
    wire = harness.wire(provider)
    pieces = wire.stream_pieces(["Hel", "lo"])
    pieces.append(pieces[-1])
    outcome = await harness.run(provider, wire.stream_reply(pieces), mode="stream", case=f"{provider} two ends")
    outcome.assert_ok(text="Hello")


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_data_after_end_marker(harness: Any, provider: str) -> None:
    """Frames after the end marker are ignored, not delivered after Finish."""
    wire = harness.wire(provider)
    pieces = [*wire.stream_pieces(["Hel", "lo"]), wire.frame(" EXTRA"), wire.malformed_frame()]
    outcome = await harness.run(provider, wire.stream_reply(pieces), mode="stream", case=f"{provider} after end")
    outcome.assert_ok(text="Hello")


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_end_marker_then_silence(harness: Any, provider: str) -> None:
    """A server that keeps the connection open after the end marker does not keep the caller waiting."""
    wire = harness.wire(provider)
    pieces = wire.stream_pieces(["Hel", "lo"])
    reply = wire.stream_reply([*pieces, wire.frame(" never")], stall_after=len(pieces))
    outcome = await harness.run(provider, reply, mode="stream", case=f"{provider} end then silence")
    outcome.assert_ok(text="Hello")
    assert outcome.elapsed < outcome.timeout * 0.8, f"{outcome.describe()}: waited for more after the end marker"


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_event_larger_than_1mib(harness: Any, provider: str) -> None:
    """A single stream event of 1.5 MiB is delivered whole."""
    wire = harness.wire(provider)
    pieces = wire.stream_pieces(["<", BIG, ">"])
    outcome = await harness.run(provider, wire.stream_reply(pieces), mode="stream", case=f"{provider} 1.5 MiB event")
    outcome.assert_ok(text=f"<{BIG}>")


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_event_larger_than_1mib_in_small_chunks(harness: Any, provider: str) -> None:
    """A 1.5 MiB event arriving in 64 KiB HTTP chunks is reassembled into one event."""
    wire = harness.wire(provider)
    data = b"".join(wire.stream_pieces([BIG]))
    pieces = [data[i : i + 65536] for i in range(0, len(data), 65536)]
    outcome = await harness.run(provider, wire.stream_reply(pieces), mode="stream", case=f"{provider} big, chunked")
    outcome.assert_ok(text=BIG)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_chat_answer_larger_than_1mib(harness: Any, provider: str) -> None:
    """A chat answer of 1.5 MiB is returned whole."""
    outcome = await harness.run(provider, harness.wire(provider).chat_reply(BIG), mode="chat", case="1.5 MiB chat")
    outcome.assert_ok(text=BIG)


@pytest.mark.parametrize(
    "body",
    [b'{"id": "cmpl", "choices": [', b"<html><body>OK</body></html>", b"", b"\xff\xfe\x00garbage"],
    ids=["truncated_json", "html", "empty", "binary"],
)
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_chat_unreadable_success_body(harness: Any, provider: str, body: bytes) -> None:
    """A 200 whose body is not the provider's JSON is a non-retryable ApiError, not a crash."""
    reply = Reply(headers=(("content-type", "application/json"),), chunks=(body,) if body else ())
    outcome = await harness.run(provider, reply, mode="chat", case=f"{provider} unreadable 200")
    outcome.assert_error(ApiError, retryable=False)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_chat_success_body_of_wrong_shape(harness: Any, provider: str) -> None:
    """A 200 with valid JSON of the wrong shape is a non-retryable ApiError, not a KeyError escaping."""
    outcome = await harness.run(provider, Reply.json({"unexpected": [1, 2, 3]}), mode="chat", case="wrong shape")
    outcome.assert_error(ApiError, retryable=False)


async def test_mistral_comments_and_crlf(harness: Any) -> None:
    """Mistral: SSE comment lines (keep-alives) and CRLF line ends are part of the format, not faults."""
    wire = harness.wire("mistral")
    pieces = [b": keep-alive\r\n\r\n", *(p.replace(b"\n", b"\r\n") for p in wire.stream_pieces(["a", "b"]))]
    outcome = await harness.run("mistral", wire.stream_reply(pieces), mode="stream", case="mistral crlf")
    outcome.assert_ok(text="ab")


async def test_ollama_last_line_without_newline(harness: Any) -> None:
    """Ollama: a final ``done`` line without a trailing newline still ends the stream successfully."""
    wire = harness.wire("ollama")
    pieces = wire.stream_pieces(["a", "b"])
    pieces[-1] = pieces[-1].rstrip(b"\n")
    outcome = await harness.run("ollama", wire.stream_reply(pieces), mode="stream", case="ollama no final newline")
    outcome.assert_ok(text="ab")


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_caller_stops_early(harness: Any, provider: str) -> None:
    """A caller that leaves after the first event gets no error and leaves no connection checked out."""
    wire = harness.wire(provider)
    pieces = wire.stream_pieces(["one ", "two ", "three"])
    outcome = await harness.run(
        provider, wire.stream_reply(pieces, delay=0.02), mode="stream", limit_events=1, case=f"{provider} early exit"
    )
    assert outcome.error is None, outcome.describe()
    assert len(outcome.events) == 1
    assert not isinstance(outcome.events[0], Finish)
    outcome.assert_hygiene()


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_pool_check_can_fail(harness: Any, provider: str) -> None:
    """The pool inspection sees a stream held open mid-way as checked out, and released once closed."""
    wire = harness.wire(provider)
    harness.server.route("POST", wire.chat_path, wire.stream_reply(wire.stream_pieces(["a", "b"]), stall_after=1))
    cd = harness.clawdesk(provider, harness.table(provider))
    try:
        request = ChatRequest(wire.model, (Message.user("hi"),))
        stream = cd.stream_target(cd.resolve(f"{provider}/{wire.model}"), request)
        first = await stream.__anext__()
        assert isinstance(first, TextDelta)
        assert harness.busy(cd, provider), "an open stream's connection is not seen as checked out"
        await stream.aclose()
        assert harness.busy(cd, provider) == []
    finally:
        await cd.aclose()
