"""The request mapping, as pure functions: every body is checked against the v1beta spec and the SDK's types."""

from __future__ import annotations

import base64
import json
import sys
from typing import Any

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
)
from clawdesk.provider import stable_call_id
from clawdesk_gemini._config import GeminiOptions
from clawdesk_gemini._wire import SKIP_SIGNATURE, decode_response, encode_request, model_path

W = sys.modules["clawdesk_gemini_testwire"]
GW = W.GeminiWire()
SIG = "CiQBj2NhbGz7/78HCAkKCwwNDg8QERITFBUWFxgZGhscHQ=="
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(40))


def encode(
    messages: Any = "hi",
    options: ChatOptions | None = None,
    *,
    model: str = "gemini-2.5-flash",
    own: GeminiOptions | None = None,
    capabilities: frozenset[Capability] | None = None,
) -> dict[str, Any]:
    """The body for a request, checked as a request Gemini accepts."""
    chat = (Message.user(messages),) if isinstance(messages, str) else tuple(messages)
    request = ChatRequest(model, chat, options or ChatOptions(), provider_options=own)
    body = encode_request(request, provider="gemini", capabilities=capabilities)
    W.check_request(body)
    return body


# -- messages ------------------------------------------------------------------------


def test_roles_and_system_instruction() -> None:
    """Leading system messages become systemInstruction; user and assistant turns are user and model."""
    body = encode(
        [Message.system("Be brief."), Message.system("Use French."), Message.user("Hi"), Message.assistant("Salut")]
    )
    assert body == {
        "contents": [{"role": "user", "parts": [{"text": "Hi"}]}, {"role": "model", "parts": [{"text": "Salut"}]}],
        "systemInstruction": {"parts": [{"text": "Be brief."}, {"text": "Use French."}]},
    }


@pytest.mark.parametrize(
    ("part", "expected"),
    [
        (
            ImagePart(data=PNG, media_type="image/png"),
            {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(PNG).decode()}},
        ),
        (
            ImagePart(url="data:image/png;base64," + base64.b64encode(PNG).decode()),
            {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(PNG).decode()}},
        ),
        (
            DocumentPart(url="data:text/plain,hello%20world"),
            {"inlineData": {"mimeType": "text/plain", "data": base64.b64encode(b"hello world").decode()}},
        ),
        (
            ImagePart(url="https://example.com/cat.JPG?size=2"),
            {"fileData": {"fileUri": "https://example.com/cat.JPG?size=2", "mimeType": "image/jpeg"}},
        ),
        (
            DocumentPart(url="https://generativelanguage.googleapis.com/v1beta/files/abc123"),
            {"fileData": {"fileUri": "https://generativelanguage.googleapis.com/v1beta/files/abc123"}},
        ),
        (
            DocumentPart(url="gs://bucket/report", media_type="application/pdf"),
            {"fileData": {"fileUri": "gs://bucket/report", "mimeType": "application/pdf"}},
        ),
        (
            DocumentPart(data=b"%PDF-1.7", media_type="application/pdf"),
            {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0xLjc="}},
        ),
    ],
)
def test_images_and_documents(part: ImagePart | DocumentPart, expected: dict[str, Any]) -> None:
    """Bytes and data: URLs go inline (base64); http(s) and gs:// URLs as fileData, with a MIME type where known."""
    body = encode([Message.user(["Look:", part])])
    assert body["contents"][0]["parts"] == [{"text": "Look:"}, expected]


@pytest.mark.parametrize(
    ("part", "match"),
    [
        (ImagePart(url="ftp://example.com/a.png"), "ftp"),
        (ImagePart(data=b"x", media_type="application/pdf"), "not an image"),
        (ImagePart(url="data:text/plain,hi"), "not an image"),
        (ImagePart(url="data:image/png;base64,@@@"), "not valid base64"),
        (ImagePart(url="data:image/png;base64"), "','"),
    ],
)
def test_bad_media_is_refused(part: ImagePart, match: str) -> None:
    """Media Gemini cannot read is InvalidRequest with a reason, before anything is sent."""
    with pytest.raises(InvalidRequest, match=match):
        encode([Message.user(["x", part])])


