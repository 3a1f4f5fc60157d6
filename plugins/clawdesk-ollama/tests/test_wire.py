"""The wire mapping on its own: request bodies, answers' pieces, Ollama's error messages."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from clawdesk import (
    ApiError,
    Capability,
    CapabilityMissing,
    ChatOptions,
    ChatRequest,
    DocumentPart,
    FinishReason,
    ImagePart,
    InvalidRequest,
    Message,
    ModelNotFound,
    Reasoning,
    ReasoningPart,
    ResponseFormat,
    Role,
    TextPart,
    Tool,
    ToolCall,
)
from clawdesk.provider import encode_json
from clawdesk.testing.strategies import chat_requests
from clawdesk_ollama import OllamaConfig, OllamaOptions
from clawdesk_ollama._wire import (
    build_chat_body,
    capabilities_from,
    context_length_from,
    error_from_message,
    finish_reason,
    parse_tool_calls,
)

CONFIG = OllamaConfig(base_url="http://127.0.0.1:11434", name="ollama")
PROVIDER = "ollama"
_SCHEMAS = json.loads((Path(__file__).parent / "fixtures" / "ollama_schemas.json").read_text(encoding="utf-8"))
CHAT_REQUEST = Draft202012Validator(_SCHEMAS["schemas"]["ChatRequest"])


def body(
    *messages: Message, stream: bool = True, provider_options: OllamaOptions | None = None, **options: Any
) -> dict[str, Any]:
    request = ChatRequest(
        "llama3.2", messages or (Message.user("hi"),), ChatOptions(**options), provider_options=provider_options
    )
    # Through JSON and back, as the server would read it.
    data: dict[str, Any] = json.loads(encode_json(build_chat_body(CONFIG, request, stream=stream), provider=PROVIDER))
    return data


# -- request bodies ------------------------------------------------------------------

_names = st.from_regex(r"[a-z_][a-z0-9_]{0,12}", fullmatch=True)
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**31), 2**31) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_names, inner, max_size=3),
    max_leaves=8,
)
_calls = st.lists(
    st.builds(ToolCall, st.text(min_size=1, max_size=8), _names, st.dictionaries(_names, _json_values, max_size=3)),
    max_size=2,
)
_parts = st.lists(
    st.one_of(
        st.builds(TextPart, st.text(max_size=20)),
        st.builds(lambda b: ImagePart(data=b, media_type="image/png"), st.binary(max_size=16)),
        st.builds(
            lambda b: ImagePart(url="data:image/jpeg;base64," + base64.b64encode(b).decode()), st.binary(max_size=16)
        ),
    ),
    max_size=3,
)
_messages = st.lists(
    st.one_of(
        st.builds(Message.system, st.text(max_size=20)),
        st.builds(Message.user, _parts),
        st.builds(lambda text, calls: Message.assistant(text, tool_calls=tuple(calls)), st.text(max_size=20), _calls),
        st.builds(Message.tool_result, st.text(min_size=1, max_size=8), st.text(max_size=20)),
    ),
    min_size=1,
    max_size=5,
)
_options = st.fixed_dictionaries(
    {},
    optional={
        "temperature": st.floats(0, 2),
        "top_p": st.floats(0, 1),
        "max_tokens": st.integers(1, 4096),
        "stop": st.lists(st.text(min_size=1, max_size=4), max_size=3),
        "seed": st.integers(0, 2**31),
        "top_k": st.integers(1, 100),
        "reasoning": st.sampled_from([Reasoning(), Reasoning(effort="none"), Reasoning(effort="high")]),
        "tools": st.lists(st.builds(Tool, _names, st.text(max_size=10)), max_size=2),
        "response_format": st.sampled_from(
            [ResponseFormat.json(), ResponseFormat.json_schema({"type": "object"}), ResponseFormat()]
        ),
    },
)


_own = st.builds(
    OllamaOptions,
    num_ctx=st.none() | st.integers(1, 131072),
    keep_alive=st.none() | st.sampled_from(["5m", -1.0, 0.0, "1h30m", 3.5]),
    think=st.none() | st.sampled_from([True, False, "low", "high"]),
    repeat_penalty=st.none() | st.floats(0.5, 2),
)


@given(messages=_messages, options=_options, own=_own, stream=st.booleans())
def test_every_body_matches_the_openapi_schema(
    messages: list[Message], options: dict[str, Any], own: OllamaOptions, stream: bool
) -> None:
    """Any request clawdesk can express and Ollama can take gives a body valid against ChatRequest."""
    data = body(*messages, stream=stream, provider_options=own, **options)
    CHAT_REQUEST.validate(data)
    assert data["stream"] is stream
    assert len(data["messages"]) == len(messages)
    for sent in data["messages"]:
        for image in sent.get("images", ()):
            assert not image.startswith("data:")
            base64.b64decode(image, validate=True)
        for call in sent.get("tool_calls", ()):
            assert isinstance(call["function"]["arguments"], dict)


def test_percent_encoded_data_url_is_converted_to_base64() -> None:
    """A data: URL without ;base64 is decoded and re-encoded as base64."""
    message = Message.user([ImagePart(url="data:image/svg+xml,%3Csvg%2F%3E")])
    assert body(message)["messages"][0]["images"] == [base64.b64encode(b"<svg/>").decode()]


def test_bad_base64_data_url_is_invalid_request() -> None:
    """A data: URL whose base64 is broken is refused before sending."""
    with pytest.raises(InvalidRequest, match="base64"):
        body(Message.user([ImagePart(url="data:image/png;base64,@@@not-base64")]))


def test_assistant_reasoning_is_sent_as_thinking() -> None:
    """An assistant turn's reasoning goes back to Ollama as its thinking field."""
    message = Message.assistant("4", reasoning="2+2")
    assert body(Message.user("2+2?"), message)["messages"][1] == {
        "role": "assistant",
        "content": "4",
        "thinking": "2+2",
    }
    # Signed reasoning of another backend: the text travels (Ollama keeps no signatures); opaque
    # redacted data does not.
    parts = [ReasoningPart("a", signature="s", source="anthropic"), ReasoningPart(redacted="x")]
    other = Message(Role.ASSISTANT, parts)
    assert body(Message.user("q"), other)["messages"][1] == {"role": "assistant", "content": "", "thinking": "a"}


