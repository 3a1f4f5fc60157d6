"""The request mapping, rule by rule: every body it builds must also match Anthropic's CreateMessageParams."""

from __future__ import annotations

import base64
import itertools
import json
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clawdesk import (
    CapabilityMissing,
    ChatOptions,
    ChatRequest,
    DocumentPart,
    ImagePart,
    InvalidRequest,
    Message,
    ProviderError,
    Reasoning,
    ReasoningPart,
    ResponseFormat,
    Role,
    TextPart,
    Tool,
    ToolCall,
    ToolChoice,
)
from clawdesk_anthropic._config import AnthropicConfig, AnthropicOptions
from clawdesk_anthropic._models import ModelSpec, learn
from clawdesk_anthropic._wire import encode_request

BASE = "https://api.anthropic.com"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 8
WEATHER = Tool("get_weather", "The weather in a city", {"type": "object", "properties": {"city": {"type": "string"}}})


@pytest.fixture
def validate(request_validator: jsonschema.protocols.Validator) -> Any:
    """Encode a request and check the body against the spec before handing it to the test."""

    def run(
        messages: Any = "Hello",
        options: ChatOptions | None = None,
        *,
        model: str = "claude-sonnet-5-5",
        own: AnthropicOptions | None = None,
        stream: bool = False,
        **config: Any,
    ) -> dict[str, Any]:
        conf = AnthropicConfig(name="anthropic", base_url=config.pop("base_url", BASE), **config)
        if isinstance(messages, str):
            messages = [Message.user(messages)]
        request = ChatRequest(model, messages, options or ChatOptions(), provider_options=own)
        body = encode_request(conf, request, stream=stream)
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in request_validator.iter_errors(body)]
        assert not errors, errors
        # What is sent is JSON: it must survive a round trip unchanged.
        assert json.loads(json.dumps(body)) == body
        return body

    return run


def _refused(error: type[ProviderError], messages: Any = "Hello", options: ChatOptions | None = None, **kw: Any) -> Any:
    conf = AnthropicConfig(name="anthropic", **{"base_url": BASE, **kw.pop("config", {})})
    if isinstance(messages, str):
        messages = [Message.user(messages)]
    request = ChatRequest(kw.pop("model", "claude-sonnet-5-5"), messages, options or ChatOptions(), **kw)
    with pytest.raises(error) as caught:
        encode_request(conf, request, stream=False)
    assert caught.value.provider == "anthropic"
    return caught.value


# -- messages --------------------------------------------------------------------


def test_system_prompt_goes_to_the_top_level(validate: Any) -> None:
    """System messages become the top-level system prompt, never a message role."""
    body = validate([Message.system("Be terse."), Message.user("Hi")])
    assert body["system"] == "Be terse."
    assert body["messages"] == [{"role": "user", "content": "Hi"}]


def test_several_system_messages_become_blocks(validate: Any) -> None:
    """Two leading system messages are two text blocks of the system prompt, in order."""
    body = validate([Message.system("One."), Message.system("Two."), Message.user("Hi")])
    assert body["system"] == [{"type": "text", "text": "One."}, {"type": "text", "text": "Two."}]


def test_system_message_after_the_conversation_is_refused() -> None:
    """A system message after other messages has no place on the wire: refused, not moved."""
    error = _refused(CapabilityMissing, [Message.user("Hi"), Message.system("Late rule")])
    assert error.option == "messages"


def test_turns_alternate_and_tool_results_join_the_next_user_turn(validate: Any) -> None:
    """Tool results become tool_result blocks of one user turn, before the user's next words."""
    call_a = ToolCall("toolu_A", "get_weather", {"city": "Paris"})
    call_b = ToolCall("toolu_B", "get_weather", {"city": "Rome"})
    body = validate(
        [
            Message.user("Weather in Paris and Rome?"),
            Message.assistant("Looking.", tool_calls=[call_a, call_b]),
            Message.tool_result("toolu_A", "18C"),
            Message.tool_result("toolu_B", "24C"),
            Message.user("Thanks, and tomorrow?"),
        ],
        ChatOptions(tools=(WEATHER,)),
    )
    assert [turn["role"] for turn in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][1]["content"] == [
        {"type": "text", "text": "Looking."},
        {"type": "tool_use", "id": "toolu_A", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "toolu_B", "name": "get_weather", "input": {"city": "Rome"}},
    ]
    assert body["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_A", "content": "18C"},
        {"type": "tool_result", "tool_use_id": "toolu_B", "content": "24C"},
        {"type": "text", "text": "Thanks, and tomorrow?"},
    ]


