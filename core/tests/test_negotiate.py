"""The capability negotiator: what a request needs, and what a candidate lacks."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from clawdesk import (
    Capability,
    ChatOptions,
    ChatRequest,
    DocumentPart,
    ImagePart,
    Message,
    Reasoning,
    ResponseFormat,
    TextPart,
    Tool,
    ToolChoice,
    ToolChoiceMode,
    missing_capabilities,
    required_capabilities,
)
from clawdesk._negotiate import describe_missing

C = Capability


def request(messages: Any = "hi", **options: Any) -> ChatRequest:
    if isinstance(messages, str):
        messages = [Message.user(messages)]
    return ChatRequest("m", messages, ChatOptions(**options))


def test_a_plain_request_needs_chat_only() -> None:
    """A text-only request without options needs CHAT, and STREAMING too when streamed."""
    assert required_capabilities(request()) == {C.CHAT}
    assert required_capabilities(request(), stream=True) == {C.CHAT, C.STREAMING}


def test_each_feature_maps_to_its_capability() -> None:
    """Tools, JSON mode, JSON schema, images, documents and reasoning each add their capability."""
    assert C.FUNCTION_CALLING in required_capabilities(request(tools=[Tool("f")]))
    assert C.JSON_MODE in required_capabilities(request(response_format=ResponseFormat.json()))
    schema = ResponseFormat.json_schema({"type": "object"})
    assert required_capabilities(request(response_format=schema)) == {C.CHAT, C.JSON_SCHEMA}
    image = [Message.system("look"), Message.user([TextPart("what is it?"), ImagePart(url="https://x/y.png")])]
    assert C.VISION in required_capabilities(request(image))
    pdf = [Message.user(["read this", DocumentPart(data=b"%PDF-", media_type="application/pdf")])]
    assert required_capabilities(request(pdf)) == {C.CHAT, C.DOCUMENTS}
    assert C.REASONING in required_capabilities(request(reasoning=Reasoning()))
    assert C.REASONING in required_capabilities(request(reasoning=Reasoning(effort="high")))
    assert C.REASONING in required_capabilities(request(reasoning=Reasoning(budget_tokens=2048)))


def test_things_that_ask_for_nothing_add_nothing() -> None:
    """tool_choice none, a text response format, reasoning turned off and provider options need nothing more."""
    assert required_capabilities(request(tools=[Tool("f")], tool_choice=ToolChoice(ToolChoiceMode.NONE))) == {C.CHAT}
    assert required_capabilities(request(response_format=ResponseFormat())) == {C.CHAT}
    assert required_capabilities(request(reasoning=Reasoning(effort="none"))) == {C.CHAT}
    assert required_capabilities(request(reasoning=Reasoning(budget_tokens=0))) == {C.CHAT}
    # The negotiator names no vendor key: provider options never ask for a capability.
    assert required_capabilities(request(provider_options={"ollama": {"think": True}})) == {C.CHAT}


def test_unknown_capabilities_never_rule_a_candidate_out() -> None:
    """None (the provider does not know) lacks nothing; a known set lacks exactly what it does not list."""
    needed = {C.CHAT, C.VISION, C.STREAMING}
    assert missing_capabilities(needed, None) == frozenset()
    assert missing_capabilities(needed, frozenset({C.CHAT, C.STREAMING})) == {C.VISION}
    assert describe_missing({C.VISION, C.FUNCTION_CALLING}) == "lacks function_calling, vision"


features = st.fixed_dictionaries(
    {
        "stream": st.booleans(),
        "tools": st.booleans(),
        "choice_none": st.booleans(),
        "format": st.sampled_from(["none", "text", "json", "json_schema"]),
        "images": st.lists(st.booleans(), min_size=1, max_size=4),
        "reasoning": st.sampled_from([None, "none", "low", "default", 0, 1024]),
    }
)


@given(features)
def test_required_capabilities_follow_the_request(f: dict[str, Any]) -> None:
    """For any mix of features, exactly the capabilities those features ask for are required."""
    messages = [
        Message.user([ImagePart(url="data:image/png;base64,AA==")] if has_image else "text")
        for has_image in f["images"]
    ]
    formats = {
        "none": None,
        "text": ResponseFormat(),
        "json": ResponseFormat.json(),
        "json_schema": ResponseFormat.json_schema({"type": "object"}),
    }
    options: dict[str, Any] = {"response_format": formats[f["format"]]}
    if f["tools"]:
        options["tools"] = [Tool("f")]
    if f["choice_none"]:
        options["tool_choice"] = ToolChoice(ToolChoiceMode.NONE)
    thinking = f["reasoning"]
    if thinking == "default":
        options["reasoning"] = Reasoning()
    elif isinstance(thinking, str):
        options["reasoning"] = Reasoning(effort=thinking)
    elif isinstance(thinking, int):
        options["reasoning"] = Reasoning(budget_tokens=thinking)
    got = required_capabilities(request(messages, **options), stream=f["stream"])
    assert C.CHAT in got
    assert (C.STREAMING in got) == f["stream"]
    assert (C.FUNCTION_CALLING in got) == (f["tools"] and not f["choice_none"])
    assert (C.JSON_MODE in got) == (f["format"] == "json")
    assert (C.JSON_SCHEMA in got) == (f["format"] == "json_schema")
    assert (C.VISION in got) == any(f["images"])
    assert (C.REASONING in got) == (thinking in ("low", "default", 1024))
    assert C.EMBEDDING not in got


@given(st.sets(st.sampled_from(list(Capability))), st.one_of(st.none(), st.sets(st.sampled_from(list(Capability)))))
def test_missing_is_what_is_needed_but_not_offered(needed: set[Capability], offered: set[Capability] | None) -> None:
    """missing_capabilities is the set difference for a known set and empty for an unknown one."""
    missing = missing_capabilities(needed, None if offered is None else frozenset(offered))
    assert missing <= needed
    if offered is None:
        assert missing == frozenset()
    else:
        assert missing.isdisjoint(offered)
        assert missing | (needed & offered) == needed
