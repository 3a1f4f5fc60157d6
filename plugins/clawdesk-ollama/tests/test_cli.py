"""The ``clawdesk`` command with the Ollama provider, run as a user runs it (a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from clawdesk.testing import ScriptedServer, unused_port

_DROP = ("CLAWDESK_CONFIG", "CLAWDESK_PLUGINS", "MISTRAL_API_KEY", "OLLAMA_API_KEY", "OLLAMA_HOST")


def run(home: Path, port: int, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m clawdesk ARGS`` with no config file and OLLAMA_HOST=127.0.0.1:PORT."""
    env = {k: v for k, v in os.environ.items() if k not in _DROP and "proxy" not in k.lower()}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), OLLAMA_HOST=f"127.0.0.1:{port}")
    return subprocess.run(
        [sys.executable, "-m", "clawdesk", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def port_of(server: ScriptedServer) -> int:
    return server.port


def test_chat_streams_the_scripted_answer(server: ScriptedServer, wire: Any, tmp_path: Path) -> None:
    """`OLLAMA_HOST=127.0.0.1:PORT clawdesk chat -m ollama/llama3.2 "hi"` prints the streamed answer."""
    server.route(
        "POST",
        "/api/chat",
        wire.stream(wire.line("Hello"), wire.line(" from"), wire.line(" Ollama!"), wire.final()),
    )
    result = run(tmp_path, port_of(server), "chat", "-m", "ollama/llama3.2", "hi")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Hello from Ollama!"
    body = server.requests[-1].json()
    assert body["model"] == "llama3.2"
    assert body["stream"] is True
    assert body["messages"] == [{"role": "user", "content": "hi"}]


def test_models_lists_scripted_models_with_capabilities(server: ScriptedServer, wire: Any, tmp_path: Path) -> None:
    """`clawdesk models -p ollama --refresh --json` lists the server's models and what they can do."""
    server.route(
        "GET",
        "/api/tags",
        wire.tags(
            wire.tag("llama3.2:latest", "a" * 64, capabilities=["completion", "tools"]),
            wire.tag("llava:7b", "b" * 64),
        ),
    )
    server.route("POST", "/api/show", wire.show(["completion", "vision"], context_length=32768))
    result = run(tmp_path, port_of(server), "models", "-p", "ollama", "--refresh", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["id"]: row for row in json.loads(result.stdout)}
    assert set(rows) == {"ollama/llama3.2:latest", "ollama/llava:7b"}
    assert rows["ollama/llama3.2:latest"]["capabilities"] == [
        "chat",
        "function_calling",
        "json_mode",
        "json_schema",
        "streaming",
    ]
    assert rows["ollama/llava:7b"]["capabilities"] == ["chat", "json_mode", "json_schema", "streaming", "vision"]
    assert rows["ollama/llava:7b"]["context_length"] == 32768


def test_no_config_and_no_ollama_says_what_to_do(tmp_path: Path) -> None:
    """With no config and nothing listening, `clawdesk chat "hi"` prints one clear line and exits 1."""
    result = run(tmp_path, unused_port(), "chat", "hi")
    assert result.returncode == 1
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "ollama serve" in lines[0]
    assert "another provider" in lines[0]


def test_models_when_ollama_is_down_warns_and_exits_0(tmp_path: Path) -> None:
    """Listing with Ollama down prints a warning naming the URL, an empty list, and does not fail."""
    port = unused_port()
    result = run(tmp_path, port, "models", "-p", "ollama", "--refresh", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []
    assert f"127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", [["plugins", "--json"]])
def test_plugin_is_discovered(tmp_path: Path, command: list[str]) -> None:
    """The installed entry point loads as provider 'ollama' with status ok."""
    result = run(tmp_path, unused_port(), *command)
    assert result.returncode == 0, result.stderr
    statuses = {row["name"]: row for row in json.loads(result.stdout)}
    assert statuses["ollama"]["status"] == "ok"
    assert statuses["ollama"]["distribution"] == "clawdesk-ollama"


def test_chat_no_stream_json(server: ScriptedServer, wire: Any, tmp_path: Path) -> None:
    """`clawdesk chat --no-stream --json` sends stream:false and reports the answer with its usage."""
    server.route("POST", "/api/chat", wire.answer("Hi there.", prompt=11, output=3))
    result = run(tmp_path, port_of(server), "chat", "-m", "ollama/llama3.2", "--no-stream", "--json", "hi")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["content"] == "Hi there."
    assert data["usage"] == {"input_tokens": 11, "output_tokens": 3}
    assert server.requests[-1].json()["stream"] is False


def test_chat_with_missing_model_says_how_to_pull(server: ScriptedServer, wire: Any, tmp_path: Path) -> None:
    """A model the server does not have gives one line suggesting `ollama pull`, exit 1."""
    server.route("POST", "/api/chat", wire.error(404, "model 'qwen9' not found"))
    result = run(tmp_path, port_of(server), "chat", "-m", "ollama/qwen9", "hi")
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "ollama pull qwen9" in lines[0]


def test_a_named_instance_of_ollama_from_config_alone(server: ScriptedServer, wire: Any, tmp_path: Path) -> None:
    """`[providers.gpu2] plugin = "ollama"` with its own base_url: `chat -m gpu2/llama3.2` works, `plugins` lists it."""
    server.route("POST", "/api/chat", wire.stream(wire.line("Hello"), wire.line(" from gpu2"), wire.final()))
    config = tmp_path / "config.toml"
    config.write_text(f'[providers.gpu2]\nplugin = "ollama"\nbase_url = "{server.url}"\n')
    # OLLAMA_HOST points at a closed port: only the instance's own base_url can answer.
    closed = unused_port()
    chat = run(tmp_path, closed, "--config", str(config), "chat", "-m", "gpu2/llama3.2", "hi")
    assert chat.returncode == 0, chat.stderr
    assert chat.stdout.strip() == "Hello from gpu2"
    assert server.requests[-1].json()["model"] == "llama3.2"
    listed = run(tmp_path, closed, "--config", str(config), "plugins", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert rows["gpu2"]["plugin"] == "ollama"
    assert rows["gpu2"]["status"] == "ok"
    assert rows["gpu2"]["distribution"] == "clawdesk-ollama"


def test_a_named_instance_reports_errors_under_its_own_name(tmp_path: Path) -> None:
    """A named instance whose server is down fails with one line that names the instance, not the plugin."""
    config = tmp_path / "config.toml"
    config.write_text(f'[providers.gpu2]\nplugin = "ollama"\nbase_url = "http://127.0.0.1:{unused_port()}"\n')
    result = run(tmp_path, unused_port(), "--config", str(config), "chat", "-m", "gpu2/llama3.2", "hi")
    assert result.returncode == 1
    assert "gpu2/llama3.2" in result.stderr
    assert "connection_failed" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
