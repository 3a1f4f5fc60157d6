"""The CLI under faults: one clean line (or, with --debug, a traceback) and never the API key.

Each case runs ``python -m clawdesk chat`` in a real subprocess against the
module's scripted server, with the fake key in the config file, so what is
checked is exactly what a user's terminal would show: stdout, stderr, debug
logs and (with ``--debug``) tracebacks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from clawdesk.testing import RecordedRequest, Reply, unused_port

PROVIDERS = ["mistral", "ollama"]
FAULTS = ["401_echoing_key", "500_html", "stream_cut", "refused"]


def _config(path: Path, provider: str, base_url: str, key: str) -> None:
    extra = "first_byte_timeout_secs = 0.5\n" if provider == "ollama" else ""
    path.write_text(
        f"[providers.{provider}]\napi_key = {json.dumps(key)}\nbase_url = {json.dumps(base_url)}\n"
        f"timeout_secs = 0.5\nmax_retries = 0\n{extra}\n[fallback]\nmax_retries_per_provider = 0\n"
    )


def _reply(wire: Any, fault: str) -> Any:
    if fault == "401_echoing_key":

        def echo(request: RecordedRequest) -> Reply:
            auth = request.headers.get("authorization", "")
            body = wire.error_json(401, f"key {auth.removeprefix('Bearer ')} is not valid ({auth})")
            return Reply(status=401, headers=(("content-type", "application/json"),), chunks=(body,))

        return echo
    if fault == "500_html":
        return Reply.text("<html><title>Internal trouble</title></html>", status=500, content_type="text/html")
    if fault == "stream_cut":
        return wire.stream_reply([wire.frame("partial "), b"", wire.frame("never")], delay=0.05, cut_after=2)
    return Reply()


# Every fault with --debug (the most output to sweep: debug logs and tracebacks); the two most
# traceback-prone ones also without it. Each case is a subprocess (about a second), so the list is short.
CASES = [(fault, True) for fault in FAULTS] + [("401_echoing_key", False), ("stream_cut", False)]


@pytest.mark.slow
@pytest.mark.parametrize(("fault", "debug"), CASES, ids=[f"{f}-{'debug' if d else 'plain'}" for f, d in CASES])
@pytest.mark.parametrize("provider", PROVIDERS)
def test_cli_fault_output(harness: Any, fake_key: str, tmp_path: Path, provider: str, fault: str, debug: bool) -> None:
    """The CLI fails with exit status 1 and one error line (tracebacks only with --debug), never showing the key."""
    wire = harness.wire(provider)
    harness.server.route("POST", wire.chat_path, _reply(wire, fault))
    base_url = f"http://127.0.0.1:{unused_port()}{wire.base_path}" if fault == "refused" else harness.url(provider)
    config = tmp_path / "config.toml"
    _config(config, provider, base_url, fake_key)
    args = ["--debug"] if debug else []
    args += ["chat", "-m", f"{provider}/{wire.model}", "--explain", "hello"]
    if debug and fault != "stream_cut":
        args[-1:-1] = ["--no-stream", "--json"]
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k != "OLLAMA_HOST"}
    env["CLAWDESK_CONFIG"] = str(config)
    proc = subprocess.run(
        [sys.executable, "-m", "clawdesk", *args], capture_output=True, text=True, timeout=60, env=env, check=False
    )
    shown = proc.stdout + proc.stderr
    assert proc.returncode == 1, f"exit status {proc.returncode}: {shown[-2000:]}"
    assert fake_key not in shown, f"the API key was shown: {shown[-2000:]}"
    errors = [line for line in proc.stderr.splitlines() if line.startswith("clawdesk: error:")]
    assert len(errors) == 1, f"expected one error line: {proc.stderr[-2000:]}"
    assert errors[0].count(provider) >= 1, errors[0]
    if debug:
        assert "DEBUG" in proc.stderr, "--debug printed no debug log (nothing was swept)"
    else:
        assert "Traceback" not in shown, f"a traceback without --debug: {shown[-2000:]}"
    if fault == "stream_cut" and not debug:
        assert "partial" in proc.stdout, "the delivered part of the stream was not printed"


@pytest.mark.slow
@pytest.mark.parametrize("where", ["before", "after"])
def test_cli_options_before_or_after_the_command(harness: Any, fake_key: str, tmp_path: Path, where: str) -> None:
    """``--config`` and ``--debug`` work on either side of the command name (a subcommand used to reset them)."""
    wire = harness.wire("mistral")
    harness.server.route("POST", wire.chat_path, wire.chat_reply("configured answer"))
    config = tmp_path / "config.toml"
    _config(config, "mistral", harness.url("mistral"), fake_key)
    options = ["--config", str(config), "--debug"]
    chat = ["chat", "-m", f"mistral/{wire.model}", "--no-stream", "hello"]
    args = [*options, *chat] if where == "before" else [*chat, *options]
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k != "CLAWDESK_CONFIG"}
    env["CLAWDESK_CONFIG"] = str(tmp_path / "missing.toml")  # used only if --config were lost
    proc = subprocess.run(
        [sys.executable, "-m", "clawdesk", *args], capture_output=True, text=True, timeout=60, env=env, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "configured answer" in proc.stdout
    assert "DEBUG" in proc.stderr, "--debug was lost"
    assert fake_key not in proc.stdout + proc.stderr