def test_refusals_in_the_conversation() -> None:
    """What Gemini's wire cannot say is refused: the right error kind, with the message index."""
    with pytest.raises(CapabilityMissing, match=r"messages\[1\].*only before"):
        encode([Message.user("a"), Message.system("late")])
    with pytest.raises(CapabilityMissing, match="text only"):
        encode([Message(Role.SYSTEM, ["x", ImagePart(data=PNG, media_type="image/png")]), Message.user("a")])
    with pytest.raises(CapabilityMissing, match="no name"):
        encode([Message(Role.USER, "a", name="alice")])
    with pytest.raises(InvalidRequest, match="empty user message"):
        encode([Message.user("")])
    with pytest.raises(InvalidRequest, match="at least one user message"):
        encode([Message.system("only a system message")])


def test_empty_assistant_turn_is_left_out() -> None:
    """An assistant turn with nothing in it (a filtered answer kept in history) is not sent: Gemini refuses it."""
    body = encode([Message.user("a"), Message.assistant(""), Message.user("b")])
    assert [c["role"] for c in body["contents"]] == ["user", "user"]


# -- history: signatures, reasoning, calls ---------------------------------------------


def test_reasoning_from_others_and_ours() -> None:
    """Gemini's reasoning goes back signed, unsigned reasoning as a thought; others' signed or redacted is left out."""
    assistant = Message(
        Role.ASSISTANT,
        (
            ReasoningPart("ours", signature=SIG, source="gemini"),
            ReasoningPart("unsigned, from anyone"),
            ReasoningPart("anthropic's", signature="EqQBCkYIBxgCKkA", source="anthropic"),
            ReasoningPart("", redacted="opaque", source="anthropic"),
            TextPart("answer", signature=SIG),
        ),
    )
    body = encode([Message.user("q"), assistant, Message.user("more")])
    assert body["contents"][1]["parts"] == [
        {"text": "ours", "thought": True, "thoughtSignature": SIG},
        {"text": "unsigned, from anyone", "thought": True},
        {"text": "answer", "thoughtSignature": SIG},
    ]


@pytest.mark.parametrize(("model", "dummy"), [("gemini-3-flash-preview", True), ("gemini-2.5-flash", False)])
def test_unsigned_calls_get_the_stand_in_on_gemini3(model: str, dummy: bool) -> None:
    """Unsigned calls (another provider's history) get Google's stand-in on the first call, on Gemini 3 only."""
    calls = (ToolCall("toolu_01A", "f", {"x": 1}), ToolCall("toolu_01B", "g", {}))
    history = [
        Message.user("q"),
        Message.assistant(tool_calls=calls),
        Message.tool_result("toolu_01A", "1", name="f"),
        Message.tool_result("toolu_01B", "2", name="g"),
    ]
    model_parts = encode(history, model=model)["contents"][1]["parts"]
    assert [p.get("thoughtSignature") for p in model_parts] == ([SKIP_SIGNATURE, None] if dummy else [None, None])
    # Ids another provider made are kept (Gemini matches them to the responses' ids).
    assert [p["functionCall"]["id"] for p in model_parts] == ["toolu_01A", "toolu_01B"]


def test_signed_calls_keep_their_own_signature_only() -> None:
    """A turn with a signed call is sent as it is: no stand-in added anywhere, even on Gemini 3."""
    calls = (ToolCall("fc1", "f", {}, signature=SIG), ToolCall("fc2", "f", {}))
    parts = encode(
        [
            Message.user("q"),
            Message.assistant(tool_calls=calls),
            Message.tool_result("fc1", "a"),
            Message.tool_result("fc2", "b"),
        ],
        model="gemini-3-pro-preview",
    )["contents"][1]["parts"]
    assert [p.get("thoughtSignature") for p in parts] == [SIG, None]


def test_tool_results_share_one_turn_matched_by_name() -> None:
    """Consecutive tool results are one user turn of functionResponse parts; names come from the calls."""
    minted = stable_call_id("r", 0, "f", {})
    history = [
        Message.user("q"),
        Message.assistant(tool_calls=[ToolCall(minted, "f", {}), ToolCall("fc-2", "g", {"a": 1})]),
        Message.tool_result(minted, '{"ok": true, "n": [1, 2]}'),
        Message.tool_result("fc-2", "[1, 2]"),
        Message.user("thanks"),
    ]
    contents = encode(history)["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user", "user"]
    assert contents[2]["parts"] == [
        # A JSON object result goes as the object; the id clawdesk made is never sent as Gemini's own.
        {"functionResponse": {"name": "f", "response": {"ok": True, "n": [1, 2]}}},
        {"functionResponse": {"name": "g", "response": {"result": "[1, 2]"}, "id": "fc-2"}},
    ]
    assert "id" not in contents[1]["parts"][0]["functionCall"]


