"""Fixtures for the hardening tests: the six first-party plugins against one scripted loopback server.

Every test runs with no proxy, API-key or Ollama variable of the machine in its
environment (a test sets the ones it is about), its own config file and its
own clawdesk home.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from attrs import frozen

import clawdesk
from clawdesk import Registry
from clawdesk.testing import ScriptedServer

_core = sys.modules["clawdesk_tests_core_conftest"]  # loaded by tests/conftest.py
fake_site = _core.fake_site
_clean_env = _core._clean_env
# The test modules import their helpers from here under this name (test directories are not packages).
sys.modules["clawdesk_tests_hardening"] = sys.modules[__name__]

#: A key nobody could mistake for anything else; no 6-character piece of it may show anywhere.
KEY = "sk-Q7w3e9r1t5y8u2i4o6pZ0xVb"


@frozen
class Spec:
    """How one first-party plugin is pointed at the scripted server."""

    name: str
    model: str
    #: Appended to the server's URL to make ``base_url``.
    base_path: str = ""
    extra: str = ""


SPECS = {
    spec.name: spec
    for spec in (
        Spec("mistral", "mistral-small-latest", "/v1"),
        Spec("openai", "gpt-4o-mini", "/v1"),
        Spec("anthropic", "claude-haiku-4-5"),
        Spec("gemini", "gemini-2.5-flash"),
        Spec("bedrock", "anthropic.claude-3-haiku-20240307-v1:0", extra='region = "us-west-2"\n'),
        Spec("ollama", "llama3.2", extra="first_byte_timeout_secs = 5\n"),
    )
}
PROVIDERS = list(SPECS)

_VARIABLES = ("PROXY", "_API_KEY", "OLLAMA_HOST", "_BASE_URL", "AWS_")


@pytest.fixture(autouse=True)
def _no_outside_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy, key, base-URL or AWS variable of the machine reaches a test."""
    for name in list(os.environ):
        outside = any(part in name.upper() for part in _VARIABLES) or name.startswith("CLAWDESK_")
        if outside and name != "CLAWDESK_HOME":
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(scope="session")
def registry() -> Registry:
    """The six first-party plugins, registered directly."""
    reg = Registry(discover=False)
    for name in SPECS:
        reg.register(importlib.import_module(f"clawdesk_{name}._plugin"))
    return reg


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedServer]:
    """One scripted server per module."""
    with ScriptedServer() as srv:
        yield srv


def table(name: str, base_url: str, *, key: str | None = KEY, **extra: Any) -> str:
    """The ``[providers.<name>]`` TOML a test runs with: no retries, short timeouts, ``key`` unless None."""
    spec = SPECS[name]
    lines = [f"[providers.{name}]", f"base_url = {json.dumps(base_url + spec.base_path)}"]
    lines += ["max_retries = 0", "timeout_secs = 5", f"default_model = {json.dumps(spec.model)}"]
    if key is not None:
        lines.append(f"api_key = {json.dumps(key)}")
    lines += [f"{k} = {json.dumps(v)}" for k, v in extra.items()]
    return "\n".join(lines) + "\n" + spec.extra


def make(registry: Registry, text: str, *, env: dict[str, str] | None = None) -> clawdesk.Clawdesk:
    """A Clawdesk over ``registry`` with the config ``text``."""
    return clawdesk.Clawdesk(registry=registry, config=clawdesk.parse_config(text), env=env or {})


def write_config(tmp_path: Path, text: str) -> Path:
    """``text`` as a config file in ``tmp_path``."""
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def no_key_piece(text: str, key: str = KEY) -> None:
    """Assert that not even a 6-character piece of ``key`` shows in ``text``."""
    pieces = [key[i : i + 6] for i in range(len(key) - 5)]
    shown = [piece for piece in pieces if piece in text]
    assert not shown, f"pieces of the key show: {shown} in {text[-500:]!r}"