def test_tool_result_name_from_the_call_it_answers() -> None:
    """A result without a name gets the name of the call it answers, found over the history."""
    call = ToolCall("c1", "lookup", {"q": 1})
    sent = body(Message.user("q"), Message.assistant(tool_calls=[call]), Message.tool_result("c1", "x"))["messages"]
    assert sent[2]["tool_name"] == "lookup"


@pytest.mark.parametrize(
    ("reasoning", "think"),
    [
        (None, None),
        (Reasoning(), True),
        (Reasoning(effort="none"), False),
        (Reasoning(budget_tokens=0), False),
        (Reasoning(effort="minimal"), "low"),
        (Reasoning(effort="medium"), "medium"),
        (Reasoning(effort="max"), "max"),
    ],
)
def test_reasoning_maps_to_think(reasoning: Reasoning | None, think: object) -> None:
    """ChatOptions.reasoning becomes think: false when off, true for Reasoning(), else the effort's level."""
    assert body(reasoning=reasoning).get("think") == think


def test_think_option_wins_over_reasoning_and_options_reach_the_body() -> None:
    """provider_options.ollama.think overrides ChatOptions.reasoning; runner options go into options, top_k too."""
    own = OllamaOptions(think="high", num_ctx=8192, use_mmap=False, keep_alive="10m")
    data = body(reasoning=Reasoning(effort="none"), top_k=40, provider_options=own)
    assert data["think"] == "high"
    assert data["options"] == {"num_ctx": 8192, "use_mmap": False, "top_k": 40}
    assert data["keep_alive"] == "10m"


@pytest.mark.parametrize(
    ("request_kw", "capability", "option"),
    [
        ({"messages": (Message.user([DocumentPart(url="https://x/a.pdf")]),)}, Capability.DOCUMENTS, None),
        ({"messages": (Message.user([ImagePart(url="https://x/a.png")]),)}, None, "image_url"),
        ({"reasoning": Reasoning(budget_tokens=100)}, None, "reasoning.budget_tokens"),
    ],
)
def test_capability_missing_before_sending(
    request_kw: dict[str, Any], capability: Capability | None, option: str | None
) -> None:
    """Documents, images by URL and reasoning budgets are CapabilityMissing: another provider may take them."""
    messages = request_kw.pop("messages", ())
    with pytest.raises(CapabilityMissing) as caught:
        body(*messages, **request_kw)
    assert (caught.value.capability, caught.value.option, caught.value.provider) == (capability, option, PROVIDER)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(request=chat_requests(model="llama3.2", source="ollama"), stream=st.booleans())
def test_every_message_shape_encodes_or_is_refused(request: ChatRequest, stream: bool) -> None:
    """Whatever shape the types allow, the encoder gives a JSON body or refuses with InvalidRequest or
    CapabilityMissing (naming this provider) before sending; never any other exception."""
    try:
        data = encode_json(build_chat_body(CONFIG, request, stream=stream), provider=PROVIDER)
    except (InvalidRequest, CapabilityMissing) as exc:
        refused: InvalidRequest | CapabilityMissing | None = exc
    else:
        refused = None
        assert json.loads(data)["model"] == "llama3.2"
    assert refused is None or refused.provider == PROVIDER


def test_tool_result_name_given_or_unknown() -> None:
    """A tool result's own name wins; without a name or a known call, no tool_name is invented."""
    sent = body(Message.tool_result("c1", "x", name="lookup"), Message.tool_result("c2", "y"))["messages"]
    assert sent[0]["tool_name"] == "lookup"
    assert "tool_name" not in sent[1]


