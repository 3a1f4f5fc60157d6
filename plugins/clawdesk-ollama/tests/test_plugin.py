"""The plugin as core sees it: cheap to import, discovered by name, hooks that check their config."""

from __future__ import annotations

import subprocess
import sys

import pytest

import clawdesk_ollama._plugin as plugin
from clawdesk import PluginError, Registry
from clawdesk.provider import ProviderConfig
from clawdesk_ollama import OllamaConfig


def test_import_does_not_load_httpx_or_anyio() -> None:
    """Importing the plugin module pulls in neither httpx nor anyio (core's cheap-import rule)."""
    code = (
        "import sys, clawdesk_ollama._plugin as p; p.provider_name(); p.provider_config_type()\n"
        "print(sorted(m for m in ('httpx', 'httpcore', 'anyio', 'jsonschema') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"


def test_registry_discovers_ollama() -> None:
    """The entry point loads as provider 'ollama' with OllamaConfig as its config class."""
    registry = Registry(plugins="ollama")
    provider = registry.provider("ollama")
    assert provider.config_type is OllamaConfig
    assert provider.distribution == "clawdesk-ollama"


def test_capabilities_of_a_foreign_config_are_unknown() -> None:
    """Given a config that is not an OllamaConfig, capabilities are unknown rather than an error."""
    assert plugin.provider_capabilities(ProviderConfig(), "llama3.2") is None


@pytest.mark.anyio
async def test_chat_with_a_foreign_config_is_a_plugin_error() -> None:
    """A hook given the wrong config class fails as a plugin error through core's guard."""
    from clawdesk import ChatRequest, Clawdesk, Config, Message, Target

    registry = Registry(discover=False)
    provider = registry.register(plugin)
    provider.config_type = ProviderConfig  # what a broken core would hand over
    async with Clawdesk(registry=registry, config=Config(), env={}) as cd:
        with pytest.raises(PluginError, match="OllamaConfig"):
            await cd.chat_target(Target("ollama", "m"), ChatRequest("m", (Message.user("hi"),)))
