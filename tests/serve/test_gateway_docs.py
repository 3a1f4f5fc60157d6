"""docs/gateway.md stays true: its config is valid, and its client example runs against a real gateway.

The page's first TOML block is the gateway's config, with the providers'
tables pointed at the scripted Mistral and Ollama; its Python block runs as
written, the gateway's address aside.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from backends import MISTRAL_KEY, GatewayProcess

from clawdesk import parse_config
from conftest import Backends

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "docs"))
from docs_blocks import fenced_blocks  # noqa: E402

PAGE = ROOT / "docs" / "gateway.md"


def blocks(language: str) -> list[str]:
    return [text for _, lang, text in fenced_blocks(PAGE) if lang == language]


def test_every_block_is_toml_or_python() -> None:
    """The page's blocks are all checked: TOML parses as a config, Python compiles."""
    for line, language, text in fenced_blocks(PAGE):
        if language == "toml":
            parse_config(text, source=f"gateway.md:{line}")
        elif language == "python":
            compile(text, f"gateway.md:{line}", "exec")
        else:
            pytest.fail(f"gateway.md:{line}: a ```{language} block")


def test_the_example_key_matches_its_hash() -> None:
    """The key the client example sends is the one whose hash the config holds."""
    key = re.search(r'api_key="([^"]+)"', blocks("python")[0])
    digest = re.search(r'hash = "sha256:([0-9a-f]{64})"', blocks("toml")[0])
    assert key is not None
    assert digest is not None
    assert hashlib.sha256(key.group(1).encode()).hexdigest() == digest.group(1)


@pytest.fixture
def page_gateway(backends: Backends, tmp_path: Path) -> Iterator[GatewayProcess]:
    """The page's config, its providers pointed at the scripted servers, served by `clawdesk serve`."""
    text = blocks("toml")[0]
    mistral = f'[providers.mistral]\nbase_url = "{backends.mistral_server.url}/v1"\napi_key = "{MISTRAL_KEY}"\n'
    text = re.sub(r"\[providers\.mistral\][^\n]*\n", mistral + "stream_usage = false\n", text)
    text = text.replace('base_url = "http://gpu-box:11434"', f'base_url = "{backends.ollama_server.url}"')
    assert backends.ollama_server.url in text
    assert backends.mistral_server.url in text
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    process = GatewayProcess(path)
    yield process
    process.close()


def test_the_client_example_runs(page_gateway: GatewayProcess, backends: Backends) -> None:
    """The page's Python example gets an answer through the alias `fast`, from Mistral, the chain's first."""
    code = blocks("python")[0].replace("http://127.0.0.1:4000", page_gateway.url)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "gateway.md", "exec"), {"__name__": "gateway_md"})
    assert out.getvalue() == "mistral/mistral-small-latest Hello from the backend.\n"
    assert backends.mistral.count == 1
