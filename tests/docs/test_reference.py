"""The reference pages stay true: a strict docs build, working code blocks, every config key and CLI option."""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

import attrs
import pytest
from docs_blocks import DOCS, FILE_HEADER, fenced_blocks

from clawdesk import Config, FallbackConfig, RateLimit, StateConfig, parse_config
from clawdesk._cli import _parser
from clawdesk._config import ServeConfig, ServeKey, ServeModel
from clawdesk.provider import ProviderConfig

ROOT = DOCS.parent
# Pages whose python blocks are complete programs that need no real backend: run them, in order.
RUNNABLE = {"conformance.md", "python.md"}
# Pages whose ```console blocks are shell sessions that test_cli_examples.py runs.
CONSOLE = {"cli.md"}
# The pages this suite owns; fallback.md and performance.md are checked by their authors.
PAGES = [
    "index.md",
    "configuration.md",
    "cli.md",
    "python.md",
    "contract.md",
    "tutorial.md",
    "conformance.md",
    "openai.md",
]


def _plugin_configs() -> dict[str, type[ProviderConfig]]:
    configs: dict[str, type[ProviderConfig]] = {}
    for module, name, attr in (
        ("clawdesk_mistral._config", "mistral", "MistralConfig"),
        ("clawdesk_ollama._config", "ollama", "OllamaConfig"),
        ("clawdesk_openai._config", "openai", "OpenAIConfig"),
    ):
        configs[name] = getattr(__import__(module, fromlist=[attr]), attr)
    return configs


