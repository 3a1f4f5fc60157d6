"""The request encoder in every dialect: what each server is sent, and what is refused before sending."""

from __future__ import annotations

import base64
import json
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clawdesk import (
    Capability,
    CapabilityMissing,
    ChatOptions,
    ChatRequest,
    DocumentPart,
    ImagePart,
    InvalidRequest,
    Message,
    Reasoning,
    ReasoningPart,
    ResponseFormat,
    Role,
    TextPart,
    Tool,
    ToolCall,
    ToolChoice,
    ToolChoiceMode,
)
from clawdesk.provider import encode_json
from clawdesk.testing.strategies import chat_requests
from clawdesk_openai_compat import DIALECTS, Dialect, encode_chat

OPENAI = DIALECTS["openai"]
GENERIC = DIALECTS["openai-compatible"]
PDF = b"%PDF-1.7 tiny"


def encode(*messages: Message, dialect: Dialect = GENERIC, stream: bool = False, **options: Any) -> dict[str, Any]:
    request = ChatRequest("m-1", messages or (Message.user("hi"),), ChatOptions(**options))
    return encode_chat(request, dialect=dialect, provider="acme", stream=stream)


@pytest.mark.parametrize(
    ("name", "field"),
    [(name, d.max_tokens_field) for name, d in DIALECTS.items()],
)
def test_max_tokens_goes_where_each_server_reads_it(name: str, field: str) -> None:
    """OpenAI and Groq read max_completion_tokens (OpenAI refuses max_tokens on reasoning models); others max_tokens."""
    body = encode(dialect=DIALECTS[name], max_tokens=64)
    assert body[field] == 64
    other = {"max_tokens", "max_completion_tokens"} - {field}
    assert not other & set(body)
    assert (field == "max_completion_tokens") == (name in ("openai", "groq"))


def test_stream_options_only_where_the_dialect_asks_for_usage() -> None:
    """include_usage is asked for in streams of dialects that take it, never in a whole answer."""
    assert encode(stream=True)["stream_options"] == {"include_usage": True}
    assert "stream_options" not in encode(stream=False)
    quiet = attrs.evolve(GENERIC, stream_usage=False)
    assert "stream_options" not in encode(dialect=quiet, stream=True)


def test_top_k_is_sent_where_taken_and_refused_elsewhere() -> None:
    """vLLM, llama.cpp, LM Studio, Together and OpenRouter take top_k; OpenAI refuses it (another provider may not)."""
    assert encode(dialect=DIALECTS["vllm"], top_k=40)["top_k"] == 40
    with pytest.raises(CapabilityMissing) as info:
        encode(dialect=OPENAI, top_k=40)
    assert info.value.option == "top_k"


@pytest.mark.parametrize(
    ("reasoning", "effort"),
    [
        (Reasoning(), "medium"),
        (Reasoning(effort="low"), "low"),
        (Reasoning(effort="max"), "max"),
        (Reasoning(effort="none"), "none"),
        (Reasoning(budget_tokens=0), "none"),
    ],
)
def test_reasoning_as_reasoning_effort(reasoning: Reasoning, effort: str) -> None:
    """The effort dialect sends the effort as is, Reasoning() as medium, off as "none"."""
    assert encode(dialect=OPENAI, reasoning=reasoning)["reasoning_effort"] == effort


def test_reasoning_budget_refused_by_effort_dialects_and_sent_to_openrouter() -> None:
    """OpenAI has no reasoning budget (CapabilityMissing); OpenRouter's reasoning object takes one."""
    with pytest.raises(CapabilityMissing) as info:
        encode(dialect=OPENAI, reasoning=Reasoning(budget_tokens=2048))
    assert info.value.option == "reasoning.budget_tokens"
    router = DIALECTS["openrouter"]
    assert encode(dialect=router, reasoning=Reasoning(budget_tokens=2048))["reasoning"] == {"max_tokens": 2048}
    assert encode(dialect=router, reasoning=Reasoning(effort="high"))["reasoning"] == {"effort": "high"}
    assert encode(dialect=router, reasoning=Reasoning())["reasoning"] == {"enabled": True}
    assert encode(dialect=router, reasoning=Reasoning(effort="none"))["reasoning"] == {"enabled": False}