def test_tool_result_without_a_name_is_refused() -> None:
    """A result whose call is not in the history and that names no tool cannot be matched: InvalidRequest."""
    with pytest.raises(InvalidRequest, match="by the tool's name"):
        encode([Message.user("q"), Message.tool_result("lost", "x")])


@pytest.mark.parametrize(("model", "allowed"), [("gemini-3-flash-preview", True), ("gemini-2.5-flash", False)])
def test_images_in_tool_results(model: str, allowed: bool) -> None:
    """An image a tool returned goes inline in functionResponse.parts on Gemini 3, and is refused elsewhere."""
    history = [
        Message.user("q"),
        Message.assistant(tool_calls=[ToolCall("fc1", "snap", {})]),
        Message.tool_result("fc1", ["the picture", ImagePart(data=PNG, media_type="image/png")]),
    ]
    if not allowed:
        with pytest.raises(CapabilityMissing, match="Gemini 3"):
            encode(history, model=model)
        return
    response = encode(history, model=model)["contents"][2]["parts"][0]["functionResponse"]
    assert response["response"] == {"result": "the picture"}
    assert response["parts"] == [{"inlineData": {"mimeType": "image/png", "data": base64.b64encode(PNG).decode()}}]


# -- tools ---------------------------------------------------------------------------

# JSON Schema that Gemini's OpenAPI-subset `parameters` refuses with 400 "Unknown name".
RICH_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {"unit": {"type": "string", "const": "celsius"}},
    "properties": {
        "city": {"type": "string", "minLength": 1},
        "unit": {"$ref": "#/$defs/unit"},
        "tags": {
            "type": "object",
            "propertyNames": {"pattern": "^[a-z]+$"},
            "additionalProperties": {"type": "number"},
        },
        "when": {"type": ["string", "null"], "format": "date"},
    },
    "required": ["city"],
    "additionalProperties": False,
}


def test_tool_schemas_go_whole_as_json_schema() -> None:
    """Tool parameters travel unchanged in parametersJsonSchema, never cut down into the `parameters` subset."""
    body = encode("weather?", ChatOptions(tools=(Tool("get_weather", "", RICH_SCHEMA),)))
    (declaration,) = body["tools"][0]["functionDeclarations"]
    assert declaration == {"name": "get_weather", "description": "", "parametersJsonSchema": RICH_SCHEMA}


@pytest.mark.parametrize(
    ("choice", "config"),
    [
        (ToolChoice("auto"), {"mode": "AUTO"}),
        (ToolChoice("none"), {"mode": "NONE"}),
        (ToolChoice("required"), {"mode": "ANY"}),
        (ToolChoice.function("b"), {"mode": "ANY", "allowedFunctionNames": ["b"]}),
    ],
)
def test_tool_choice_modes(choice: ToolChoice, config: dict[str, Any]) -> None:
    """tool_choice maps to functionCallingConfig: AUTO, NONE, ANY, or ANY limited to one function."""
    tools = (Tool("a"), Tool("b"))
    assert encode("x", ChatOptions(tools=tools, tool_choice=choice))["toolConfig"] == {"functionCallingConfig": config}


def test_tool_refusals() -> None:
    """Bad names, twice the same tool, a forced tool not given, 'required' without tools, a non-object schema."""
    with pytest.raises(InvalidRequest, match="letter"):
        encode("x", ChatOptions(tools=(Tool("get weather"),)))
    with pytest.raises(InvalidRequest, match="twice"):
        encode("x", ChatOptions(tools=(Tool("a"), Tool("a"))))
    with pytest.raises(InvalidRequest, match=r"not in options\.tools"):
        encode("x", ChatOptions(tools=(Tool("a"),), tool_choice=ToolChoice.function("b")))
    with pytest.raises(InvalidRequest, match=r"needs options\.tools"):
        encode("x", ChatOptions(tool_choice=ToolChoice("required")))
    with pytest.raises(InvalidRequest, match="object schema"):
        encode("x", ChatOptions(tools=(Tool("a", parameters={"type": "array"}),)))
    assert "toolConfig" not in encode("x", ChatOptions(tool_choice=ToolChoice("auto")))


# -- generation config ----------------------------------------------------------------


