"""What the plugin sends, without a network: OpenAI's schema for every body, its catalogue's refusals, its options."""

from __future__ import annotations

import json
import typing
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clawdesk import (
    Capability,
    CapabilityMissing,
    ChatOptions,
    ChatRequest,
    ImagePart,
    InvalidRequest,
    Message,
    Reasoning,
    ResponseFormat,
    Tool,
    ToolCall,
    ToolChoice,
    ToolChoiceMode,
)
from clawdesk._options import provider_options_for
from clawdesk.provider import encode_json
from clawdesk.testing.strategies import chat_requests
from clawdesk_openai._api import _body
from clawdesk_openai._config import DialectName, OpenAIConfig, OpenAIOptions
from clawdesk_openai_compat import DIALECTS

OPENAI = OpenAIConfig(dialect="openai", name="openai", base_url="https://api.openai.com/v1")


def body(model: str = "gpt-4o-mini", *messages: Message, own: OpenAIOptions | None = None, **options: Any) -> Any:
    request = ChatRequest(model, messages or (Message.user("hi"),), ChatOptions(**options), provider_options=own)
    return _body(OPENAI, request, "openai", stream=False)


def _options_table(table: dict[str, Any]) -> Any:
    """``provider_options={"openai": table}`` structured the way core does before calling the hook."""
    import clawdesk_openai._plugin
    from clawdesk import Registry

    provider = Registry(discover=False).register(clawdesk_openai._plugin)
    return provider_options_for(provider, "openai", ChatOptions(provider_options={"openai": table}))


def test_dialect_setting_names_every_known_server() -> None:
    """The dialect key accepts auto and exactly the servers the shared wire knows."""
    assert set(typing.get_args(DialectName)) == {"auto", *DIALECTS}


def test_every_provider_option_is_an_openai_field(request_validator: jsonschema.protocols.Validator) -> None:
    """Each of the openai provider options is a real CreateChatCompletionRequest field and passes the schema."""
    table = {
        "parallel_tool_calls": False,
        "presence_penalty": 0.5,
        "frequency_penalty": -1,
        "logit_bias": {"50256": -100},
        "safety_identifier": "user-hash",
        "user": "legacy-user",
        "store": True,
        "metadata": {"team": "a"},
        "service_tier": "flex",
        "prompt_cache_key": "conv-1",
        "verbosity": "low",
    }
    options = _options_table(table)
    assert isinstance(options, OpenAIOptions)
    sent = body(own=options)
    assert {key: sent[key] for key in table} == table
    assert not [e.message for e in request_validator.iter_errors(sent)]


@pytest.mark.parametrize(
    ("table", "match"),
    [
        ({"num_ctx": 1}, r"provider_options\.openai\.num_ctx: unknown key"),
        ({"presence_penalty": 3}, r"presence_penalty: expected a number from -2 to 2"),
        ({"logit_bias": {"abc": 1}}, r"logit_bias: expected token ids"),
        ({"logit_bias": {"1": 200}}, r"logit_bias: expected a bias from -100 to 100"),
        ({"service_tier": "gold"}, r"service_tier: expected one of"),
        ({"metadata": {"a": 1}}, r"metadata: expected a table of strings"),
    ],
)
def test_provider_options_are_checked(table: dict[str, Any], match: str) -> None:
    """Unknown keys and wrong values in provider_options.openai are InvalidRequest naming the key path."""
    with pytest.raises(InvalidRequest, match=match):
        _options_table(table)


def test_max_completion_tokens_for_openai() -> None:
    """OpenAI gets max_completion_tokens, which every model of it takes (its reasoning models refuse max_tokens)."""
    sent = body("o3", max_tokens=100)
    assert sent["max_completion_tokens"] == 100
    assert "max_tokens" not in sent


@pytest.mark.parametrize(
    ("model", "options", "option"),
    [
        ("o3", {"temperature": 0.2}, "temperature"),
        ("gpt-5", {"top_p": 0.5}, "top_p"),
        ("o4-mini", {"stop": ["x"]}, "stop"),
    ],
)
def test_reasoning_models_refuse_sampling_settings_before_sending(
    model: str, options: dict[str, Any], option: str
) -> None:
    """What OpenAI's reasoning models refuse is CapabilityMissing naming the option: another model may take it."""
    with pytest.raises(CapabilityMissing) as info:
        body(model, **options)
    assert (info.value.option, info.value.provider) == (option, "openai")


def test_reasoning_models_refuse_penalties_and_accept_the_default_temperature() -> None:
    """Penalties are refused for a reasoning model; temperature 1 (its only value) is sent as is."""
    with pytest.raises(CapabilityMissing, match="presence_penalty"):
        body("gpt-5-mini", own=OpenAIOptions(presence_penalty=0.1))
    assert body("gpt-5-mini", temperature=1)["temperature"] == 1
    assert body("gpt-5-chat-latest", temperature=0.3)["temperature"] == 0.3  # the chat variant does not reason


@pytest.mark.parametrize(
    ("model", "messages", "options", "capability"),
    [
        ("gpt-3.5-turbo", [Message.user(["x", ImagePart(url="https://x/a.png")])], {}, Capability.VISION),
        ("gpt-4o", [Message.user("x")], {"reasoning": Reasoning(effort="low")}, Capability.REASONING),
        ("o1-mini", [Message.user("x")], {"tools": [Tool("f")]}, Capability.FUNCTION_CALLING),
        ("text-embedding-3-small", [Message.user("x")], {}, Capability.CHAT),
    ],
)
def test_a_known_model_without_the_capability_is_refused(
    model: str, messages: list[Message], options: dict[str, Any], capability: Capability
) -> None:
    """A request needing what a known OpenAI model cannot do is CapabilityMissing before sending."""
    with pytest.raises(CapabilityMissing) as info:
        body(model, *messages, **options)
    assert info.value.capability is capability


