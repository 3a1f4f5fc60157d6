"""Config defaults, the built-in model list, refresh from GET /models, capabilities, cheap import."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

import clawdesk
from clawdesk import AuthFailed, Capability, ConfigError, ModelInfo, Registry
from clawdesk.testing import Reply, ScriptedServer

Make = Callable[..., clawdesk.Clawdesk]


def test_default_config_is_valid() -> None:
    """With no table and no key, the config has Mistral's defaults and no key."""
    registry = Registry(discover=False)
    import clawdesk_mistral._plugin

    registry.register(clawdesk_mistral._plugin)
    cd = clawdesk.Clawdesk(registry=registry, config=clawdesk.parse_config(""), env={})
    config = cd.provider_config("mistral")
    assert config.base_url == "https://api.mistral.ai/v1"
    assert config.default_model == "mistral-large-latest"
    assert config.max_retries == 3
    assert config.timeout_secs == 30
    assert config.api_key is None
    assert config.api_key_env == "MISTRAL_API_KEY"
    assert config.requires_api_key
    assert type(config).requires_api_key


def test_key_from_env_and_never_shown() -> None:
    """The key is read from MISTRAL_API_KEY and hidden in the config's repr."""
    import clawdesk_mistral._plugin

    registry = Registry(discover=False)
    registry.register(clawdesk_mistral._plugin)
    cd = clawdesk.Clawdesk(registry=registry, config=clawdesk.parse_config(""), env={"MISTRAL_API_KEY": "sk-abcdef123"})
    config = cd.provider_config("mistral")
    assert config.api_key is not None
    assert config.api_key.reveal() == "sk-abcdef123"
    assert "sk-abcdef123" not in repr(config)


def test_bad_config_names_the_key(make_client: Make) -> None:
    """A wrong type or unknown key is a ConfigError naming providers.mistral.<key>."""
    with pytest.raises(ConfigError, match=r"providers\.mistral\.timeout_secs"):
        make_client(timeout_secs="slow").provider_config("mistral")
    with pytest.raises(ConfigError, match=r"providers\.mistral\.temperature"):
        make_client(temperature=1).provider_config("mistral")


@pytest.mark.anyio
async def test_builtin_models_without_network(server: ScriptedServer, make_client: Make) -> None:
    """Without refresh the built-in list answers (the required models included) and nothing is sent."""
    async with make_client() as cd:
        [listing] = await cd.models("mistral")
    assert listing.error is None
    ids = {m.id for m in listing.models}
    assert len(ids) >= 3
    assert {"mistral-large-latest", "mistral-medium-latest", "mistral-small-latest", "open-mixtral-8x22b"} <= ids
    assert any(i.startswith("codestral") for i in ids)
    assert any(i.startswith("pixtral") for i in ids)
    assert any(i.startswith("ministral") for i in ids)
    assert server.requests == []
    pixtral = next(m for m in listing.models if m.id == "pixtral-large-latest")
    assert Capability.VISION in pixtral.capabilities
    assert Capability.CHAT in pixtral.capabilities


_CARDS = {
    "object": "list",
    "data": [
        {
            "id": "mistral-small-2506",
            "object": "model",
            "created": 1750000000,
            "owned_by": "mistralai",
            "capabilities": {
                "completion_chat": True,
                "function_calling": True,
                "completion_fim": False,
                "fine_tuning": True,
                "vision": True,
                "classification": False,
            },
            "name": "mistral-small-2506",
            "description": "Our small model",
            "max_context_length": 131072,
            "aliases": ["mistral-small-latest"],
            "deprecation": None,
            "default_model_temperature": 0.3,
            "type": "base",
        },
        {
            "id": "magistral-x",
            "capabilities": {"completion_chat": True, "reasoning": True},
            "max_context_length": 40000,
            "deprecation": "2026-12-01T12:00:00Z",
            "type": "base",
        },
        {"id": "mistral-embed", "capabilities": {"completion_chat": False}, "type": "base"},
        {"id": "ft:open-mistral-7b:abc", "capabilities": {"completion_chat": True}, "type": "fine-tuned", "job": "j"},
        {"object": "model"},
    ],
}


