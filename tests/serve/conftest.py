"""Fixtures of the gateway tests: scripted Mistral and Ollama, and ``clawdesk serve`` as a real process."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = str(Path(__file__).parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from backends import GatewayProcess, MistralBackend, OllamaBackend, config_text  # noqa: E402

from clawdesk.testing import RedisServer, ScriptedServer, redis_server_path  # noqa: E402


class Backends:
    """Both scripted backends, their servers and handlers."""

    def __init__(self, mistral_server: ScriptedServer, ollama_server: ScriptedServer) -> None:
        self.mistral_server = mistral_server
        self.ollama_server = ollama_server
        self.mistral = MistralBackend()
        self.ollama = OllamaBackend()
        mistral_server.route("POST", "/v1/chat/completions", self.mistral)
        ollama_server.route("POST", "/api/chat", self.ollama)

    def config(self, **kw: Any) -> str:
        return config_text(self.mistral_server.url, self.ollama_server.url, **kw)

    def reset(self) -> None:
        self.mistral.reset()
        self.ollama.reset()


@pytest.fixture(scope="module")
def backends() -> Iterator[Backends]:
    """Scripted Mistral and Ollama for a whole test module."""
    with ScriptedServer() as mistral_server, ScriptedServer() as ollama_server:
        yield Backends(mistral_server, ollama_server)


@pytest.fixture(scope="module")
def gateway(backends: Backends, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    """One `clawdesk serve` process (one worker) in front of the scripted backends, for a whole module."""
    path = tmp_path_factory.mktemp("serve") / "config.toml"
    path.write_text(backends.config(), encoding="utf-8")
    process = GatewayProcess(path)
    yield process
    process.close()


@pytest.fixture(autouse=True)
def _fresh_counts(request: pytest.FixtureRequest) -> None:
    if "backends" in request.fixturenames:
        request.getfixturevalue("backends").reset()


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    """A fresh redis-server on a loopback port (skipped where it is not installed, a failure on CI)."""
    if redis_server_path() is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed: .ci/run installs it")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    with RedisServer() as server:
        yield server
