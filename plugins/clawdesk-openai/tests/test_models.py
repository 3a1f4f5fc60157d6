"""Models, capabilities, the config's defaults from the environment, and the plugin's cheap import."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

import clawdesk
from clawdesk import Capability, ConfigError, ModelInfo, Registry
from clawdesk.testing import Reply, ScriptedServer
from clawdesk_openai._config import OpenAIConfig
from clawdesk_openai._models import BUILTIN, family_capabilities

Make = Callable[..., clawdesk.Clawdesk]
C = Capability


def test_builtin_models_answer_without_a_request() -> None:
    """The built-in list has unique ids, context lengths, and chat capabilities for chat models."""
    assert len({m.id for m in BUILTIN}) == len(BUILTIN)
    assert all(isinstance(m, ModelInfo) and m.context_length for m in BUILTIN)
    gpt5 = next(m for m in BUILTIN if m.id == "gpt-5")
    assert {C.CHAT, C.REASONING, C.VISION, C.FUNCTION_CALLING, C.JSON_SCHEMA} <= gpt5.capabilities
    embed = next(m for m in BUILTIN if m.id == "text-embedding-3-small")
    assert embed.capabilities == {C.EMBEDDING}


@pytest.mark.parametrize(
    ("model", "has", "lacks"),
    [
        ("gpt-4o-2024-11-20", {C.VISION, C.JSON_SCHEMA}, {C.REASONING}),
        ("gpt-5.1", {C.REASONING}, set()),
        ("gpt-5-chat-latest", {C.VISION}, {C.REASONING}),
        ("o3-mini-2025-01-31", {C.REASONING, C.FUNCTION_CALLING}, {C.VISION}),
        ("gpt-3.5-turbo-0125", {C.FUNCTION_CALLING, C.JSON_MODE}, {C.VISION, C.JSON_SCHEMA}),
    ],
)
def test_dated_ids_take_their_familys_capabilities(model: str, has: set[C], lacks: set[C]) -> None:
    """A dated or newer id is known by its family: the longest known prefix of its id."""
    caps = family_capabilities(model)
    assert caps is not None
    assert has <= caps
    assert not lacks & caps
    assert family_capabilities("llama-3.3-70b") is None


@pytest.mark.anyio
async def test_openai_listing_with_family_capabilities(server: ScriptedServer, make_client: Make) -> None:
    """models --refresh asks GET /v1/models; OpenAI's bare cards get their family's capabilities."""
    cards = [
        {"id": "gpt-4o", "object": "model", "created": 1, "owned_by": "system"},
        {"id": "o3", "object": "model", "created": 1, "owned_by": "system"},
        {"id": "dall-e-3", "object": "model", "created": 1, "owned_by": "system"},
        {"id": "gpt-4o", "object": "model", "created": 1, "owned_by": "system"},
    ]
    server.route("GET", "/v1/models", Reply.json({"object": "list", "data": cards}))
    async with make_client() as cd:
        [listing] = await cd.models("openai", refresh=True)
        assert [m.id for m in listing.models] == ["gpt-4o", "o3", "dall-e-3"]
        assert C.REASONING in listing.models[1].capabilities
        assert listing.models[2].capabilities == frozenset()
        assert cd.capabilities(cd.resolve("openai/o3")) == listing.models[1].capabilities


@pytest.mark.anyio
async def test_compatible_servers_listings_and_their_extras(compat_server: ScriptedServer, helpers: Any) -> None:
    """vLLM's max_model_len, llama.cpp's meta.n_ctx and OpenRouter's supported parameters and modalities are read;
    without --refresh a compatible server is asked once, then remembered."""
    cards = [
        {"id": "Qwen/Qwen3-8B", "object": "model", "max_model_len": 32768, "owned_by": "vllm"},
        {"id": "smollm2", "object": "model", "meta": {"n_ctx": 4096, "n_ctx_train": 8192}},
        {
            "id": "anthropic/claude-sonnet-4",
            "name": "Claude Sonnet 4",
            "context_length": 200000,
            "supported_parameters": ["tools", "response_format", "structured_outputs", "reasoning"],
            "architecture": {"input_modalities": ["text", "image", "file"]},
        },
        {"id": "text-embedding-nomic", "object": "model"},
    ]
    compat_server.route("GET", "/v1/models", Reply.json({"object": "list", "data": cards}))
    text = helpers.toml_table("local", {"plugin": "openai", "base_url": compat_server.url + "/v1"})
    async with helpers.make_clawdesk(text, {}) as cd:
        [first] = await cd.models("local")
        [again] = await cd.models("local")
        capabilities = cd.capabilities(cd.resolve("local/anthropic/claude-sonnet-4"))
    assert len(compat_server.requests) == 1
    assert first.models == again.models
    by_id = {m.id: m for m in first.models}
    assert by_id["Qwen/Qwen3-8B"].context_length == 32768
    assert by_id["smollm2"].context_length == 4096
    assert by_id["Qwen/Qwen3-8B"].capabilities == {C.CHAT, C.STREAMING}
    router = by_id["anthropic/claude-sonnet-4"]
    assert router.capabilities == {
        C.CHAT,
        C.STREAMING,
        C.FUNCTION_CALLING,
        C.JSON_MODE,
        C.JSON_SCHEMA,
        C.REASONING,
        C.VISION,
        C.DOCUMENTS,
    }
    assert (router.context_length, router.description) == (200000, "Claude Sonnet 4")
    assert capabilities == router.capabilities
    assert by_id["text-embedding-nomic"].capabilities == {C.EMBEDDING}


def test_unknown_models_have_unknown_capabilities(make_client: Make) -> None:
    """A compatible server's model nobody listed is unknown (None): the request is simply tried."""
    cd = make_client(dialect="vllm")
    assert cd.capabilities(cd.resolve("openai/whatever")) is None


