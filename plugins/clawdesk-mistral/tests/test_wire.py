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
    ResponseFormatKind,
    Role,
    TextPart,
    Tool,
    ToolCall,
    ToolChoice,
    ToolChoiceMode,
)
from clawdesk._options import provider_options_for
from clawdesk.provider import ToolCallAssembler, encode_json
from clawdesk.testing.strategies import chat_requests
from clawdesk_mistral._config import MistralOptions
from clawdesk_mistral._wire import encode_chat
from clawdesk_openai_compat import add_calls

PROVIDER = "mistral"


def _req(*messages: Message, provider_options: MistralOptions | None = None, **options: Any) -> ChatRequest:
    return ChatRequest(
        "mistral-small-latest",
        messages or (Message.user("hi"),),
        ChatOptions(**options),
        provider_options=provider_options,
    )


def _encode(request: ChatRequest, *, stream: bool = False) -> dict[str, Any]:
    return encode_chat(request, stream=stream, provider=PROVIDER)


def _options_table(table: dict[str, Any]) -> Any:
    """``provider_options={"mistral": table}`` structured the way core does before calling the hook."""
    import clawdesk_mistral._plugin
    from clawdesk import Registry

    registry = Registry(discover=False)
    provider = registry.register(clawdesk_mistral._plugin)
    return provider_options_for(provider, "mistral", ChatOptions(provider_options={"mistral": table}))


# -- refusals ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "match"),
    [
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
        (_req(Message(Role.ASSISTANT, "")), r"needs text or tool calls"),
    ],
)
def test_refused_before_sending(request_: ChatRequest, match: str) -> None:
    """What Mistral cannot take, and no one could, is InvalidRequest naming the option."""
    with pytest.raises(InvalidRequest, match=match) as caught:
        _encode(request_)
    assert caught.value.provider == PROVIDER


def test_values_json_cannot_carry_are_refused() -> None:
    """A set in a tool schema: encode_chat keeps it, the toolkit's encoder refuses it with InvalidRequest."""
    body = _encode(_req(tools=[Tool("f", parameters={"x": {1, 2}})]))
    with pytest.raises(InvalidRequest, match="JSON cannot carry"):
        encode_json(body, provider=PROVIDER)


@pytest.mark.parametrize(
    ("request_", "capability", "option"),
    [
        (_req(top_k=40), None, "top_k"),
        (_req(Message.user(["read this", DocumentPart(url="https://x/y.pdf")])), Capability.DOCUMENTS, None),
        (_req(reasoning=Reasoning(budget_tokens=1024)), None, "reasoning.budget_tokens"),
    ],
)
def test_capability_missing_before_sending(
    request_: ChatRequest, capability: Capability | None, option: str | None
) -> None:
    """What another provider may honour (top_k, documents, a reasoning budget) is CapabilityMissing.

    A chain moves on to the next candidate then."""
    with pytest.raises(CapabilityMissing) as caught:
        _encode(request_)
    assert (caught.value.capability, caught.value.option, caught.value.provider) == (capability, option, PROVIDER)


@pytest.mark.parametrize(
    ("table", "match"),
    [
        ({"num_ctx": 1}, r"provider_options\.mistral\.num_ctx: unknown key"),
        ({"seed": 1}, r"provider_options\.mistral\.seed: unknown key"),
        ({"n": 2}, r"provider_options\.mistral\.n: unknown key"),
        ({"safe_prompt": "yes"}, r"provider_options\.mistral\.safe_prompt: expected true or false"),
        ({"prompt_mode": "thinking"}, r"provider_options\.mistral\.prompt_mode: expected one of"),
        ({"presence_penalty": 3}, r"provider_options\.mistral\.presence_penalty: expected a number from -2 to 2"),
        ({"metadata": "x"}, r"provider_options\.mistral\.metadata: expected a table"),
        ({"prediction": {"type": "other"}}, r"provider_options\.mistral\.prediction"),
    ],
)
def test_provider_options_are_checked(table: dict[str, Any], match: str) -> None:
    """Mistral's provider options are typed: unknown keys and wrong values are InvalidRequest naming the key path."""
    with pytest.raises(InvalidRequest, match=match):
        _options_table(table)


