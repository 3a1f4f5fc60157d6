"""The ``clawdesk`` command: plugins, models, exit codes and one-line errors (run as a real subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from clawdesk.testing import Reply, ScriptedServer, unused_port

fakedist = sys.modules["clawdesk_tests_fakedist"]
plugin_source = fakedist.plugin_source
run_cli = fakedist.run_cli
assert_one_line_error = fakedist.assert_one_line_error


@pytest.fixture
def cli(fake_site: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    """Runs clawdesk with the fake site on the path and only the named fake plugins allowed.

    In this process by default (fast); ``subprocess=True`` runs the real
    command, to see its real exit status and stderr.
    """

    def run(
        args: list[str],
        *,
        plugins: str = "alpha,beta,broken",
        stdin: bytes | None = None,
        subprocess: bool = False,
        **extra: str,
    ) -> Any:
        if subprocess:
            env = fakedist.cli_env(tmp_path, site=fake_site.path, plugins=plugins, extra=extra)
            return run_cli(args, env, stdin=stdin)
        monkeypatch.setenv("CLAWDESK_PLUGINS", plugins)
        for name, value in extra.items():
            monkeypatch.setenv(name, value)
        return fakedist.run_main(args, monkeypatch=monkeypatch, capsys=capsys, stdin=stdin or b"")

    return run


def write_config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


# -- plugins ------------------------------------------------------------------------------------


def test_plugins_json_lists_each_plugin_with_status(cli: Any, fake_site: Any) -> None:
    """plugins --json gives name, distribution, version, status and error for every plugin, broken ones too."""
    fake_site.add("alpha", dist="alpha-dist", version="1.2")
    fake_site.add("broken", plugin_source("broken", prelude="raise ImportError('needs libfoo')"), dist="broken-dist")
    result = cli(["plugins", "--json"], subprocess=True)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["alpha"] == {
        "name": "alpha",
        "plugin": "alpha",
        "distribution": "alpha-dist",
        "version": "1.2",
        "status": "ok",
        "error": None,
    }
    assert rows["broken"]["status"] == "error"
    assert "ImportError: needs libfoo" in rows["broken"]["error"]
    assert rows["broken"]["distribution"] == "broken-dist"


def test_plugins_text(cli: Any, fake_site: Any) -> None:
    """plugins prints one line per plugin: name, distribution and version, then ok or the error."""
    fake_site.add("alpha", dist="alpha-dist", version="1.2")
    fake_site.add("broken", plugin_source("broken", hooks={"provider_chat": None}), dist="broken-dist")
    result = cli(["plugins"], subprocess=True)
    assert result.returncode == 0
    lines = {line.split()[0]: line for line in result.stdout.splitlines()}
    assert lines["alpha"].split()[1:] == ["alpha-dist", "1.2", "ok"]
    assert "broken-dist 1.0" in lines["broken"]
    assert lines["broken"].endswith("error: missing hook: provider_chat")


def test_plugins_shows_disabled_ones(cli: Any, fake_site: Any) -> None:
    """A plugin left out by CLAWDESK_PLUGINS is listed as disabled, with the reason."""
    fake_site.add("alpha")
    fake_site.add("beta")
    rows = {row["name"]: row for row in json.loads(cli(["plugins", "--json"], plugins="-beta").stdout)}
    assert rows["alpha"]["status"] == "ok"
    assert rows["beta"]["status"] == "disabled"
    assert "CLAWDESK_PLUGINS" in rows["beta"]["error"]


def test_plugins_with_both_real_plugins_imports_no_http_stack(tmp_path: Path) -> None:
    """`clawdesk plugins` loads ollama and mistral without importing httpx, httpcore, anyio or cattrs."""
    code = (
        "import sys, io, contextlib\n"
        "from clawdesk._cli import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        "    status = main(['plugins', '--json'])\n"
        "stack = ('httpx', 'httpcore', 'anyio', 'cattrs', 'trio')\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in stack)\n"
        "print(out.getvalue()); print('HEAVY', heavy, status)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=fakedist.cli_env(tmp_path),
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    listing, _, tail = result.stdout.rpartition("HEAVY ")
    statuses = {row["name"]: row["status"] for row in json.loads(listing)}
    assert statuses.get("ollama") == "ok"
    assert statuses.get("mistral") == "ok"
    assert tail.strip() == "[] 0"


# -- models ----------------------------------------------------------------------------------------


def test_models_with_a_backend_down_warns_and_lists_the_rest(cli: Any, fake_site: Any, tmp_path: Path) -> None:
    """models --refresh: a backend that is down gives one warning line; the other backend's models are listed."""
    fake_site.add("alpha")
    fake_site.add("beta")
    with ScriptedServer() as server:
        server.route("GET", "/models", Reply.json({"models": ["b-large", "b-small"]}))
        config = write_config(
            tmp_path,
            f'[providers.alpha]\nbase_url = "http://127.0.0.1:{unused_port()}"\ntimeout_secs = 2\n'
            f'[providers.beta]\nbase_url = "{server.url}"\n',
        )
        result = cli(["models", "--refresh", "--config", config], subprocess=True)
    assert result.returncode == 0, result.stderr
    warnings = result.stderr.strip().splitlines()
    assert len(warnings) == 1, result.stderr
    assert warnings[0].startswith("clawdesk: warning: alpha: connection_failed")
    assert "Traceback" not in result.stderr
    listed = [line.split()[0] for line in result.stdout.splitlines()]
    assert listed == ["beta/b-large", "beta/b-small"]