@pytest.mark.anyio
async def test_refresh_maps_capabilities(server: ScriptedServer, make_client: Make, helpers: Any) -> None:
    """--refresh asks GET /v1/models with the key and maps its capability booleans."""
    server.route("GET", "/v1/models", Reply.json(_CARDS))
    async with make_client() as cd:
        [listing] = await cd.models("mistral", refresh=True)
        assert listing.error is None
        models = {m.id: m for m in listing.models}
        assert set(models) == {"mistral-small-2506", "magistral-x", "mistral-embed", "ft:open-mistral-7b:abc"}
        small = models["mistral-small-2506"]
        assert small.capabilities == {
            Capability.CHAT,
            Capability.STREAMING,
            Capability.JSON_MODE,
            Capability.JSON_SCHEMA,
            Capability.FUNCTION_CALLING,
            Capability.VISION,
        }
        assert small.context_length == 131072
        assert Capability.REASONING in models["magistral-x"].capabilities
        assert Capability.FUNCTION_CALLING not in models["magistral-x"].capabilities
        assert "deprecated on 2026-12-01" in (models["magistral-x"].description or "")
        assert models["mistral-embed"].capabilities == {Capability.EMBEDDING}
        # What the refresh learnt now answers capability questions, aliases included.
        assert cd.capabilities(cd.resolve("mistral/magistral-x")) == models["magistral-x"].capabilities
        assert cd.capabilities(cd.resolve("mistral/mistral-small-latest")) == small.capabilities
    assert server.requests[0].headers["authorization"] == f"Bearer {helpers.KEY}"


@pytest.mark.anyio
async def test_refresh_errors_are_reported_not_raised(server: ScriptedServer, make_client: Make) -> None:
    """A refused key during refresh is reported on the listing as AuthFailed."""
    server.route("GET", "/v1/models", Reply.json({"detail": "Unauthorized"}, status=401))
    async with make_client() as cd:
        [listing] = await cd.models("mistral", refresh=True)
    assert isinstance(listing.error, AuthFailed)


@pytest.mark.anyio
async def test_refresh_bad_body(server: ScriptedServer, make_client: Make) -> None:
    """A model list without a data array is an error on the listing, not a crash."""
    server.route("GET", "/v1/models", Reply.json({"object": "list"}))
    async with make_client() as cd:
        [listing] = await cd.models("mistral", refresh=True)
    assert listing.error is not None
    assert "data array" in str(listing.error)


def test_capabilities_builtin_and_unknown(make_client: Make) -> None:
    """Built-in models have capabilities; an unknown model gives None."""
    cd = make_client()
    large = cd.capabilities(cd.resolve("mistral/mistral-large-latest"))
    assert large is not None
    assert {Capability.CHAT, Capability.FUNCTION_CALLING, Capability.JSON_MODE} <= large
    assert cd.capabilities(cd.resolve("mistral/no-such-model-xyz")) is None


def test_builtin_models_are_modelinfo() -> None:
    """Every built-in entry is a ModelInfo with a context length and at least one capability."""
    from clawdesk_mistral._models import BUILTIN

    assert all(isinstance(m, ModelInfo) and m.capabilities and m.context_length for m in BUILTIN)
    assert len({m.id for m in BUILTIN}) == len(BUILTIN)


def test_plugin_import_is_cheap() -> None:
    """Importing the plugin module loads neither httpx nor the HTTP module."""
    code = (
        "import sys, clawdesk_mistral._plugin as p; "
        "assert 'httpx' not in sys.modules, 'httpx'; "
        "assert 'clawdesk_mistral._api' not in sys.modules, '_api'; "
        "print(p.provider_name())"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "mistral"


def test_entry_point_registers_mistral() -> None:
    """The installed entry point loads the provider under the name mistral."""
    registry = Registry(plugins="mistral")
    assert "mistral" in registry.names()
    status = next(s for s in registry.statuses() if s.name == "mistral")
    assert status.status == "ok"