def test_provider_options_are_sent(request_validator: jsonschema.protocols.Validator) -> None:
    """Every Mistral provider option is a real ChatCompletionRequest field and passes the schema."""
    table = {
        "safe_prompt": True,
        "parallel_tool_calls": False,
        "presence_penalty": 0.5,
        "frequency_penalty": -1,
        "prompt_mode": "reasoning",
        "prompt_cache_key": "conv-1",
        "metadata": {"team": "a"},
        "prediction": "expected text",
    }
    options = _options_table(table)
    assert isinstance(options, MistralOptions)
    body = _encode(_req(provider_options=options))
    for key in table:
        assert key in body
    assert body["prediction"] == {"type": "content", "content": "expected text"}
    assert body["frequency_penalty"] == -1
    assert not list(request_validator.iter_errors(body))
    assert _encode(_req(provider_options=MistralOptions(prompt_mode="none")))["prompt_mode"] is None


@pytest.mark.parametrize(
    ("reasoning", "effort"),
    [
        (None, None),
        (Reasoning(), "high"),
        (Reasoning(effort="low"), "high"),
        (Reasoning(effort="max"), "high"),
        (Reasoning(effort="none"), "none"),
        (Reasoning(budget_tokens=0), "none"),
    ],
)
def test_reasoning_maps_to_reasoning_effort(reasoning: Reasoning | None, effort: str | None) -> None:
    """ChatOptions.reasoning: off is reasoning_effort "none", any effort is "high" (Mistral's one level)."""
    body = _encode(_req(reasoning=reasoning))
    assert body.get("reasoning_effort") == effort


def test_schema_fixture_rejects_unknown_fields(request_validator: jsonschema.protocols.Validator) -> None:
    """The schema check is real: unknown top-level and nested fields fail it."""
    body = _encode(_req(), stream=True)
    assert not list(request_validator.iter_errors(body))
    assert list(request_validator.iter_errors({**body, "seed": 1}))
    assert list(request_validator.iter_errors({**body, "messages": [{"role": "user", "content": "x", "name": "n"}]}))


def test_tool_choice_encodings() -> None:
    """auto/none/required map to Mistral's strings, a named function to its object; without tools auto is omitted."""
    tools = [Tool("f")]
    assert _encode(_req(tools=tools, tool_choice=ToolChoice()))["tool_choice"] == "auto"
    assert _encode(_req(tools=tools, tool_choice=ToolChoice(ToolChoiceMode.NONE)))["tool_choice"] == "none"
    assert _encode(_req(tools=tools, tool_choice=ToolChoice(ToolChoiceMode.REQUIRED)))["tool_choice"] == "required"
    assert _encode(_req(tools=tools, tool_choice=ToolChoice.function("f")))["tool_choice"] == {
        "type": "function",
        "function": {"name": "f"},
    }
    assert "tool_choice" not in _encode(_req(tool_choice=ToolChoice()))


def test_assistant_reasoning_sent_as_thinking_chunk() -> None:
    """An assistant turn's reasoning goes back as a thinking chunk where it stands, signed or not (text only)."""
    body = _encode(_req(Message.user("q"), Message.assistant("a", reasoning="because")))
    assert body["messages"][1]["content"] == [
        {"type": "thinking", "thinking": [{"type": "text", "text": "because"}]},
        {"type": "text", "text": "a"},
    ]
    signed = Message(
        Role.ASSISTANT,
        [TextPart("x"), ReasoningPart("later", signature="sig", source="anthropic"), ReasoningPart(redacted="opaque")],
    )
    body = _encode(_req(Message.user("q"), signed))
    assert body["messages"][1]["content"] == [
        {"type": "text", "text": "x"},
        {"type": "thinking", "thinking": [{"type": "text", "text": "later"}]},
    ]


