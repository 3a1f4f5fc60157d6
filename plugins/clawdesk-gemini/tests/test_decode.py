"""Reading answers: whatever JSON comes back, the result is an answer or a typed error, never a crash."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clawdesk import ChatResponse, ContentFiltered, Finish, FinishReason, ProviderError, StreamEvent, TextDelta
from clawdesk_gemini._wire import ChunkReader, decode_response, finish_reason, usage_from

W = sys.modules["clawdesk_gemini_testwire"]
GW = W.GeminiWire()

_scalar = st.none() | st.booleans() | st.integers(-5, 10**6) | st.floats(allow_nan=False) | st.text(max_size=8)
_junk = st.recursive(
    _scalar,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
_part = st.fixed_dictionaries(
    {},
    optional={
        "text": st.text(max_size=8) | _junk,
        "thought": st.booleans() | _junk,
        "thoughtSignature": st.sampled_from(["c2ln", ""]) | _junk,
        "functionCall": st.fixed_dictionaries(
            {}, optional={"name": st.sampled_from(["f", ""]) | _junk, "args": _junk, "id": _junk}
        )
        | _junk,
        "inlineData": st.fixed_dictionaries(
            {}, optional={"mimeType": _junk, "data": st.sampled_from(["iVBO", "@@"]) | _junk}
        )
        | _junk,
        "executableCode": _junk,
    },
)
_candidate = st.fixed_dictionaries(
    {},
    optional={
        "content": st.fixed_dictionaries(
            {}, optional={"parts": st.lists(_part | _junk, max_size=3) | _junk, "role": _junk}
        )
        | _junk,
        "finishReason": st.sampled_from(["STOP", "MAX_TOKENS", "SAFETY", "MALFORMED_FUNCTION_CALL", "OTHER"]) | _junk,
        "safetyRatings": _junk,
        "finishMessage": _junk,
    },
)
_answer = st.fixed_dictionaries(
    {},
    optional={
        "candidates": st.lists(_candidate | _junk, max_size=2) | _junk,
        "promptFeedback": st.fixed_dictionaries({}, optional={"blockReason": st.sampled_from(["SAFETY", ""]) | _junk})
        | _junk,
        "usageMetadata": st.fixed_dictionaries(
            {},
            optional={
                "promptTokenCount": _junk,
                "candidatesTokenCount": _junk,
                "thoughtsTokenCount": _junk,
                "totalTokenCount": _junk,
            },
        )
        | _junk,
        "responseId": _junk,
        "modelVersion": _junk,
        "error": _junk,
    },
)


def _error_from(error: Any) -> ProviderError:
    return ProviderError("in-band error", provider="gemini")


@settings(max_examples=400, deadline=None)
@given(_answer | _junk)
def test_any_answer_is_a_response_or_a_provider_error(data: Any) -> None:
    """decode_response gives a ChatResponse or raises a ProviderError for any JSON (property)."""
    try:
        result: ChatResponse | ProviderError = decode_response(
            data, model="m", provider="gemini", error_from=_error_from
        )
    except ProviderError as exc:
        result = exc
    assert isinstance(result, (ChatResponse, ProviderError))
    assert result.provider == "gemini"


@settings(max_examples=300, deadline=None)
@given(st.lists(_answer | _junk, min_size=1, max_size=4))
def test_any_chunks_are_events_or_a_provider_error(chunks: list[Any]) -> None:
    """ChunkReader gives events or raises a ProviderError for any sequence of JSON chunks (property)."""
    reader = ChunkReader("gemini", error_from=_error_from)
    events: list[StreamEvent] = []
    failure: ProviderError | None = None
    try:
        for chunk in chunks:
            events += reader.feed(chunk)
            if reader.finished:
                events += reader.tail()
                break
    except ProviderError as exc:
        failure = exc
    if failure is not None:
        assert failure.provider == "gemini"
    elif reader.finished:
        assert isinstance(events[-1], Finish)
        assert sum(isinstance(e, Finish) for e in events) == 1
    else:
        assert not any(isinstance(e, Finish) for e in events)


def test_blocked_prompt_in_a_stream_is_content_filtered() -> None:
    """A blocked prompt's only chunk raises ContentFiltered with Gemini's reason."""
    with pytest.raises(ContentFiltered) as info:
        ChunkReader("gemini").feed(GW.blocked("BLOCKLIST"))
    assert info.value.reason == "BLOCKLIST"


def test_finish_reason_table() -> None:
    """Gemini's reasons normalised: STOP (TOOL_CALLS with calls), MAX_TOKENS, the safety reasons, the rest OTHER."""
    assert finish_reason("STOP") is FinishReason.STOP
    assert finish_reason("STOP", tool_calls=True) is FinishReason.TOOL_CALLS
    assert finish_reason("MAX_TOKENS") is FinishReason.LENGTH
    for raw in ("SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY", "LANGUAGE"):
        assert finish_reason(raw) is FinishReason.CONTENT_FILTER
    for raw in ("OTHER", "FINISH_REASON_UNSPECIFIED", "NO_IMAGE", "SOMETHING_NEW", None):
        assert finish_reason(raw) is FinishReason.OTHER


def test_usage_reading() -> None:
    """Zero counts Google left out are 0; a report without prompt or total counts has no numbers."""
    usage = usage_from({"promptTokenCount": 5, "totalTokenCount": 5})
    assert usage is not None
    assert (usage.input_tokens, usage.output_tokens, usage.reasoning_tokens, usage.cache_read_tokens) == (
        5,
        0,
        None,
        None,
    )
    tools = usage_from({"promptTokenCount": 5, "toolUsePromptTokenCount": 20, "candidatesTokenCount": 3})
    assert tools is not None
    assert (tools.input_tokens, tools.output_tokens) == (25, 3)
    empty = usage_from({"promptTokensDetails": []})
    assert empty is not None
    assert (empty.input_tokens, empty.output_tokens) == (None, None)
    assert usage_from("nonsense") is None


def test_text_deltas_keep_their_signature() -> None:
    """A text part with a signature gives a TextDelta with it, even with no text (Gemini's last-chunk signatures)."""
    reader = ChunkReader("gemini")
    events = reader.feed(GW.response(GW.text("", signature="c2ln"), finish="STOP"))
    assert events == [TextDelta("", signature="c2ln")]
