"""Fixtures for the everyday-use tests: scripted Mistral and Ollama servers and the CLI run against them.

The CLI runs the real, installed ``clawdesk-mistral`` and ``clawdesk-ollama``
plugins; the servers answer with each backend's wire format byte for byte
(Mistral's SSE chunks, Ollama's NDJSON lines). Every chat body a server
received is checked at the end of the test against the vendor's request
schema, from the fixtures the plugins committed (extracted from the vendors'
OpenAPI documents; see their ``extract_schema.py``).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from clawdesk.testing import ScriptedServer

HERE = str(Path(__file__).parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)  # the tests import everyday_wire (test directories are not packages)

from everyday_wire import KEY  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
MISTRAL_FIXTURE = ROOT / "plugins" / "clawdesk-mistral" / "tests" / "fixtures" / "chat_completion_request.schema.json"
OLLAMA_FIXTURE = ROOT / "plugins" / "clawdesk-ollama" / "tests" / "fixtures" / "ollama_schemas.json"


def _mistral_validator() -> Draft202012Validator:
    schema = json.loads(MISTRAL_FIXTURE.read_text(encoding="utf-8"))["schema"]
    return Draft202012Validator(schema)


def _ollama_validator() -> Draft202012Validator:
    schema = json.loads(OLLAMA_FIXTURE.read_text(encoding="utf-8"))["schemas"]["ChatRequest"]
    # Closed like the plugin's own tests do: a misspelt field would be silently ignored by Ollama.
    schema = json.loads(json.dumps(schema))
    schema["additionalProperties"] = False
    message = schema["properties"]["messages"]["items"]
    for name in ("tool_name", "thinking"):
        message["properties"].setdefault(name, {"type": "string"})
    message["additionalProperties"] = False
    return Draft202012Validator(schema)


MISTRAL_REQUEST = _mistral_validator()
OLLAMA_REQUEST = _ollama_validator()


# -- servers -----------------------------------------------------------------------------------------


@pytest.fixture
def mistral() -> Iterator[ScriptedServer]:
    """A scripted Mistral; every chat body it received must match Mistral's ChatCompletionRequest schema."""
    with ScriptedServer() as server:
        yield server
    for recorded in server.requests:
        if recorded.method == "POST" and recorded.path.endswith("/chat/completions"):
            errors = [e.message for e in MISTRAL_REQUEST.iter_errors(recorded.json())]
            assert not errors, f"a request body breaks Mistral's schema: {errors}"


@pytest.fixture
def ollama() -> Iterator[ScriptedServer]:
    """A scripted Ollama; every chat body it received must match Ollama's ChatRequest schema."""
    with ScriptedServer() as server:
        yield server
    for recorded in server.requests:
        if recorded.method == "POST" and recorded.path == "/api/chat":
            errors = [e.message for e in OLLAMA_REQUEST.iter_errors(recorded.json())]
            assert not errors, f"a request body breaks Ollama's schema: {errors}"


class Cli:
    """Runs ``clawdesk`` against the scripted servers, in this process or as a subprocess."""

    def __init__(self, tmp: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
        self.tmp = tmp
        self.home = Path(os.environ["CLAWDESK_HOME"])
        self.config = tmp / "config.toml"
        self._monkeypatch = monkeypatch
        self._capsys = capsys
        for name in ("CLAWDESK_CONFIG", "CLAWDESK_PLUGINS", "MISTRAL_API_KEY", "OLLAMA_API_KEY", "OLLAMA_HOST"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("CLAWDESK_CONFIG", str(self.config))
        monkeypatch.setenv("CLAWDESK_PLUGINS", "mistral,ollama")
        monkeypatch.setenv("MISTRAL_API_KEY", KEY)
        self.configure()

    def configure(
        self, mistral: str = "http://127.0.0.1:9/v1", ollama: str = "http://127.0.0.1:9", extra: str = ""
    ) -> None:
        """Point the providers at the servers (no retries: one answer per request)."""
        self.config.write_text(
            # The scripted server plays La Plateforme, which refuses stream_options: say so.
            f'{extra}[providers.mistral]\nbase_url = "{mistral}"\nmax_retries = 0\nstream_usage = false\n'
            f'[providers.ollama]\nbase_url = "{ollama}"\nmax_retries = 0\n'
            "[fallback]\nmax_retries_per_provider = 0\n",
            encoding="utf-8",
        )

    @property
    def logs(self) -> Path:
        return self.home / "logs.db"

    def __call__(self, *args: str, stdin: bytes = b"") -> Any:
        """``clawdesk ARGS`` in this process, stdin a pipe holding ``stdin``; returns (status, out, err)."""
        from clawdesk._cli import main

        stream = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
        self._monkeypatch.setattr(sys, "stdin", stream)
        self._capsys.readouterr()
        try:
            status = main(list(args))
        except SystemExit as exc:  # argparse's usage errors and --version
            status = exc.code if isinstance(exc.code, int) else 1
        out, err = self._capsys.readouterr()
        return Result(status, out, err)

    def env(self) -> dict[str, str]:
        """The environment for a subprocess: this test's home, config and key."""
        return dict(os.environ)

    def subprocess(self, *args: str, stdin: bytes = b"", timeout: float = 60) -> Any:
        """``python -m clawdesk ARGS`` as a real process."""
        proc = subprocess.run(
            [sys.executable, "-m", "clawdesk", *args],
            input=stdin,
            capture_output=True,
            env=self.env(),
            timeout=timeout,
            check=False,
        )
        return Result(proc.returncode, proc.stdout.decode(), proc.stderr.decode())


class Result:
    """What a run gave: exit status, stdout, stderr."""

    def __init__(self, status: int, out: str, err: str) -> None:
        self.status = status
        self.out = out
        self.err = err

    def __repr__(self) -> str:
        return f"Result(status={self.status}, out={self.out[-500:]!r}, err={self.err[-500:]!r})"


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    """The CLI with its own home, a config for both providers (call ``cli.configure(...)``) and a Mistral key."""
    return Cli(tmp_path, monkeypatch, capsys)
