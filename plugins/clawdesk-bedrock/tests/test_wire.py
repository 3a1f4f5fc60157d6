"""The Converse mapping: every body checked against the service model; what cannot be carried is refused first."""

from __future__ import annotations

import base64
import itertools
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import clawdesk
from clawdesk import (
    ApiError,
    CapabilityMissing,
    ChatOptions,
    ChatRequest,
    DocumentPart,
    FinishReason,
    ImagePart,
    InvalidRequest,
    Message,
    Reasoning,
    ReasoningPart,
    ResponseFormat,
    Tool,
    ToolCall,
    ToolChoice,
)
from clawdesk_bedrock._config import BedrockOptions
from clawdesk_bedrock._wire import decode_converse, encode_converse, tool_use_id, usage_from

CLAUDE = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
NOVA = "amazon.nova-pro-v1:0"
NOVA2 = "global.amazon.nova-2-lite-v1:0"
LLAMA = "us.meta.llama3-3-70b-instruct-v1:0"
R1 = "us.deepseek.r1-v1:0"
GPT_OSS = "openai.gpt-oss-120b-1:0"
PNG = b"\x89PNG\r\n\x1a\n-not-really-a-png"


def _encode(
    helpers: Any, messages: Any = "hi", model: str = CLAUDE, *, stream: bool = False, **options: Any
) -> dict[str, Any]:
    own = options.pop("own", None)
    msgs = (Message.user(messages),) if isinstance(messages, str) else tuple(messages)
    request = ChatRequest(model, msgs, ChatOptions(**options), provider_options=own)
    body = encode_converse(request, provider="bedrock", stream=stream)
    root = "ConverseStreamRequest" if stream else "ConverseRequest"
    assert helpers.schema_errors(root, body) == []
    return body


def test_every_generation_option_is_sent_or_refused_before_sending(helpers: Any) -> None:
    """temperature, top_p, max_tokens, stop reach inferenceConfig; seed (no Converse field) is CapabilityMissing."""
    body = _encode(helpers, temperature=0.37, top_p=0.73, max_tokens=777, stop=("ck-stop",))
    assert body["inferenceConfig"] == {
        "temperature": 0.37,
        "topP": 0.73,
        "maxTokens": 777,
        "stopSequences": ["ck-stop"],
    }
    with pytest.raises(CapabilityMissing) as caught:
        _encode(helpers, seed=424242)
    assert caught.value.option == "seed"


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"temperature": 1.5}, CapabilityMissing),
        ({"temperature": -0.1}, InvalidRequest),
        ({"top_p": 1.2}, CapabilityMissing),
        ({"max_tokens": 0}, InvalidRequest),
        ({"stop": ("",)}, InvalidRequest),
        ({"top_k": -1}, InvalidRequest),
        ({"response_format": ResponseFormat.json()}, CapabilityMissing),
    ],
)
def test_values_converse_cannot_take(helpers: Any, options: dict[str, Any], error: type) -> None:
    """Out of Converse's range for some providers is CapabilityMissing; wrong for anyone is InvalidRequest."""
    with pytest.raises(error):
        _encode(helpers, **options)


@pytest.mark.parametrize(
    ("model", "fields"),
    [(CLAUDE, {"top_k": 40}), (NOVA, {"inferenceConfig": {"topK": 40}}), (NOVA2, {"inferenceConfig": {"topK": 40}})],
)
def test_top_k_in_the_models_own_field(helpers: Any, model: str, fields: dict[str, Any]) -> None:
    """top_k goes to additionalModelRequestFields in the form the model family takes."""
    assert _encode(helpers, model=model, top_k=40)["additionalModelRequestFields"] == fields


def test_top_k_for_an_unknown_family_is_refused(helpers: Any) -> None:
    """A family without a known top_k field refuses it, pointing at additional_model_request_fields."""
    with pytest.raises(CapabilityMissing, match="additional_model_request_fields"):
        _encode(helpers, model=LLAMA, top_k=40)


@pytest.mark.parametrize(
    ("model", "reasoning", "fields"),
    [
        (CLAUDE, Reasoning(budget_tokens=4000), {"thinking": {"type": "enabled", "budget_tokens": 4000}}),
        (CLAUDE, Reasoning(effort="high"), {"thinking": {"type": "enabled", "budget_tokens": 16384}}),
        (CLAUDE, Reasoning(), {"thinking": {"type": "enabled", "budget_tokens": 8192}}),
        (CLAUDE, Reasoning(effort="none"), None),
        (NOVA2, Reasoning(effort="max"), {"reasoningConfig": {"type": "enabled", "maxReasoningEffort": "high"}}),
        (GPT_OSS, Reasoning(effort="low"), {"reasoning_effort": "low"}),
        (R1, Reasoning(), None),
        (LLAMA, Reasoning(effort="none"), None),
    ],
)
def test_reasoning_in_the_models_own_field(helpers: Any, model: str, reasoning: Reasoning, fields: Any) -> None:
    """The reasoning option becomes Claude's thinking budget, Nova 2's reasoningConfig, gpt-oss's effort, or nothing."""
    body = _encode(helpers, model=model, reasoning=reasoning)
    assert body.get("additionalModelRequestFields") == fields


