"""Models: the built-in catalogue, the family rules, and GET /v1beta/models page by page."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import pytest

import clawdesk_gemini._plugin as plugin
from clawdesk import ApiError, Capability, Clawdesk, ModelInfo, PermissionDenied
from clawdesk.testing import ScriptedServer
from clawdesk_gemini._config import GeminiConfig
from clawdesk_gemini._models import BUILTIN, family_capabilities, model_from_listing, thinking_style

Make = Callable[..., Clawdesk]
W = sys.modules["clawdesk_gemini_testwire"]
C = Capability


def test_catalogue() -> None:
    """The catalogue has unique ids, the default model, token limits for chat models, and no chat for embeddings."""
    ids = [m.id for m in BUILTIN]
    assert len(ids) == len(set(ids))
    assert GeminiConfig().default_model in ids
    for model in BUILTIN:
        if C.CHAT in model.capabilities:
            assert model.context_length == 1_048_576
            assert model.max_output_tokens == 65_536
            assert {C.STREAMING, C.FUNCTION_CALLING, C.JSON_SCHEMA, C.VISION} <= model.capabilities
    assert next(m for m in BUILTIN if m.id == "gemini-embedding-001").capabilities == frozenset({C.EMBEDDING})


def test_capabilities_hook_without_io() -> None:
    """provider_capabilities answers from the catalogue (models/ prefix or not), and None for an unknown model."""
    config = GeminiConfig(name="gemini")
    assert (
        plugin.provider_capabilities(config, "gemini-2.5-pro")
        == next(m for m in BUILTIN if m.id == "gemini-2.5-pro").capabilities
    )
    assert plugin.provider_capabilities(config, "models/gemini-2.5-pro") is not None
    assert plugin.provider_capabilities(config, "gemini-99-ultra") is None


@pytest.mark.parametrize(
    ("model", "style"),
    [
        ("gemini-3-flash-preview", "level"),
        ("gemini-3.1-pro-preview", "level"),
        ("gemini-2.5-flash", "budget"),
        ("gemini-2.5-flash-lite-preview-09-2025", "budget"),
        ("gemini-2.0-flash", "none"),
        ("gemma-3-27b-it", "none"),
        ("gemini-flash-latest", "unknown"),
        ("learnlm-2.0-flash-experimental", "unknown"),
    ],
)
def test_thinking_styles(model: str, style: str) -> None:
    """How a model is told to think follows its generation: levels from 3, budgets on 2.5, nothing before."""
    assert thinking_style(model) == style


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (
            W.GeminiWire.model_entry("gemini-2.5-flash", ["generateContent", "countTokens"], thinking=True),
            ModelInfo(
                "gemini-2.5-flash",
                frozenset(
                    {
                        C.CHAT,
                        C.STREAMING,
                        C.FUNCTION_CALLING,
                        C.JSON_MODE,
                        C.JSON_SCHEMA,
                        C.VISION,
                        C.DOCUMENTS,
                        C.REASONING,
                    }
                ),
                context_length=1_048_576,
                max_output_tokens=65_536,
                description="The gemini-2.5-flash model",
            ),
        ),
        (
            W.GeminiWire.model_entry("gemini-2.0-flash", ["generateContent"], thinking=False, output_limit=8192),
            ModelInfo(
                "gemini-2.0-flash",
                frozenset({C.CHAT, C.STREAMING, C.FUNCTION_CALLING, C.JSON_MODE, C.JSON_SCHEMA, C.VISION, C.DOCUMENTS}),
                context_length=1_048_576,
                max_output_tokens=8192,
                description="The gemini-2.0-flash model",
            ),
        ),
        (
            W.GeminiWire.model_entry(
                "gemma-3-27b-it", ["generateContent", "countTokens"], input_limit=131_072, output_limit=8192
            ),
            ModelInfo(
                "gemma-3-27b-it",
                frozenset({C.CHAT, C.STREAMING, C.VISION}),
                context_length=131_072,
                max_output_tokens=8192,
                description="The gemma-3-27b-it model",
            ),
        ),
        (
            W.GeminiWire.model_entry(
                "gemini-embedding-001", ["embedContent", "countTextTokens"], input_limit=2048, output_limit=1
            ),
            ModelInfo(
                "gemini-embedding-001",
                frozenset({C.EMBEDDING}),
                context_length=2048,
                max_output_tokens=1,
                description="The gemini-embedding-001 model",
            ),
        ),
        (W.GeminiWire.model_entry("imagen-4.0-generate-001", ["predict"]), None),
        (W.GeminiWire.model_entry("gemini-2.5-flash-preview-tts", ["countTokens", "generateContent"]), None),
        ({"name": 42}, None),
    ],
)
def test_listing_entries(entry: dict[str, Any], expected: ModelInfo | None) -> None:
    """A listed model's capabilities come from its methods, its thinking flag and its family; others are left out."""
    assert model_from_listing(entry) == expected


