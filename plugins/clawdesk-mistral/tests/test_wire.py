"""Request encoding and answer decoding, without a network: options, messages, refusals, round trips."""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clawdesk import (
    ApiError,
    ChatOptions,
    ChatRequest,
    ImagePart,
    InvalidRequest,
    Message,
    ResponseFormat,
    ResponseFormatKind,
    Role,
    TextPart,
    Tool,
    ToolCall,
    ToolChoice,
    ToolChoiceMode,
)
from clawdesk_mistral._wire import EXTRA_FIELDS, ToolCallAccumulator, encode_chat


def _req(*messages: Message, **options: Any) -> ChatRequest:
    return ChatRequest("mistral-small-latest", messages or (Message.user("hi"),), ChatOptions(**options))


# -- refusals ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "match"),
    [
        (_req(extra={"num_ctx": 1}), r"extra\.num_ctx: Mistral has no such setting"),
        (_req(extra={"seed": 1}), r"use ChatOptions\.seed"),
        (_req(extra={"stream": True}), r"extra\.stream"),
        (_req(extra={"n": 2}), r"extra\.n: clawdesk returns one answer"),
        (_req(extra={"safe_prompt": "yes"}), r"safe_prompt: expected true or false"),
        (_req(extra={"reasoning_effort": "medium"}), r"reasoning_effort: expected one of"),
        (_req(extra={"presence_penalty": 3}), r"presence_penalty"),
        (_req(temperature=1.6), r"temperature: Mistral accepts 0 to 1.5"),
        (_req(temperature=float("nan")), r"temperature: expected a number"),
        (_req(top_p=1.5), r"top_p"),
        (_req(max_tokens=-1), r"max_tokens"),
        (_req(seed=-5), r"seed"),
        (_req(tools=[Tool("bad name!")]), r"tools\[0\]\.name"),
        (_req(tools=[Tool("f"), Tool("f")]), r"given twice"),
        (_req(tool_choice=ToolChoice.function("g"), tools=[Tool("f")]), r"'g' is not in options\.tools"),
        (_req(tool_choice=ToolChoice(ToolChoiceMode.REQUIRED)), r"'required' needs options\.tools"),
        (
            _req(Message(Role.SYSTEM, [ImagePart(url="https://x/y.png")])),
            r"messages\[0\]: a system message cannot hold images",
        ),
        (_req(Message.user([ImagePart(url="file:///etc/passwd")])), r"http\(s\) and data: image URLs"),
        (_req(Message.user([ImagePart(data=b"x", media_type="text/plain")])), r"not an image type"),
        (_req(Message(Role.USER, "x", name="bob")), r"no name field for user"),
        (_req(Message(Role.USER, "x", reasoning="r")), r"only assistant messages carry reasoning"),
        (_req(Message(Role.ASSISTANT, "")), r"needs text or tool calls"),
        (_req(tools=[Tool("f", parameters={"x": {1, 2}})]), None),
    ],
)
def test_refused_before_sending(request_: ChatRequest, match: str | None) -> None:
    """What Mistral cannot take exactly is InvalidRequest naming the option (JSON-incapable values at send time)."""
    if match is None:
        # A set is not JSON: encode_chat keeps it, the plugin's serialiser refuses it.
        from clawdesk_mistral._api import _body

        with pytest.raises(InvalidRequest, match="JSON cannot carry"):
            _body(request_, stream=False)
        return
    with pytest.raises(InvalidRequest, match=match):
        encode_chat(request_, stream=False)


def test_legit_extras_are_sent(request_validator: jsonschema.protocols.Validator) -> None:
    """Every accepted extra is a real ChatCompletionRequest field and passes the schema."""
    extras = {
        "safe_prompt": True,
        "parallel_tool_calls": False,
        "presence_penalty": 0.5,
        "frequency_penalty": -1,
        "reasoning_effort": "high",
        "prompt_mode": "reasoning",
        "prompt_cache_key": "conv-1",
        "metadata": {"team": "a"},
        "prediction": "expected text",
    }
    assert set(extras) == set(EXTRA_FIELDS)
    body = encode_chat(_req(extra=extras), stream=False)
    for key in extras:
        assert key in body
    assert body["prediction"] == {"type": "content", "content": "expected text"}
    assert not list(request_validator.iter_errors(body))


