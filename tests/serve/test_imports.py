"""The gateway's stack stays out of everything but `clawdesk serve`; without the extra, serve says what to install."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

STACK = ("starlette", "uvicorn")


def _heavy_after(code: str, tmp_path: Path) -> list[str]:
    script = code + (f"\nimport sys\nprint('HEAVY', sorted(m for m in sys.modules if m.split('.')[0] in {STACK!r}))\n")
    env = {"CLAWDESK_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False, env=env
    )
    assert "HEAVY" in run.stdout, run.stderr
    return eval(run.stdout.rpartition("HEAVY ")[2])  # type: ignore[no-any-return]


def test_import_clawdesk_imports_no_server_stack(tmp_path: Path) -> None:
    """`import clawdesk` (and its client) loads neither Starlette nor uvicorn."""
    assert _heavy_after("import clawdesk; clawdesk.Clawdesk; import clawdesk._serve", tmp_path) == []


def test_clawdesk_plugins_imports_no_server_stack(tmp_path: Path) -> None:
    """`clawdesk plugins` loads neither Starlette nor uvicorn."""
    code = (
        "from clawdesk._cli import main\n"
        "import io, contextlib\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['plugins', '--json'])\n"
    )
    assert _heavy_after(code, tmp_path) == []


def test_clawdesk_chat_imports_no_server_stack(tmp_path: Path) -> None:
    """`clawdesk chat` (failing fast on a missing provider) loads neither Starlette nor uvicorn."""
    code = (
        "from clawdesk._cli import main\n"
        "import io, contextlib\n"
        "with contextlib.redirect_stderr(io.StringIO()):\n"
        "    main(['chat', '-m', 'nosuch/model', '--no-log', 'hi'])\n"
    )
    assert _heavy_after(code, tmp_path) == []


def test_serve_without_the_extra_says_what_to_install(tmp_path: Path) -> None:
    """With Starlette missing, `clawdesk serve` is one line naming the extra, exit status 2."""
    config = tmp_path / "config.toml"
    config.write_text("[serve]\nallow_anonymous = true\n", encoding="utf-8")
    code = (
        "import sys; sys.modules['starlette'] = None\n"
        "from clawdesk._cli import main\n"
        f"raise SystemExit(main(['serve', '--config', {str(config)!r}, '--port', '0']))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 2
    assert run.stderr.strip() == (
        "clawdesk: error: clawdesk serve needs the clawdesk[serve] extra: pip install 'clawdesk[serve]'"
    )


@pytest.mark.parametrize(
    ("table", "words"),
    [
        ("[serve]\n", "no gateway key"),
        ('[serve.keys.a]\nkey_env = "CLAWDESK_TEST_UNSET_KEY"\n', "CLAWDESK_TEST_UNSET_KEY is not set"),
        ('[serve.keys.a]\nhash = "hunter2-plain-key"\n', "serve.keys.a.hash: expected 'sha256:'"),
        ('[serve.keys.a]\nhash = "sha256:' + "0" * 64 + '"\nkey_env = "X"\n', "exactly one of hash"),
        ("[serve.models.fast]\nchain = []\n", "serve.models.fast.chain"),
        ("[serve]\nport = 70000\n", "serve.port"),
    ],
)
def test_bad_serve_config_is_one_line(tmp_path: Path, table: str, words: str) -> None:
    """A gateway config that cannot work stops `clawdesk serve` at once: one line, exit 2, no secret echoed."""
    config = tmp_path / "config.toml"
    config.write_text(table, encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "clawdesk", "serve", "--config", str(config), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"CLAWDESK_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert run.returncode == 2, run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    assert words in run.stderr
    assert "hunter2" not in run.stderr


def test_port_in_use_is_one_line(tmp_path: Path) -> None:
    """A port another process listens on: one line naming host and port, exit 2, before any worker starts."""
    import socket

    config = tmp_path / "config.toml"
    config.write_text("[serve]\nallow_anonymous = true\n", encoding="utf-8")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = subprocess.run(
            [sys.executable, "-m", "clawdesk", "serve", "--config", str(config), "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={"CLAWDESK_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        )
    assert run.returncode == 2
    assert run.stderr.strip() == f"clawdesk: error: cannot listen on 127.0.0.1:{port}: Address already in use"


def test_reprs_show_no_key_hash() -> None:
    """A config's repr, and a gateway key's, show neither the key nor its hash."""
    from clawdesk import parse_config
    from clawdesk._serve._auth import KeyRing

    digest = "ab" * 32
    config = parse_config(f'[serve.keys.team]\nhash = "sha256:{digest}"\nmodels = ["fast"]\n')
    ring = KeyRing.from_config(config.serve)
    for text in (repr(config), repr(config.serve), repr(ring.keys)):
        assert digest not in text
        assert repr(bytes.fromhex(digest))[2:20] not in text
        assert "team" in text or "ServeConfig" in text or "Config" in text