@pytest.mark.parametrize(
    ("model", "reasoning", "option"),
    [
        (CLAUDE, Reasoning(budget_tokens=500), "reasoning.budget_tokens"),
        (NOVA2, Reasoning(budget_tokens=4000), "reasoning.budget_tokens"),
        (GPT_OSS, Reasoning(effort="none"), "reasoning"),
        (R1, Reasoning(effort="high"), "reasoning.effort"),
        (LLAMA, Reasoning(), None),
        (NOVA, Reasoning(), None),
        ("anthropic.claude-3-haiku-20240307-v1:0", Reasoning(), None),
    ],
)
def test_reasoning_a_model_cannot_honour(helpers: Any, model: str, reasoning: Reasoning, option: str | None) -> None:
    """A budget, an effort or reasoning itself that the model cannot take is CapabilityMissing, naming what."""
    with pytest.raises(CapabilityMissing) as caught:
        _encode(helpers, model=model, reasoning=reasoning)
    assert caught.value.option == option
    if option is None:
        assert caught.value.capability is clawdesk.Capability.REASONING


def test_derived_and_given_model_fields_merge_and_conflicts_are_refused(helpers: Any) -> None:
    """additional_model_request_fields merge with what top_k/reasoning put there; a key set twice is refused."""
    own = BedrockOptions(additional_model_request_fields={"anthropic_beta": ["x"], "thinking": {"type": "enabled"}})
    with pytest.raises(InvalidRequest, match="give it once"):
        _encode(helpers, reasoning=Reasoning(budget_tokens=2048), own=own)
    own = BedrockOptions(additional_model_request_fields={"anthropic_beta": ["x"]})
    body = _encode(helpers, top_k=5, own=own)
    assert body["additionalModelRequestFields"] == {"top_k": 5, "anthropic_beta": ["x"]}


def test_system_messages_become_the_system_prompt(helpers: Any) -> None:
    """System messages, wherever they stand, join the top-level system blocks in order; blank ones carry nothing."""
    body = _encode(
        helpers, [Message.system("Be brief."), Message.user("hi"), Message.system("  "), Message.system("Be kind.")]
    )
    assert body["system"] == [{"text": "Be brief."}, {"text": "Be kind."}]
    assert body["messages"] == [{"role": "user", "content": [{"text": "hi"}]}]


def test_tool_round_trip_and_turn_merging(helpers: Any) -> None:
    """Calls become toolUse, results toolResult in one user turn (results first), and the turns alternate."""
    call1 = ToolCall("call_1", "weather", {"city": "Oslo"})
    call2 = ToolCall("call 2 has spaces!", "clock", {})
    messages = [
        Message.user("weather and time?"),
        Message.assistant("", tool_calls=[call1, call2]),
        Message.tool_result("call_1", "rainy"),
        Message.user("also, thanks"),
        Message.tool_result("call 2 has spaces!", "12:00"),
    ]
    tools = (Tool("weather", "Weather", {"type": "object"}), Tool("clock"))
    body = _encode(helpers, messages, tools=tools)
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][1]["content"] == [
        {"toolUse": {"toolUseId": "call_1", "name": "weather", "input": {"city": "Oslo"}}},
        {"toolUse": {"toolUseId": tool_use_id("call 2 has spaces!"), "name": "clock", "input": {}}},
    ]
    last = body["messages"][2]["content"]
    assert last == [
        {"toolResult": {"toolUseId": "call_1", "content": [{"text": "rainy"}]}},
        {"toolResult": {"toolUseId": tool_use_id("call 2 has spaces!"), "content": [{"text": "12:00"}]}},
        {"text": "also, thanks"},
    ]
    assert body["toolConfig"]["tools"][0] == {
        "toolSpec": {"name": "weather", "description": "Weather", "inputSchema": {"json": {"type": "object"}}}
    }
    assert "toolChoice" not in body["toolConfig"]