def test_schema_fixture_rejects_unknown_fields(request_validator: jsonschema.protocols.Validator) -> None:
    """The schema check is real: unknown top-level and nested fields fail it."""
    body = encode_chat(_req(), stream=True)
    assert not list(request_validator.iter_errors(body))
    assert list(request_validator.iter_errors({**body, "seed": 1}))
    assert list(request_validator.iter_errors({**body, "messages": [{"role": "user", "content": "x", "name": "n"}]}))


def test_tool_choice_encodings() -> None:
    """auto/none/required map to Mistral's strings, a named function to its object; without tools auto is omitted."""
    tools = [Tool("f")]
    assert encode_chat(_req(tools=tools, tool_choice=ToolChoice()), stream=False)["tool_choice"] == "auto"
    assert (
        encode_chat(_req(tools=tools, tool_choice=ToolChoice(ToolChoiceMode.NONE)), stream=False)["tool_choice"]
        == "none"
    )
    assert (
        encode_chat(_req(tools=tools, tool_choice=ToolChoice(ToolChoiceMode.REQUIRED)), stream=False)["tool_choice"]
        == "required"
    )
    assert encode_chat(_req(tools=tools, tool_choice=ToolChoice.function("f")), stream=False)["tool_choice"] == {
        "type": "function",
        "function": {"name": "f"},
    }
    assert "tool_choice" not in encode_chat(_req(tool_choice=ToolChoice()), stream=False)


def test_assistant_reasoning_sent_as_thinking_chunk() -> None:
    """An assistant turn's reasoning goes back as a thinking chunk before its text."""
    body = encode_chat(_req(Message.user("q"), Message(Role.ASSISTANT, "a", reasoning="because")), stream=False)
    assert body["messages"][1]["content"] == [
        {"type": "thinking", "thinking": [{"type": "text", "text": "because"}]},
        {"type": "text", "text": "a"},
    ]


# -- round trip -----------------------------------------------------------------------------
# A decoder of Mistral request bodies, the inverse of encode_chat where Mistral can express things.


def _decode_content(content: Any) -> tuple[list[TextPart | ImagePart], str | None]:
    if isinstance(content, str):
        return ([TextPart(content)] if content else []), None
    parts: list[TextPart | ImagePart] = []
    reasoning = None
    for chunk in content or []:
        if chunk["type"] == "text":
            parts.append(TextPart(chunk["text"]))
        elif chunk["type"] == "thinking":
            reasoning = "".join(t["text"] for t in chunk["thinking"])
        else:
            url = chunk["image_url"] if isinstance(chunk["image_url"], str) else chunk["image_url"]["url"]
            parts.append(ImagePart(url=url))
    return parts, reasoning


def decode_request(body: Mapping[str, Any]) -> ChatRequest:
    messages = []
    for m in body["messages"]:
        parts, reasoning = _decode_content(m.get("content"))
        calls = tuple(
            ToolCall(c["id"], c["function"]["name"], json.loads(c["function"]["arguments"]))
            for c in m.get("tool_calls") or ()
        )
        messages.append(
            Message(
                m["role"],
                parts,
                tool_calls=calls,
                tool_call_id=m.get("tool_call_id"),
                name=m.get("name"),
                reasoning=reasoning,
            )
        )
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        tool_choice: ToolChoice | None = ToolChoice.function(choice["function"]["name"])
    elif choice is not None:
        tool_choice = ToolChoice(ToolChoiceMode(choice))
    else:
        tool_choice = None
    fmt = body.get("response_format")
    response_format = None
    if fmt is not None:
        if fmt["type"] == "text":
            response_format = ResponseFormat()
        elif fmt["type"] == "json_object":
            response_format = ResponseFormat.json()
        else:
            js = fmt["json_schema"]
            response_format = ResponseFormat.json_schema(js["schema"], name=js["name"], strict=js["strict"])
    known = {
        "model",
        "messages",
        "stream",
        "temperature",
        "top_p",
        "max_tokens",
        "stop",
        "random_seed",
        "tools",
        "tool_choice",
        "response_format",
    }
    options = ChatOptions(
        temperature=body.get("temperature"),
        top_p=body.get("top_p"),
        max_tokens=body.get("max_tokens"),
        stop=body.get("stop"),
        seed=body.get("random_seed"),
        tools=[
            Tool(t["function"]["name"], t["function"].get("description", ""), t["function"]["parameters"])
            for t in body.get("tools") or ()
        ],
        tool_choice=tool_choice,
        response_format=response_format,
        extra={k: v for k, v in body.items() if k not in known},
    )
    return ChatRequest(body["model"], messages, options)