# -- round trip -----------------------------------------------------------------------------
# A decoder of Mistral request bodies, the inverse of encode_chat where Mistral can express things.


def _decode_content(content: Any) -> list[TextPart | ImagePart | ReasoningPart]:
    if isinstance(content, str):
        return [TextPart(content)] if content else []
    parts: list[TextPart | ImagePart | ReasoningPart] = []
    for chunk in content or []:
        if chunk["type"] == "text":
            parts.append(TextPart(chunk["text"]))
        elif chunk["type"] == "thinking":
            parts.append(ReasoningPart("".join(t["text"] for t in chunk["thinking"])))
        else:
            url = chunk["image_url"] if isinstance(chunk["image_url"], str) else chunk["image_url"]["url"]
            parts.append(ImagePart(url=url))
    return parts


def decode_request(body: Mapping[str, Any]) -> ChatRequest:
    messages = []
    for m in body["messages"]:
        parts = _decode_content(m.get("content"))
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
        "reasoning_effort",
    }
    effort = body.get("reasoning_effort")
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
        reasoning=Reasoning(effort=effort) if effort is not None else None,
    )
    table = {k: v for k, v in body.items() if k not in known}
    if "prompt_mode" in table and table["prompt_mode"] is None:
        table["prompt_mode"] = "none"  # null on the wire
    own = MistralOptions(**table)
    return ChatRequest(body["model"], messages, options, provider_options=own)


def _normalise(request: ChatRequest) -> ChatRequest:
    """What Mistral can express of a request: inline images as data URLs, auto/none without tools dropped."""

    def part(p: Any) -> Any:
        if isinstance(p, ImagePart) and p.data is not None:
            return ImagePart(url=f"data:{p.media_type};base64,{base64.b64encode(p.data).decode()}")
        return p

    def parts(content: tuple[Any, ...]) -> list[Any]:
        # One empty text part is sent as "" and reads back as no parts.
        return [] if content == (TextPart(""),) else [part(p) for p in content]

    messages = [
        Message(m.role, parts(m.content), tool_calls=m.tool_calls, tool_call_id=m.tool_call_id, name=m.name)
        for m in request.messages
    ]
    options = request.options
    choice = options.tool_choice if options.tools else None
    from attrs import evolve

    own = request.provider_options or MistralOptions()
    if isinstance(own.prediction, str):
        own = evolve(own, prediction={"type": "content", "content": own.prediction})
    reasoning = options.reasoning
    if reasoning is not None:
        reasoning = Reasoning(effort="high" if reasoning.enabled else "none")
    return ChatRequest(
        request.model,
        messages,
        evolve(options, tool_choice=choice, timeout=None, reasoning=reasoning),
        provider_options=own,
    )


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
            out.append(Message.assistant(text, tool_calls=calls, reasoning=reasoning))
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
    return ChatOptions(
        temperature=draw(st.none() | st.floats(0, 1.5)),
        top_p=draw(st.none() | st.floats(0, 1)),
        max_tokens=draw(st.none() | st.integers(0, 10_000)),
        stop=draw(st.lists(st.text(min_size=1, max_size=4), max_size=3)),
        seed=draw(st.none() | st.integers(0, 2**31)),
        tools=tools,
        tool_choice=draw(st.sampled_from(choices)),
        response_format=fmt,
        reasoning=draw(st.sampled_from([None, Reasoning(effort="none"), Reasoning(effort="high")])),
    )


_own_options = st.builds(
    MistralOptions,
    safe_prompt=st.none() | st.booleans(),
    parallel_tool_calls=st.none() | st.booleans(),
    prompt_cache_key=st.none() | st.just("k"),
    frequency_penalty=st.none() | st.just(1.5),
    prompt_mode=st.sampled_from([None, "reasoning", "none"]),
    prediction=st.none() | st.just("expected"),
)


