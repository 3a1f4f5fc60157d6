"""Collecting a stream: the events of any answer, cut into any pieces, fold back into that answer."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clawdesk import (
    ChatResponse,
    Finish,
    FinishReason,
    Message,
    ReasoningDelta,
    ReasoningPart,
    Role,
    StreamEvent,
    TextDelta,
    TextPart,
    ToolCall,
    ToolCallEvent,
    Usage,
    UsageEvent,
    response_from_events,
)
from clawdesk._stream import ChatStream, RunRecord, Target

texts = st.text(min_size=1, max_size=12)
signatures = st.none() | st.text(min_size=1, max_size=8)


@st.composite
def parts(draw: st.DrawFn) -> list[TextPart | ReasoningPart]:
    """An answer's content as a stream can carry it: neighbours of one kind are told apart by a signature."""
    result: list[TextPart | ReasoningPart] = []
    for _ in range(draw(st.integers(0, 5))):
        if draw(st.booleans()):
            part: TextPart | ReasoningPart = TextPart(draw(texts), signature=draw(signatures))
        else:
            signature = draw(signatures)
            redacted = draw(signatures) if signature is None else None
            part = ReasoningPart(draw(st.text(max_size=12)), signature=signature, redacted=redacted, source="p")
            if not part.text and signature is None and redacted is None:
                continue  # an empty unsigned part carries nothing a stream could tell
        if result and type(result[-1]) is type(part) and _open(result[-1]):
            continue  # two unsigned parts of one kind in a row are one part in a stream
        result.append(part)
    return result


def _open(part: TextPart | ReasoningPart) -> bool:
    return part.signature is None and (type(part) is TextPart or part.redacted is None)


def _cuts(draw: st.DrawFn, text: str) -> list[str]:
    points = sorted(draw(st.sets(st.integers(1, max(1, len(text) - 1)), max_size=3))) if len(text) > 1 else []
    bounds = [0, *points, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds) if text[a:b]] or [text]


@st.composite
def streams(draw: st.DrawFn) -> tuple[list[StreamEvent], list[TextPart | ReasoningPart], list[ToolCall], Usage]:
    content = draw(parts())
    events: list[StreamEvent] = []
    for part in content:
        pieces = _cuts(draw, part.text)
        if isinstance(part, TextPart):
            events += [TextDelta(p) for p in pieces[:-1]]
            events.append(TextDelta(pieces[-1], signature=part.signature))
        else:
            events += [ReasoningDelta(p, source="p") for p in pieces[:-1]]
            events.append(ReasoningDelta(pieces[-1], signature=part.signature, redacted=part.redacted, source="p"))
    calls = draw(st.lists(st.builds(ToolCall, texts, texts, st.just({"k": 1})), max_size=2))
    at = 0
    for call in calls:  # anywhere among the other events, in their own order
        at = draw(st.integers(at, len(events)))
        events.insert(at, ToolCallEvent(call))
        at += 1
    for empty in draw(st.lists(st.sampled_from([TextDelta(""), ReasoningDelta("")]), max_size=2)):
        events.insert(draw(st.integers(0, len(events))), empty)  # an empty delta adds nothing, closes nothing
    usage = Usage(draw(st.integers(0, 99)), draw(st.integers(0, 99)))
    events += [UsageEvent(usage), Finish(FinishReason.STOP, "stop", request_id="r-1")]
    return events, content, calls, usage


@given(stream=streams())
def test_events_fold_back_into_the_answer(
    stream: tuple[list[StreamEvent], list[TextPart | ReasoningPart], list[ToolCall], Usage],
) -> None:
    """Text and reasoning parts (with their signatures), tool calls, usage and finish come back whole, in order."""
    events, content, calls, usage = stream
    response = response_from_events(events, provider="p", model="m")
    assert response.message == Message(Role.ASSISTANT, tuple(content), tool_calls=tuple(calls))
    assert (response.usage, response.finish_reason, response.finish_reason_raw) == (usage, FinishReason.STOP, "stop")
    assert (response.provider, response.model, response.request_id) == ("p", "m", "r-1")


def test_without_finish_there_is_no_response() -> None:
    """A stream cut before its Finish has no whole answer."""
    with pytest.raises(ValueError, match="has not finished"):
        response_from_events([TextDelta("half")], provider="p", model="m")


async def _events(items: list[StreamEvent]) -> AsyncIterator[StreamEvent]:
    for item in items:
        yield item


@pytest.mark.anyio
async def test_chat_stream_keeps_what_it_passes_on() -> None:
    """ChatStream.response is built from exactly the events its reader saw, by __anext__ or async for."""
    items: list[StreamEvent] = [TextDelta("a"), TextDelta("b"), Finish(FinishReason.LENGTH)]
    stream = ChatStream(_events(items), record=RunRecord(Target("p", "m")))
    first = await stream.__anext__()
    rest = [event async for event in stream]
    assert [first, *rest] == items
    assert stream.done
    response: ChatResponse = stream.response
    assert (response.message.text, response.finish_reason) == ("ab", FinishReason.LENGTH)
    assert await stream.collect() is response


@pytest.mark.anyio
async def test_collect_propagates_the_streams_error_and_closes_it() -> None:
    """collect() raises what the stream raises and leaves it closed."""
    closed: list[bool] = []

    async def failing() -> AsyncIterator[Any]:
        try:
            yield TextDelta("x")
            raise RuntimeError("cut")
        finally:
            closed.append(True)

    stream = ChatStream(failing(), record=RunRecord(Target("p", "m")))
    with pytest.raises(RuntimeError, match="cut"):
        await stream.collect()
    assert closed == [True]
    assert not stream.done