def _normalise(request: ChatRequest) -> ChatRequest:
    """What Mistral can express of a request: inline images as data URLs, auto/none without tools dropped."""

    def part(p: TextPart | ImagePart) -> TextPart | ImagePart:
        if isinstance(p, ImagePart) and p.data is not None:
            return ImagePart(url=f"data:{p.media_type};base64,{base64.b64encode(p.data).decode()}")
        return p

    def parts(content: tuple[TextPart | ImagePart, ...]) -> list[TextPart | ImagePart]:
        # One empty text part is sent as "" and reads back as no parts.
        return [] if content == (TextPart(""),) else [part(p) for p in content]

    messages = [
        Message(
            m.role,
            parts(m.content),
            tool_calls=m.tool_calls,
            tool_call_id=m.tool_call_id,
            name=m.name,
            reasoning=m.reasoning or None,
        )
        for m in request.messages
    ]
    options = request.options
    choice = options.tool_choice if options.tools else None
    extra = dict(options.extra)
    if isinstance(extra.get("prediction"), str):
        extra["prediction"] = {"type": "content", "content": extra["prediction"]}
    from attrs import evolve

    return ChatRequest(request.model, messages, evolve(options, tool_choice=choice, extra=extra, timeout=None))


_name = st.from_regex(r"[A-Za-z0-9_-]{1,12}", fullmatch=True)
_json_value = st.recursive(
    st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
_args = st.dictionaries(st.text(max_size=6), _json_value, max_size=3)
_image = st.one_of(
    st.builds(lambda s: ImagePart(url=f"https://img.example/{s}.png"), _name),
    st.builds(lambda d: ImagePart(data=d, media_type="image/png"), st.binary(max_size=16)),
)
_text_part = st.builds(TextPart, st.text(max_size=20))


@st.composite
def _messages(draw: st.DrawFn) -> list[Message]:
    out = [Message.system(draw(st.text(max_size=20)))] if draw(st.booleans()) else []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["user", "assistant", "tool"]))
        if kind == "user":
            out.append(Message.user(draw(st.lists(_text_part | _image, min_size=1, max_size=3))))
        elif kind == "assistant":
            calls = tuple(draw(st.lists(st.builds(ToolCall, _name, _name, _args), max_size=2)))
            text = draw(st.text(min_size=0 if calls else 1, max_size=20))
            reasoning = draw(st.none() | st.text(min_size=1, max_size=10))
            out.append(Message(Role.ASSISTANT, text, tool_calls=calls, reasoning=reasoning))
        else:
            out.append(Message.tool_result(draw(_name), draw(st.text(max_size=20)), name=draw(st.none() | _name)))
    return out


