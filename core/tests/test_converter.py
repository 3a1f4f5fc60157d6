"""The converter: every data type round-trips through plain JSON."""

from __future__ import annotations

import json
from typing import Any

import cattrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from clawdesk import (
    Capability,
    ChatOptions,
    ChatRequest,
    ChatResponse,
    ContentPart,
    DocumentPart,
    Finish,
    FinishReason,
    ImagePart,
    Message,
    ModelInfo,
    Reasoning,
    ReasoningDelta,
    ReasoningEffort,
    ReasoningPart,
    ResponseFormat,
    Role,
    StreamEvent,
    TextDelta,
    TextPart,
    Tool,
    ToolCall,
    ToolCallEvent,
    ToolChoice,
    ToolChoiceMode,
    Usage,
    UsageEvent,
    make_converter,
)

CONV = make_converter()

# -- strategies for every data type ---------------------------------------------------------

texts = st.text(max_size=20)
finite = st.floats(allow_nan=False, allow_infinity=False)
counts = st.none() | st.integers(min_value=0, max_value=2**40)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**60), 2**60) | finite | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=10,
)
json_objects = st.dictionaries(texts, json_values, max_size=4)

signatures = st.none() | st.text(max_size=40)
text_parts = st.builds(TextPart, texts, signature=signatures)
reasoning_parts = st.builds(
    ReasoningPart,
    texts,
    signature=signatures,
    redacted=signatures,
    source=st.none() | st.sampled_from(["anthropic", "bedrock", "gemini"]),
)
document_parts = st.one_of(
    st.builds(lambda url: DocumentPart(url=url), st.just("https://x.example/a.pdf")),
    st.builds(
        lambda data, name: DocumentPart(data=data, media_type="application/pdf", name=name),
        st.binary(max_size=64),
        st.none() | texts,
    ),
)
image_parts = st.one_of(
    st.builds(
        lambda url: ImagePart(url=url), st.sampled_from(["https://x.example/a.png", "data:image/png;base64,AAAA"])
    ),
    st.builds(
        lambda data, mt: ImagePart(data=data, media_type=mt),
        st.binary(max_size=64),
        st.sampled_from(["image/png", "image/jpeg", "image/webp"]),
    ),
)
parts = st.lists(text_parts | image_parts | document_parts, max_size=3).map(tuple)
tool_calls = st.builds(ToolCall, id=texts, name=texts, arguments=json_objects, signature=signatures)
tools = st.builds(Tool, name=texts, description=texts, parameters=json_objects)
tool_choices = st.one_of(
    st.builds(ToolChoice, st.sampled_from([ToolChoiceMode.AUTO, ToolChoiceMode.NONE, ToolChoiceMode.REQUIRED])),
    st.builds(ToolChoice.function, texts),
)
response_formats = st.one_of(
    st.just(ResponseFormat()),
    st.just(ResponseFormat.json()),
    st.builds(ResponseFormat.json_schema, json_objects, name=texts, strict=st.booleans()),
)


@st.composite
def messages(draw: st.DrawFn) -> Message:
    role = draw(st.sampled_from(list(Role)))
    content = draw(parts)
    if role is Role.TOOL:
        return Message(role, content, tool_call_id=draw(texts.filter(bool)), name=draw(st.none() | texts))
    if role is not Role.ASSISTANT:
        return Message(role, content)
    calls = draw(st.lists(tool_calls, max_size=2))
    thinking = draw(st.lists(reasoning_parts, max_size=2))
    return Message(role, (*thinking, *content), tool_calls=tuple(calls))