# -- answers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "tools", "expected"),
    [
        ("stop", False, FinishReason.STOP),
        ("length", False, FinishReason.LENGTH),
        ("stop", True, FinishReason.TOOL_CALLS),
        (None, False, FinishReason.STOP),
        ("load", False, FinishReason.OTHER),
        ("unload", False, FinishReason.OTHER),
    ],
)
def test_finish_reason(reason: str | None, tools: bool, expected: FinishReason) -> None:
    """done_reason is normalised; ending on tool calls is TOOL_CALLS whatever Ollama says."""
    assert finish_reason(reason, tools) is expected


def test_tool_call_arguments_as_string_are_parsed() -> None:
    """Arguments sent as a JSON string (some proxies do) are parsed; non-objects are errors."""
    [call] = parse_tool_calls([{"function": {"name": "f", "arguments": '{"a": 1}'}}], 0, "t", PROVIDER)
    assert dict(call.arguments) == {"a": 1}
    with pytest.raises(ApiError, match="not a JSON object"):
        parse_tool_calls([{"function": {"name": "f", "arguments": [1]}}], 0, "t", PROVIDER)
    with pytest.raises(ApiError, match="no function name"):
        parse_tool_calls([{"function": {"arguments": {}}}], 0, "t", PROVIDER)


@given(name=_names, args=st.dictionaries(_names, _json_values, max_size=3), stamp=st.text(max_size=30))
def test_made_ids_are_deterministic_and_positional(name: str, args: dict[str, Any], stamp: str) -> None:
    """The same call at the same place of the same answer gets the same id; another place, another id."""
    raw = [{"function": {"name": name, "arguments": args}}]
    [first] = parse_tool_calls(raw, 0, stamp, PROVIDER)
    [again] = parse_tool_calls(raw, 0, stamp, PROVIDER)
    [later] = parse_tool_calls(raw, 1, stamp, PROVIDER)
    assert first.id == again.id
    assert first.id != later.id


# -- models --------------------------------------------------------------------------


def test_capabilities_from_ignores_unknown_names() -> None:
    """Ollama's capability names map to clawdesk's; insert and unknown names add nothing."""
    assert capabilities_from(["tools", "insert", "future-thing", 3]) == {Capability.FUNCTION_CALLING}
    assert capabilities_from(None) == frozenset()


@pytest.mark.parametrize(
    ("info", "expected"),
    [
        ({"general.architecture": "llama", "llama.context_length": 131072}, 131072),
        ({"general.architecture": "gemma3", "gemma3.context_length": 8192, "llama.context_length": 1}, 8192),
        ({"qwen2.context_length": 32768}, 32768),
        ({"general.architecture": "llama", "llama.context_length": True}, None),
        ({"general.architecture": "llama"}, None),
        ("nonsense", None),
    ],
)
def test_context_length_from_model_info(info: Any, expected: int | None) -> None:
    """The context length is <arch>.context_length, else any *.context_length, else unknown."""
    assert context_length_from(info) == expected


# -- errors --------------------------------------------------------------------------

_model_names = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,15}(:[a-z0-9._-]{1,10})?", fullmatch=True)


@given(model=_model_names, quote=st.sampled_from(["'", '"']), suffix=st.sampled_from(["", ", try pulling it first"]))
def test_not_found_names_the_model(model: str, quote: str, suffix: str) -> None:
    """Both spellings of Ollama's model-not-found give ModelNotFound with the model and the pull hint."""
    error = error_from_message(f"model {quote}{model}{quote} not found{suffix}", provider=PROVIDER, status=404)
    assert isinstance(error, ModelNotFound)
    assert error.model == model
    assert f"ollama pull {model}" in str(error)


@given(model=_model_names, what=st.sampled_from(["tools", "chat", "thinking", "vision", "completion", "insert"]))
def test_does_not_support_names_the_capability(model: str, what: str) -> None:
    """'"x" does not support <what>' is CapabilityMissing; insert has no clawdesk capability (None)."""
    error = error_from_message(f'"{model}" does not support {what}', provider=PROVIDER, status=400)
    assert isinstance(error, CapabilityMissing)
    expected = {
        "tools": Capability.FUNCTION_CALLING,
        "chat": Capability.CHAT,
        "completion": Capability.CHAT,
        "thinking": Capability.REASONING,
        "vision": Capability.VISION,
    }.get(what)
    assert error.capability is expected


def test_other_messages_are_left_to_the_status() -> None:
    """Messages with no Ollama-specific meaning give None, so the HTTP status decides."""
    assert error_from_message("server busy, please try again", provider=PROVIDER, status=503) is None
    assert error_from_message("404 page not found", provider=PROVIDER, status=404) is None
