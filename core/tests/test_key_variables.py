"""``api_key_env_fallbacks``: a key read from the first of several environment variables that is set."""

from __future__ import annotations

from typing import Any

import pytest
from attrs import frozen

from clawdesk import (
    AuthFailed,
    ChatRequest,
    ChatResponse,
    Clawdesk,
    ConfigError,
    Message,
    Registry,
    Target,
    parse_config,
)
from clawdesk._provider_config import key_variables
from clawdesk.provider import ProviderConfig, hookimpl

KEY_A = "key-from-first-variable-0123"
KEY_B = "key-from-second-variable-4567"


@frozen(kw_only=True)
class TwoVarConfig(ProviderConfig):
    """A config whose key may come from two variables, as Google's tools read it."""

    api_key_env: str | None = "TWOVAR_API_KEY"
    api_key_env_fallbacks: tuple[str, ...] = ("TWOVAR_OTHER_KEY",)
    requires_api_key: bool = True


def _config(toml: str, env: dict[str, str]) -> TwoVarConfig:
    return parse_config(toml).provider_config("twovar", TwoVarConfig, env=env)


def test_first_variable_wins() -> None:
    """With both variables set, the key comes from api_key_env."""
    config = _config("", {"TWOVAR_API_KEY": KEY_A, "TWOVAR_OTHER_KEY": KEY_B})
    assert config.api_key is not None
    assert config.api_key.reveal() == KEY_A


@pytest.mark.parametrize("first", [None, ""])
def test_fallback_used_when_first_is_unset_or_empty(first: str | None) -> None:
    """An unset or empty api_key_env gives way to the next variable."""
    env = {"TWOVAR_OTHER_KEY": KEY_B}
    if first is not None:
        env["TWOVAR_API_KEY"] = first
    config = _config("", env)
    assert config.api_key is not None
    assert config.api_key.reveal() == KEY_B


def test_file_key_wins_and_fallbacks_can_be_turned_off() -> None:
    """A key in the table wins over every variable; ``api_key_env_fallbacks = []`` reads only api_key_env."""
    config = _config('[providers.twovar]\napi_key = "from-file"', {"TWOVAR_OTHER_KEY": KEY_B})
    assert config.api_key is not None
    assert config.api_key.reveal() == "from-file"
    assert _config("[providers.twovar]\napi_key_env_fallbacks = []", {"TWOVAR_OTHER_KEY": KEY_B}).api_key is None


def test_fallbacks_must_be_strings() -> None:
    """A table that gives something other than an array of strings is a ConfigError naming the key."""
    with pytest.raises(ConfigError, match=r"providers\.twovar\.api_key_env_fallbacks"):
        _config("[providers.twovar]\napi_key_env_fallbacks = 3", {})


def test_key_variables_order_without_repeats_or_blanks() -> None:
    """key_variables lists api_key_env then the fallbacks, each once, without empty names."""
    config = TwoVarConfig(api_key_env_fallbacks=("", "TWOVAR_API_KEY", "X", "X"))
    assert key_variables(config) == ("TWOVAR_API_KEY", "X")
    assert key_variables(ProviderConfig()) == ()


class _Plugin:
    @hookimpl
    def provider_name(self) -> str:
        return "twovar"

    @hookimpl
    def provider_config_type(self) -> type[ProviderConfig]:
        return TwoVarConfig

    @hookimpl
    async def provider_models(self) -> list[Any]:
        return []

    @hookimpl
    def provider_capabilities(self) -> None:
        return None

    @hookimpl
    async def provider_chat(self, request: ChatRequest) -> ChatResponse:
        raise AssertionError("a call without a key must not reach the plugin")

    @hookimpl
    def provider_stream(self, request: ChatRequest) -> Any:
        raise AssertionError("a call without a key must not reach the plugin")


@pytest.mark.anyio
async def test_missing_key_hint_names_every_variable() -> None:
    """Without any key, core's AuthFailed names both variables and the config key, before the plugin runs."""
    registry = Registry(discover=False)
    _Plugin.CLAWDESK_CONTRACT = 2  # type: ignore[attr-defined]
    registry.register(_Plugin())
    async with Clawdesk(registry=registry, config=parse_config(""), env={}) as cd:
        with pytest.raises(AuthFailed) as info:
            await cd.chat_target(Target("twovar", "m"), ChatRequest("m", (Message.user("hi"),)))
    assert "set TWOVAR_API_KEY (or TWOVAR_OTHER_KEY) or providers.twovar.api_key" in str(info.value)
