"""The docs stay true to the code: every config key, its default and its variable are documented."""

from __future__ import annotations

import re
from pathlib import Path

import attrs
import pytest

import clawdesk
from clawdesk_anthropic._config import BASE_URL_ENV, AnthropicConfig

ROOT = Path(__file__).resolve().parents[3]
PLUGIN_README = Path(__file__).resolve().parents[1] / "README.md"


def _section(text: str, heading: str) -> str:
    start = text.index(heading)
    following = re.search(r"^## ", text[start + len(heading) :], re.M)
    return text[start : start + len(heading) + following.start()] if following else text[start:]


def _shown(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str):
        return f'`"{value}"`'
    if isinstance(value, tuple):
        return "`[]`" if not value else str(list(value))
    return f"`{value}`"


@pytest.fixture
def configuration(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.delenv(BASE_URL_ENV, raising=False)
    return (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")


def test_configuration_reference_lists_every_key_with_its_default(configuration: str) -> None:
    """Each AnthropicConfig key has a row in [providers.anthropic] showing its default; the variables too."""
    section = _section(configuration, "## `[providers.anthropic]`")
    defaults = AnthropicConfig()
    for field in attrs.fields(AnthropicConfig):
        if not field.init or field.name in ("name", "api_key_env", "requires_api_key"):
            continue
        row = next((line for line in section.splitlines() if line.startswith(f"| `{field.name}` |")), None)
        assert row is not None, f"no row for `{field.name}`"
        assert _shown(getattr(defaults, field.name)) in row, f"the row of `{field.name}` does not show its default"
    assert "ANTHROPIC_API_KEY" in section
    assert BASE_URL_ENV in section
    variables = _section(configuration, "## Environment variables")
    for name in ("ANTHROPIC_API_KEY", BASE_URL_ENV):
        assert f"| `{name}` |" in variables


def test_configuration_example_is_a_valid_table(configuration: str) -> None:
    """The section's TOML example is accepted by AnthropicConfig."""
    section = _section(configuration, "## `[providers.anthropic]`")
    block = section.split("```toml\n", 1)[1].split("```", 1)[0]
    config = clawdesk.parse_config(block).provider_config("anthropic", AnthropicConfig, env={})
    assert isinstance(config, AnthropicConfig)
    assert config.betas


def test_readmes_and_the_providers_page_name_the_provider() -> None:
    """The root README's providers table, the plugin README's config table and the providers page cover it."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "| `anthropic` | `clawdesk-anthropic` |" in readme
    plugin = PLUGIN_README.read_text(encoding="utf-8")
    for field in attrs.fields(AnthropicConfig):
        if field.init and field.name not in ("name", "api_key_env", "requires_api_key"):
            assert f"`{field.name}`" in plugin, f"{field.name} is not in the plugin README"
    providers = (ROOT / "docs" / "providers.md").read_text(encoding="utf-8")
    assert "## Anthropic" in providers
    assert "providers.md" in (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
