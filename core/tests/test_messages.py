"""Messages given as dicts: clawdesk's own JSON shape round-trips, OpenAI's shape converts, bad input names its path."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clawdesk import (
    DocumentPart,
    ImagePart,
    Message,
    ReasoningPart,
    Role,
    TextPart,
    ToolCall,
    make_converter,
)
from clawdesk._messages import message_from_dict
from clawdesk._stream import as_messages

CONV = make_converter()
texts = st.text(max_size=30)
json_scalars = st.none() | st.booleans() | st.integers(-(2**31), 2**31) | texts
json_objects = st.dictionaries(texts, json_scalars, max_size=3)
signatures = st.none() | st.text(min_size=1, max_size=20)

text_parts = st.builds(TextPart, texts, signature=signatures)
image_parts = st.one_of(
    st.builds(lambda u: ImagePart(url=u), st.sampled_from(["https://x.example/a.png", "data:image/png;base64,AAAA"])),
    st.builds(lambda d: ImagePart(data=d, media_type="image/png"), st.binary(max_size=32)),
)
document_parts = st.builds(
    lambda d, n: DocumentPart(data=d, media_type="application/pdf", name=n), st.binary(max_size=32), st.none() | texts
)
reasoning_parts = st.builds(ReasoningPart, texts, signature=signatures, redacted=signatures, source=st.none() | texts)
calls = st.builds(ToolCall, st.text(min_size=1, max_size=10), st.text(min_size=1, max_size=10), json_objects)


@st.composite
def messages(draw: st.DrawFn) -> Message:
    role = draw(st.sampled_from(list(Role)))
    content = tuple(draw(st.lists(text_parts | image_parts | document_parts, max_size=3)))
    if role is Role.TOOL:
        return Message(role, content, tool_call_id=draw(st.text(min_size=1, max_size=10)), name=draw(st.none() | texts))
    if role is not Role.ASSISTANT:
        return Message(role, content)
    thinking = tuple(draw(st.lists(reasoning_parts, max_size=2)))
    return Message(role, (*thinking, *content), tool_calls=tuple(draw(st.lists(calls, max_size=2))))


@given(message=messages())
def test_clawdesk_json_shape_round_trips(message: Message) -> None:
    """Any Message written by the converter (and through JSON text) comes back equal from a dict."""
    data = json.loads(json.dumps(CONV.unstructure(message)))
    assert message_from_dict(data) == message


@st.composite
def openai_messages(draw: st.DrawFn) -> tuple[dict[str, Any], Message]:
    """An OpenAI-style message dict and the Message it must become."""
    role = draw(st.sampled_from(["system", "developer", "user", "assistant", "tool"]))
    text = draw(st.text(min_size=1, max_size=20))
    if role in ("system", "developer"):
        return {"role": role, "content": text}, Message.system(text)
    if role == "tool":
        call_id = draw(st.text(min_size=1, max_size=10))
        return {"role": "tool", "tool_call_id": call_id, "content": text}, Message.tool_result(call_id, text)
    if role == "user":
        url = draw(st.sampled_from(["https://x.example/cat.jpg", "data:image/jpeg;base64,/9j/"]))
        pdf = draw(st.binary(min_size=1, max_size=16))
        parts: list[Any] = [{"type": "text", "text": text}]
        expected: list[Any] = [TextPart(text)]
        if draw(st.booleans()):
            parts.append({"type": "image_url", "image_url": {"url": url, "detail": "auto"}})
            expected.append(ImagePart(url=url))
        if draw(st.booleans()):
            file_data = "data:application/pdf;base64," + base64.b64encode(pdf).decode()
            parts.append({"type": "file", "file": {"file_data": file_data, "filename": "a.pdf"}})
            expected.append(DocumentPart(data=pdf, media_type="application/pdf", name="a.pdf"))
        return {"role": "user", "content": parts}, Message.user(expected)
    tool_calls = draw(st.lists(calls, max_size=2))
    wire_calls = [
        {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": json.dumps(dict(c.arguments))}}
        for c in tool_calls
    ]
    content = None if tool_calls and draw(st.booleans()) else text
    data: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
    if wire_calls:
        data["tool_calls"] = wire_calls
    return data, Message.assistant(content or "", tool_calls=tool_calls)


@given(pair=openai_messages())
def test_openai_shape_converts(pair: tuple[dict[str, Any], Message]) -> None:
    """OpenAI's message dicts (text, image_url, file, tool calls with JSON-string arguments) become the same Message."""
    data, expected = pair
    assert message_from_dict(data) == expected