def test_foreign_tool_call_ids_are_made_acceptable_on_both_sides(validate: Any) -> None:
    """An id with characters the API refuses is rewritten the same way in tool_use and tool_result."""
    call = ToolCall("call.9:x", "get_weather", {})
    body = validate(
        [Message.user("Hi"), Message.assistant(tool_calls=[call]), Message.tool_result("call.9:x", "ok")],
        ChatOptions(tools=(WEATHER,)),
    )
    assert body["messages"][1]["content"][0]["id"] == "call_9_x"
    assert body["messages"][2]["content"][0]["tool_use_id"] == "call_9_x"


def test_images_inline_by_url_and_as_data_url(validate: Any) -> None:
    """Inline bytes and data: URLs go as base64 sources, http(s) URLs as url sources."""
    encoded = base64.b64encode(PNG).decode()
    body = validate(
        [
            Message.user(
                [
                    "What are these?",
                    ImagePart(data=PNG, media_type="image/png"),
                    ImagePart(url="https://example.com/cat.jpg"),
                    ImagePart(url=f"data:image/png;base64,{encoded}"),
                ]
            )
        ]
    )
    blocks = body["messages"][0]["content"]
    assert blocks[1] == {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": encoded}}
    assert blocks[2] == {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}
    assert blocks[3] == blocks[1]


@pytest.mark.parametrize(
    ("part", "error"),
    [
        (ImagePart(data=b"BM..", media_type="image/bmp"), CapabilityMissing),
        (ImagePart(url="ftp://example.com/cat.png"), InvalidRequest),
        (ImagePart(url="data:image/png,rawbytes"), InvalidRequest),
        (ImagePart(url="data:image/png;base64,%%%"), InvalidRequest),
    ],
)
def test_images_the_api_cannot_take_are_refused(part: ImagePart, error: type[ProviderError]) -> None:
    """Unsupported image types, non-http(s) URLs and broken data: URLs are refused before sending."""
    _refused(error, [Message.user(["Look", part])])


def test_documents_pdf_url_and_text(validate: Any) -> None:
    """PDF bytes go as base64, URLs as url sources, text/plain as a text source; the name is the title."""
    body = validate(
        [
            Message.user(
                [
                    DocumentPart(data=b"%PDF-1.7", media_type="application/pdf", name="report.pdf"),
                    DocumentPart(url="https://example.com/paper.pdf"),
                    DocumentPart(data="Grüße".encode(), media_type="text/plain"),
                    "Summarise them.",
                ]
            )
        ]
    )
    blocks = body["messages"][0]["content"]
    assert blocks[0]["source"] == {
        "type": "base64",
        "media_type": "application/pdf",
        "data": base64.b64encode(b"%PDF-1.7").decode(),
    }
    assert blocks[0]["title"] == "report.pdf"
    assert blocks[1]["source"] == {"type": "url", "url": "https://example.com/paper.pdf"}
    assert blocks[2]["source"] == {"type": "text", "media_type": "text/plain", "data": "Grüße"}


def test_documents_the_api_cannot_read_are_refused() -> None:
    """A Word file is refused as a missing capability; non-UTF-8 text as an invalid request."""
    docx = DocumentPart(
        data=b"PK..", media_type="application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    )
    _refused(CapabilityMissing, [Message.user([docx])])
    _refused(InvalidRequest, [Message.user([DocumentPart(data=b"\xff\xfe", media_type="text/plain")])])


def test_a_model_without_vision_or_pdfs_refuses_them() -> None:
    """What a refresh says a model lacks is refused with the capability named."""
    base = "https://no-vision.example"
    learn(base, [ModelSpec("text-only", "", 100_000, 4096, vision=False, pdf=False)])
    image = _refused(
        CapabilityMissing,
        [Message.user([ImagePart(url="https://x/y.png")])],
        model="text-only",
        config={"base_url": base},
    )
    assert image.capability == "vision"
    doc = _refused(
        CapabilityMissing,
        [Message.user([DocumentPart(url="https://x/y.pdf")])],
        model="text-only",
        config={"base_url": base},
    )
    assert doc.capability == "documents"


def test_images_in_assistant_turns_are_refused() -> None:
    """Claude's own turns hold no images."""
    _refused(InvalidRequest, [Message.user("Hi"), Message(Role.ASSISTANT, [ImagePart(url="https://x/y.png")])])


def test_empty_messages_are_refused() -> None:
    """A message with nothing to send is refused (the API refuses empty text blocks)."""
    _refused(InvalidRequest, [Message.user("")])
    _refused(InvalidRequest, [Message.system("only a system prompt")])
    _refused(InvalidRequest, [])


def test_names_on_user_messages_are_refused() -> None:
    """The API has no per-message name: refused rather than dropped."""
    _refused(CapabilityMissing, [Message(Role.USER, "Hi", name="alice")])


# -- thinking blocks ---------------------------------------------------------------


def test_own_thinking_goes_back_unchanged_and_foreign_reasoning_stays_out(validate: Any) -> None:
    """Signed and redacted reasoning this plugin made is sent back as is; other reasoning is left out."""
    signature = "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"
    assistant = Message(
        Role.ASSISTANT,
        [
            ReasoningPart("Let me think  about\nit.", signature=signature, source="anthropic"),
            ReasoningPart("", redacted="EmwKAhgBEgy3va3pzix/LafPsn4a", source="anthropic"),
            ReasoningPart("Gemini's thought", signature="gsig", source="gemini"),
            ReasoningPart("unsigned musing"),
            TextPart("Checking."),
        ],
        tool_calls=[ToolCall("toolu_1", "get_weather", {"city": "Oslo"})],
    )
    body = validate(
        [Message.user("Weather?"), assistant, Message.tool_result("toolu_1", "-3C")],
        ChatOptions(tools=(WEATHER,), reasoning=Reasoning(budget_tokens=2048)),
        model="claude-opus-4-6",
    )
    assert body["messages"][1]["content"] == [
        {"type": "thinking", "thinking": "Let me think  about\nit.", "signature": signature},
        {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4a"},
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}},
    ]


# -- options -----------------------------------------------------------------------


def test_max_tokens_is_always_sent(validate: Any) -> None:
    """The request's max_tokens, else the config's (within the model's limit), else the model's limit."""
    assert validate(options=ChatOptions(max_tokens=777))["max_tokens"] == 777
    assert validate(stream=True)["max_tokens"] == 128_000  # claude-sonnet-5-5 in the catalogue
    assert validate(model="claude-haiku-4-5", stream=True)["max_tokens"] == 64_000
    assert validate(max_tokens=2000)["max_tokens"] == 2000
    assert validate(model="claude-haiku-4-5", max_tokens=500_000)["max_tokens"] == 64_000
    assert validate(model="claude-unknown-9")["max_tokens"] == 4096


def test_a_whole_answer_gets_at_most_ten_minutes_of_output_by_default(validate: Any) -> None:
    """Without streaming the model's limit as a default is cut to 21,333; a value asked for or configured is not."""
    assert validate()["max_tokens"] == 21_333
    assert validate(max_tokens=64_000)["max_tokens"] == 64_000
    assert validate(options=ChatOptions(max_tokens=100_000))["max_tokens"] == 100_000


def test_max_tokens_beyond_the_model_is_refused() -> None:
    """Asking a model for more than it can write is refused, naming the option."""
    error = _refused(CapabilityMissing, options=ChatOptions(max_tokens=64_001), model="claude-haiku-4-5")
    assert error.option == "max_tokens"
    _refused(InvalidRequest, options=ChatOptions(max_tokens=0))


def test_sampling_and_stop_sequences(validate: Any) -> None:
    """temperature, top_p, top_k and stop sequences are sent under their API names."""
    body = validate(options=ChatOptions(temperature=0.2, top_p=0.9, top_k=40, stop=("END", "\n\nHuman:")))
    assert (body["temperature"], body["top_p"], body["top_k"]) == (0.2, 0.9, 40)
    assert body["stop_sequences"] == ["END", "\n\nHuman:"]


@pytest.mark.parametrize(
    ("options", "error", "option"),
    [
        (ChatOptions(seed=7), CapabilityMissing, "seed"),
        (ChatOptions(temperature=1.5), CapabilityMissing, "temperature"),
        (ChatOptions(temperature=float("nan")), InvalidRequest, None),
        (ChatOptions(top_p=1.5), InvalidRequest, None),
        (ChatOptions(top_k=-1), InvalidRequest, None),
        (ChatOptions(stop=("  ",)), InvalidRequest, None),
        (ChatOptions(response_format=ResponseFormat.json()), CapabilityMissing, "response_format"),
    ],
)
def test_options_the_api_cannot_honour_are_refused(
    options: ChatOptions, error: type[ProviderError], option: str | None
) -> None:
    """Each option outside what the API takes is refused before sending, never dropped."""
    refused = _refused(error, options=options)
    if option is not None:
        assert refused.option == option


@pytest.mark.parametrize("name", ["temperature", "top_p", "top_k"])
def test_api_version_2026_refuses_sampling(name: str, validate: Any) -> None:
    """Under anthropic-version 2026-10-21 a sampling setting is refused (the API would answer 400), not dropped."""
    value = 40 if name == "top_k" else 0.5
    error = _refused(CapabilityMissing, options=ChatOptions(**{name: value}), config={"api_version": "2026-10-21"})
    assert error.option == name
    body = validate(api_version="2026-10-21")
    assert not {"temperature", "top_p", "top_k"} & set(body)


def test_tools_and_every_tool_choice(validate: Any) -> None:
    """Tools carry their schema; auto / none / required / a named tool map to the API's four choices."""
    expected = {
        ToolChoice("auto"): {"type": "auto"},
        ToolChoice("none"): {"type": "none"},
        ToolChoice("required"): {"type": "any"},
        ToolChoice.function("get_weather"): {"type": "tool", "name": "get_weather"},
    }
    for choice, wire in expected.items():
        body = validate(options=ChatOptions(tools=(WEATHER,), tool_choice=choice))
        assert body["tool_choice"] == wire
        assert body["tools"] == [
            {"name": "get_weather", "description": "The weather in a city", "input_schema": dict(WEATHER.parameters)}
        ]
    assert "tool_choice" not in validate(options=ChatOptions(tool_choice=ToolChoice("auto")))


@pytest.mark.parametrize(
    "options",
    [
        ChatOptions(tools=(WEATHER,), tool_choice=ToolChoice.function("other")),
        ChatOptions(tool_choice=ToolChoice("required")),
        ChatOptions(tools=(Tool("bad name!"),)),
        ChatOptions(tools=(WEATHER, WEATHER)),
        ChatOptions(tools=(Tool("t", parameters={"type": "array"}),)),
    ],
)
def test_broken_tool_settings_are_invalid(options: ChatOptions) -> None:
    """A forced tool not offered, 'required' without tools, bad names, duplicates, non-object schemas."""
    _refused(InvalidRequest, options=options)


def test_structured_output_goes_to_output_config(validate: Any) -> None:
    """A JSON schema becomes output_config.format."""
    schema = {
        "type": "object",
        "properties": {"n": {"type": "integer"}},
        "required": ["n"],
        "additionalProperties": False,
    }
    body = validate(options=ChatOptions(response_format=ResponseFormat.json_schema(schema)))
    assert body["output_config"] == {"format": {"type": "json_schema", "schema": schema}}


# -- reasoning ---------------------------------------------------------------------


def test_effort_on_an_adaptive_model(validate: Any) -> None:
    """An effort asks for adaptive thinking with output_config.effort (minimal as low)."""
    body = validate(options=ChatOptions(reasoning=Reasoning(effort="high")))
    assert body["thinking"] == {"type": "adaptive"}
    assert body["output_config"] == {"effort": "high"}
    assert validate(options=ChatOptions(reasoning=Reasoning(effort="minimal")))["output_config"] == {"effort": "low"}
    assert "output_config" not in validate(options=ChatOptions(reasoning=Reasoning()))


def test_budget_on_an_extended_thinking_model(validate: Any) -> None:
    """A budget is extended thinking; an effort alone becomes a budget where the model has no adaptive thinking."""
    body = validate(options=ChatOptions(reasoning=Reasoning(budget_tokens=5000)), model="claude-haiku-4-5")
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 5000}
    body = validate(options=ChatOptions(reasoning=Reasoning(effort="low")), model="claude-haiku-4-5")
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    body = validate(options=ChatOptions(reasoning=Reasoning(effort="max"), max_tokens=4000), model="claude-haiku-4-5")
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 3999}


