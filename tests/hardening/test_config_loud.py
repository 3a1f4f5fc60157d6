"""Config mistakes are loud: typo'd provider tables, config errors without -m, missing files, odd variables.

Each case runs the real CLI in this process, with the real first-party plugins
installed, against a scripted loopback server where a call is made.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from clawdesk.testing import Reply, ScriptedServer

fakedist = sys.modules["clawdesk_tests_fakedist"]
hardening = sys.modules["clawdesk_tests_hardening"]
SPECS, table, write_config = hardening.SPECS, hardening.table, hardening.write_config

CHAT = ["chat", "--no-stream", "-m", "mistral/mistral-small-latest", "hi"]


def _run(args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: Any) -> Any:
    # Warnings are said once per process; each run here stands for a process of its own.
    monkeypatch.setattr("clawdesk._cli._warned", set(), raising=False)
    result = fakedist.run_main(args, monkeypatch=monkeypatch, capsys=capsys)
    shown = result.stdout + result.stderr
    assert "internal error" not in shown, shown
    assert "Traceback" not in shown, shown
    assert "::" not in result.stderr, result.stderr
    assert ": :" not in result.stderr, result.stderr
    return result


@pytest.mark.parametrize("command", ["chat", "plugins", "models"])
def test_typo_in_a_provider_table_is_a_warning_with_a_suggestion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any, server: ScriptedServer, command: str
) -> None:
    """``[providers.mistrall]`` (and ``[providers.olama]``) is warned about, once, with "did you mean"."""
    wire = table("mistral", server.url)
    config = wire + '\n[providers.mistrall]\napi_key = "sk-typo-0123456789"\n[providers.olama]\n'
    config += '\n[providers.zzyzx]\n\n[providers.groq]\nplugin = "openai"\nbase_url = "http://127.0.0.1:9/v1"\n'
    monkeypatch.setenv("CLAWDESK_CONFIG", str(write_config(tmp_path, config)))
    server.route("POST", "/v1/chat/completions", Reply.json(_answer()))
    server.route("GET", "/v1/models", Reply.json({"object": "list", "data": []}))
    args = {"chat": CHAT, "plugins": ["plugins"], "models": ["models", "-p", "mistral"]}[command]
    result = _run(args, monkeypatch, capsys)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("clawdesk: warning:")]
    assert len(warnings) == 3, result.stderr
    assert "providers.mistrall" in warnings[0]
    assert "did you mean 'mistral'?" in warnings[0]
    assert "did you mean 'ollama'?" in warnings[1]
    assert "providers.zzyzx" in warnings[2]
    assert "installed: " in warnings[2]
    assert "groq" not in result.stderr, "a named instance is not a typo"


def _answer() -> dict[str, Any]:
    return {
        "id": "c1",
        "object": "chat.completion",
        "model": "mistral-small-latest",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "fine"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


@pytest.mark.parametrize(
    "args",
    [CHAT, ["chat", "--no-stream", "hi"], ["chat", "--json", "--no-stream", "hi"], ["chat", "hi"]],
    ids=["-m", "no -m", "no -m --json", "no -m stream"],
)
@pytest.mark.parametrize(
    "bad",
    [
        'verify_tls = "yes"',
        'api_key = "sk-abc\\u0007def-0123456"',
        "temperature = 0.2",
        'timeout_secs = "thirty"',
        "MISTRAL_API_KEY=sk-abc\x01def-0123456",
    ],
    ids=["verify_tls", "key", "unknown-key", "timeout", "key-variable"],
)
def test_config_errors_exit_2_with_or_without_a_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any, server: ScriptedServer, args: list[str], bad: str
) -> None:
    """A broken ``[providers.mistral]`` (or its key variable) exits 2 whether the model is named or not."""
    text = table("mistral", server.url, key=None)
    if bad.startswith("MISTRAL_API_KEY="):
        monkeypatch.setenv("MISTRAL_API_KEY", bad.partition("=")[2])
    elif bad.startswith("timeout_secs"):
        text = text.replace("timeout_secs = 5", bad)
    else:
        text = text.replace("[providers.mistral]\n", f"[providers.mistral]\n{bad}\n")
    monkeypatch.setenv("CLAWDESK_CONFIG", str(write_config(tmp_path, text)))
    before = len(server.requests)
    result = _run(args, monkeypatch, capsys)
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "providers.mistral" in result.stderr
    assert len(server.requests) == before


@pytest.mark.parametrize("command", [["plugins"], ["chat", "hi"], ["models"], ["plugins", "--json"]])
def test_missing_config_file_exits_2_without_a_doubled_colon(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any, command: list[str]
) -> None:
    """``clawdesk --config missing.toml plugins`` (and other commands): exit 2, "FILE: config file not found"."""
    missing = tmp_path / "missing.toml"
    result = _run(["--config", str(missing), *command], monkeypatch, capsys)
    assert result.returncode == 2, result
    assert f"clawdesk: error: {missing}: config file not found" in result.stderr


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ('{"mistral": 5}', "the keys file is not a JSON object"),
        ("[" * 100_000, "the keys file is not a JSON object"),
        ("\xff\xfe", "the keys file is not a JSON object"),
    ],
    ids=["not-strings", "deep", "not-utf8"],
)
def test_broken_keys_file_is_one_line_without_a_doubled_colon(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any, content: str, words: str
) -> None:
    """A keys file that is not a JSON object of strings (or nested past the parser's depth): exit 2, one line."""
    from clawdesk._home import keys_path

    keys_path().parent.mkdir(parents=True, exist_ok=True)
    keys_path().write_bytes(content.encode("latin-1"))
    monkeypatch.setenv("CLAWDESK_CONFIG", str(write_config(tmp_path, "")))
    result = _run(["chat", "-m", "mistral/x", "hi"], monkeypatch, capsys)
    assert result.returncode == 2, result.stderr
    assert f"{keys_path()}: {words}" in result.stderr


@pytest.mark.parametrize(
    ("value", "warned"),
    [("1e300", False), ("inf", False), ("1e400", False), ("nan", True), ("-5", True), ("soon", True), ("3", False)],
)
def test_import_timeout_variable_is_accepted_or_refused_clearly(
    monkeypatch: pytest.MonkeyPatch, capsys: Any, caplog: pytest.LogCaptureFixture, value: str, warned: bool
) -> None:
    """Huge CLAWDESK_PLUGIN_IMPORT_TIMEOUT values work (capped at an hour); nonsense is named in a warning."""
    monkeypatch.setenv("CLAWDESK_PLUGIN_IMPORT_TIMEOUT", value)
    monkeypatch.setenv("CLAWDESK_PLUGINS", "mistral")
    with caplog.at_level("WARNING", logger="clawdesk"):
        result = _run(["plugins"], monkeypatch, capsys)
    assert result.returncode == 0, result.stderr
    assert "mistral" in result.stdout
    # In this process the CLI's log handler defers to pytest's; a real run prints the record on stderr.
    assert any("CLAWDESK_PLUGIN_IMPORT_TIMEOUT" in r.getMessage() for r in caplog.records) is warned