# -- the config ---------------------------------------------------------------------


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a table and variables: OpenAI's URL, OPENAI_API_KEY required, dialect auto (OpenAI)."""
    for name in ("OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):
        monkeypatch.delenv(name, raising=False)
    config = OpenAIConfig()
    assert (config.base_url, config.api_key_env, config.requires_api_key) == (
        "https://api.openai.com/v1",
        "OPENAI_API_KEY",
        True,
    )
    assert config.server.name == "openai"


def test_openai_base_url_points_the_plugin_at_a_local_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """$OPENAI_BASE_URL on a loopback address: that server, OPENAI_API_KEY read if set but not required."""
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:8080/v1")
    config = OpenAIConfig()
    assert (config.base_url, config.api_key_env, config.requires_api_key) == (
        "http://127.0.0.1:8080/v1",
        "OPENAI_API_KEY",
        False,
    )
    assert OpenAIConfig(base_url="https://api.openai.com/v1").base_url == "https://api.openai.com/v1"


def test_a_bad_openai_base_url_is_a_config_error_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """A malformed $OPENAI_BASE_URL is a ConfigError that says where the value came from."""
    monkeypatch.setenv("OPENAI_BASE_URL", "localhost:8080")
    registry = Registry(discover=False)
    import clawdesk_openai._plugin

    registry.register(clawdesk_openai._plugin)
    cd = clawdesk.Clawdesk(registry=registry, config=clawdesk.parse_config(""), env={})
    with pytest.raises(ConfigError, match=r"base_url \(from \$OPENAI_BASE_URL\)"):
        cd.provider_config("openai")


def test_keys_go_only_to_their_own_service(monkeypatch: pytest.MonkeyPatch) -> None:
    """A named instance reads its service's variable (Groq's for Groq), none for other servers: never OpenAI's key."""
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert OpenAIConfig(base_url="https://api.groq.com/openai/v1").api_key_env == "GROQ_API_KEY"
    assert OpenAIConfig(base_url="https://openrouter.ai/api/v1").api_key_env == "OPENROUTER_API_KEY"
    proxy = OpenAIConfig(base_url="https://llm.internal.example/v1")
    assert (proxy.api_key_env, proxy.requires_api_key) == (None, True)
    local = OpenAIConfig(base_url="http://127.0.0.1:8000/v1", dialect="vllm")
    assert (local.api_key_env, local.requires_api_key) == (None, False)


def test_organization_and_project_from_the_environment_only_for_openai(monkeypatch: pytest.MonkeyPatch) -> None:
    """$OPENAI_ORG_ID and $OPENAI_PROJECT_ID are OpenAI's: another server never gets them."""
    monkeypatch.setenv("OPENAI_ORG_ID", "org-env")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-env")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    openai = OpenAIConfig()
    assert (openai.organization, openai.project) == ("org-env", "proj-env")
    groq = OpenAIConfig(base_url="https://api.groq.com/openai/v1")
    assert (groq.organization, groq.project) == (None, None)


def test_config_repr_hides_the_key() -> None:
    """The key is in no repr."""
    config = clawdesk.parse_config('[providers.openai]\napi_key = "sk-secret-abc123"\n')
    registry = Registry(discover=False)
    import clawdesk_openai._plugin

    registry.register(clawdesk_openai._plugin)
    built = clawdesk.Clawdesk(registry=registry, config=config, env={}).provider_config("openai")
    assert "sk-secret-abc123" not in repr(built) + str(built)


# -- the plugin ------------------------------------------------------------------------


def test_plugin_import_is_cheap() -> None:
    """Importing the plugin module loads neither httpx nor the HTTP side of the plugin or the shared wire."""
    code = (
        "import sys, clawdesk_openai._plugin as p; "
        "assert 'httpx' not in sys.modules, 'httpx'; "
        "assert 'clawdesk_openai._api' not in sys.modules, '_api'; "
        "assert 'clawdesk_openai_compat._chat' not in sys.modules, '_chat'; "
        "print(p.provider_name())"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "openai"


def test_entry_point_registers_openai() -> None:
    """The installed entry point loads the provider under the name openai."""
    registry = Registry(plugins="openai")
    status = next(s for s in registry.statuses() if s.name == "openai")
    assert (status.status, status.distribution) == ("ok", "clawdesk-openai")