def test_thinking_off(validate: Any) -> None:
    """Effort none turns thinking off where it can be; a model that always thinks refuses."""
    assert validate(options=ChatOptions(reasoning=Reasoning(effort="none")))["thinking"] == {"type": "disabled"}
    error = _refused(
        CapabilityMissing, options=ChatOptions(reasoning=Reasoning(budget_tokens=0)), model="claude-opus-5-5"
    )
    assert error.option == "reasoning"


@pytest.mark.parametrize(
    ("options", "model", "option"),
    [
        (ChatOptions(reasoning=Reasoning(budget_tokens=4096)), "claude-opus-5-5", "reasoning.budget_tokens"),
        (ChatOptions(reasoning=Reasoning(budget_tokens=500)), "claude-haiku-4-5", "reasoning.budget_tokens"),
        (
            ChatOptions(reasoning=Reasoning(budget_tokens=3000), max_tokens=3000),
            "claude-haiku-4-5",
            "reasoning.budget_tokens",
        ),
        (ChatOptions(reasoning=Reasoning(effort="low"), max_tokens=1000), "claude-haiku-4-5", "max_tokens"),
        (ChatOptions(reasoning=Reasoning(), temperature=0.3), "claude-sonnet-5-5", "temperature"),
        (ChatOptions(reasoning=Reasoning(), top_k=5), "claude-sonnet-5-5", "top_k"),
        (ChatOptions(temperature=0.3), "claude-opus-5-5", "temperature"),
        (
            ChatOptions(tools=(WEATHER,), tool_choice=ToolChoice("required"), reasoning=Reasoning()),
            "claude-sonnet-5-5",
            "tool_choice",
        ),
        (
            ChatOptions(tools=(WEATHER,), tool_choice=ToolChoice.function("get_weather")),
            "claude-opus-5-5",
            "tool_choice",
        ),
    ],
)
def test_thinking_settings_the_model_refuses(options: ChatOptions, model: str, option: str) -> None:
    """Budgets on adaptive-only models, too-small budgets, sampling and forced tools while thinking: refused."""
    assert _refused(CapabilityMissing, options=options, model=model).option == option


