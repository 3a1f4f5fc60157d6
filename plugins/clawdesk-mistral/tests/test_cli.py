"""``clawdesk chat -m mistral/...`` end to end: a real subprocess talking to the scripted server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from clawdesk.testing import Reply, ScriptedServer


def _run(args: list[str], config: Path, *, key: str | None = "sk-cli-test-key-123") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MISTRAL_API_KEY", "CLAWDESK_CONFIG")}
    env["CLAWDESK_PLUGINS"] = "mistral"
    if key is not None:
        env["MISTRAL_API_KEY"] = key
    return subprocess.run(
        [sys.executable, "-m", "clawdesk", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def _config(tmp_path: Path, server: ScriptedServer, helpers: Any) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(helpers.config_text(server.url + "/v1", max_retries=0), encoding="utf-8")
    return path


def test_cli_chat_streams_answer(server: ScriptedServer, tmp_path: Path, helpers: Any) -> None:
    """The chat command streams Mistral's answer to stdout, sending the key from MISTRAL_API_KEY."""
    server.add(helpers.sse_reply(helpers.text_stream("Hello", " from", " Mistral")))
    result = _run(["chat", "-m", "mistral/mistral-small-latest", "hi"], _config(tmp_path, server, helpers))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Hello from Mistral"
    body = server.requests[0].json()
    assert body["model"] == "mistral-small-latest"
    assert body["stream"] is True
    assert body["messages"] == [{"role": "user", "content": "hi"}]
    assert server.requests[0].headers["authorization"] == "Bearer sk-cli-test-key-123"


def test_cli_chat_json_shows_usage(server: ScriptedServer, tmp_path: Path, helpers: Any) -> None:
    """``--json`` prints one object with the content and the usage from the final chunk."""
    server.add(helpers.sse_reply(helpers.text_stream("Hi", "!")))
    result = _run(["chat", "-m", "mistral/mistral-small-latest", "--json", "hi"], _config(tmp_path, server, helpers))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["content"] == "Hi!"
    assert data["usage"]["input_tokens"] == 7
    assert data["usage"]["output_tokens"] == 3
    assert data["finish_reason"] == "stop"


def test_cli_bad_key_one_line_no_secret(server: ScriptedServer, tmp_path: Path, helpers: Any) -> None:
    """A refused key exits 1 with one line naming the provider, no traceback and no key."""
    server.add(Reply.json({"message": "Unauthorized", "request_id": "r"}, status=401))
    result = _run(["chat", "-m", "mistral/mistral-small-latest", "hi"], _config(tmp_path, server, helpers))
    assert result.returncode == 1
    assert "mistral" in result.stderr
    assert "Traceback" not in result.stderr
    assert "sk-cli-test-key-123" not in result.stderr + result.stdout


def test_cli_missing_key(server: ScriptedServer, tmp_path: Path, helpers: Any) -> None:
    """Without a key the CLI names MISTRAL_API_KEY and sends nothing."""
    result = _run(["chat", "-m", "mistral/mistral-small-latest", "hi"], _config(tmp_path, server, helpers), key=None)
    assert result.returncode != 0
    assert "MISTRAL_API_KEY" in result.stderr
    assert server.requests == []
