"""Hypothesis strategies for every message and request shape clawdesk's types allow (needs hypothesis).

For a provider's encoder property: whatever the caller builds, encoding it
either works or raises :class:`~clawdesk.InvalidRequest` /
:class:`~clawdesk.CapabilityMissing` before anything is sent, never anything
else::

    from hypothesis import given
    from clawdesk.testing.strategies import chat_requests

    @given(chat_requests(model="acme-chat"))
    def test_encoder_never_crashes(request):
        try:
            encode_json(encode_chat(request), provider="acme")
        except (InvalidRequest, CapabilityMissing):
            pass

The shapes go beyond what a well-behaved caller sends: empty and odd text,
signed and redacted reasoning from other providers, images and documents by
URL of any scheme or inline with any media type, tool calls whose arguments
JSON cannot carry (NaN, sets), names on every role, options at and past
their limits.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from .._types import (
    ChatOptions,
    ChatRequest,
    DocumentPart,
    ImagePart,
    Message,
    Reasoning,
    ReasoningEffort,
    ReasoningPart,
    ResponseFormat,
    Role,
    TextPart,
    Tool,
    ToolCall,
    ToolChoice,
    ToolChoiceMode,
)

__all__ = ["chat_options", "chat_requests", "content_parts", "messages"]

_text = st.text(max_size=12)
_name = st.one_of(st.from_regex(r"[A-Za-z0-9_-]{1,10}", fullmatch=True), _text)
_media = st.sampled_from(["image/png", "image/jpeg", "application/pdf", "text/plain", "", "x/y"])
_url = st.one_of(
    st.sampled_from(["https://x.example/a.png", "http://x/b.pdf", "file:///etc/passwd", "ftp://x/y", "", "nope"]),
    st.builds(lambda payload: f"data:image/png;base64,{payload}", st.sampled_from(["iVBORw0KGgo=", "%%%", ""])),
    st.sampled_from(["data:text/plain,hello%20there", "data:", "data:image/png;base64"]),
)
_json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    _text,
    st.just({1, 2}),  # not JSON: the encoder must refuse it, not crash
)
_json = st.recursive(
    _json_leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=6,
)
_signature = st.none() | _text


@st.composite
def _image(draw: st.DrawFn) -> ImagePart:
    if draw(st.booleans()):
        return ImagePart(url=draw(_url), media_type=draw(st.none() | _media))
    return ImagePart(data=draw(st.binary(max_size=8)), media_type=draw(_media.filter(bool)))


@st.composite
def _document(draw: st.DrawFn) -> DocumentPart:
    name = draw(st.none() | _text)
    if draw(st.booleans()):
        return DocumentPart(url=draw(_url), media_type=draw(st.none() | _media), name=name)
    return DocumentPart(data=draw(st.binary(max_size=8)), media_type=draw(_media.filter(bool)), name=name)


_reasoning_part = st.builds(
    ReasoningPart,
    _text,
    signature=_signature,
    redacted=st.none() | _text,
    # Another plugin's name, or none: no backend takes another's signatures.
    source=st.sampled_from([None, "some-plugin", "other-plugin"]),
)


def content_parts(*, reasoning: bool) -> st.SearchStrategy[Any]:
    """Any content part (``reasoning``: reasoning parts too, which only assistant turns may hold); strings too."""
    parts = [st.builds(TextPart, _text, signature=_signature), _image(), _document(), _text]
    if reasoning:
        parts.append(_reasoning_part)
    return st.one_of(*parts)


_call = st.builds(ToolCall, _text, _name, st.dictionaries(_text, _json, max_size=3), signature=_signature)


@st.composite
def messages(draw: st.DrawFn) -> Message:
    """Any message the types accept, of any role."""
    role = draw(st.sampled_from(list(Role)))
    content = draw(st.one_of(_text, st.lists(content_parts(reasoning=role is Role.ASSISTANT), max_size=4)))
    name = draw(st.none() | _name)
    if role is Role.TOOL:
        return Message(role, content, tool_call_id=draw(_text.filter(bool)), name=name)
    calls = draw(st.lists(_call, max_size=2)) if role is Role.ASSISTANT else []
    return Message(role, content, tool_calls=calls, name=name)


_number = st.none() | st.floats(allow_nan=True, allow_infinity=True) | st.integers(-5, 5)


@st.composite
def chat_options(draw: st.DrawFn) -> ChatOptions:
    """Any options the types accept, limits and beyond (a backend refuses what it cannot take)."""
    tools = draw(st.lists(st.builds(Tool, _name, _text, st.dictionaries(_text, _json, max_size=2)), max_size=3))
    modes = [None, ToolChoice(), ToolChoice(ToolChoiceMode.NONE), ToolChoice(ToolChoiceMode.REQUIRED)]
    choice = draw(st.sampled_from([*modes, ToolChoice.function(draw(_name))]))
    fmt = draw(
        st.sampled_from(
            [None, ResponseFormat(), ResponseFormat.json(), ResponseFormat.json_schema({"type": "object"}, name="r")]
        )
    )
    reasoning = draw(
        st.none()
        | st.builds(
            Reasoning,
            effort=st.none() | st.sampled_from(list(ReasoningEffort)),
            budget_tokens=st.none() | st.integers(0, 4096),
        )
    )
    seed = draw(st.none() | st.integers(-10, 2**40))
    max_tokens = draw(st.none() | st.integers(-10, 10**6))
    return ChatOptions(
        temperature=draw(_number),
        top_p=draw(_number),
        top_k=draw(st.none() | st.integers(-5, 100)),
        max_tokens=max_tokens,
        stop=draw(st.lists(_text, max_size=3)),
        seed=seed,
        tools=tools,
        tool_choice=choice,
        response_format=fmt,
        reasoning=reasoning,
    )


@st.composite
def chat_requests(draw: st.DrawFn, *, model: str = "model") -> ChatRequest:
    """A request of any shape: one to five :func:`messages` and any :func:`chat_options`."""
    return ChatRequest(model, draw(st.lists(messages(), min_size=1, max_size=5)), draw(chat_options()))
