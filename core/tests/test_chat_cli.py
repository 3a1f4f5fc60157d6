"""``clawdesk chat`` through the fallback engine: output, --json, --explain, exit statuses and Ctrl-C."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from clawdesk import Registry, _cli
from clawdesk.testing import Reply, ScriptedServer


def _load_http_tests() -> ModuleType:
    # Test directories are not packages (--import-mode=importlib): the NDJSON
    # test provider is shared by loading its module by path.
    name = "clawdesk_tests_fallback_http"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).parent / "test_fallback_http.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


http_tests = _load_http_tests()
NDJSON = "application/x-ndjson"


def write_config(path: Path, urls: dict[str, str], **fallback: Any) -> Path:
    """A config.toml with one provider table per url and a [fallback] table (fast backoff)."""
    lines = []
    for name, url in urls.items():
        lines += [f"[providers.{name}]", f'base_url = "{url}"', 'default_model = "m"', "timeout_secs = 5", ""]
    fallback.setdefault("chain", list(urls))
    fallback.setdefault("backoff_base_secs", 0.01)
    fallback.setdefault("backoff_max_secs", 0.02)
    lines.append("[fallback]")
    lines += [f"{key} = {json.dumps(value)}" for key, value in fallback.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """Run ``clawdesk`` in-process with NDJSON test providers named after the given URLs."""

    def run(urls: dict[str, str], *argv: str, **fallback: Any) -> int:
        registry = Registry(discover=False)
        for name in urls:
            registry.register(http_tests.NdjsonProvider(name))
        monkeypatch.setattr(_cli, "_registry", lambda: registry)
        config = write_config(tmp_path / "config.toml", urls, **fallback)
        return _cli.main(["chat", "--config", str(config), *argv])

    return run


def test_streams_text_to_stdout(cli: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """The answer's text is printed as it streams, followed by a newline."""
    with ScriptedServer() as server:
        server.add(Reply.stream(http_tests.ndjson("Hel", "lo"), content_type=NDJSON))
        status = cli({"first": server.url}, "hi")
    out, err = capsys.readouterr()
    assert (status, out, err) == (0, "Hello\n", "")
    assert server.requests[0].json()["messages"] == ["hi"]


