"""``clawdesk chat -m anthropic/...`` end to end: a real subprocess talking to the scripted Claude API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import anthropic_wire as wire
import pytest

from clawdesk.testing import ScriptedServer

KEY = "sk-ant-api03-cli-secret-ZZ9xq7"
MODEL = f"anthropic/{wire.MODEL}"


def _run(
    args: list[str], config: Path | None, *, key: str | None = KEY, plugins: str = "anthropic"
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CLAWDESK_"))}
    env["CLAWDESK_PLUGINS"] = plugins
    if key is not None:
        env["ANTHROPIC_API_KEY"] = key
    where = ["--config", str(config)] if config is not None else []
    return subprocess.run(
        [sys.executable, "-m", "clawdesk", *args, *where],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


@pytest.fixture
def config(tmp_path: Path, server: ScriptedServer) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(wire.config_text(server.url, max_retries=0), encoding="utf-8")
    return path


def test_chat_streams_text_with_the_key_from_the_environment(server: ScriptedServer, config: Path) -> None:
    """The chat command streams Claude's answer to stdout, sending ANTHROPIC_API_KEY as x-api-key."""
    server.add(wire.sse_reply(wire.text_events("Hello", " from", " Claude")))
    result = _run(["chat", "-m", MODEL, "hi"], config)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Hello from Claude\n"
    sent = server.requests[0]
    assert sent.headers["x-api-key"] == KEY
    body = sent.json()
    assert body["model"] == wire.MODEL
    assert body["stream"] is True
    assert body["messages"] == [{"role": "user", "content": "hi"}]
    assert "system" not in body


def test_system_prompt_goes_to_the_top_level(server: ScriptedServer, config: Path) -> None:
    """``-s`` becomes the request's top-level system prompt, not a message."""
    server.add(wire.sse_reply(wire.text_events("Ahoy")))
    result = _run(["chat", "-m", MODEL, "-s", "Talk like a pirate.", "hi"], config)
    assert result.returncode == 0, result.stderr
    body = server.requests[0].json()
    assert body["system"] == "Talk like a pirate."
    assert body["messages"] == [{"role": "user", "content": "hi"}]


def test_json_shows_usage_with_cache_tokens(server: ScriptedServer, config: Path) -> None:
    """``--json`` prints the answer with usage: every prompt token, and the cache reads and writes among them."""
    start = {
        "input_tokens": 12,
        "cache_creation_input_tokens": 2048,
        "cache_read_input_tokens": 4096,
        "output_tokens": 1,
    }
    frames = wire.text_events("Hi", "!", usage={"output_tokens": 9})
    frames[0] = wire.event(wire.message_start(usage=start))
    server.add(wire.sse_reply(frames))
    result = _run(["chat", "-m", MODEL, "--json", "hi"], config)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["content"] == "Hi!"
    assert data["finish_reason"] == "stop"
    assert data["usage"] == {
        "input_tokens": 12 + 2048 + 4096,
        "output_tokens": 9,
        "cache_read_tokens": 4096,
        "cache_write_tokens": 2048,
    }


def test_the_key_never_appears_in_any_output(server: ScriptedServer, config: Path) -> None:
    """Success, a refused key and an overloaded stream, with --debug logs and tracebacks: the key shows nowhere."""
    server.add(
        wire.sse_reply(wire.text_events("fine")),
        wire.json_reply(wire.error_body("authentication_error", f"invalid x-api-key {KEY[:6]}..."), status=401),
        wire.sse_reply(
            [wire.event(wire.message_start()), wire.event(wire.error_body("overloaded_error", "Overloaded"))]
        ),
    )
    runs = [
        _run(["--debug", "chat", "-m", MODEL, "hi"], config),
        _run(["--debug", "chat", "-m", MODEL, "--json", "hi"], config),
        _run(["--debug", "chat", "-m", MODEL, "hi"], config),
    ]
    assert [r.returncode for r in runs] == [0, 1, 1]
    assert "auth_failed" in runs[1].stdout + runs[1].stderr
    assert "overloaded_error" in runs[2].stderr
    for result in runs:
        assert KEY not in result.stdout + result.stderr
    assert [r.headers["x-api-key"] for r in server.requests] == [KEY] * 3


def test_a_missing_key_names_the_variable_and_sends_nothing(server: ScriptedServer, config: Path) -> None:
    """Without a key the CLI names ANTHROPIC_API_KEY in one line and sends nothing."""
    result = _run(["chat", "-m", MODEL, "hi"], config, key=None)
    assert result.returncode == 1
    assert "ANTHROPIC_API_KEY" in result.stderr
    assert "Traceback" not in result.stderr
    assert server.requests == []


def test_plugins_loads_anthropic_without_the_http_stack() -> None:
    """`clawdesk plugins` lists anthropic as ok and imports no httpx, httpcore, anyio, cattrs or trio."""
    code = (
        "import sys, io, contextlib\n"
        "from clawdesk._cli import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        "    status = main(['plugins', '--json'])\n"
        "stack = ('httpx', 'httpcore', 'anyio', 'cattrs', 'trio', 'anthropic', 'pydantic')\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in stack)\n"
        "print(out.getvalue()); print('HEAVY', heavy, status)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAWDESK_")}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    listing, _, tail = result.stdout.rpartition("HEAVY ")
    statuses = {row["name"]: row["status"] for row in json.loads(listing)}
    assert statuses["anthropic"] == "ok"
    assert tail.strip() == "[] 0"