@pytest.mark.slow
def test_mkdocs_builds_strictly(tmp_path: Path) -> None:
    """`mkdocs build --strict` succeeds: no broken link, anchor or nav entry."""
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent)) or shutil.which("mkdocs")
    if mkdocs is None:
        pytest.skip("mkdocs is not installed (pip install -r requirements-dev.txt)")
    run = subprocess.run(
        [mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert (tmp_path / "site" / "tutorial" / "index.html").exists()


@pytest.mark.parametrize("page", PAGES)
def test_code_blocks_are_valid(page: str) -> None:
    """Every block is python or toml: python compiles (and runs where self-contained), toml is a valid config."""
    blocks = fenced_blocks(DOCS / page)
    namespace: dict[str, object] = {"__name__": f"docs_{page}"}
    for line, language, text in blocks:
        where = f"{page}:{line}"
        if FILE_HEADER.match(text):
            continue  # files of the tutorial's package: test_tutorial runs them
        if language == "python":
            code = compile(text, where, "exec")
            if page in RUNNABLE:
                exec(code, namespace)
        elif language == "toml":
            config = parse_config(text, source=where)
            _check_provider_tables(config, where)
        elif language == "console" and page in CONSOLE:
            assert text.startswith("$ "), f"{where}: a console block starts with a command"
        else:
            pytest.fail(f"{where}: a ```{language} block; docs blocks are python or toml so they can be checked")


def _check_provider_tables(config: Config, where: str) -> None:
    configs = _plugin_configs()
    for name in config.providers:
        if name in configs:
            config.provider_config(name, configs[name], env={})


def _section(text: str, heading: str) -> str:
    """From ``heading`` to the next level-2 heading (a ``## `` line inside a fenced block is not one)."""
    start = text.index(heading)
    offset = start + len(heading)
    fenced = False
    for line in re.finditer(r"^.*$", text[offset:], re.M):
        if line.group(0).startswith("```"):
            fenced = not fenced
        elif line.group(0).startswith("## ") and not fenced:
            return text[start : offset + line.start()]
    return text[start:]


def _row(section: str, key: str) -> str:
    for line in section.splitlines():
        if line.startswith(f"| `{key}` |"):
            return line
    raise AssertionError(f"no table row for `{key}`")


def _shown(default: object) -> str:
    if default is None:
        return "none"
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    if isinstance(default, str):
        return f'`"{default}"`'
    if isinstance(default, tuple):
        return "`[]`" if not default else str(list(default))
    return f"`{default}`"


@pytest.mark.parametrize(
    ("heading", "config_class"),
    [
        ("## Keys every provider has", ProviderConfig),
        ("## `[providers.mistral]`", "mistral"),
        ("## `[providers.ollama]`", "ollama"),
        ("## `[providers.openai]`", "openai"),
        ("## `[fallback]`", FallbackConfig),
        ("## `[fallback.limits.<name>]`", RateLimit),
        ("## `[state]`", StateConfig),
        ("## `[serve]`", ServeConfig),
        ("## `[serve.keys.<name>]`", ServeKey),
        ("## `[serve.models.<alias>]`", ServeModel),
    ],
)
def test_configuration_reference_lists_every_key_with_its_default(
    heading: str, config_class: type[object] | str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each config class's every key has a row in its section of configuration.md, showing its default."""
    for name in ("OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):
        monkeypatch.delenv(name, raising=False)  # the documented defaults are those without the variables
    cls = _plugin_configs()[config_class] if isinstance(config_class, str) else config_class
    section = _section((DOCS / "configuration.md").read_text(encoding="utf-8"), heading)
    # Classes that cannot be made without a value: the fields given here have a row, their default is not checked.
    made = {ServeKey: {"hash": "sha256:" + "0" * 64}, ServeModel: {"chain": ("a/b",)}}
    given = made.get(cls, {})  # type: ignore[call-overload]
    instance = cls(**given) if given else cls()
    for field in attrs.fields(cls):  # type: ignore[arg-type]
        if not field.init:
            continue
        row = _row(section, field.name)
        if field.name in given:
            continue
        value = getattr(instance, field.name)
        if field.name == "base_url" and config_class == "ollama":
            value = "http://127.0.0.1:11434"  # the documented default without $OLLAMA_HOST
        assert _shown(value) in row, f"{heading}: the row of `{field.name}` does not show its default {value!r}"
    env = getattr(instance, "api_key_env", None)  # a config field since contract 2, set per plugin
    if env:
        assert env in _row(section, "api_key")


def test_configuration_reference_lists_every_environment_variable() -> None:
    """Every variable core and the plugins read from the environment is in the variables table."""
    from clawdesk._config import CONFIG_ENV, REDIS_URL_ENV, STATE_BACKEND_ENV
    from clawdesk._home import HOME_ENV
    from clawdesk._plugin_check import MEMORY_ENV
    from clawdesk._registry import IMPORT_TIMEOUT_ENV, PLUGINS_ENV
    from clawdesk_ollama._config import HOST_ENV
    from clawdesk_openai._config import BASE_URL_ENV, ORGANIZATION_ENV, PROJECT_ENV
    from clawdesk_openai_compat import DIALECTS

    section = _section((DOCS / "configuration.md").read_text(encoding="utf-8"), "## Environment variables")
    names = [CONFIG_ENV, PLUGINS_ENV, IMPORT_TIMEOUT_ENV, HOST_ENV, HOME_ENV, REDIS_URL_ENV, STATE_BACKEND_ENV]
    names += [BASE_URL_ENV, ORGANIZATION_ENV, PROJECT_ENV, MEMORY_ENV]
    names += [d.key_env for d in DIALECTS.values() if d.key_env]
    names += [env for c in _plugin_configs().values() if (env := c().api_key_env)]
    for name in names:
        _row(section, name)


def _commands(parser: argparse.ArgumentParser, prefix: str) -> list[tuple[str, argparse.ArgumentParser]]:
    """Every command and nested subcommand below ``parser``, as ``("logs list", its parser)``."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                command = f"{prefix} {name}".strip()
                found.append((command, sub))
                found += _commands(sub, command)
    return found


def test_cli_reference_lists_every_command_and_option() -> None:
    """Every command and subcommand of `clawdesk` is in its section of cli.md, with every option in it."""
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    top = text[: text.index("## ")]
    commands = _commands(_parser(), "")
    assert {c for c, _ in commands if " " not in c} == {
        "plugins",
        "models",
        "chat",
        "keys",
        "logs",
        "config",
        "new-provider",
        "serve",
    }
    for command, subparser in commands:
        section = _section(text, f"## {command.split()[0]}")
        assert f"clawdesk {command}" in section, f"`clawdesk {command}` is not in its section"
        for action in subparser._actions:
            if action.help == argparse.SUPPRESS or isinstance(action, argparse._SubParsersAction):
                continue
            if not action.option_strings:
                assert f"`{action.dest.upper()}`" in section or f"`{action.dest}`" in section, (command, action.dest)
                continue
            longest = max(action.option_strings, key=len)
            # Options every command shares are documented once, at the top.
            where = top if longest in ("--config", "--debug", "--help") else section
            assert f"`{longest}" in where, f"{command}: {longest} is not documented"
    assert "`--version`" in top


def test_conformance_page_lists_every_check() -> None:
    """Every check of the kit has a row in the checks table of conformance.md."""
    from clawdesk.testing import CHECKS

    section = _section((DOCS / "conformance.md").read_text(encoding="utf-8"), "## The checks")
    for name in CHECKS:
        assert f"| `{name}" in section or f", `{name}`" in section, f"{name} is not in conformance.md"


def test_contract_page_names_every_data_type_and_error() -> None:
    """Every public data type and every error class is named in contract.md."""
    from clawdesk import _errors, _types

    text = (DOCS / "contract.md").read_text(encoding="utf-8")
    for name in [*_types.__all__, "ProviderConfig", "Secret"]:
        assert f"`{name}" in text, f"{name} is not described in contract.md"
    tree = _section(text, "## Errors")
    for name in _errors.__all__:
        if getattr(_errors, name).__name__ != name:  # an alias (Timeout for TimedOut): named, not in the tree
            assert f"`{name}`" in tree, f"the alias {name} is not mentioned"
            continue
        assert f"── {name} " in tree or f"{name}\n" in tree, f"{name} is not in the error tree"