def test_models_json_without_refresh(cli: Any, fake_site: Any) -> None:
    """models --json lists each provider's known models with capabilities and context length."""
    fake_site.add("alpha")
    result = cli(["models", "--json"], plugins="alpha")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        {
            "id": "alpha/small",
            "provider": "alpha",
            "model": "small",
            "capabilities": ["chat", "streaming"],
            "context_length": 4096,
        }
    ]


def test_models_of_unknown_provider_is_a_usage_error(cli: Any, fake_site: Any) -> None:
    """models -p NAME for a provider that is not loaded exits 2 with one line naming the loaded ones."""
    fake_site.add("alpha")
    result = cli(["models", "-p", "nosuch"], plugins="alpha")
    assert_one_line_error(result, 2, "no provider named 'nosuch'", "alpha")


# -- exit codes and error lines ----------------------------------------------------------------------------


def test_usage_error_exits_2_with_one_line(cli: Any) -> None:
    """An unknown option is a one-line usage error with exit status 2."""
    result = cli(["plugins", "--frobnicate"], subprocess=True)
    assert_one_line_error(result, 2, "--frobnicate")


def test_missing_command_exits_2(cli: Any) -> None:
    """No command at all is a usage error."""
    assert_one_line_error(cli([]), 2)


def test_missing_config_file_exits_2(cli: Any, fake_site: Any, tmp_path: Path) -> None:
    """--config naming a missing file is a config error: exit 2, one line naming the file."""
    fake_site.add("alpha")
    missing = str(tmp_path / "nope.toml")
    assert_one_line_error(cli(["models", "--config", missing]), 2, missing, "not found")


def test_bad_config_from_environment_exits_2(cli: Any, fake_site: Any, tmp_path: Path) -> None:
    """CLAWDESK_CONFIG pointing at a bad file: exit 2, one line with the key path."""
    fake_site.add("alpha")
    config = write_config(tmp_path, "[fallback]\nstrategy = 'yolo'\n")
    assert_one_line_error(cli(["models"], CLAWDESK_CONFIG=config), 2, "fallback.strategy")


