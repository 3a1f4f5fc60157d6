"""Packaging: core and a plugin build, install alone in a fresh venv, and plugins come and go with pip.

Slow (builds wheels, makes a venv, installs core's dependencies from PyPI),
so it is marked ``slow``; it still runs by default.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from clawdesk.testing import Reply, ScriptedServer

fakedist = sys.modules["clawdesk_tests_fakedist"]

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-packaging-test-key-0123456789"


def run(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAWDESK_", "PIP_", "VIRTUAL_ENV", "PYTHON"))}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, check=False, **kw)
    assert result.returncode == 0, f"{cmd}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Wheels (and sdists) of core, the shared OpenAI wire library and the first-party plugins, from this checkout."""
    out = tmp_path_factory.mktemp("dist")
    projects = (
        ROOT / "core",
        ROOT / "libs" / "clawdesk-openai-compat",
        ROOT / "plugins" / "clawdesk-ollama",
        ROOT / "plugins" / "clawdesk-mistral",
        ROOT / "plugins" / "clawdesk-openai",
    )
    for project in projects:
        run([sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(out), str(project)])
    found = {p.name.split("-")[0]: p for p in out.glob("*.whl")}
    assert set(found) == {
        "clawdesk",
        "clawdesk_openai_compat",
        "clawdesk_ollama",
        "clawdesk_mistral",
        "clawdesk_openai",
    }, sorted(out.iterdir())
    assert len(list(out.glob("*.tar.gz"))) == len(projects)
    return found


def plugins_json(venv: Path, tmp_path: Path, **extra: str) -> dict[str, dict[str, Any]]:
    result = fakedist.run_cli(
        ["plugins", "--json"], fakedist.cli_env(tmp_path, extra=extra), python=str(venv / "bin" / "python")
    )
    assert result.returncode == 0, result.stderr
    return {row["name"]: row for row in json.loads(result.stdout)}


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_fresh_venv_install_and_uninstall(dists: dict[str, Path], tmp_path: Path) -> None:
    """Core alone lists no providers; adding clawdesk-ollama lists it ok; a broken plugin is an error
    while chat through another plugin works; the wire library lists nothing; clawdesk-mistral and
    clawdesk-openai join; uninstalling ollama removes only it."""
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)])
    python = str(venv / "bin" / "python")
    pip = [python, "-m", "pip", "install", "--quiet"]
    # Nothing from the development venv may leak in.
    probe = run([python, "-c", "import sys; print(sys.prefix, [p for p in sys.path if 'site-packages' in p])"])
    assert str(ROOT / ".venv") not in probe.stdout

    run([*pip, str(dists["clawdesk"])])
    assert plugins_json(venv, tmp_path) == {}
    text = fakedist.run_cli(["plugins"], fakedist.cli_env(tmp_path), python=python)
    assert text.returncode == 0
    assert "no provider plugins installed" in text.stdout

    run([*pip, str(dists["clawdesk_ollama"])])
    rows = plugins_json(venv, tmp_path)
    assert set(rows) == {"ollama"}
    assert rows["ollama"]["status"] == "ok", rows
    assert rows["ollama"]["distribution"] == "clawdesk-ollama"

    # A plugin package that raises at import, and a working one talking to a loopback server.
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    broken = fakedist.build_wheel(
        wheels,
        "clawdesk-broken",
        modules={"clawdesk_broken": "raise RuntimeError('broken on purpose')\n"},
        entry_points={"broken": "clawdesk_broken"},
    )
    alpha = fakedist.build_wheel(
        wheels,
        "clawdesk-alpha",
        modules={"clawdesk_alpha": fakedist.plugin_source("alpha")},
        entry_points={"alpha": "clawdesk_alpha"},
    )
    run([*pip, "--no-deps", str(broken), str(alpha)])
    rows = plugins_json(venv, tmp_path)
    assert rows["broken"]["status"] == "error"
    assert "RuntimeError: broken on purpose" in rows["broken"]["error"]
    assert rows["alpha"]["status"] == "ok"
    assert rows["ollama"]["status"] == "ok"
    with ScriptedServer() as server:
        server.add(Reply.json({"content": "hello from alpha", "input_tokens": 3, "output_tokens": 4}))
        config = tmp_path / "config.toml"
        config.write_text(f'[providers.alpha]\nbase_url = "{server.url}"\n')
        env = fakedist.cli_env(tmp_path, extra={"CLAWDESK_CONFIG": str(config), "ALPHA_API_KEY": KEY})
        chat = fakedist.run_cli(["chat", "hi", "-m", "alpha/small", "--no-stream", "--json"], env, python=python)
    assert chat.returncode == 0, chat.stderr
    answer = json.loads(chat.stdout)
    assert answer["content"] == "hello from alpha"
    assert answer["provider"] == "alpha"
    assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"
    assert KEY not in chat.stdout + chat.stderr

    # Mistral and OpenAI speak the OpenAI chat wire through the library they both depend on; it is
    # no provider itself, so installing it alone lists nothing new.
    run([*pip, str(dists["clawdesk_openai_compat"])])
    assert set(plugins_json(venv, tmp_path)) == {"broken", "alpha", "ollama"}
    run([*pip, str(dists["clawdesk_mistral"]), str(dists["clawdesk_openai"])])
    rows = plugins_json(venv, tmp_path)
    assert (rows["mistral"]["status"], rows["openai"]["status"]) == ("ok", "ok"), rows
    assert rows["openai"]["distribution"] == "clawdesk-openai"

    run([python, "-m", "pip", "uninstall", "--yes", "--quiet", "clawdesk-ollama"])
    rows = plugins_json(venv, tmp_path)
    assert "ollama" not in rows
    assert rows["mistral"]["status"] == "ok", "uninstalling one plugin leaves the others"
    assert rows["openai"]["status"] == "ok"
