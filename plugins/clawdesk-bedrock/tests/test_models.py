"""The model catalogue, model families and profiles, and a refresh from the (signed) control plane."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

import clawdesk
import clawdesk_bedrock._plugin
from clawdesk import Capability
from clawdesk.testing import Reply
from clawdesk_bedrock._models import BUILTIN, base_model, capabilities_for, family, needs_profile

ARN_PROFILE = "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.claude-sonnet-4-5-20250929-v1:0"


@pytest.mark.parametrize(
    ("model", "base", "vendor"),
    [
        ("anthropic.claude-3-haiku-20240307-v1:0", "anthropic.claude-3-haiku-20240307-v1:0", "anthropic"),
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "anthropic.claude-sonnet-4-5-20250929-v1:0", "anthropic"),
        ("global.amazon.nova-2-lite-v1:0", "amazon.nova-2-lite-v1:0", "amazon"),
        ("us-gov.meta.llama3-3-70b-instruct-v1:0", "meta.llama3-3-70b-instruct-v1:0", "meta"),
        (ARN_PROFILE, "anthropic.claude-sonnet-4-5-20250929-v1:0", "anthropic"),
        ("arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc123", "abc123", None),
        ("conformance-model", "conformance-model", None),
    ],
)
def test_base_model_and_family(model: str, base: str, vendor: str | None) -> None:
    """Profiles and ARNs are known as the foundation model they serve; the family is its vendor."""
    assert base_model(model) == base
    assert family(model) == vendor


def test_catalogue_is_well_formed_and_marks_profiles() -> None:
    """Unique ids with chat; models that need a profile are said to and listed with their us. profile."""
    ids = [m.id for m in BUILTIN]
    assert len(ids) == len(set(ids))
    assert all(Capability.CHAT in m.capabilities for m in BUILTIN)
    assert needs_profile("anthropic.claude-sonnet-4-5-20250929-v1:0")
    assert not needs_profile("anthropic.claude-3-haiku-20240307-v1:0")
    sonnet = next(m for m in BUILTIN if m.id == "anthropic.claude-sonnet-4-5-20250929-v1:0")
    assert "inference profile" in (sonnet.description or "")
    assert "us.anthropic.claude-sonnet-4-5-20250929-v1:0" in ids


def test_capabilities_follow_profiles_and_arns() -> None:
    """A profile id or an ARN of one has the capabilities of the model it serves; an unknown model has None."""
    caps = capabilities_for("bedrock", "eu.anthropic.claude-sonnet-4-5-20250929-v1:0")
    assert caps is not None
    assert {Capability.REASONING, Capability.VISION, Capability.FUNCTION_CALLING} <= caps
    assert capabilities_for("bedrock", ARN_PROFILE) == caps
    assert capabilities_for("bedrock", "someone.unknown-model-v9:0") is None


@pytest.mark.anyio
async def test_refresh_lists_the_regions_models_and_profiles(fake: Any, helpers: Any, env_keys: None) -> None:
    """A refresh reads both listings (signed, paged), keeps text models, and learns profiles' capabilities."""
    summaries = [
        {
            "modelArn": "arn:aws:bedrock:us-west-2::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0",
            "modelId": "anthropic.claude-sonnet-4-5-20250929-v1:0",
            "modelName": "Claude Sonnet 4.5",
            "providerName": "Anthropic",
            "inputModalities": ["TEXT", "IMAGE"],
            "outputModalities": ["TEXT"],
            "responseStreamingSupported": True,
            "inferenceTypesSupported": ["PROVISIONED"],
            "modelLifecycle": {"status": "ACTIVE"},
        },
        {
            "modelArn": "arn:aws:bedrock:us-west-2::foundation-model/newco.brand-new-v1:0",
            "modelId": "newco.brand-new-v1:0",
            "modelName": "Brand New",
            "providerName": "NewCo",
            "inputModalities": ["TEXT"],
            "outputModalities": ["TEXT"],
            "responseStreamingSupported": False,
            "inferenceTypesSupported": ["ON_DEMAND"],
            "modelLifecycle": {"status": "LEGACY"},
        },
        {
            "modelArn": "arn:aws:bedrock:us-west-2::foundation-model/amazon.titan-embed-text-v2:0",
            "modelId": "amazon.titan-embed-text-v2:0",
            "inputModalities": ["TEXT"],
            "outputModalities": ["EMBEDDING"],
        },
    ]
    profile = {
        "inferenceProfileName": "US Claude Sonnet 4.5",
        "inferenceProfileArn": (
            "arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.anthropic.claude-sonnet-4-5-20250929-v1:0"
        ),
        "inferenceProfileId": "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "models": [{"modelArn": summaries[0]["modelArn"]}],
        "status": "ACTIVE",
        "type": "SYSTEM_DEFINED",
    }
    other = {**profile, "inferenceProfileId": "us.newco.brand-new-v1:0", "inferenceProfileName": "US Brand New"}
    other["models"] = [{"modelArn": summaries[1]["modelArn"]}]
    pages = [{"inferenceProfileSummaries": [profile], "nextToken": "tok/en+=="}, {"inferenceProfileSummaries": [other]}]
    for page in pages:
        assert helpers.schema_errors("ListInferenceProfilesResponse", page) == []
    assert helpers.schema_errors("ListFoundationModelsResponse", {"modelSummaries": summaries}) == []
    fake.route("GET", "/foundation-models?byOutputModality=TEXT", Reply.json({"modelSummaries": summaries}))
    fake.route("GET", "/inference-profiles?maxResults=1000", Reply.json(pages[0]))
    fake.route("GET", "/inference-profiles?maxResults=1000&nextToken=tok%2Fen%2B%3D%3D", Reply.json(pages[1]))
    registry = clawdesk.Registry(discover=False)
    provider = registry.register(clawdesk_bedrock._plugin)
    table = helpers.config_text(fake.url, control_url=fake.url)
    config = clawdesk.parse_config(table).provider_config("bedrock", provider.config_type)
    async with httpx.AsyncClient() as http:
        models = await provider.call("provider_models", config=config, http=http, refresh=True)
    by_id = {m.id: m for m in models}
    assert set(by_id) == {
        "anthropic.claude-sonnet-4-5-20250929-v1:0",
        "newco.brand-new-v1:0",
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "us.newco.brand-new-v1:0",
    }
    assert "needs an inference profile" in (by_id["anthropic.claude-sonnet-4-5-20250929-v1:0"].description or "")
    assert "legacy" in (by_id["newco.brand-new-v1:0"].description or "")
    assert by_id["newco.brand-new-v1:0"].capabilities == {Capability.CHAT}
    assert by_id["us.newco.brand-new-v1:0"].capabilities == {Capability.CHAT}
    assert Capability.REASONING in by_id["us.anthropic.claude-sonnet-4-5-20250929-v1:0"].capabilities
    # What the refresh learnt answers provider_capabilities, without I/O.
    assert provider.call("provider_capabilities", config=config, model="us.newco.brand-new-v1:0") == {Capability.CHAT}
    assert fake.accepted == [f"sigv4:{helpers.KEY_ID}"] * 3