def test_json_lists_the_attempts_of_the_chain(cli: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """--json prints one object naming who answered and every attempt, the failed one with kind and status."""
    with ScriptedServer() as first, ScriptedServer() as second:
        first.add(Reply.json({"message": "down"}, status=503))
        second.add(Reply.stream(http_tests.ndjson("ok"), content_type=NDJSON))
        status = cli({"first": first.url, "second": second.url}, "hi", "--json", max_retries_per_provider=0)
    out, err = capsys.readouterr()
    data = json.loads(out)
    assert status == 0
    assert err == ""
    assert (data["provider"], data["model"], data["content"], data["finish_reason"]) == ("second", "m", "ok", "stop")
    assert data["usage"] == {"input_tokens": None, "output_tokens": None}
    assert data["tool_calls"] == []
    assert [(a["provider"], a["outcome"], a["kind"], a["status"]) for a in data["attempts"]] == [
        ("first", "failed", "api_error", 503),
        ("second", "ok", None, None),
    ]


def test_json_usage_shows_the_parts_a_provider_reported() -> None:
    """--json's usage gives cached, cache-write and reasoning tokens when reported, and leaves out the rest."""
    from clawdesk import Usage
    from clawdesk._chat_cli import _usage

    assert _usage(Usage(10, 5, cache_read_tokens=4, reasoning_tokens=2)) == {
        "input_tokens": 10,
        "output_tokens": 5,
        "cache_read_tokens": 4,
        "reasoning_tokens": 2,
    }
    assert _usage(Usage(1, 2, cache_write_tokens=0)) == {"input_tokens": 1, "output_tokens": 2, "cache_write_tokens": 0}
    assert _usage(Usage()) == {"input_tokens": None, "output_tokens": None}


def test_no_stream_json(cli: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """--no-stream --json asks for the whole answer and prints the same object."""
    with ScriptedServer() as server:
        server.add(Reply.json({"content": "whole"}))
        status = cli({"first": server.url}, "hi", "--no-stream", "--json")
    data = json.loads(capsys.readouterr().out)
    assert status == 0
    assert (data["provider"], data["content"], data["finish_reason"]) == ("first", "whole", "stop")
    assert [a["outcome"] for a in data["attempts"]] == ["ok"]
    assert server.requests[0].path == "/chat"


def test_explain_prints_attempts_and_skips_on_stderr(cli: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """--explain tells on stderr which candidates were skipped or failed and who answered."""
    with ScriptedServer() as server:
        server.add(Reply.json({"message": "busy"}, status=429, headers=[("retry-after", "0")]))
        server.add(Reply.json({"content": "fine"}))
        status = cli({"first": server.url}, "hi", "--no-stream", "--explain", chain=["ghost", "first"])
    out, err = capsys.readouterr()
    assert status == 0
    assert out == "fine\n"
    lines = err.splitlines()
    assert lines[0].startswith("clawdesk: ghost: skipped: no provider named 'ghost'")
    assert lines[1].startswith("clawdesk: first/m try 1: rate_limited (HTTP 429)")
    assert lines[2].startswith("clawdesk: first/m try 2: ok")
    assert lines[3] == "clawdesk: answered by first/m"


def test_provider_failure_is_one_line_and_exit_1(cli: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """A pinned provider that fails gives exit 1 and one stderr line naming provider, kind and HTTP status."""
    with ScriptedServer() as server:
        server.add(Reply.json({"message": "bad key"}, status=401))
        status = cli({"first": server.url}, "hi", "-m", "first/m")
    out, err = capsys.readouterr()
    assert status == 1
    assert out == ""
    assert err == "clawdesk: error: the only provider failed: first/m: auth_failed (HTTP 401): bad key\n"


def test_all_failed_json_reports_error_and_attempts(cli: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """With --json a failure still prints one object, with the error and every attempt, and exits 1."""
    with ScriptedServer() as first, ScriptedServer() as second:
        first.add(Reply.json({}, status=500), Reply.json({}, status=500))
        second.add(Reply.json({}, status=404))
        status = cli(
            {"first": first.url, "second": second.url}, "hi", "--json", "--no-stream", max_retries_per_provider=1
        )
    out, err = capsys.readouterr()
    data = json.loads(out)
    assert status == 1
    expected = "all 2 providers failed: first/m: api_error (HTTP 500) x2; second/m: model_not_found (HTTP 404)"
    assert err == f"clawdesk: error: {expected}\n"
    assert data["error"]["kind"] == "all_providers_failed"
    assert [(a["provider"], a["kind"]) for a in data["attempts"]] == [
        ("first", "api_error"),
        ("first", "api_error"),
        ("second", "model_not_found"),
    ]


def test_invalid_request_is_reported_as_is(cli: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """An invalid request stops the chain: exit 1, the provider's own error, the next provider never asked."""
    with ScriptedServer() as first, ScriptedServer() as second:
        first.add(Reply.json({"message": "temperature too high"}, status=422))
        status = cli({"first": first.url, "second": second.url}, "hi", "--no-stream")
    err = capsys.readouterr().err
    assert status == 1
    assert err == "clawdesk: error: first: invalid_request (HTTP 422): temperature too high\n"
    assert second.requests == []


def test_interrupted_stream_keeps_the_printed_text(cli: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """A stream cut mid-answer keeps what was printed, ends the line, and reports one error line."""
    with ScriptedServer() as first, ScriptedServer() as second:
        first.add(Reply.stream(http_tests.ndjson("par", "tial", "more"), content_type=NDJSON, cut_after=2))
        status = cli({"first": first.url, "second": second.url}, "hi")
    out, err = capsys.readouterr()
    assert status == 1
    assert out == "partial\n"
    assert err.startswith("clawdesk: error: first: stream_interrupted: after 2 events: first: connection_failed")
    assert err.count("\n") == 1
    assert second.requests == []


def test_unknown_pinned_provider_is_a_usage_error(cli: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """-m naming a provider that is not loaded exits 2 with the loaded providers named."""
    status = cli({"first": "http://127.0.0.1:9"}, "hi", "-m", "nope/x")
    err = capsys.readouterr().err
    assert status == 2
    assert err == "clawdesk: error: no provider named 'nope'; loaded providers: first\n"


_CTRL_C_SCRIPT = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("http_tests", sys.argv[1])
http_tests = importlib.util.module_from_spec(spec)
spec.loader.exec_module(http_tests)
from clawdesk import Registry, _cli
registry = Registry(discover=False)
registry.register(http_tests.NdjsonProvider("first"))
_cli._registry = lambda: registry
sys.exit(_cli.main(["chat", "--config", sys.argv[2], "hi"]))
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery differs on Windows")
def test_ctrl_c_exits_130_with_one_line(tmp_path: Path) -> None:
    """Ctrl-C while waiting for an answer exits 130 with one line on stderr and closes the connection."""
    script = tmp_path / "run.py"
    script.write_text(_CTRL_C_SCRIPT)
    with ScriptedServer() as server:
        server.add(Reply.stream([b"\n"] * 400, content_type=NDJSON, delay=0.05))
        config = write_config(tmp_path / "config.toml", {"first": server.url})
        env = {**os.environ, "CLAWDESK_PLUGINS": ""}
        proc = subprocess.Popen(
            [sys.executable, str(script), str(Path(__file__).parent / "test_fallback_http.py"), str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            deadline = time.monotonic() + 20
            while not server.requests and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.02)
            assert server.requests, "the CLI never sent its request"
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=15)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        for _ in range(250):
            if server.open_connections == 0:
                break
            time.sleep(0.02)
        assert server.open_connections == 0
    assert proc.returncode == 130
    assert err == "clawdesk: interrupted\n"
    assert out == ""


def test_interrupted_stream_json_keeps_the_delivered_content(cli: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """With --json a stream cut mid-answer reports the error, the content delivered before the cut and the attempts."""
    with ScriptedServer() as server:
        server.add(Reply.stream(http_tests.ndjson("par", "tial", "more"), content_type=NDJSON, cut_after=2))
        status = cli({"first": server.url}, "hi", "--json")
    data = json.loads(capsys.readouterr().out)
    assert status == 1
    assert data["error"]["kind"] == "stream_interrupted"
    assert data["content"] == "partial"
    assert [(a["provider"], a["outcome"], a["kind"]) for a in data["attempts"]] == [
        ("first", "failed", "stream_interrupted")
    ]
