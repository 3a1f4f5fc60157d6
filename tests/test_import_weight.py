"""Start-up stays cheap with all six first-party plugins installed (issue 21): nothing heavy at import.

``import clawdesk``, importing any plugin (its package and the module its entry
point names) and ``clawdesk plugins --json`` must not import the HTTP stack,
the async runtime, cattrs or msgspec: those load inside hooks, on first use.
Each check runs in a fresh interpreter, so nothing imported by the test run
itself can hide an import.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

PLUGINS = ("mistral", "ollama", "openai", "anthropic", "gemini", "bedrock")
#: Top-level packages that must not be imported at start-up (h11/httpcore come with httpx, sniffio/trio with anyio).
HEAVY = ("httpx", "httpcore", "h11", "anyio", "sniffio", "trio", "cattrs", "msgspec", "clawdesk_openai_compat._chat")

_REPORT = (
    "import sys, json\n"
    "heavy = {heavy!r}\n"
    "def loaded():\n"
    "    return sorted(m for m in sys.modules if m.split('.')[0] in heavy or m in heavy)\n"
)


def _run(code: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAWDESK_", "PYTHONPROFILEIMPORTTIME"))}
    result = subprocess.run(
        [sys.executable, "-c", _REPORT.format(heavy=HEAVY) + code],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_import_clawdesk_is_light() -> None:
    """``import clawdesk`` (and clawdesk.provider) imports no httpx, anyio, cattrs or msgspec."""
    out = _run("import clawdesk, clawdesk.provider\nprint(json.dumps(loaded()))\n")
    assert json.loads(out) == []


@pytest.mark.parametrize("plugin", PLUGINS)
def test_importing_a_plugin_is_light(plugin: str) -> None:
    """A plugin's package and its entry-point module import nothing heavy (their hooks do, when called)."""
    out = _run(f"import clawdesk_{plugin}, clawdesk_{plugin}._plugin\nprint(json.dumps(loaded()))\n")
    assert json.loads(out) == []


def test_plugins_listing_loads_all_six_and_nothing_heavy() -> None:
    """``clawdesk plugins --json`` loads all six plugins (status ok) without importing anything heavy."""
    out = _run(
        "import io, contextlib\n"
        "from clawdesk._cli import main\n"
        "buffer = io.StringIO()\n"
        "with contextlib.redirect_stdout(buffer):\n"
        "    code = main(['plugins', '--json'])\n"
        "print(json.dumps({'code': code, 'rows': json.loads(buffer.getvalue()), 'heavy': loaded()}))\n"
    )
    report = json.loads(out)
    statuses = {row["name"]: row["status"] for row in report["rows"]}
    assert {name: statuses.get(name) for name in PLUGINS} == dict.fromkeys(PLUGINS, "ok")
    assert report["heavy"] == []
    assert report["code"] == 0