options = st.builds(
    ChatOptions,
    temperature=st.none() | finite,
    top_p=st.none() | finite,
    max_tokens=counts,
    stop=st.lists(texts, max_size=3),
    seed=st.none() | st.integers(-(2**63), 2**63 - 1),
    tools=st.lists(tools, max_size=2),
    tool_choice=st.none() | tool_choices,
    response_format=st.none() | response_formats,
    timeout=st.none() | st.floats(min_value=0.001, max_value=3600),
    top_k=counts,
    reasoning=st.none()
    | st.builds(Reasoning, effort=st.none() | st.sampled_from(list(ReasoningEffort)), budget_tokens=counts),
    provider_options=st.dictionaries(texts, json_objects, max_size=2),
)
usages = st.builds(
    Usage,
    counts,
    counts,
    cache_read_tokens=counts,
    cache_write_tokens=counts,
    reasoning_tokens=counts,
    raw=json_objects,
)
finish_reasons = st.sampled_from(list(FinishReason))
requests = st.builds(ChatRequest, texts, st.lists(messages(), max_size=3), options)
responses = st.builds(
    ChatResponse,
    message=messages(),
    finish_reason=finish_reasons,
    finish_reason_raw=st.none() | texts,
    usage=usages,
    provider=texts,
    model=texts,
    request_id=st.none() | texts,
    metadata=json_objects,
)
model_infos = st.builds(
    ModelInfo,
    texts,
    st.frozensets(st.sampled_from(list(Capability))),
    context_length=counts,
    description=st.none() | texts,
    max_output_tokens=counts,
)
reasoning_deltas = st.builds(ReasoningDelta, texts, signature=signatures, redacted=signatures, source=st.none() | texts)
finishes = st.builds(Finish, finish_reasons, st.none() | texts, request_id=st.none() | texts)
events = st.one_of(
    st.builds(TextDelta, texts, signature=signatures),
    reasoning_deltas,
    st.builds(ToolCallEvent, tool_calls),
    st.builds(UsageEvent, usages),
    finishes,
)

ALL_TYPES: list[tuple[type[Any], st.SearchStrategy[Any]]] = [
    (TextPart, text_parts),
    (ImagePart, image_parts),
    (DocumentPart, document_parts),
    (ReasoningPart, reasoning_parts),
    (Tool, tools),
    (ToolCall, tool_calls),
    (ToolChoice, tool_choices),
    (Message, messages()),
    (ResponseFormat, response_formats),
    (ChatOptions, options),
    (ChatRequest, requests),
    (Usage, usages),
    (ChatResponse, responses),
    (ModelInfo, model_infos),
    (TextDelta, st.builds(TextDelta, texts, signature=signatures)),
    (ReasoningDelta, reasoning_deltas),
    (ToolCallEvent, st.builds(ToolCallEvent, tool_calls)),
    (UsageEvent, st.builds(UsageEvent, usages)),
    (Finish, finishes),
]


def through_json(data: Any) -> Any:
    """Plain JSON and back: fails on anything json cannot write (enums objects are fine, NaN is not)."""
    return json.loads(json.dumps(data, allow_nan=False))


@pytest.mark.parametrize(("cls", "values"), ALL_TYPES, ids=[c.__name__ for c, _ in ALL_TYPES])
@given(data=st.data())
def test_round_trip_through_json(cls: type[Any], values: st.SearchStrategy[Any], data: st.DataObject) -> None:
    """Every data type unstructures to plain JSON and structures back to an equal value."""
    value = data.draw(values)
    raw = CONV.unstructure(value, cls)
    assert CONV.structure(through_json(raw), cls) == value


@given(events)
def test_stream_events_are_tagged(event: StreamEvent) -> None:
    """As a StreamEvent, each event carries its 'type' tag and comes back as the same class."""
    raw = CONV.unstructure(event, StreamEvent)
    tags = {TextDelta: "text_delta", ReasoningDelta: "reasoning_delta", ToolCallEvent: "tool_call"}
    tags |= {UsageEvent: "usage", Finish: "finish"}
    assert raw["type"] == tags[type(event)]
    back = CONV.structure(through_json(raw), StreamEvent)
    assert type(back) is type(event)
    assert back == event


def test_wire_shapes() -> None:
    """Enums as values, bytes as base64, capabilities as a sorted list, content parts tagged."""
    message = Message.user([TextPart("look"), ImagePart(data=b"\x89PNG", media_type="image/png")])
    raw = CONV.unstructure(message)
    assert raw["role"] == "user"
    assert type(raw["role"]) is str
    assert raw["content"] == [
        {"type": "text", "text": "look"},
        {"type": "image", "data": "iVBORw==", "media_type": "image/png"},
    ]
    info = CONV.unstructure(ModelInfo("m", {Capability.VISION, Capability.CHAT}))
    assert info["capabilities"] == ["chat", "vision"]


