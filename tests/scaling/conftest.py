"""Fixtures of the scaling tests; the harness itself is harness.py (importable from here)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = str(Path(__file__).parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from harness import MISTRAL_ANSWER, MISTRAL_OVERLOADED, OLLAMA_ANSWER, Backend, Workers  # noqa: E402

from clawdesk.testing import RedisServer, Reply, ScriptedServer, redis_server_path  # noqa: E402


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    """A fresh redis-server on a loopback port (skipped where it is not installed, a failure on CI)."""
    if redis_server_path() is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed: .ci/run installs it")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    with RedisServer() as server:
        yield server


@pytest.fixture
def mistral() -> Iterator[Backend]:
    """Mistral's chat completions endpoint, answering or (``failing = True``) overloaded with a 503."""
    with ScriptedServer() as server:
        yield Backend(server, "/v1/chat/completions", MISTRAL_ANSWER, Reply.json(MISTRAL_OVERLOADED, status=503))


@pytest.fixture
def ollama() -> Iterator[Backend]:
    """Ollama's /api/chat, always answering."""
    with ScriptedServer() as server:
        yield Backend(server, "/api/chat", OLLAMA_ANSWER, Reply.json({"error": "unused"}, status=500))


@pytest.fixture
def workers() -> Iterator[list[Workers]]:
    """Closes every Workers a test made (append them to the list)."""
    made: list[Workers] = []
    yield made
    for each in made:
        each.close()