def test_reasoning_on_a_model_without_thinking_is_a_missing_capability() -> None:
    """A model a refresh says cannot think refuses reasoning with the capability named."""
    learn("https://plain.example", [ModelSpec("plain", "", 10_000, 1000)])
    error = _refused(
        CapabilityMissing,
        options=ChatOptions(reasoning=Reasoning()),
        model="plain",
        config={"base_url": "https://plain.example"},
    )
    assert error.capability == "reasoning"


# -- provider options ----------------------------------------------------------------


def test_prompt_caching_marks_system_tools_and_conversation(validate: Any) -> None:
    """Each cache option puts one breakpoint (with the TTL) at the end of its part."""
    own = AnthropicOptions(cache_system=True, cache_tools=True, cache_messages=True, cache_ttl="1h")
    body = validate(
        [Message.system("Long rules."), Message.user("Hi"), Message.assistant("Hello"), Message.user("Go on")],
        ChatOptions(tools=(WEATHER,)),
        own=own,
    )
    mark = {"type": "ephemeral", "ttl": "1h"}
    assert body["system"] == [{"type": "text", "text": "Long rules.", "cache_control": mark}]
    assert body["tools"][-1]["cache_control"] == mark
    assert body["messages"][-1]["content"] == [{"type": "text", "text": "Go on", "cache_control": mark}]
    assert body["messages"][0] == {"role": "user", "content": "Hi"}
    assert json.dumps(body).count("cache_control") == 3  # the API allows four