@pytest.mark.parametrize(
    ("data", "cls"),
    [
        ({"text": "x", "surprise": 1}, TextPart),
        ({"type": "video", "url": "x"}, ContentPart),
        ({"type": "finish", "reason": "bored"}, StreamEvent),
        ({"url": None, "data": "not base64!", "media_type": "image/png"}, ImagePart),
        ({"url": None, "data": 42, "media_type": "image/png"}, ImagePart),
        ({"id": "1", "name": "f", "arguments": ["not", "an", "object"]}, ToolCall),
        ({"id": "m", "capabilities": ["telepathy"], "context_length": None, "description": None}, ModelInfo),
        ({"role": "tool", "content": [], "tool_calls": [], "tool_call_id": None, "name": None}, Message),
        ({"role": "user", "content": [{"type": "reasoning", "text": "mine"}]}, Message),
        ({"ollama": {"think": True}}, ChatOptions),
    ],
)
def test_bad_data_is_rejected(data: Any, cls: Any) -> None:
    """Extra keys, unknown tags, bad base64, non-object arguments, unknown enums and broken invariants raise."""
    with pytest.raises((cattrs.BaseValidationError, ValueError, TypeError, KeyError)):
        CONV.structure(data, cls)


def test_converters_are_independent() -> None:
    """Each make_converter() is its own: a hook added to one changes neither another nor cattrs' global one."""
    first, second = make_converter(), make_converter()
    first.register_unstructure_hook(TextPart, lambda p: "patched")
    assert first.unstructure(TextPart("x")) == "patched"
    assert second.unstructure(TextPart("x")) == {"text": "x"}
    assert cattrs.unstructure(TextPart("x")) == {"text": "x", "signature": None}


@pytest.mark.parametrize("timeout", [0, -1, float("nan"), float("inf"), "5"])
def test_nonsense_timeouts_are_refused(timeout: Any) -> None:
    """ChatOptions.timeout must be seconds > 0: NaN would never expire, 0 would fail every call."""
    with pytest.raises(ValueError, match="timeout is seconds > 0"):
        ChatOptions(timeout=timeout)


def test_sensible_timeouts_are_kept() -> None:
    """A positive timeout, int or float, and None are accepted as given."""
    assert ChatOptions(timeout=2).timeout == 2
    assert ChatOptions(timeout=0.25).timeout == 0.25
    assert ChatOptions().timeout is None


# Any text a backend may put in a signature or redacted block: every code point, control characters,
# long base64-like runs; the converter must hand each back byte for byte.
opaque = st.text(st.characters(codec="utf-8"), max_size=200)


@given(
    thinking=st.lists(
        st.builds(
            ReasoningPart,
            st.text(max_size=50),
            signature=st.none() | opaque,
            redacted=st.none() | opaque,
            source=st.sampled_from(["anthropic", "bedrock", "gemini"]),
        ),
        min_size=1,
        max_size=4,
    ),
    call_signature=st.none() | opaque,
)
def test_thinking_blocks_with_signatures_round_trip(thinking: list[ReasoningPart], call_signature: str | None) -> None:
    """Thinking blocks keep text, signature, redacted data and source through JSON, in order, unchanged."""
    call = ToolCall("toolu_1", "lookup", {"q": "x"}, signature=call_signature)
    message = Message.assistant([*thinking, "done"], tool_calls=[call])
    text = json.dumps(CONV.unstructure(message), ensure_ascii=False)
    back = CONV.structure(json.loads(text), Message)
    assert back == message
    assert [p for p in back.content if isinstance(p, ReasoningPart)] == thinking
    assert back.tool_calls[0].signature == call_signature


def test_defaults_are_left_out() -> None:
    """A plain text message saved as JSON carries no null fields."""
    assert CONV.unstructure(Message.user("hi")) == {"role": "user", "content": [{"type": "text", "text": "hi"}]}
