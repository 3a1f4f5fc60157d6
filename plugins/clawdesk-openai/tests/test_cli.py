"""The issue's acceptance, end to end: ``clawdesk`` in a real subprocess talking to a scripted OpenAI or Groq."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from clawdesk import ToolCall
from clawdesk.testing import Reply, ScriptedServer
from clawdesk_openai_compat.testing import sse_reply, text_stream, token_usage, tool_call_stream

KEY = "sk-cli-test-key-0123456789"


def _run(args: list[str], config: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "GROQ_", "CLAWDESK_"))}
    clean["CLAWDESK_PLUGINS"] = "openai"
    return subprocess.run(
        [sys.executable, "-m", "clawdesk", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean, **env},
        check=False,
    )


def _openai(tmp_path: Path, server: ScriptedServer) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'[providers.openai]\nbase_url = "{server.url}/v1"\ndialect = "openai"\nmax_retries = 0\n')
    return path


def test_chat_streams_text_and_tool_calls(server: ScriptedServer, tmp_path: Path) -> None:
    """`clawdesk chat -m openai/<model>` streams the text to stdout, then shows a streamed tool call."""
    server.add(sse_reply(text_stream("Hello", " from", " OpenAI")))
    server.add(sse_reply(tool_call_stream(ToolCall("call_1", "get_time", {"tz": "Europe/Zürich"}))))
    config = _openai(tmp_path, server)
    text = _run(["chat", "-m", "openai/gpt-4o-mini", "hi"], config, {"OPENAI_API_KEY": KEY})
    calls = _run(["chat", "-m", "openai/gpt-4o-mini", "what time is it?"], config, {"OPENAI_API_KEY": KEY})
    assert (text.returncode, text.stdout, text.stderr) == (0, "Hello from OpenAI\n", "")
    assert calls.returncode == 0, calls.stderr
    assert calls.stdout == '[tool call get_time({"tz": "Europe/Zürich"})]\n'
    assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"
    assert server.requests[0].json()["stream_options"] == {"include_usage": True}


def test_json_shows_usage_with_cached_and_reasoning_tokens(server: ScriptedServer, tmp_path: Path) -> None:
    """--json shows the usage of the include_usage chunk: input and output, cached and reasoning tokens."""
    server.add(sse_reply(text_stream("4", usage=token_usage(120, 30, cached=96, reasoning=24))))
    result = _run(
        ["chat", "-m", "openai/o4-mini", "--json", "2+2?"], _openai(tmp_path, server), {"OPENAI_API_KEY": KEY}
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["usage"] == {"input_tokens": 120, "output_tokens": 30, "cache_read_tokens": 96, "reasoning_tokens": 24}
    assert (data["provider"], data["model"], data["content"], data["finish_reason"]) == (
        "openai",
        "o4-mini",
        "4",
        "stop",
    )
    assert KEY not in result.stdout + result.stderr


def test_groq_by_configuration_alone(tmp_path: Path) -> None:
    """A config with only [providers.groq] (plugin, base_url, api_key_env) makes chat, plugins and models work."""
    with ScriptedServer() as server:
        server.add(sse_reply(text_stream("Fast", " answer")))
        cards = [{"id": "llama-3.3-70b-versatile", "object": "model", "owned_by": "Meta", "context_window": 131072}]
        server.route("GET", "/openai/v1/models", Reply.json({"object": "list", "data": cards}))
        config = tmp_path / "config.toml"
        config.write_text(
            f'[providers.groq]\nplugin = "openai"\nbase_url = "{server.url}/openai/v1"\napi_key_env = "GROQ_API_KEY"\n'
        )
        env = {"GROQ_API_KEY": "gsk_test_123456"}
        chat = _run(["chat", "-m", "groq/llama-3.3-70b-versatile", "hi"], config, env)
        plugins = _run(["plugins", "--json"], config, env)
        models = _run(["models", "--json"], config, env)
    assert (chat.returncode, chat.stdout) == (0, "Fast answer\n"), chat.stderr
    assert server.requests[0].path == "/openai/v1/chat/completions"
    assert server.requests[0].headers["authorization"] == "Bearer gsk_test_123456"
    listed = {row["name"]: row for row in json.loads(plugins.stdout)}
    assert (listed["groq"]["plugin"], listed["groq"]["status"]) == ("openai", "ok")
    rows = {row["id"]: row for row in json.loads(models.stdout)}
    assert rows["groq/llama-3.3-70b-versatile"]["context_length"] == 131072
    assert "gsk_test_123456" not in chat.stdout + chat.stderr + plugins.stdout + models.stdout + models.stderr