def test_generation_config_fields() -> None:
    """Sampling options map to generationConfig's camelCase fields; a JSON schema goes as responseJsonSchema."""
    schema = {"type": "object", "properties": {"a": {"const": 1}}, "additionalProperties": False}
    options = ChatOptions(
        temperature=0.2,
        top_p=0.9,
        top_k=40,
        max_tokens=512,
        stop=("END", "###"),
        seed=-7,
        response_format=ResponseFormat.json_schema(schema),
    )
    assert encode("x", options)["generationConfig"] == {
        "temperature": 0.2,
        "topP": 0.9,
        "topK": 40,
        "maxOutputTokens": 512,
        "stopSequences": ["END", "###"],
        "seed": -7,
        "responseMimeType": "application/json",
        "responseJsonSchema": schema,
    }
    assert encode("x", ChatOptions(response_format=ResponseFormat.json()))["generationConfig"] == {
        "responseMimeType": "application/json"
    }


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        (ChatOptions(temperature=2.5), InvalidRequest, "0 to 2"),
        (ChatOptions(top_p=-0.1), InvalidRequest, "top_p"),
        (ChatOptions(top_k=0), InvalidRequest, "top_k"),
        (ChatOptions(max_tokens=0), InvalidRequest, "max_tokens"),
        (ChatOptions(seed=2**40), InvalidRequest, "32-bit"),
        (ChatOptions(stop=("a", "b", "c", "d", "e", "f")), CapabilityMissing, "at most 5"),
        (ChatOptions(stop=("",)), InvalidRequest, "non-empty"),
    ],
)
def test_out_of_range_options(options: ChatOptions, error: type[Exception], match: str) -> None:
    """Numbers Gemini refuses are refused first; six stop sequences are more than Gemini takes (another may)."""
    with pytest.raises(error, match=match):
        encode("x", options)


def test_provider_options() -> None:
    """Gemini's own fields from provider_options reach the body under their wire names."""
    own = GeminiOptions(
        safety_settings={"HARM_CATEGORY_HARASSMENT": "BLOCK_ONLY_HIGH", "HARM_CATEGORY_DANGEROUS_CONTENT": "OFF"},
        presence_penalty=0.5,
        frequency_penalty=-0.25,
        media_resolution="low",
    )
    body = encode("x", own=own)
    assert body["safetySettings"] == [
        {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"},
        {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "threshold": "OFF"},
    ]
    assert body["generationConfig"] == {
        "presencePenalty": 0.5,
        "frequencyPenalty": -0.25,
        "mediaResolution": "MEDIA_RESOLUTION_LOW",
    }
    cached = encode("x", own=GeminiOptions(cached_content="cachedContents/abc123"))
    assert cached["cachedContent"] == "cachedContents/abc123"
    with pytest.raises(InvalidRequest, match="cached content"):
        encode([Message.system("s"), Message.user("x")], own=GeminiOptions(cached_content="cachedContents/abc123"))


@pytest.mark.parametrize(
    "bad",
    [
        {"safety_settings": {"HARM_CATEGORY_DEROGATORY": "OFF"}},
        {"safety_settings": {"HARM_CATEGORY_HARASSMENT": "SOME"}},
        {"cached_content": "abc"},
        {"presence_penalty": 2.0},
        {"thinking_budget": -2},
    ],
)
def test_bad_provider_options(bad: dict[str, Any]) -> None:
    """Values Gemini would refuse are refused when the options are built."""
    with pytest.raises(ValueError):
        GeminiOptions(**bad)


# -- reasoning -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "reasoning", "expected"),
    [
        ("gemini-2.5-flash", Reasoning(), {"includeThoughts": True, "thinkingBudget": -1}),
        ("gemini-2.5-flash", Reasoning(budget_tokens=2048), {"includeThoughts": True, "thinkingBudget": 2048}),
        ("gemini-2.5-flash", Reasoning(effort="low"), {"includeThoughts": True, "thinkingBudget": 1024}),
        ("gemini-2.5-flash", Reasoning(effort="max"), {"includeThoughts": True, "thinkingBudget": 24576}),
        ("gemini-2.5-pro", Reasoning(effort="max"), {"includeThoughts": True, "thinkingBudget": 32768}),
        ("gemini-2.5-flash-lite", Reasoning(effort="minimal"), {"includeThoughts": True, "thinkingBudget": 512}),
        ("gemini-2.5-flash", Reasoning(effort="none"), {"thinkingBudget": 0}),
        ("gemini-2.5-flash-lite", Reasoning(budget_tokens=0), {"thinkingBudget": 0}),
        ("gemini-3-flash-preview", Reasoning(effort="medium"), {"includeThoughts": True, "thinkingLevel": "MEDIUM"}),
        ("gemini-3-flash-preview", Reasoning(effort="none"), {"thinkingLevel": "MINIMAL"}),
        ("gemini-3.1-pro-preview", Reasoning(effort="minimal"), {"includeThoughts": True, "thinkingLevel": "LOW"}),
        ("gemini-3.1-pro-preview", Reasoning(budget_tokens=4096), {"includeThoughts": True, "thinkingBudget": 4096}),
        ("gemini-3-flash-preview", Reasoning(), {"includeThoughts": True}),
        ("gemini-flash-latest", Reasoning(effort="high"), {"includeThoughts": True, "thinkingBudget": 24576}),
        ("gemini-2.0-flash", Reasoning(effort="none"), None),
    ],
)
def test_reasoning_to_thinking_config(model: str, reasoning: Reasoning, expected: dict[str, Any] | None) -> None:
    """Reasoning maps to thinkingLevel on Gemini 3, to thinkingBudget on 2.5 (and unknown models), with summaries."""
    config = encode("x", ChatOptions(reasoning=reasoning), model=model).get("generationConfig", {})
    assert config.get("thinkingConfig") == expected