def test_tool_use_ids_are_mapped_stably() -> None:
    """An id Converse accepts is kept; another becomes the same valid stand-in every time."""
    assert tool_use_id("tooluse_abc:1.2-3") == "tooluse_abc:1.2-3"
    mapped = tool_use_id("call/with/slashes")
    assert mapped == tool_use_id("call/with/slashes")
    assert mapped != tool_use_id("call/with/other")
    assert len(tool_use_id("x" * 200)) <= 64


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        (ToolChoice("auto"), {"auto": {}}),
        (ToolChoice("required"), {"any": {}}),
        (ToolChoice.function("weather"), {"tool": {"name": "weather"}}),
    ],
)
def test_tool_choice(helpers: Any, choice: ToolChoice, expected: dict[str, Any]) -> None:
    """auto, required and a named function map to Converse's auto, any and tool."""
    body = _encode(helpers, tools=(Tool("weather"),), tool_choice=choice)
    assert body["toolConfig"]["toolChoice"] == expected


def test_tool_choice_none_sends_no_tools_but_keeps_tool_config_for_history(helpers: Any) -> None:
    """``none`` sends no tools; with tool blocks in the history a placeholder toolConfig is still sent."""
    body = _encode(helpers, tools=(Tool("weather"),), tool_choice=ToolChoice("none"))
    assert "toolConfig" not in body
    history = [
        Message.user("q"),
        Message.assistant(tool_calls=[ToolCall("t1", "weather", {})]),
        Message.tool_result("t1", "sunny"),
    ]
    for options in ({"tools": (Tool("weather"),), "tool_choice": ToolChoice("none")}, {}):
        body = _encode(helpers, history, **options)
        specs = [t["toolSpec"] for t in body["toolConfig"]["tools"]]
        assert [s["name"] for s in specs] == ["weather"]
        assert "not available now" in specs[0]["description"]
        assert "toolChoice" not in body["toolConfig"]


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"tools": (Tool("a b"),)}, "tools\\[0\\].name"),
        ({"tools": (Tool("a"), Tool("a"))}, "given twice"),
        ({"tools": (Tool("a"),), "tool_choice": ToolChoice.function("b")}, "not in options.tools"),
        ({"tool_choice": ToolChoice("required")}, "needs options.tools"),
    ],
)
def test_tool_mistakes_are_invalid_requests(helpers: Any, options: dict[str, Any], match: str) -> None:
    """Tool names Converse refuses, duplicates and a forced tool that was not given are refused before sending."""
    with pytest.raises(InvalidRequest, match=match):
        _encode(helpers, **options)


def test_images_as_bytes_data_urls_and_s3(helpers: Any) -> None:
    """Bytes and data: URLs travel base64-encoded with their format; s3:// travels as an S3 location."""
    data_url = "data:image/webp;base64," + base64.b64encode(b"webp-bytes").decode()
    message = Message.user(
        [
            "look",
            ImagePart(data=PNG, media_type="image/png"),
            ImagePart(url=data_url),
            ImagePart(url="s3://bucket/photo.JPG"),
        ]
    )
    content = _encode(helpers, [message])["messages"][0]["content"]
    assert content[1] == {"image": {"format": "png", "source": {"bytes": base64.b64encode(PNG).decode()}}}
    assert content[2]["image"]["format"] == "webp"
    assert base64.b64decode(content[2]["image"]["source"]["bytes"]) == b"webp-bytes"
    assert content[3] == {"image": {"format": "jpeg", "source": {"s3Location": {"uri": "s3://bucket/photo.JPG"}}}}


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (Message.user([ImagePart(url="https://example.com/cat.png")]), CapabilityMissing),
        (Message.user([ImagePart(data=b"BM..", media_type="image/bmp")]), CapabilityMissing),
        (Message.user(["x", ImagePart(url="data:image/png;base64,@@@")]), InvalidRequest),
        (Message.user([DocumentPart(data=b"%PDF", media_type="application/pdf")]), CapabilityMissing),
        (Message.user(["x", DocumentPart(data=b"{}", media_type="application/json")]), CapabilityMissing),
        (Message(clawdesk.Role.ASSISTANT, [ImagePart(data=PNG, media_type="image/png")]), CapabilityMissing),
        (Message.user("  "), InvalidRequest),
        (clawdesk.Message(clawdesk.Role.USER, "hi", name="ann"), CapabilityMissing),
    ],
)
def test_parts_converse_cannot_carry_are_refused(helpers: Any, message: Message, error: type) -> None:
    """URLs, unknown formats, broken data URLs, a lone document, images in assistant turns, blank turns, names."""
    with pytest.raises(error):
        _encode(helpers, [message])