@st.composite
def _options(draw: st.DrawFn) -> ChatOptions:
    tools = draw(
        st.lists(
            st.builds(Tool, _name, st.text(max_size=10), st.just({"type": "object"})),
            max_size=3,
            unique_by=lambda t: t.name,
        )
    )
    choices: list[ToolChoice | None] = [None, ToolChoice(), ToolChoice(ToolChoiceMode.NONE)]
    if tools:
        choices += [ToolChoice(ToolChoiceMode.REQUIRED), ToolChoice.function(tools[0].name)]
    fmt = draw(
        st.sampled_from(
            [
                None,
                ResponseFormat(),
                ResponseFormat.json(),
                ResponseFormat.json_schema({"type": "object"}, name="r", strict=False),
            ]
        )
    )
    extra_keys = draw(
        st.lists(
            st.sampled_from(
                ["safe_prompt", "parallel_tool_calls", "reasoning_effort", "prompt_cache_key", "frequency_penalty"]
            ),
            unique=True,
        )
    )
    extra_values = {
        "safe_prompt": True,
        "parallel_tool_calls": False,
        "reasoning_effort": "none",
        "prompt_cache_key": "k",
        "frequency_penalty": 1.5,
    }
    return ChatOptions(
        temperature=draw(st.none() | st.floats(0, 1.5)),
        top_p=draw(st.none() | st.floats(0, 1)),
        max_tokens=draw(st.none() | st.integers(0, 10_000)),
        stop=draw(st.lists(st.text(min_size=1, max_size=4), max_size=3)),
        seed=draw(st.none() | st.integers(0, 2**31)),
        tools=tools,
        tool_choice=draw(st.sampled_from(choices)),
        response_format=fmt,
        extra={k: extra_values[k] for k in extra_keys},
    )


_VALIDATOR = jsonschema.Draft202012Validator(
    json.loads((Path(__file__).parent / "fixtures" / "chat_completion_request.schema.json").read_text("utf-8"))[
        "schema"
    ]
)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(messages=_messages(), options=_options(), stream=st.booleans())
def test_encoding_round_trips(messages: list[Message], options: ChatOptions, stream: bool) -> None:
    """Encoding then decoding a request gives back an equivalent request, and the body always fits the schema."""
    request = ChatRequest("mistral-small-latest", messages, options)
    body = encode_chat(request, stream=stream)
    errors = [e.message for e in _VALIDATOR.iter_errors(body)]
    assert not errors
    wire = json.loads(json.dumps(body))  # what the server would parse
    assert decode_request(wire) == _normalise(request)


# -- tool call accumulation --------------------------------------------------------------


@given(
    calls=st.lists(st.tuples(_name, _args), min_size=1, max_size=3),
    data=st.data(),
)
def test_tool_calls_any_split(calls: list[tuple[str, dict[str, Any]]], data: st.DataObject) -> None:
    """Arguments cut into any pieces over deltas come back whole and parsed, one call per index."""
    acc = ToolCallAccumulator()
    for index, (name, args) in enumerate(calls):
        text = json.dumps(args)
        cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=4)))
        bounds = [0, *cuts, len(text)]
        pieces = [text[a:b] for a, b in itertools.pairwise(bounds)]
        acc.add([{"index": index, "id": f"id{index}", "function": {"name": name, "arguments": pieces[0]}}])
        for piece in pieces[1:]:
            acc.add([{"index": index, "function": {"arguments": piece}}])
    assert acc.complete() == [ToolCall(f"id{i}", name, args) for i, (name, args) in enumerate(calls)]


def test_tool_call_without_id_gets_stable_id() -> None:
    """A call without an id (or with Mistral's placeholder "null") gets call_<n>."""
    acc = ToolCallAccumulator()
    acc.add([{"id": "null", "function": {"name": "f", "arguments": {"a": 1}}}])
    assert acc.complete() == [ToolCall("call_0", "f", {"a": 1})]


def test_tool_call_without_name_is_an_error() -> None:
    """A streamed call that never got a name is an ApiError."""
    acc = ToolCallAccumulator()
    acc.add([{"index": 0, "function": {"arguments": "{}"}}])
    with pytest.raises(ApiError, match="no function name"):
        acc.complete()


def test_non_object_arguments_are_an_error() -> None:
    """Arguments that are JSON but not an object are refused."""
    acc = ToolCallAccumulator()
    acc.add([{"index": 0, "id": "x", "function": {"name": "f", "arguments": "[1, 2]"}}])
    with pytest.raises(ApiError, match="not a JSON object"):
        acc.complete()


def test_response_format_kinds_cover_core() -> None:
    """Every response format kind of the core has an encoding."""
    for kind in ResponseFormatKind:
        fmt = (
            ResponseFormat.json_schema({"type": "object"})
            if kind is ResponseFormatKind.JSON_SCHEMA
            else ResponseFormat(kind)
        )
        assert "response_format" in encode_chat(_req(response_format=fmt), stream=False)