@pytest.mark.parametrize("name", [n for n, d in DIALECTS.items() if d.reasoning == "none"])
def test_reasoning_refused_where_there_is_no_setting(name: str) -> None:
    """A server with no reasoning setting refuses any reasoning option before sending (CapabilityMissing)."""
    with pytest.raises(CapabilityMissing) as info:
        encode(dialect=DIALECTS[name], reasoning=Reasoning(effort="low"))
    assert info.value.option == "reasoning"


def test_json_object_native_or_as_a_schema() -> None:
    """json_object as is; for llama.cpp (which does not enforce json_object) a schema of any object."""
    assert encode(response_format=ResponseFormat.json())["response_format"] == {"type": "json_object"}
    sent = encode(dialect=DIALECTS["llama.cpp"], response_format=ResponseFormat.json())["response_format"]
    assert sent == {"type": "json_schema", "json_schema": {"name": "json_object", "schema": {"type": "object"}}}


def test_strict_json_schema() -> None:
    """A JSON schema goes with its name and strict flag."""
    schema = {
        "type": "object",
        "properties": {"a": {"type": "integer"}},
        "required": ["a"],
        "additionalProperties": False,
    }
    sent = encode(response_format=ResponseFormat.json_schema(schema, name="answer"))["response_format"]
    assert sent == {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, "strict": True}}


@pytest.mark.parametrize(
    ("choice", "sent"),
    [
        (ToolChoice(), "auto"),
        (ToolChoice(ToolChoiceMode.NONE), "none"),
        (ToolChoice(ToolChoiceMode.REQUIRED), "required"),
        (ToolChoice.function("f"), {"type": "function", "function": {"name": "f"}}),
    ],
)
def test_every_tool_choice_mode(choice: ToolChoice, sent: Any) -> None:
    """Each tool_choice mode has its wire value; tools go as functions with their schema."""
    body = encode(tools=[Tool("f", "does f", {"type": "object"})], tool_choice=choice)
    assert body["tool_choice"] == sent
    assert body["tools"] == [
        {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}, "description": "does f"}}
    ]


def test_images_by_url_and_inline_in_user_turns() -> None:
    """Images go as image_url parts: a URL as is, inline bytes as a data: URL."""
    png = b"\x89PNG\r\n"
    body = encode(Message.user(["look", ImagePart(url="https://x/a.png"), ImagePart(data=png, media_type="image/png")]))
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "look"},
        {"type": "image_url", "image_url": {"url": "https://x/a.png"}},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + base64.b64encode(png).decode()}},
    ]


def test_images_outside_user_turns_are_refused_unless_the_dialect_takes_them() -> None:
    """OpenAI takes images only from users: in a tool result they are CapabilityMissing (vision) before sending."""
    result = Message.tool_result("c1", [ImagePart(url="https://x/a.png")])
    with pytest.raises(CapabilityMissing) as info:
        encode(Message.user("q"), Message.assistant(tool_calls=[ToolCall("c1", "f")]), result, dialect=OPENAI)
    assert info.value.capability is Capability.VISION
    with pytest.raises(InvalidRequest, match="system message cannot hold images"):
        encode(Message(Role.SYSTEM, [ImagePart(url="https://x/a.png")]))


def test_documents_as_file_parts_where_taken() -> None:
    """OpenAI reads inline PDFs as file parts; a document URL, or a server without documents, is CapabilityMissing."""
    body = encode(
        Message.user(["read", DocumentPart(data=PDF, media_type="application/pdf", name="a.pdf")]), dialect=OPENAI
    )
    part = body["messages"][0]["content"][1]
    assert part == {
        "type": "file",
        "file": {"file_data": "data:application/pdf;base64," + base64.b64encode(PDF).decode(), "filename": "a.pdf"},
    }
    for dialect, document in (
        (OPENAI, DocumentPart(url="https://x/a.pdf")),
        (GENERIC, DocumentPart(data=PDF, media_type="application/pdf")),
    ):
        with pytest.raises(CapabilityMissing) as info:
            encode(Message.user(["read", document]), dialect=dialect)
        assert info.value.capability is Capability.DOCUMENTS


