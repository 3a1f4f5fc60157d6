"""Dialects: the known servers, and the one ``auto`` picks by ``base_url``."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clawdesk_openai_compat import DIALECTS, dialect_for_url, is_local_url


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("https://api.openai.com/v1", "openai"),
        ("https://api.groq.com/openai/v1", "groq"),
        ("https://api.deepseek.com/v1", "deepseek"),
        ("https://api.together.xyz/v1", "together"),
        ("https://openrouter.ai/api/v1", "openrouter"),
        ("https://llm.internal.example/v1", "openai-compatible"),
    ],
)
def test_hosted_services_are_known_by_host(url: str, name: str) -> None:
    """auto picks a hosted service's dialect by its API host; any other server is openai-compatible."""
    assert dialect_for_url(url).name == name


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/v1",
        "http://localhost:1234/v1",
        "http://[::1]:8000/v1",
        "http://10.1.2.3/v1",
        "http://192.168.0.7:11434/v1",
        "http://gpu.local:8000/v1",
    ],
)
def test_a_server_on_this_machine_or_network_needs_no_key(url: str) -> None:
    """A loopback, private or .local server is one the user runs: openai-compatible, no key required."""
    dialect = dialect_for_url(url)
    assert dialect.name == "openai-compatible"
    assert not dialect.requires_key
    assert "local" in dialect.label


@given(st.ip_addresses())
def test_local_means_loopback_private_or_link_local(address: object) -> None:
    """For any IP address, is_local_url agrees with the address's own classification."""
    import ipaddress

    ip = ipaddress.ip_address(str(address))
    host = f"[{ip}]" if ip.version == 6 else str(ip)
    assert is_local_url(f"http://{host}:8000/v1") == (ip.is_loopback or ip.is_private or ip.is_link_local)


def test_hosted_services_require_a_key_and_local_servers_do_not() -> None:
    """Keys: required by hosted services, optional on the local servers' dialects."""
    assert {n for n, d in DIALECTS.items() if not d.requires_key} == {"vllm", "llama.cpp", "lmstudio"}


def test_importing_the_library_is_cheap() -> None:
    """Importing clawdesk_openai_compat (as a plugin's config does) loads no HTTP stack."""
    code = "import sys, clawdesk_openai_compat; print(sorted(m for m in ('httpx', 'httpcore') if m in sys.modules))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert run.stdout.strip() == "[]"