def test_other_provider_options(validate: Any) -> None:
    """user_id, service_tier and disable_parallel_tool_use reach their request fields."""
    own = AnthropicOptions(user_id="u-42", service_tier="standard_only", disable_parallel_tool_use=True)
    body = validate(options=ChatOptions(tools=(WEATHER,)), own=own)
    assert body["metadata"] == {"user_id": "u-42"}
    assert body["service_tier"] == "standard_only"
    assert body["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}


def test_stream_flag(validate: Any) -> None:
    """A stream asks for one; a whole answer sends no stream field."""
    assert validate(stream=True)["stream"] is True
    assert "stream" not in validate()


# -- any conversation -----------------------------------------------------------------

_TEXT = st.text(min_size=0, max_size=12)
_PART = st.one_of(
    _TEXT.map(TextPart),
    st.just(ImagePart(data=PNG, media_type="image/png")),
    st.just(DocumentPart(data=b"%PDF", media_type="application/pdf")),
    st.builds(lambda t, s: ReasoningPart(t, signature=s, source="anthropic"), _TEXT, st.text(min_size=1, max_size=8)),
    st.builds(lambda d: ReasoningPart("", redacted=d, source="anthropic"), st.text(min_size=1, max_size=8)),
    st.builds(lambda t: ReasoningPart(t, signature="FOREIGN-SIG", source="other"), _TEXT),
)
_CALL = st.builds(
    ToolCall, st.text(min_size=1, max_size=6), st.sampled_from(["get_weather", "lookup"]), st.just({"a": 1})
)


@st.composite
def _message(draw: st.DrawFn) -> Message:
    role = draw(st.sampled_from([Role.SYSTEM, Role.USER, Role.ASSISTANT, Role.TOOL]))
    parts = draw(st.lists(_PART, max_size=3))
    if role is Role.TOOL:
        parts = [p for p in parts if type(p) is not ReasoningPart]
        return Message(role, parts, tool_call_id=draw(st.text(min_size=1, max_size=6)))
    if role is Role.ASSISTANT:
        return Message(role, parts, tool_calls=draw(st.lists(_CALL, max_size=2)))
    return Message(role, [p for p in parts if type(p) is not ReasoningPart])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(messages=st.lists(_message(), min_size=1, max_size=6))
def test_any_conversation_is_sent_valid_or_refused(
    messages: list[Message], request_validator: jsonschema.protocols.Validator
) -> None:
    """Whatever the conversation: a typed refusal, or a spec-valid body of alternating turns, tool results first."""
    conf = AnthropicConfig(name="anthropic", base_url=BASE)
    try:
        body = encode_request(conf, ChatRequest("claude-sonnet-5-5", messages), stream=True)
    except (InvalidRequest, CapabilityMissing) as exc:
        refused: ProviderError | None = exc
    else:
        refused = None
    if refused is not None:
        assert refused.provider == "anthropic"
        return
    assert not list(request_validator.iter_errors(body))
    roles = [turn["role"] for turn in body["messages"]]
    assert all(a != b for a, b in itertools.pairwise(roles))
    for turn in body["messages"]:
        content = turn["content"]
        if isinstance(content, list):
            kinds = [block["type"] for block in content]
            assert kinds == sorted(kinds, key=lambda k: k != "tool_result") or turn["role"] == "assistant"
            assert "tool_result" not in kinds or turn["role"] == "user"
    assert "FOREIGN-SIG" not in json.dumps(body)  # reasoning from another source never travels