def test_family_rules_for_image_models() -> None:
    """Image-generation Gemini models chat and see images, and take no tools."""
    assert family_capabilities("gemini-2.5-flash-image") == frozenset({C.CHAT, C.STREAMING, C.VISION, C.REASONING})


@pytest.mark.anyio
async def test_refresh_reads_every_page_and_is_remembered(server: ScriptedServer, make_client: Make, gw: Any) -> None:
    """models(refresh=True) follows nextPageToken (escaped) to the end; what it learnt answers provider_capabilities."""
    token = "Cg5tb2RlbHMv+/=="
    first = gw.models_page(
        gw.model_entry("gemini-2.5-flash", ["generateContent"], thinking=True),
        gw.model_entry("imagen-4.0-generate-001", ["predict"]),
        next_token=token,
    )
    second = gw.models_page(
        gw.model_entry("gemma-3-27b-it", ["generateContent"]), gw.model_entry("gemini-2.5-flash", ["generateContent"])
    )
    server.route("GET", "/v1beta/models?pageSize=1000", first)
    server.route("GET", "/v1beta/models?pageSize=1000&pageToken=Cg5tb2RlbHMv%2B%2F%3D%3D", second)
    async with make_client() as cd:
        before = cd.capabilities(cd.resolve("gemini/gemma-3-27b-it"))
        (listing,) = await cd.models("gemini", refresh=True)
        after = cd.capabilities(cd.resolve("gemini/gemma-3-27b-it"))
        catalogue_only = cd.capabilities(cd.resolve("gemini/gemini-2.5-pro"))
    assert listing.error is None
    assert [m.id for m in listing.models] == ["gemini-2.5-flash", "gemma-3-27b-it"]
    assert before is None
    assert after == frozenset({C.CHAT, C.STREAMING, C.VISION})
    assert catalogue_only is not None  # not listed: the catalogue still answers
    assert [r.headers["x-goog-api-key"] for r in server.requests] == [W.KEY, W.KEY]


@pytest.mark.anyio
async def test_learnt_capabilities_stay_with_their_client(server: ScriptedServer, make_client: Make, gw: Any) -> None:
    """What one client's refresh learnt does not leak into another client's answers."""
    server.route(
        "GET", "/v1beta/models?pageSize=1000", gw.models_page(gw.model_entry("gemma-3-1b-it", ["generateContent"]))
    )
    async with make_client() as first, make_client() as second:
        await first.models("gemini", refresh=True)
        assert first.capabilities(first.resolve("gemini/gemma-3-1b-it")) is not None
        assert second.capabilities(second.resolve("gemini/gemma-3-1b-it")) is None


@pytest.mark.anyio
async def test_listing_failures(server: ScriptedServer, make_client: Make, gw: Any) -> None:
    """A refused listing, a looping page token and a body without models are ProviderErrors, not crashes."""
    server.add(gw.error(403, "Generative Language API has not been used in project 123 before or it is disabled."))
    server.add(gw.models_page(next_token="again"), gw.models_page(next_token="again"))
    server.add(gw.json({"unexpected": True}))
    async with make_client() as cd:
        refused, looping, shapeless = [(await cd.models("gemini", refresh=True))[0] for _ in range(3)]
    assert isinstance(refused.error, PermissionDenied)
    assert isinstance(looping.error, ApiError)
    assert "same page token" in str(looping.error)
    assert shapeless.error is None
    assert shapeless.models == ()


@pytest.mark.anyio
async def test_listing_without_a_models_array(server: ScriptedServer, make_client: Make, gw: Any) -> None:
    """A listing whose models field is not an array is an ApiError, not an empty list."""
    server.add(gw.json({"models": "gemini-2.5-flash"}))
    async with make_client() as cd:
        (listing,) = await cd.models("gemini", refresh=True)
    assert isinstance(listing.error, ApiError)
    assert "no models array" in str(listing.error)