def test_documents_get_valid_unique_names(helpers: Any) -> None:
    """Document names are adapted to Converse's alphabet and made unique; a nameless one is numbered."""
    message = Message.user(
        [
            "compare",
            DocumentPart(data=b"%PDF-1", media_type="application/pdf", name="report.v2.pdf"),
            DocumentPart(data=b"%PDF-2", media_type="application/pdf", name="report v2 pdf"),
            DocumentPart(data=b"a,b", media_type="text/csv"),
        ]
    )
    docs = [b["document"] for b in _encode(helpers, [message])["messages"][0]["content"] if "document" in b]
    assert [(d["format"], d["name"]) for d in docs] == [
        ("pdf", "report v2 pdf"),
        ("pdf", "report v2 pdf (2)"),
        ("csv", "document 3"),
    ]


def test_reasoning_parts_go_back_as_the_rules_say(helpers: Any) -> None:
    """Own signed and redacted reasoning go back unchanged; foreign or unsigned reasoning is left out for Claude."""
    assistant = Message(
        clawdesk.Role.ASSISTANT,
        [
            ReasoningPart("mine", signature="c2lnbmF0dXJl", source="bedrock"),
            ReasoningPart("", redacted="cmVkYWN0ZWQ=", source="bedrock"),
            ReasoningPart("theirs", signature="foreign-sig", source="anthropic"),
            ReasoningPart("unsigned thoughts"),
            "answer",
        ],
    )
    messages = [Message.user("q"), assistant, Message.user("next")]
    content = _encode(helpers, messages)["messages"][1]["content"]
    assert content == [
        {"reasoningContent": {"reasoningText": {"text": "mine", "signature": "c2lnbmF0dXJl"}}},
        {"reasoningContent": {"redactedContent": "cmVkYWN0ZWQ="}},
        {"text": "answer"},
    ]
    # A reasoning model that is not Claude gets unsigned text (another provider's too, without its signature).
    content = _encode(helpers, messages, model=R1)["messages"][1]["content"]
    assert {"reasoningContent": {"reasoningText": {"text": "unsigned thoughts"}}} in content
    assert {"reasoningContent": {"reasoningText": {"text": "theirs"}}} in content


def test_json_schema_output_and_provider_options(helpers: Any) -> None:
    """A JSON schema becomes outputConfig (schema as JSON text); Converse's own fields come from provider options."""
    own = BedrockOptions(
        guardrail_identifier="gr1abc",
        guardrail_version="3",
        guardrail_trace="enabled",
        guardrail_stream_processing_mode="async",
        performance_latency="optimized",
        service_tier="flex",
        request_metadata={"team": "search"},
        additional_model_response_field_paths=("/stop_sequence",),
        cache_system=True,
        cache_tools=True,
    )
    schema = {
        "type": "object",
        "properties": {"n": {"type": "integer"}},
        "required": ["n"],
        "additionalProperties": False,
    }
    body = _encode(
        helpers,
        [Message.system("sys"), Message.user("hi")],
        stream=True,
        response_format=ResponseFormat.json_schema(schema, name="count"),
        tools=(Tool("t"),),
        own=own,
    )
    structure = body["outputConfig"]["textFormat"]["structure"]["jsonSchema"]
    assert json.loads(structure["schema"]) == schema
    assert structure["name"] == "count"
    assert body["guardrailConfig"] == {
        "guardrailIdentifier": "gr1abc",
        "guardrailVersion": "3",
        "trace": "enabled",
        "streamProcessingMode": "async",
    }
    assert body["performanceConfig"] == {"latency": "optimized"}
    assert body["serviceTier"] == {"type": "flex"}
    assert body["requestMetadata"] == {"team": "search"}
    assert body["additionalModelResponseFieldPaths"] == ["/stop_sequence"]
    assert body["system"][-1] == {"cachePoint": {"type": "default"}}
    assert body["toolConfig"]["tools"][-1] == {"cachePoint": {"type": "default"}}
    # The stream processing mode has no meaning for Converse (not streamed).
    with pytest.raises(InvalidRequest, match="streams only"):
        _encode(helpers, [Message.system("sys"), Message.user("hi")], tools=(Tool("t"),), own=own)


_text = st.text(min_size=1, max_size=20).filter(str.strip)
_calls = st.lists(
    st.builds(
        ToolCall,
        st.text(min_size=1, max_size=70),
        st.from_regex(r"[a-z_]{1,10}", fullmatch=True),
        st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
    ),
    min_size=1,
    max_size=3,
)