@pytest.mark.parametrize(
    ("model", "reasoning", "own", "option"),
    [
        ("gemini-2.5-pro", Reasoning(effort="none"), None, "reasoning.effort"),
        ("gemini-2.5-pro", Reasoning(budget_tokens=0), None, "reasoning.budget_tokens"),
        ("gemini-2.5-flash", Reasoning(budget_tokens=50_000), None, "reasoning.budget_tokens"),
        ("gemini-2.5-flash-lite", Reasoning(budget_tokens=100), None, "reasoning.budget_tokens"),
        ("gemini-3.1-pro-preview", Reasoning(effort="none"), None, "reasoning.effort"),
        ("gemini-2.0-flash", Reasoning(), None, None),
        ("gemini-2.5-flash", None, GeminiOptions(thinking_level="low"), "provider_options.gemini.thinking_level"),
    ],
)
def test_reasoning_a_model_cannot_honour(
    model: str, reasoning: Reasoning | None, own: GeminiOptions | None, option: str | None
) -> None:
    """Reasoning settings a model cannot take are CapabilityMissing (another model may), naming the option."""
    with pytest.raises(CapabilityMissing) as info:
        encode("x", ChatOptions(reasoning=reasoning), model=model, own=own)
    assert info.value.option == option
    if option is None:
        assert info.value.capability is Capability.REASONING


def test_thinking_provider_options_win() -> None:
    """thinking_level / thinking_budget / include_thoughts from provider_options override ``reasoning``."""
    level = encode(
        "x",
        ChatOptions(reasoning=Reasoning(effort="low")),
        model="gemini-3-flash-preview",
        own=GeminiOptions(thinking_level="high"),
    )
    assert level["generationConfig"]["thinkingConfig"] == {"includeThoughts": True, "thinkingLevel": "HIGH"}
    quiet = encode(
        "x", ChatOptions(reasoning=Reasoning()), own=GeminiOptions(include_thoughts=False, thinking_budget=300)
    )
    assert quiet["generationConfig"]["thinkingConfig"] == {"includeThoughts": False, "thinkingBudget": 300}
    with pytest.raises(InvalidRequest, match="together"):
        encode("x", own=GeminiOptions(thinking_level="low", thinking_budget=10), model="gemini-3-flash-preview")


# -- what the model can do --------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "messages", "capability"),
    [
        (ChatOptions(tools=(Tool("f"),)), "x", Capability.FUNCTION_CALLING),
        (ChatOptions(response_format=ResponseFormat.json()), "x", Capability.JSON_MODE),
        (
            ChatOptions(),
            [Message.user(["x", DocumentPart(data=b"%PDF", media_type="application/pdf")])],
            Capability.DOCUMENTS,
        ),
    ],
)
def test_known_gaps_are_refused(options: ChatOptions, messages: Any, capability: Capability) -> None:
    """A model known to lack a capability (Gemma here) gets CapabilityMissing naming it, before sending."""
    gemma = frozenset({Capability.CHAT, Capability.STREAMING, Capability.VISION})
    with pytest.raises(CapabilityMissing) as info:
        encode(messages, options, model="gemma-3-27b-it", capabilities=gemma)
    assert info.value.capability is capability