def test_successful_chat_exits_0(cli: Any, fake_site: Any, tmp_path: Path) -> None:
    """A chat that works prints the answer and exits 0 with nothing on stderr."""
    fake_site.add("alpha")
    with ScriptedServer() as server:
        server.add(Reply.json({"content": "pong", "input_tokens": 1, "output_tokens": 1}))
        config = write_config(tmp_path, f'[providers.alpha]\nbase_url = "{server.url}"\n')
        result = cli(
            ["chat", "ping", "-m", "alpha/small", "--no-stream", "--config", config], plugins="alpha", subprocess=True
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "pong"
    assert result.stderr == ""


@pytest.mark.parametrize(
    ("reply", "words"),
    [
        (Reply.json({"message": "upstream exploded"}, status=500), ("alpha", "HTTP 500", "upstream exploded")),
        (Reply.json({"message": "bad key"}, status=401), ("alpha", "auth_failed", "HTTP 401")),
        (Reply.json({"message": "slow down"}, status=429, headers=[("retry-after", "1")]), ("alpha", "HTTP 429")),
        (Reply.text("<html><title>Bad Gateway</title></html>", status=502), ("alpha", "HTTP 502", "Bad Gateway")),
    ],
    ids=["500", "401", "429", "502-html"],
)
def test_provider_failure_exits_1_with_one_line(
    cli: Any, fake_site: Any, tmp_path: Path, reply: Reply, words: tuple[str, ...]
) -> None:
    """A provider failure exits 1 with one stderr line naming provider, error kind and HTTP status."""
    fake_site.add("alpha")
    with ScriptedServer() as server:
        server.route("POST", "/chat", reply)
        config = write_config(
            tmp_path,
            f'[providers.alpha]\nbase_url = "{server.url}"\nmax_retries = 0\n'
            "[fallback]\nmax_retries_per_provider = 0\n",
        )
        result = cli(["chat", "hi", "-m", "alpha/small", "--no-stream", "--config", config], plugins="alpha")
    assert_one_line_error(result, 1, *words)


def test_connection_refused_exits_1(cli: Any, fake_site: Any, tmp_path: Path) -> None:
    """A backend that is not running is a provider failure (exit 1), one line, no traceback."""
    fake_site.add("alpha")
    config = write_config(
        tmp_path,
        f'[providers.alpha]\nbase_url = "http://127.0.0.1:{unused_port()}"\nmax_retries = 0\n'
        "[fallback]\nmax_retries_per_provider = 0\n",
    )
    result = cli(["chat", "hi", "-m", "alpha/small", "--config", config], plugins="alpha")
    assert_one_line_error(result, 1, "alpha", "connection_failed")


def test_plugin_bug_at_call_time_exits_1(cli: Any, fake_site: Any, tmp_path: Path) -> None:
    """A plugin raising a foreign exception from provider_chat is a one-line PluginError, exit 1."""
    bad = "@hookimpl\nasync def provider_chat(config, http, request):\n    raise ZeroDivisionError('oops')\n"
    fake_site.add("alpha", plugin_source("alpha", hooks={"provider_chat": bad}))
    result = cli(["chat", "hi", "-m", "alpha/small", "--no-stream"], plugins="alpha")
    assert_one_line_error(result, 1, "alpha", "ZeroDivisionError")


def test_debug_shows_the_traceback(cli: Any, fake_site: Any, tmp_path: Path) -> None:
    """--debug asks for the traceback, and gets it."""
    fake_site.add("alpha")
    missing = str(tmp_path / "nope.toml")
    result = cli(["models", "--debug", "--config", missing], subprocess=True)
    assert result.returncode == 2
    assert "Traceback" in result.stderr
    assert "ConfigError" in result.stderr


def test_internal_error_is_one_line_and_secret_free(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    """An unexpected exception inside a command is one redacted line and exit 1 (a traceback only with --debug)."""
    from clawdesk import Secret, _cli

    key = "sk-internal-error-key-123456"
    Secret(key)

    def explode(args: Any) -> int:
        raise RuntimeError(f"weird\nstate with {key}")

    monkeypatch.setattr(_cli, "_cmd_plugins", explode)
    assert _cli.main(["plugins"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("clawdesk: internal error: RuntimeError: weird state with ***")
    assert key not in err
    with pytest.raises(RuntimeError):
        _cli.main(["plugins", "--debug"])


def test_models_with_a_bad_provider_table_exits_2(cli: Any, fake_site: Any, tmp_path: Path) -> None:
    """models: a provider whose table is invalid is an error line (exit 2); the other provider is still listed."""
    fake_site.add("alpha")
    fake_site.add("beta")
    config = write_config(tmp_path, "[providers.alpha]\ntimeout_secs = 'soon'\n")
    result = cli(["models", "--config", config], plugins="alpha,beta")
    line = assert_one_line_error(result, 2, "providers.alpha.timeout_secs", "expected a number")
    assert config in line
    assert [row.split()[0] for row in result.stdout.splitlines()] == ["beta/small"]


def test_non_utf8_output_does_not_crash(fake_site: Any, tmp_path: Path) -> None:
    """With an ASCII-only stdout, non-ASCII plugin errors print as escapes and --json stays valid JSON."""
    fake_site.add("uni", plugin_source("uni", prelude="raise RuntimeError('ünïcødé 💥')"))
    env = fakedist.cli_env(tmp_path, site=fake_site.path, plugins="uni", extra={"PYTHONIOENCODING": "ascii"})
    text = run_cli(["plugins"], env)
    assert text.returncode == 0, text.stderr
    assert "RuntimeError: \\xfcn\\xefc\\xf8d\\xe9 \\U0001f4a5" in text.stdout
    as_json = run_cli(["plugins", "--json"], env)
    assert as_json.returncode == 0, as_json.stderr
    (row,) = [r for r in json.loads(as_json.stdout) if r["name"] == "uni"]
    assert row["error"].endswith("RuntimeError: ünïcødé 💥")


@pytest.mark.parametrize("before", [True, False], ids=["before-command", "after-command"])
def test_config_option_wins_over_environment(cli: Any, fake_site: Any, tmp_path: Path, before: bool) -> None:
    """--config (before or after the command) is used instead of CLAWDESK_CONFIG."""
    fake_site.add("alpha")
    good = write_config(tmp_path, "")
    bad = tmp_path / "bad.toml"
    bad.write_text("this is not toml")
    args = ["--config", good, "models"] if before else ["models", "--config", good]
    result = cli(args, plugins="alpha", CLAWDESK_CONFIG=str(bad))
    assert result.returncode == 0, result.stderr
    assert cli(["models"], plugins="alpha", CLAWDESK_CONFIG=str(bad)).returncode == 2