@st.composite
def _conversations(draw: st.DrawFn) -> list[Message]:
    messages = [Message.user(draw(_text))]
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["user", "assistant", "tools", "system"]))
        if kind == "user":
            messages.append(Message.user(draw(_text)))
        elif kind == "system":
            messages.append(Message.system(draw(_text)))
        elif kind == "assistant":
            messages.append(Message.assistant(draw(_text)))
        else:
            calls = draw(_calls)
            messages.append(Message.assistant(draw(st.sampled_from(["", "calling"])), tool_calls=calls))
            messages += [Message.tool_result(c.id, draw(_text)) for c in calls]
    return messages


@given(messages=_conversations(), stream=st.booleans())
def test_any_conversation_encodes_to_a_valid_alternating_body(
    helpers: Any, messages: list[Message], stream: bool
) -> None:
    """Any mix of turns, tool calls and results gives a body the service model accepts, whose turns alternate."""
    body = _encode(helpers, messages, stream=stream)
    roles = [m["role"] for m in body["messages"]]
    assert roles[0] == "user"
    assert all(a != b for a, b in itertools.pairwise(roles))
    uses = [b["toolUse"]["toolUseId"] for m in body["messages"] for b in m["content"] if "toolUse" in b]
    results = [b["toolResult"]["toolUseId"] for m in body["messages"] for b in m["content"] if "toolResult" in b]
    assert sorted(uses) == sorted(results)
    if uses:
        assert body["toolConfig"]["tools"]


def test_decode_a_whole_answer(helpers: Any) -> None:
    """Text, signed and redacted reasoning, tool calls, citations, usage (cached tokens counted in) and metadata."""
    data = helpers.answer(
        [
            {"reasoningContent": {"reasoningText": {"text": "think", "signature": "sig"}}},
            {"reasoningContent": {"redactedContent": "cmVk"}},
            {"text": "Hello"},
            {"citationsContent": {"content": [{"text": " cited"}], "citations": [{"title": "doc"}]}},
            {"toolUse": {"toolUseId": "tu1", "name": "f", "input": {"a": [1]}}},
        ],
        stop="tool_use",
        usage={
            "inputTokens": 4,
            "outputTokens": 12,
            "totalTokens": 4270,
            "cacheReadInputTokens": 4254,
            "cacheWriteInputTokens": 0,
        },
        additionalModelResponseFields={"stop_sequence": None},
    )
    response = decode_converse(data, model=CLAUDE, provider="bedrock", request_id="rid")
    assert response.message.content[:2] == (
        ReasoningPart("think", signature="sig", source="bedrock"),
        ReasoningPart("", redacted="cmVk", source="bedrock"),
    )
    assert response.message.text == "Hello cited"
    assert response.message.tool_calls == (ToolCall("tu1", "f", {"a": [1]}),)
    assert response.finish_reason is FinishReason.TOOL_CALLS
    assert response.finish_reason_raw == "tool_use"
    assert (response.usage.input_tokens, response.usage.output_tokens, response.usage.total_tokens) == (4258, 12, 4270)
    assert response.usage.cache_read_tokens == 4254
    assert response.metadata["latency_ms"] == 420
    assert response.metadata["citations"] == [{"title": "doc"}]
    assert response.metadata["additional_model_response_fields"] == {"stop_sequence": None}


@pytest.mark.parametrize(
    ("stop", "reason"),
    [
        ("end_turn", FinishReason.STOP),
        ("stop_sequence", FinishReason.STOP),
        ("max_tokens", FinishReason.LENGTH),
        ("model_context_window_exceeded", FinishReason.LENGTH),
        ("guardrail_intervened", FinishReason.CONTENT_FILTER),
        ("content_filtered", FinishReason.CONTENT_FILTER),
    ],
)
def test_stop_reasons(helpers: Any, stop: str, reason: FinishReason) -> None:
    """Each stopReason maps to its FinishReason, the raw word kept."""
    response = decode_converse(helpers.answer(stop=stop), model=CLAUDE, provider="bedrock")
    assert (response.finish_reason, response.finish_reason_raw) == (reason, stop)


def test_malformed_output_is_a_retryable_error(helpers: Any) -> None:
    """malformed_model_output / malformed_tool_use raise a retryable ApiError instead of a broken answer."""
    for stop in ("malformed_model_output", "malformed_tool_use"):
        with pytest.raises(ApiError) as caught:
            decode_converse(helpers.answer(stop=stop), model=CLAUDE, provider="bedrock")
        assert caught.value.retryable


def test_usage_without_cache_fields() -> None:
    """Usage without cache figures is the plain counts; no usage object at all is None."""
    usage = usage_from({"inputTokens": 3, "outputTokens": 2, "totalTokens": 5})
    assert usage is not None
    assert (usage.input_tokens, usage.output_tokens, usage.cache_read_tokens) == (3, 2, None)
    assert usage_from(None) is None
