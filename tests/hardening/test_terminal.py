"""Text from a server or a plugin that is not the model's answer reaches the terminal without control sequences.

Model ids in ``clawdesk models``, the model a server says answered (``--explain``),
error messages, warnings, and plugin names, versions and errors in ``clawdesk
plugins`` are printed with every C0/C1 control, DEL and direction override
shown as an escape (``\\x1b``); in ``--json`` output they are ``\\u`` escapes,
so the JSON still decodes to the server's exact text. Runs the real CLI in
this process against a scripted loopback server.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from clawdesk.testing import Reply, ScriptedServer

fakedist = sys.modules["clawdesk_tests_fakedist"]
hardening = sys.modules["clawdesk_tests_hardening"]
table, write_config = hardening.table, hardening.write_config

#: An OSC title change, a bell, a screen clear, a one-character C1 CSI, DEL and a right-to-left override.
EVIL = "gpt\x1b]0;pwned\x07-4\x1b[2J\x9b31m\x7f\u202ecod.exe"
#: What a terminal must never receive raw.
_RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _clean(text: str) -> None:
    found = sorted({f"U+{ord(c):04X}" for c in _RAW.findall(text)})
    assert not found, f"raw control characters {found} in {text[-300:]!r}"


def _answer(model: str, content: str = "fine") -> dict[str, Any]:
    return {
        "id": "c1",
        "object": "chat.completion",
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any, server: ScriptedServer) -> Any:
    """Runs the CLI with mistral and ollama pointed at the scripted server."""
    config = table("mistral", server.url) + "\n" + table("ollama", server.url)
    monkeypatch.setenv("CLAWDESK_CONFIG", str(write_config(tmp_path, config)))
    monkeypatch.setenv("CLAWDESK_PLUGINS", "mistral,ollama")

    def go(args: list[str]) -> Any:
        return fakedist.run_main(args, monkeypatch=monkeypatch, capsys=capsys)

    return go


@pytest.mark.parametrize("json_mode", [False, True], ids=["human", "json"])
def test_model_ids_from_a_server_are_printed_without_control_sequences(
    run: Any, server: ScriptedServer, json_mode: bool
) -> None:
    """``clawdesk models --refresh`` with a hostile model id from Mistral's and Ollama's listings."""
    server.route("GET", "/v1/models", Reply.json({"object": "list", "data": [{"id": EVIL, "object": "model"}]}))
    server.route("GET", "/api/tags", Reply.json({"models": [{"name": EVIL + ":latest", "model": EVIL}]}))
    result = run(["models", "--refresh", *(["--json"] if json_mode else [])])
    assert result.returncode == 0, result.stderr
    _clean(result.stdout + result.stderr)
    if json_mode:
        ids = {row["model"] for row in json.loads(result.stdout)}
        assert EVIL in ids, ids  # escaped, not altered
    else:
        assert "gpt\\x1b]0;pwned\\x07-4\\x1b[2J\\x9b31m\\x7f\\u202ecod.exe" in result.stdout


@pytest.mark.parametrize("json_mode", [False, True], ids=["human", "json"])
def test_the_model_a_server_names_is_printed_without_control_sequences(
    run: Any, server: ScriptedServer, json_mode: bool
) -> None:
    """``chat --explain`` (and ``--json``) show the answering model a server named, escaped."""
    server.route("POST", "/v1/chat/completions", Reply.json(_answer(EVIL)))
    args = ["chat", "--no-stream", "--explain", "-m", "mistral/small", "hi"]
    result = run(args + (["--json"] if json_mode else []))
    assert result.returncode == 0, result.stderr
    _clean(result.stdout + result.stderr)
    if json_mode:
        assert json.loads(result.stdout)["model"] == EVIL
    else:
        assert "answered by mistral/gpt\\x1b]0;pwned" in result.stderr


@pytest.mark.parametrize("json_mode", [False, True], ids=["human", "json"])
@pytest.mark.parametrize("stream", [False, True], ids=["no-stream", "stream"])
def test_error_messages_from_a_server_are_printed_without_control_sequences(
    run: Any, server: ScriptedServer, json_mode: bool, stream: bool
) -> None:
    """An error body full of escape sequences: one clean line on stderr and in ``--json``."""
    body = {"object": "error", "message": f"bad \x1b]8;;http://evil/\x07link\x1b]8;;\x07 {EVIL}", "type": "x"}
    server.route("POST", "/v1/chat/completions", Reply.json(body, status=400))
    args = ["chat", "--explain", "-m", "mistral/small", "hi"]
    args += [] if stream else ["--no-stream"]
    args += ["--json"] if json_mode else []
    result = run(args)
    assert result.returncode == 1, result.stderr
    _clean(result.stdout + result.stderr)
    assert "invalid_request" in result.stdout + result.stderr


def test_plugin_names_versions_and_errors_are_printed_without_control_sequences(
    fake_site: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """``clawdesk plugins`` with a plugin whose import fails with escape sequences and a hostile version."""
    fake_site.add("sneaky", "raise RuntimeError('\\x1b]0;owned\\x07\\x9b2J broken')", version="1.0")
    fake_site.add("fine", version="1.0\x1b]0;v\x07")
    monkeypatch.setenv("CLAWDESK_PLUGINS", "sneaky,fine")
    for args in (["plugins"], ["plugins", "--json"]):
        result = fakedist.run_main(args, monkeypatch=monkeypatch, capsys=capsys)
        assert result.returncode == 0, result.stderr
        _clean(result.stdout + result.stderr)
        assert "sneaky" in result.stdout
        assert "broken" in result.stdout


def test_answer_text_itself_is_left_alone(run: Any, server: ScriptedServer) -> None:
    """The model's answer is the user's to print as it is: only text around it is escaped."""
    server.route("POST", "/v1/chat/completions", Reply.json(_answer("small", "\x1b[1mbold\x1b[0m")))
    result = run(["chat", "--no-stream", "-m", "mistral/small", "hi"])
    assert result.returncode == 0, result.stderr
    assert "\x1b[1mbold\x1b[0m" in result.stdout
