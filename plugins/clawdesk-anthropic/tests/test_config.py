"""The ``[providers.anthropic]`` table and the ``anthropic`` provider options, as core structures them."""

from __future__ import annotations

import pytest

import clawdesk
import clawdesk_anthropic._plugin
from clawdesk import ChatOptions, ConfigError, InvalidRequest, Registry
from clawdesk._options import provider_options_for
from clawdesk_anthropic._config import DEFAULT_BASE_URL, AnthropicConfig, AnthropicOptions


def _config(text: str = "", env: dict[str, str] | None = None) -> AnthropicConfig:
    config = clawdesk.parse_config("[providers.anthropic]\n" + text)
    result = config.provider_config("anthropic", AnthropicConfig, env=env if env is not None else {})
    assert isinstance(result, AnthropicConfig)
    return result


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """The API's address, version 2023-06-01, no betas, the key from ANTHROPIC_API_KEY."""
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    config = _config(env={"ANTHROPIC_API_KEY": "sk-ant-xyz"})
    assert config.base_url == DEFAULT_BASE_URL == "https://api.anthropic.com"
    assert config.api_version == "2023-06-01"
    assert config.betas == ()
    assert config.max_tokens is None
    assert config.requires_api_key
    assert config.api_key is not None
    assert config.api_key.reveal() == "sk-ant-xyz"
    assert "sk-ant-xyz" not in repr(config) + str(config)


def test_base_url_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """ANTHROPIC_BASE_URL is the default base_url; the table's own value wins over it."""
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "https://gateway.example/anthropic/")
    assert _config().base_url == "https://gateway.example/anthropic"
    assert _config('base_url = "http://127.0.0.1:9"\n').base_url == "http://127.0.0.1:9"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('api_version = "2024-01-01"\n', "api_version"),
        ('betas = ["bad beta,name"]\n', "betas"),
        ("max_tokens = 0\n", "max_tokens"),
        ('base_url = "ftp://x"\n', "base_url"),
    ],
)
def test_bad_values_name_their_key(text: str, key: str) -> None:
    """A wrong value is a ConfigError naming providers.anthropic.<key>."""
    with pytest.raises(ConfigError, match=f"providers.anthropic.{key}"):
        _config(text)


def test_betas_and_version_are_read() -> None:
    """betas (an array of names) and api_version 2026-10-21 are accepted."""
    config = _config('api_version = "2026-10-21"\nbetas = ["context-1m-2025-08-07"]\nmax_tokens = 8000\n')
    assert (config.api_version, config.betas, config.max_tokens) == ("2026-10-21", ("context-1m-2025-08-07",), 8000)


def test_provider_options_are_typed_by_core() -> None:
    """The caller's anthropic table becomes AnthropicOptions; unknown keys and bad values are refused."""
    provider = Registry(discover=False).register(clawdesk_anthropic._plugin)
    options = ChatOptions(provider_options={"anthropic": {"cache_system": True, "cache_ttl": "1h", "betas": ["x-1"]}})
    typed = provider_options_for(provider, "anthropic", options)
    assert typed == AnthropicOptions(cache_system=True, cache_ttl="1h", betas=("x-1",))
    for bad in ({"cache_ttl": "2h"}, {"num_ctx": 4096}, {"user_id": ""}, {"service_tier": "priority"}):
        with pytest.raises(InvalidRequest, match=r"provider_options\.anthropic"):
            provider_options_for(provider, "anthropic", ChatOptions(provider_options={"anthropic": bad}))