@st.composite
def corrupted(draw: st.DrawFn) -> Any:
    """A valid message dict with one value replaced by something of another type."""
    data, _ = draw(openai_messages())
    data = json.loads(json.dumps(data))
    paths: list[list[Any]] = []

    def walk(node: Any, path: list[Any]) -> None:
        paths.append(path)
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, [*path, key])
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, [*path, index])

    walk(data, [])
    path = draw(st.sampled_from(paths[1:])) if len(paths) > 1 else []
    junk = draw(st.sampled_from([42, 1.5, [], {"x": 1}, True]))
    if not path:
        return junk
    node = data
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = junk
    return data


@given(data=corrupted())
def test_bad_dicts_raise_a_value_or_type_error_with_the_path(data: Any) -> None:
    """Whatever is broken, the error is ValueError or TypeError (never another) and starts with the key path."""
    try:
        as_messages([data])
    except (ValueError, TypeError) as exc:
        message = str(exc)
    else:
        return  # some replacements are still valid (a list for empty content, an object for arguments, ...)
    assert message.startswith("messages[0]"), message


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"role": "user", "content": [{"type": "file", "file": {"file_id": "file-abc"}}]}, "content[0].file.file_id"),
        ({"role": "user", "content": [{"type": "file", "file": {"file_data": "not a data url"}}]}, "base64 data: URL"),
        ({"role": "assistant", "function_call": {"name": "f"}}, "deprecated function_call"),
        ({"role": "assistant", "tool_calls": [{"id": "1", "function": {"name": "f", "arguments": "{"}}]}, "not valid"),
        ({"role": "assistant", "tool_calls": [{"id": "1", "function": {"name": "f", "arguments": "[1]"}}]}, "object"),
        ({"content": "hi"}, "role: missing"),
        ({"role": "user", "content": 42}, "expected a string or an array"),
        ({"role": "user", "content": [{"type": "image", "url": "https://x", "data": "AAAA"}]}, "exactly one of"),
    ],
)
def test_specific_refusals(data: Any, error: str) -> None:
    """What a Message cannot hold is refused with a reason, never dropped."""
    with pytest.raises(ValueError, match=error.replace("[", r"\[").replace("]", r"\]")):
        message_from_dict(data, "messages[0]")


def test_reasoning_content_becomes_a_reasoning_part() -> None:
    """`reasoning_content` (OpenAI-compatible servers) comes first, as unsigned reasoning."""
    message = message_from_dict({"role": "assistant", "content": "42", "reasoning_content": "6 x 7"})
    assert message.content == (ReasoningPart("6 x 7"), TextPart("42"))


def test_as_messages_mixes_objects_and_dicts() -> None:
    """A list may mix Message objects and dicts; one dict alone is one message; an empty list is an error."""
    mixed = as_messages([Message.system("s"), {"role": "user", "content": "u"}])
    assert mixed == (Message.system("s"), Message.user("u"))
    assert as_messages({"role": "user", "content": "u"}) == (Message.user("u"),)
    with pytest.raises(ValueError, match="must not be empty"):
        as_messages([])
    with pytest.raises(TypeError, match=r"messages\[1\]: expected a Message or a dict"):
        as_messages([Message.user("x"), 42])  # type: ignore[list-item]