def test_gemma_takes_no_system_instruction() -> None:
    """Gemma models on the Gemini API refuse a system instruction: CapabilityMissing before sending."""
    with pytest.raises(CapabilityMissing, match="system instruction"):
        encode([Message.system("s"), Message.user("x")], model="gemma-3-27b-it")


@pytest.mark.parametrize(
    ("model", "path"),
    [
        ("gemini-2.5-flash", "/v1beta/models/gemini-2.5-flash"),
        ("models/gemini-2.5-flash", "/v1beta/models/gemini-2.5-flash"),
        ("tunedModels/my-model-7", "/v1beta/tunedModels/my-model-7"),
    ],
)
def test_model_paths(model: str, path: str) -> None:
    """Model ids become their URL path; the listing's models/ prefix and tuned models are understood."""
    assert model_path(model, "gemini") == path


@pytest.mark.parametrize("model", ["", "../../v1/files", "gemini?key=x", "a/b", "gemini 2"])
def test_model_ids_that_would_change_the_url(model: str) -> None:
    """An id that is not a model id is refused instead of being pasted into the URL."""
    with pytest.raises(InvalidRequest, match="not a Gemini model id"):
        model_path(model, "gemini")


# -- properties: what Gemini sent comes back unchanged -----------------------------------

_b64 = st.binary(min_size=1, max_size=24).map(lambda b: base64.b64encode(b).decode())
_text = st.text(max_size=20)
_json_value = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
_name = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True)


@st.composite
def _model_parts(draw: st.DrawFn) -> list[dict[str, Any]]:
    """A model turn as Gemini sends one: thoughts and text (each maybe signed), then calls (the first maybe signed)."""
    parts: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(0, 3))):
        thought = draw(st.booleans())
        text = draw(_text.filter(bool))
        parts.append(GW.text(text, thought=thought, signature=draw(st.none() | _b64)))
    # An answer of thoughts alone is an empty answer (an error): say something, or call.
    said = any(not p.get("thought") for p in parts)
    for _ in range(draw(st.integers(0 if said else 1, 3))):
        args = draw(st.dictionaries(st.text(max_size=6), _json_value, max_size=3))
        parts.append(GW.call(draw(_name), args, signature=draw(st.none() | _b64)))
    return parts


@settings(max_examples=150, deadline=None)
@given(parts=_model_parts(), model=st.sampled_from(["gemini-2.5-flash", "gemini-3-flash-preview"]))
def test_model_turn_goes_back_as_it_came(parts: list[dict[str, Any]], model: str) -> None:
    """Any model turn, decoded and sent back as history, is the same parts: texts, thoughts, args, signatures."""
    GW.model = model
    answer = GW.response(*parts)
    message = decode_response(json.loads(json.dumps(answer)), model=model, provider="gemini").message
    results = [Message.tool_result(c.id, "ok") for c in message.tool_calls]
    body = encode([Message.user("q"), message, *results], model=model)
    sent = body["contents"][1]["parts"]
    calls = [p for p in parts if "functionCall" in p]
    if model.startswith("gemini-3") and calls and not any("thoughtSignature" in c for c in calls):
        # The one addition: Google's stand-in on an unsigned call turn, for Gemini 3.
        assert sent[len(parts) - len(calls)].pop("thoughtSignature") == SKIP_SIGNATURE
    assert sent == parts
    if calls:
        responses = body["contents"][2]["parts"]
        assert [r["functionResponse"]["name"] for r in responses] == [c["functionCall"]["name"] for c in calls]


def test_assistant_media_text_format_and_no_messages() -> None:
    """Media in an assistant turn goes back inline; a text format is text/plain; no messages at all is refused."""
    body = encode(
        [Message.user("draw"), Message.assistant([ImagePart(data=PNG, media_type="image/png")]), Message.user("again")],
        ChatOptions(response_format=ResponseFormat()),
    )
    assert body["contents"][1]["parts"] == [
        {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(PNG).decode()}}
    ]
    assert body["generationConfig"] == {"responseMimeType": "text/plain"}
    with pytest.raises(InvalidRequest, match="at least one message"):
        encode([])
    with pytest.raises(CapabilityMissing) as info:
        encode(
            "x",
            ChatOptions(response_format=ResponseFormat.json_schema({"type": "object"})),
            capabilities=frozenset({Capability.CHAT}),
        )
    assert info.value.capability is Capability.JSON_SCHEMA