def test_a_fine_tuned_model_is_its_base_models_family() -> None:
    """ft:gpt-4o-mini:... takes tools like gpt-4o-mini; ft:o3-... refuses what o3 refuses."""
    assert body("ft:gpt-4o-mini:acme::abc123", tools=[Tool("f")])["tools"][0]["function"]["name"] == "f"
    with pytest.raises(CapabilityMissing, match="temperature"):
        body("ft:o3-2025-04-16:acme::x", temperature=0.3)


def test_reasoning_off_for_a_model_that_does_not_reason_asks_nothing() -> None:
    """Reasoning turned off is honoured for gpt-4o by not asking (it refuses reasoning_effort); o3 gets it."""
    assert "reasoning_effort" not in body("gpt-4o", reasoning=Reasoning(effort="none"))
    assert body("o3", reasoning=Reasoning(effort="high"))["reasoning_effort"] == "high"
    assert body("some-future-model", reasoning=Reasoning())["reasoning_effort"] == "medium"


def test_a_named_compatible_instance_gets_its_dialect() -> None:
    """A config with a compatible dialect sends max_tokens, top_k where taken, and no catalogue refusal."""
    vllm = OpenAIConfig(dialect="vllm", name="gpu", base_url="http://10.0.0.2:8000/v1")
    request = ChatRequest("o3", [Message.user("x")], ChatOptions(max_tokens=5, top_k=20, temperature=0.2))
    sent = _body(vllm, request, "gpu", stream=True)
    assert (sent["max_tokens"], sent["top_k"], sent["temperature"]) == (5, 20, 0.2)
    assert sent["stream_options"] == {"include_usage": True}


_own = st.builds(
    OpenAIOptions,
    parallel_tool_calls=st.none() | st.booleans(),
    presence_penalty=st.none() | st.floats(-2, 2),
    logit_bias=st.none() | st.just({"42": 5}),
    store=st.none() | st.booleans(),
    service_tier=st.sampled_from([None, "auto", "flex"]),
    verbosity=st.sampled_from([None, "low", "high"]),
    metadata=st.none() | st.just({"k": "v"}),
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    request=chat_requests(model="gpt-4o"),
    model=st.sampled_from(["gpt-4o", "o3", "gpt-5-nano", "an-unknown-model"]),
    own=_own,
    stream=st.booleans(),
)
def test_every_body_sent_to_openai_fits_its_schema(
    request_validator: jsonschema.protocols.Validator,
    request: ChatRequest,
    model: str,
    own: OpenAIOptions,
    stream: bool,
) -> None:
    """Whatever the request, the plugin sends a body that OpenAI's CreateChatCompletionRequest schema (closed to
    unknown fields) accepts, or refuses it before sending with InvalidRequest or CapabilityMissing."""
    request = ChatRequest(model, request.messages, request.options, provider_options=own)
    try:
        sent = json.loads(encode_json(_body(OPENAI, request, "openai", stream=stream), provider="openai"))
    except (InvalidRequest, CapabilityMissing) as exc:
        refused: InvalidRequest | CapabilityMissing = exc
        assert refused.provider == "openai"
        return
    errors = [e.message for e in request_validator.iter_errors(sent)]
    assert not errors, errors


def test_schema_check_refuses_unknown_fields(request_validator: jsonschema.protocols.Validator) -> None:
    """The schema check is real: an unknown field, a name on a tool result and a fifth stop sequence fail it."""
    sent = body(
        "gpt-4o",
        Message.user("q"),
        Message.assistant(tool_calls=[ToolCall("c1", "f")]),
        Message.tool_result("c1", "r", name="f"),
        tools=[Tool("f")],
        tool_choice=ToolChoice(ToolChoiceMode.REQUIRED),
        response_format=ResponseFormat.json(),
    )
    assert not list(request_validator.iter_errors(sent))
    assert list(request_validator.iter_errors({**sent, "top_k": 3}))
    tool_turn = {**sent["messages"][2], "name": "f"}
    assert list(request_validator.iter_errors({**sent, "messages": [*sent["messages"][:2], tool_turn]}))
    assert list(request_validator.iter_errors({**sent, "stop": ["a", "b", "c", "d", "e"]}))


def test_schema_fixture_is_what_the_script_cuts_from_the_spec() -> None:
    """Where the vendor's spec is at hand (shared/specs beside the checkout, or beside the folder of worktrees
    it is in), the committed fixture is exactly what fixtures/extract_schema.py cuts from it: no hand edit,
    no stale copy."""
    import importlib.util
    from pathlib import Path

    here = Path(__file__).parent / "fixtures"
    checkout = Path(__file__).resolve().parents[3]
    candidates = [up / "shared" / "specs" / "openai-openapi.trimmed.yaml" for up in checkout.parents[:2]]
    spec_path = next((path for path in candidates if path.exists()), None)
    if spec_path is None:
        pytest.skip("the vendor's spec is not beside this checkout; the fixture is used as committed")
    loader = importlib.util.spec_from_file_location("openai_extract_schema", here / "extract_schema.py")
    assert loader is not None
    assert loader.loader is not None
    script = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(script)
    fresh = script.openapi_fixture.extract(spec_path, script.ROOT, rewrite=script._rewrite)
    committed = json.loads((here / "create_chat_completion_request.schema.json").read_text(encoding="utf-8"))
    assert fresh == committed
