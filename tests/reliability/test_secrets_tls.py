"""Secrets and TLS: the key stays out of everything, and certificates are checked unless turned off.

Every case of the fault matrix already sweeps its error messages, reprs,
exception chains, events and DEBUG log records for the fake key (see
``Outcome.assert_hygiene`` in conftest.py); this file shows that sweep can fail,
that the key really is configured and sent, and checks TLS settings and a real
TLS handshake against a self-signed certificate.

``tls/localhost-cert.pem`` and ``tls/localhost-key.pem`` are a throw-away,
self-signed test certificate for 127.0.0.1 (made with ``openssl req -x509
-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 36500 -subj
/CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1,DNS:localhost``); they
protect nothing.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from clawdesk import ConnectionFailed, Secret
from clawdesk.testing import ScriptedServer

pytestmark = pytest.mark.anyio

PROVIDERS = ["mistral", "ollama"]
TLS_DIR = Path(__file__).parent / "tls"


@pytest.fixture(scope="module")
def tls_server() -> Iterator[ScriptedServer]:
    """A scripted HTTPS server presenting a self-signed certificate."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(TLS_DIR / "localhost-cert.pem", TLS_DIR / "localhost-key.pem")
    with ScriptedServer(ssl_context=context) as srv:
        yield srv


def _ssl_context(client: Any) -> ssl.SSLContext:
    context = client._transport._pool._ssl_context
    assert isinstance(context, ssl.SSLContext)
    return context


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_tls_verification_on_by_default(harness: Any, provider: str) -> None:
    """With no verify_tls in the config, the provider's client checks certificates and host names."""
    cd = harness.clawdesk(provider, {"api_key": "sk-clawdesk-unused-key-000000"})
    try:
        context = _ssl_context(cd.http_client(provider))
        assert context.verify_mode == ssl.CERT_REQUIRED
        assert context.check_hostname is True
    finally:
        await cd.aclose()


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_tls_verification_off_only_when_asked(harness: Any, provider: str) -> None:
    """``verify_tls = false`` (and only that) turns certificate checks off."""
    cd = harness.clawdesk(provider, {"verify_tls": False})
    try:
        context = _ssl_context(cd.http_client(provider))
        assert context.verify_mode == ssl.CERT_NONE
        assert context.check_hostname is False
    finally:
        await cd.aclose()


@pytest.mark.parametrize("mode", ["chat", "stream"])
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_self_signed_certificate_refused(
    harness: Any, tls_server: ScriptedServer, provider: str, mode: str
) -> None:
    """A server with an untrusted certificate is refused by default, before any request is sent."""
    tls = type(harness)(tls_server, harness.registry)
    wire = harness.wire(provider)
    outcome = await tls.run(provider, wire.chat_reply(), mode=mode, case=f"{provider} self-signed", verify_tls=None)
    assert type(outcome.error) is ConnectionFailed, outcome.describe()
    assert "certificate" in str(outcome.error).lower(), f"{outcome.describe()}: the reason is not named"
    assert outcome.requests == 0, f"{outcome.describe()}: a request reached the untrusted server"
    outcome.assert_hygiene()


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_self_signed_certificate_accepted_when_verification_off(
    harness: Any, tls_server: ScriptedServer, provider: str
) -> None:
    """With ``verify_tls = false`` the same server is used (the switch really does something)."""
    tls = type(harness)(tls_server, harness.registry)
    wire = harness.wire(provider)
    outcome = await tls.run(provider, wire.chat_reply("over tls"), mode="chat", verify_tls=False)
    outcome.assert_ok(text="over tls")


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_key_configured_but_never_shown(harness: Any, fake_key: str, provider: str) -> None:
    """The configured key is a Secret: revealed on request, hidden from every repr and str of the config."""
    cd = harness.clawdesk(provider, {"api_key": fake_key})
    try:
        config = cd.provider_config(provider)
        assert isinstance(config.api_key, Secret)
        assert config.api_key.reveal() == fake_key
        for text in (repr(config), str(config), repr(cd.config), repr(config.api_key), f"{config.api_key}"):
            assert fake_key not in text
    finally:
        await cd.aclose()


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_key_is_sent_as_bearer(harness: Any, fake_key: str, provider: str) -> None:
    """The key really goes on the wire, so the matrix's leak sweep is not vacuous."""
    outcome = await harness.run(provider, harness.wire(provider).chat_reply(), mode="chat")
    outcome.assert_ok()
    sent = [
        r.headers.get("authorization") for r in harness.server.requests if r.path == harness.wire(provider).chat_path
    ]
    assert sent[-1] == f"Bearer {fake_key}"


async def test_leak_sweep_can_fail(harness: Any, fake_key: str) -> None:
    """The sweep finds the key in a log line and in an exception chain (a check that cannot fail proves nothing)."""
    outcome = await harness.run("mistral", harness.wire("mistral").chat_reply(), mode="chat")
    assert any("POST" in line for line in outcome.logs), "no DEBUG/INFO records were captured"
    outcome.assert_hygiene()
    outcome.logs.append(f"httpx DEBUG authorization: Bearer {fake_key}")
    with pytest.raises(AssertionError, match="leaked"):
        outcome.assert_hygiene()
    outcome.logs.pop()
    inner = RuntimeError(f"header was {fake_key}")
    outer = ConnectionFailed("broken", provider="mistral")
    outer.__cause__ = inner
    outcome.error = outer
    with pytest.raises(AssertionError, match="leaked"):
        outcome.assert_hygiene()