def test_reasoning_parts_are_left_out_and_tool_result_names_too() -> None:
    """The wire has no place for earlier reasoning (left out) nor for a tool result's name (the id says it)."""
    history = [
        Message.user("q"),
        Message(
            Role.ASSISTANT,
            [ReasoningPart("because", signature="sig", source="other"), TextPart("a")],
            tool_calls=[ToolCall("c1", "f", {"x": 1})],
        ),
        Message.tool_result("c1", "r", name="f"),
    ]
    body = encode(*history, dialect=OPENAI)
    assert body["messages"][1] == {
        "role": "assistant",
        "content": "a",
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"x":1}'}}],
    }
    assert body["messages"][2] == {"role": "tool", "tool_call_id": "c1", "content": "r"}


def test_names_of_participants_are_sent() -> None:
    """A user's or assistant's name goes in the message's name field."""
    body = encode(Message(Role.USER, "hi", name="alice"))
    assert body["messages"][0] == {"role": "user", "content": "hi", "name": "alice"}


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("file:///etc/passwd", r"takes http\(s\) and data: image URLs, not 'file'"),
        ("data:image/png;base64", "no comma"),
        ("data:text/plain,hello", "'text/plain' is not an image type"),
        ("data:,hello", "'' is not an image type"),
    ],
)
def test_broken_image_urls_are_refused(url: str, match: str) -> None:
    """An image URL of another scheme, or a data: URL that is broken or holds no image, is InvalidRequest."""
    with pytest.raises(InvalidRequest, match=match):
        encode(Message.user(["look", ImagePart(url=url)]))
    assert encode(Message.user([ImagePart(url="data:image/png;base64,iVBORw0KGgo=")]))["messages"][0]["content"]


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"temperature": 2.5}, r"temperature: OpenAI accepts 0 to 2"),
        ({"temperature": float("nan")}, r"temperature: expected a number"),
        ({"top_p": 1.2}, r"top_p"),
        ({"max_tokens": -1}, r"max_tokens"),
        ({"tools": [Tool("bad name")]}, r"tools\[0\]\.name"),
        ({"tools": [Tool("f"), Tool("f")]}, r"given twice"),
        ({"tool_choice": ToolChoice.function("g"), "tools": [Tool("f")]}, r"'g' is not in options\.tools"),
        ({"tool_choice": ToolChoice(ToolChoiceMode.REQUIRED)}, r"'required' needs options\.tools"),
    ],
)
def test_invalid_for_anyone_is_refused(options: dict[str, Any], match: str) -> None:
    """What no server could take is InvalidRequest naming the option, before sending."""
    with pytest.raises(InvalidRequest, match=match):
        encode(dialect=OPENAI, **options)


def test_too_many_stop_sequences_for_openai_is_capability_missing() -> None:
    """OpenAI takes at most 4 stop sequences: five are refused (another provider may take them)."""
    assert encode(dialect=OPENAI, stop=["a", "b", "c", "d"])["stop"] == ["a", "b", "c", "d"]
    with pytest.raises(CapabilityMissing) as info:
        encode(dialect=OPENAI, stop=["a", "b", "c", "d", "e"])
    assert info.value.option == "stop"


@settings(max_examples=300)
@given(request=chat_requests(model="m-1"), name=st.sampled_from(sorted(DIALECTS)), stream=st.booleans())
def test_every_request_shape_encodes_or_is_refused(request: ChatRequest, name: str, stream: bool) -> None:
    """In every dialect, whatever shape the types allow encodes to JSON or is refused (InvalidRequest or
    CapabilityMissing naming the provider) before sending; never any other exception, never a dropped part."""
    dialect = DIALECTS[name]
    try:
        body = json.loads(
            encode_json(encode_chat(request, dialect=dialect, provider="acme", stream=stream), provider="acme")
        )
    except (InvalidRequest, CapabilityMissing) as exc:
        refused: InvalidRequest | CapabilityMissing = exc
        assert refused.provider == "acme"
        return
    assert body["model"] == "m-1"
    assert len(body["messages"]) == len(request.messages)
    for message, sent in zip(request.messages, body["messages"], strict=True):
        content = sent.get("content", "")
        text = content if isinstance(content, str) else "".join(p.get("text", "") for p in content)
        assert text == message.text  # every text part, and nothing else, reached the body
        images = 0 if isinstance(content, str) else sum(p["type"] == "image_url" for p in content)
        assert images == sum(type(p) is ImagePart for p in message.content)