_VALIDATOR = jsonschema.Draft202012Validator(
    json.loads((Path(__file__).parent / "fixtures" / "chat_completion_request.schema.json").read_text("utf-8"))[
        "schema"
    ]
)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(messages=_messages(), options=_options(), own=_own_options, stream=st.booleans())
def test_encoding_round_trips(messages: list[Message], options: ChatOptions, own: MistralOptions, stream: bool) -> None:
    """Encoding then decoding a request gives back an equivalent request, and the body always fits the schema."""
    request = ChatRequest("mistral-small-latest", messages, options, provider_options=own)
    body = _encode(request, stream=stream)
    errors = [e.message for e in _VALIDATOR.iter_errors(body)]
    assert not errors
    wire = json.loads(json.dumps(body))  # what the server would parse
    assert decode_request(wire) == _normalise(request)


# -- tool calls from stream deltas (the toolkit's assembler, fed Mistral's delta shape) ----------


def _assemble(*deltas: list[dict[str, Any]]) -> list[ToolCall]:
    calls = ToolCallAssembler(PROVIDER, id_seed="answer-1")
    for delta in deltas:
        add_calls(calls, delta, PROVIDER)
    return calls.complete()


@given(
    calls=st.lists(st.tuples(_name, _args), min_size=1, max_size=3),
    data=st.data(),
)
def test_tool_calls_any_split(calls: list[tuple[str, dict[str, Any]]], data: st.DataObject) -> None:
    """Arguments cut into any pieces over deltas come back whole and parsed, one call per index."""
    deltas = []
    for index, (name, args) in enumerate(calls):
        text = json.dumps(args)
        cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=4)))
        bounds = [0, *cuts, len(text)]
        pieces = [text[a:b] for a, b in itertools.pairwise(bounds)]
        deltas.append([{"index": index, "id": f"id{index}", "function": {"name": name, "arguments": pieces[0]}}])
        deltas += [[{"index": index, "function": {"arguments": piece}}] for piece in pieces[1:]]
    assert _assemble(*deltas) == [ToolCall(f"id{i}", name, args) for i, (name, args) in enumerate(calls)]


def test_tool_call_without_id_gets_stable_id() -> None:
    """A call without an id (or with Mistral's placeholder "null") gets a stable made-up id, the same every time."""
    first = _assemble([{"id": "null", "function": {"name": "f", "arguments": {"a": 1}}}])
    again = _assemble([{"id": "null", "function": {"name": "f", "arguments": {"a": 1}}}])
    assert first == again
    assert first[0].id.startswith("call_")
    assert (first[0].name, first[0].arguments) == ("f", {"a": 1})


def test_tool_call_without_name_is_an_error() -> None:
    """A streamed call that never got a name is an ApiError."""
    with pytest.raises(ApiError, match="no function name"):
        _assemble([{"index": 0, "function": {"arguments": "{}"}}])


def test_non_object_arguments_are_an_error() -> None:
    """Arguments that are JSON but not an object are refused."""
    with pytest.raises(ApiError, match="not a JSON object"):
        _assemble([{"index": 0, "id": "x", "function": {"name": "f", "arguments": "[1, 2]"}}])


def test_response_format_kinds_cover_core() -> None:
    """Every response format kind of the core has an encoding."""
    for kind in ResponseFormatKind:
        fmt = (
            ResponseFormat.json_schema({"type": "object"})
            if kind is ResponseFormatKind.JSON_SCHEMA
            else ResponseFormat(kind)
        )
        assert "response_format" in _encode(_req(response_format=fmt))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(request=chat_requests(model="mistral-small-latest", source="mistral"), stream=st.booleans())
def test_every_message_shape_encodes_or_is_refused(request: ChatRequest, stream: bool) -> None:
    """Whatever shape the types allow, the encoder gives a JSON body or refuses with InvalidRequest or
    CapabilityMissing (naming this provider) before sending; never any other exception."""
    try:
        body = encode_json(_encode(request, stream=stream), provider=PROVIDER)
    except (InvalidRequest, CapabilityMissing) as exc:
        refused: InvalidRequest | CapabilityMissing | None = exc
    else:
        refused = None
        assert json.loads(body)["model"] == "mistral-small-latest"
    assert refused is None or refused.provider == PROVIDER
