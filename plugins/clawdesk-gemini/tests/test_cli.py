"""``clawdesk chat -m gemini/...`` and ``clawdesk models`` end to end: a real subprocess and a scripted Gemini."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from clawdesk.testing import ScriptedServer

W = sys.modules["clawdesk_gemini_testwire"]
CLI_KEY = "AIzaSyCliTestKey-0123456789abcdefghijk"


def _run(
    args: list[str], config: Path, *, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("GEMINI_API_KEY", "GOOGLE_API_KEY", "CLAWDESK_CONFIG")}
    clean["CLAWDESK_PLUGINS"] = "gemini"
    clean.update({"GEMINI_API_KEY": CLI_KEY} if env is None else env)
    return subprocess.run(
        [sys.executable, "-m", "clawdesk", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean,
        input=stdin,
        check=False,
    )


@pytest.fixture
def config(tmp_path: Path, server: ScriptedServer) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(W.config_text(server.url, max_retries=0), encoding="utf-8")
    return path


def _no_key_anywhere(result: subprocess.CompletedProcess[str], server: ScriptedServer, key: str = CLI_KEY) -> None:
    assert key not in result.stdout
    assert key not in result.stderr
    for request in server.requests:
        assert key not in request.path, "the key must never be in a URL"
        assert key.encode() not in request.body
        assert [name for name, value in request.headers.items() if key in value] == ["x-goog-api-key"]


@pytest.mark.slow
def test_chat_streams_from_gemini(server: ScriptedServer, config: Path, gw: Any) -> None:
    """The chat command streams Gemini's answer to stdout; the key from GEMINI_API_KEY goes only in x-goog-api-key."""
    server.add(gw.stream(*gw.text_stream("Hello", " from", " Gemini")))
    result = _run(["chat", "-m", "gemini/gemini-2.5-flash", "-s", "Be brief.", "hi"], config)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Hello from Gemini\n"
    sent = server.requests[0]
    assert sent.path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    assert sent.headers["x-goog-api-key"] == CLI_KEY
    assert sent.json() == {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
    }
    _no_key_anywhere(result, server)


@pytest.mark.slow
def test_chat_json_reports_usage_and_finish(server: ScriptedServer, config: Path, gw: Any) -> None:
    """``--json`` prints the content, the finish reason and the usage of the last chunk (thinking counted as output)."""
    chunks = gw.text_stream("Hi", "!", usage=gw.usage(7, 2, thoughts=20))
    server.add(gw.stream(*chunks))
    result = _run(["chat", "-m", "gemini/gemini-2.5-flash", "--json", "hi"], config)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["content"], data["finish_reason"]) == ("Hi!", "stop")
    assert data["usage"] == {"input_tokens": 7, "output_tokens": 22, "reasoning_tokens": 20}
    _no_key_anywhere(result, server)


@pytest.mark.slow
def test_chat_with_google_api_key(server: ScriptedServer, config: Path, gw: Any) -> None:
    """With only GOOGLE_API_KEY set, that key is used."""
    server.add(gw.stream(*gw.text_stream("ok")))
    result = _run(["chat", "-m", "gemini/gemini-2.5-flash", "hi"], config, env={"GOOGLE_API_KEY": "google-only-key"})
    assert result.returncode == 0, result.stderr
    assert server.requests[0].headers["x-goog-api-key"] == "google-only-key"


@pytest.mark.slow
def test_bad_key_is_one_line_without_the_key(server: ScriptedServer, config: Path, gw: Any) -> None:
    """A refused key exits 1 with one line naming the provider and the variables, no traceback, no key."""
    details = [gw.error_info("API_KEY_INVALID")]
    server.add(gw.error(400, "API key not valid. Please pass a valid API key.", details=details))
    result = _run(["chat", "-m", "gemini/gemini-2.5-flash", "hi"], config)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "gemini" in lines[0]
    assert "auth_failed" in lines[0]
    assert "GEMINI_API_KEY" in lines[0]
    assert "Traceback" not in result.stderr
    _no_key_anywhere(result, server)


@pytest.mark.slow
def test_missing_key_sends_nothing(server: ScriptedServer, config: Path) -> None:
    """Without a key the CLI names both variables and sends nothing."""
    result = _run(["chat", "-m", "gemini/gemini-2.5-flash", "hi"], config, env={})
    assert result.returncode != 0
    assert "GEMINI_API_KEY (or GOOGLE_API_KEY)" in result.stderr
    assert server.requests == []


@pytest.mark.slow
def test_stream_cut_short_is_an_error(server: ScriptedServer, config: Path, gw: Any) -> None:
    """A stream that ends without a finishReason fails the command, keeping what was printed."""
    chunks = [gw.response(gw.text("Once upon"), finish=None), gw.response(gw.text(" a time"), finish=None)]
    server.add(gw.stream(*chunks))
    result = _run(["chat", "-m", "gemini/gemini-2.5-flash", "tell me"], config)
    assert result.returncode == 1
    assert result.stdout == "Once upon a time\n"
    assert "truncated" in result.stderr
    assert "finishReason" in result.stderr


@pytest.mark.slow
def test_models_refresh_lists_every_page(server: ScriptedServer, config: Path, gw: Any) -> None:
    """``models -p gemini --refresh`` shows what GET /v1beta/models lists, over every page."""
    first = gw.models_page(gw.model_entry("gemini-2.5-flash", ["generateContent"], thinking=True), next_token="p2")
    second = gw.models_page(gw.model_entry("gemini-embedding-001", ["embedContent"], input_limit=2048, output_limit=1))
    server.route("GET", "/v1beta/models?pageSize=1000", first)
    server.route("GET", "/v1beta/models?pageSize=1000&pageToken=p2", second)
    result = _run(["models", "-p", "gemini", "--refresh", "--json"], config)
    assert result.returncode == 0, result.stderr
    listed = {m["model"]: m for m in json.loads(result.stdout)}
    assert set(listed) == {"gemini-2.5-flash", "gemini-embedding-001"}
    assert "reasoning" in listed["gemini-2.5-flash"]["capabilities"]
    assert listed["gemini-embedding-001"]["capabilities"] == ["embedding"]
    assert listed["gemini-embedding-001"]["context_length"] == 2048
    _no_key_anywhere(result, server)


@pytest.mark.slow
def test_debug_logs_and_tracebacks_never_show_the_key(server: ScriptedServer, config: Path, gw: Any) -> None:
    """With --debug (debug logs, tracebacks) and --explain (every attempt), neither a success nor a bad key shows it."""
    server.add(gw.stream(*gw.text_stream("fine")))
    server.add(
        gw.error(400, "API key not valid. Please pass a valid API key.", details=[gw.error_info("API_KEY_INVALID")])
    )
    ok = _run(["chat", "--debug", "--explain", "-m", "gemini/gemini-2.5-flash", "hi"], config)
    refused = _run(["chat", "--debug", "--explain", "-m", "gemini/gemini-2.5-flash", "hi"], config)
    assert ok.returncode == 0, ok.stderr
    assert "DEBUG" in ok.stderr  # the debug logs were on
    assert refused.returncode == 1
    assert "Traceback" in refused.stderr  # --debug shows it: the key must not be in it either
    _no_key_anywhere(ok, server)
    _no_key_anywhere(refused, server)
