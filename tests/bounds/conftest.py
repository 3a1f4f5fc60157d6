"""Fixtures for the bounds tests: a scripted server on 127.0.0.1, the real Mistral and Ollama plugins, and a
client whose config is written as TOML (so every key under test goes through the config file's own checks).

The wire shapes are the services' own (see ``/work/shared/protocols/{mistral,ollama}.md``): Mistral answers
OpenAI-style chat completions and streams SSE ``data: {json}`` frames ended by ``data: [DONE]``; Ollama
streams one JSON object a line, the last with ``"done": true``.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

import clawdesk
from clawdesk import Registry
from clawdesk.testing import Reply, ScriptedServer

KEY = "sk-bounds-test-key-0123456789"
MISTRAL_MODEL = "mistral-small-latest"
OLLAMA_MODEL = "llama3.2"
SSE = "text/event-stream; charset=utf-8"
NDJSON = "application/x-ndjson"


def mistral_body(text: str) -> bytes:
    """A whole (non-streamed) chat completion saying ``text``."""
    return json.dumps(
        {
            "id": "cmpl-b",
            "object": "chat.completion",
            "created": 1760000000,
            "model": MISTRAL_MODEL,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
        }
    ).encode()


def sse_frame(text: str, finish: str | None = None) -> bytes:
    """One Mistral stream chunk carrying ``text`` as an SSE event."""
    data = {
        "id": "cmpl-b",
        "object": "chat.completion.chunk",
        "created": 1760000000,
        "model": MISTRAL_MODEL,
        "choices": [{"index": 0, "delta": {"role": "assistant", "content": text}, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"


SSE_END = sse_frame("", "stop") + b"data: [DONE]\n\n"


def ollama_line(text: str, *, done: bool = False) -> bytes:
    """One Ollama stream line carrying ``text`` (the last one when ``done``)."""
    data: dict[str, Any] = {
        "model": OLLAMA_MODEL,
        "created_at": "2026-01-01T00:00:00Z",
        "message": {"role": "assistant", "content": text},
        "done": done,
    }
    if done:
        data.update(done_reason="stop", prompt_eval_count=5, eval_count=2)
    return json.dumps(data).encode() + b"\n"


def sse_reply(pieces: Sequence[bytes], **kw: Any) -> Reply:
    return Reply.stream(pieces, content_type=SSE, **kw)


def client(
    server: ScriptedServer, registry: Registry, *, provider: str = "mistral", toml: str = "", **table: Any
) -> clawdesk.Clawdesk:
    """A client with ``[providers.<provider>]`` pointed at ``server`` (plus ``table``) and ``toml`` appended."""
    base = server.url + ("/v1" if provider == "mistral" else "")
    keys = {"api_key": KEY, "base_url": base, "timeout_secs": 2.0, "max_retries": 0, "verify_tls": False, **table}
    lines = [f"[providers.{provider}]"] + [f"{k} = {json.dumps(v)}" for k, v in keys.items()]
    config = clawdesk.parse_config("\n".join(lines) + "\n" + toml)
    return clawdesk.Clawdesk(registry=registry, config=config, env={})


@pytest.fixture(scope="session")
def registry() -> Registry:
    """The real Mistral and Ollama plugins, registered directly."""
    reg = Registry(discover=False)
    reg.register(importlib.import_module("clawdesk_mistral._plugin"))
    reg.register(importlib.import_module("clawdesk_ollama._plugin"))
    return reg


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    """A fresh scripted server per test."""
    with ScriptedServer() as srv:
        yield srv


fake_site = sys.modules["clawdesk_tests_core_conftest"].fake_site  # loaded by tests/conftest.py
