"""Hostile config and input through the real CLI: one clear line and exit 2 (or 1 with a typed provider error).

Every run has a provider key in its environment, and no output may contain it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from clawdesk.testing import Reply, ScriptedServer

fakedist = sys.modules["clawdesk_tests_fakedist"]

KEY = "sk-hostile-input-abcdef0123456789"


@pytest.fixture
def cli(fake_site: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    """Runs clawdesk with one fake provider, 'alpha', whose key is set in the environment.

    In this process by default (fast); ``subprocess=True`` runs the real
    command with a real stdin pipe.
    """
    fake_site.add("alpha")

    def run(args: list[str], *, stdin: bytes | None = None, config: str | None = None, subprocess: bool = False) -> Any:
        extra = {"ALPHA_API_KEY": KEY, "CLAWDESK_PLUGINS": "alpha"}
        if config is not None:
            path = tmp_path / "config.toml"
            path.write_bytes(config.encode("utf-8", "surrogateescape"))
            extra["CLAWDESK_CONFIG"] = str(path)
        if subprocess:
            env = fakedist.cli_env(tmp_path, site=fake_site.path, extra=extra)
            result = fakedist.run_cli(args, env, stdin=stdin)
        else:
            for name, value in extra.items():
                monkeypatch.setenv(name, value)
            result = fakedist.run_main(args, monkeypatch=monkeypatch, capsys=capsys, stdin=stdin or b"")
        assert KEY not in result.stdout
        assert KEY not in result.stderr
        return result

    return run


CHAT = ["chat", "hello", "-m", "alpha/small", "--no-stream"]


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ("[providers.alpha\nbase_url = 'x'", ("invalid TOML",)),
        ("[providers.alpha]\nbase_url = 'http://a'\nbase_url = 'http://b'\n", ("invalid TOML",)),
        ("[providers.alpha]\ntimeout_secs = 'thirty'\n", ("providers.alpha.timeout_secs", "expected a number")),
        ("[providers.alpha]\nmax_retries = 2.5\n", ("providers.alpha.max_retries", "expected an integer")),
        ("[providers.alpha]\nverify_tls = 'yes'\n", ("providers.alpha.verify_tls", "true or false")),
        ("[providers.alpha]\ntemperature = 0.2\n", ("providers.alpha.temperature", "unknown key")),
        ("[provider.alpha]\nbase_url = 'http://a'\n", ("provider", "unknown key")),
        ("[fallback]\nchain = 'alpha'\n", ("fallback.chain", "expected an array")),
        ("[providers.alpha]\nbase_url = 'ftp://example.com'\n", ("providers.alpha.base_url", "http:// or https://")),
        ("[providers.alpha]\nbase_url = 'javascript:alert(1)'\n", ("providers.alpha.base_url", "http:// or https://")),
        ("[providers.alpha]\nbase_url = '127.0.0.1:11434'\n", ("providers.alpha.base_url", "http:// or https://")),
        ("[providers.alpha]\ntimeout_secs = 1e300\n", ("providers.alpha.timeout_secs", "between 0")),
        ("[providers.alpha]\ntimeout_secs = -1\n", ("providers.alpha.timeout_secs", "between 0")),
        ("[providers.alpha]\ntimeout_secs = 0\n", ("providers.alpha.timeout_secs", "between 0")),
        ("[providers.alpha]\ntimeout_secs = nan\n", ("providers.alpha.timeout_secs", "finite")),
        ("[providers.alpha]\ntimeout_secs = " + "9" * 5000 + "\n", ("invalid TOML",)),
        ("[providers.alpha]\napi_key = 12345\n", ("providers.alpha.api_key", "expected a string")),
        ("default_model = 'Alpha Small'\n", ("default_model", "invalid model id")),
        ("\udcff\udcfe = 1\n", ("not UTF-8",)),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 40 else None,
)
def test_hostile_config_exits_2_with_one_line(cli: Any, config: str, words: tuple[str, ...]) -> None:
    """Malformed TOML, wrong types, unknown keys, non-http URLs, absurd timeouts: exit 2, one line, the key path."""
    fakedist.assert_one_line_error(cli(CHAT, config=config), 2, *words)


@pytest.mark.parametrize(
    ("model", "words"),
    [
        ("llama3", ("no provider named 'llama3'", "alpha")),
        ("llama3:8b", ("invalid model id",)),
        ("Alpha/small", ("invalid model id",)),
        ("alpha/", ("no model after 'alpha/'",)),
        ("/small", ("invalid model id",)),
        ("", ("invalid model id",)),
        ("alpha", ("no default_model",)),
        ("x" * 5000 + "/m", ("no provider named",)),
    ],
    ids=["bare-name", "name-with-tag", "capitals", "no-model", "no-provider", "empty", "no-default", "huge"],
)
def test_bad_model_ids_exit_2(cli: Any, model: str, words: tuple[str, ...]) -> None:
    """A model id without a (known) provider, or otherwise malformed, is a usage error: exit 2, one short line."""
    result = cli(["chat", "hello", "-m", model, "--no-stream"])
    line = fakedist.assert_one_line_error(result, 2, *words)
    assert len(line) < 400


@pytest.mark.parametrize("stream", [False, True], ids=["no-stream", "stream"])
def test_one_mebibyte_prompt_on_stdin_reaches_the_provider_intact(cli: Any, tmp_path: Path, stream: bool) -> None:
    """A 1 MiB prompt from stdin (multi-byte characters, newlines, NULs) arrives byte for byte."""
    unit = "línea 1 — ünïcode ✓ \x00 tab\t end\n"
    prompt = (unit * (1024 * 1024 // len(unit.encode()) + 1))[: 1024 * 1024]
    with ScriptedServer() as server:
        server.route("POST", "/chat", Reply.json({"content": "got it"}))
        server.route("POST", "/stream", Reply.stream([b'{"content": "got it"}\n'], content_type="application/x-ndjson"))
        config = f'[providers.alpha]\nbase_url = "{server.url}"\n'
        args = ["chat", "-m", "alpha/small"] + ([] if stream else ["--no-stream"])
        result = cli(args, stdin=prompt.encode("utf-8"), config=config, subprocess=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "got it"
    (request,) = server.requests
    sent = json.loads(request.body)["messages"][-1]
    assert sent["role"] == "user"
    assert sent["content"] == prompt
    assert len(request.body) > 1024 * 1024


@pytest.mark.parametrize(
    ("stdin", "words"),
    [
        (b"", ("the prompt is empty",)),
        (b"  \n\t\n", ("the prompt is empty",)),
        (b"caf\xe9 au lait", ("not UTF-8", "offset 3")),
        (b"\xff\xfe\x00\x00", ("not UTF-8",)),
    ],
    ids=["empty", "blank", "latin-1", "utf-32-bom"],
)
def test_bad_stdin_prompt_exits_2(cli: Any, stdin: bytes, words: tuple[str, ...]) -> None:
    """An empty or non-UTF-8 prompt on stdin is a usage error, not a crash."""
    result = cli(["chat", "-m", "alpha/small", "--no-stream"], stdin=stdin)
    fakedist.assert_one_line_error(result, 2, *words)


def test_provider_echoing_hostile_body_is_one_clean_line(cli: Any) -> None:
    """A backend answering with a multi-line, ANSI-laden, key-echoing error body still gives one clean line, exit 1."""
    body = f"line one\nline two\r\n\x1b[31mred\x1b[0m and the key {KEY}\n" * 50
    with ScriptedServer() as server:
        server.route("POST", "/chat", Reply.text(body, status=400))
        config = f'[providers.alpha]\nbase_url = "{server.url}"\n'
        result = cli(CHAT, config=config, subprocess=True)
    line = fakedist.assert_one_line_error(result, 1, "alpha", "invalid_request", "HTTP 400", "line one line two")
    assert len(line) < 500
    assert "\x1b" not in line  # no escape sequence reaches the terminal


def test_byte_order_mark_is_not_part_of_the_prompt(cli: Any) -> None:
    """A UTF-8 BOM at the start of stdin is dropped; the rest arrives as is."""
    with ScriptedServer() as server:
        server.route("POST", "/chat", Reply.json({"content": "ok"}))
        config = f'[providers.alpha]\nbase_url = "{server.url}"\n'
        result = cli(CHAT[:1] + CHAT[2:], stdin="\ufeffhello\ufeff".encode(), config=config)
    assert result.returncode == 0, result.stderr
    assert json.loads(server.requests[0].body)["messages"][-1]["content"] == "hello\ufeff"


def test_endless_stdin_is_refused(fake_site: Any, tmp_path: Path) -> None:
    """`clawdesk chat < /dev/zero` stops after 32 MiB with one line and exit 2 instead of eating the memory."""
    import subprocess

    env = fakedist.cli_env(tmp_path, site=fake_site.path, plugins="alpha")
    with open("/dev/zero", "rb") as zero:
        result = subprocess.run(
            [sys.executable, "-m", "clawdesk", "chat", "-m", "alpha/small"],
            stdin=zero,
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
    fakedist.assert_one_line_error(result, 2, "larger than 32 MiB")
