"""Junk from a server is classified right, through every first-party plugin, over real loopback HTTP.

Deeply nested JSON (which makes Python's decoder raise ``RecursionError``),
HTML pages with status 200, JSON where a stream was asked for and bodies that
are JSON but not the protocol's shape are all :class:`~clawdesk.ApiError`
(not retryable; :class:`~clawdesk.InvalidRequest` for a 4xx): never a
``PluginError`` (a crash inside the plugin) nor a retried ``ConnectionFailed``
or ``Truncated``. Proxy settings that cannot be used are a one-line
``ConfigError`` naming the variable.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

from clawdesk import ApiError, ChatRequest, ConfigError, InvalidRequest, Message, ProviderError, Registry
from clawdesk.provider import encode_event_stream_message
from clawdesk.testing import Reply, ScriptedServer

fakedist = sys.modules["clawdesk_tests_fakedist"]
hardening = sys.modules["clawdesk_tests_hardening"]
PROVIDERS, SPECS, make, table, write_config = (
    hardening.PROVIDERS,
    hardening.SPECS,
    hardening.make,
    hardening.table,
    hardening.write_config,
)

DEPTH = 100_000
DEEP_ARRAY = b"[" * DEPTH + b"]" * DEPTH
DEEP_OBJECT = b'{"a":' * DEPTH + b"1" + b"}" * DEPTH
_JSON = "application/json"

BODIES = {
    "deep-array": Reply.text(DEEP_ARRAY, content_type=_JSON),
    "deep-object": Reply.text(DEEP_OBJECT, content_type=_JSON),
    "html-200": Reply.text("<!doctype html><html><title>Sign in to the Wi-Fi</title></html>", content_type="text/html"),
    "html-no-type": Reply(status=200, chunks=(b"<html><body>Please log in</body></html>",)),
    "json-list": Reply.json([1, 2, 3]),
    "json-empty": Reply.json({}),
    "json-null": Reply.json(None),
}


async def _call(cd: Any, name: str, mode: str) -> Any:
    model = SPECS[name].model
    target = cd.resolve(f"{name}/{model}")
    request = ChatRequest(model, (Message.user("hi"),))
    if mode == "chat":
        return await cd.chat_target(target, request)
    async with cd.stream_target(target, request) as events:
        return [event async for event in events]


async def _error(registry: Registry, server: ScriptedServer, name: str, mode: str, reply: Reply) -> ProviderError:
    server.add(reply)
    cd = make(registry, table(name, server.url))
    try:
        with pytest.raises(Exception) as info:
            await _call(cd, name, mode)
    finally:
        await cd.aclose()
    error = info.value
    assert isinstance(error, ProviderError), f"{type(error).__name__}: {error}"
    message = str(error)
    assert "\n" not in message
    assert message.startswith(f"{name}: "), message
    return error


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["chat", "stream"])
@pytest.mark.parametrize("case", list(BODIES))
@pytest.mark.parametrize("name", PROVIDERS)
async def test_junk_200_body_is_an_api_error(
    registry: Registry, server: ScriptedServer, name: str, case: str, mode: str
) -> None:
    """A 200 answer that is deep JSON, HTML or JSON of the wrong shape: an ApiError, not retried.

    An HTML page without a content type is recognised only in a whole answer;
    in a stream, nothing tells it from a broken stream (Truncated) before it ends.
    """
    if mode == "stream" and case == "html-no-type":
        pytest.skip("a stream's body is read as the protocol's frames; see the docstring")
    reply = BODIES[case]
    if mode == "stream" and name == "ollama" and not case.startswith("html"):
        # Ollama streams JSON lines: a whole line is judged by its decoder (half a line at the end is Truncated).
        reply = Reply.stream([reply.chunks[0] + b"\n"], content_type=_JSON)
    error = await _error(registry, server, name, mode, reply)
    assert type(error) is ApiError, f"{type(error).__name__}: {error}"
    # Gemini's empty candidate list is retryable on purpose: Google sends one now and then, and asking again helps.
    assert error.retryable is (name == "gemini" and mode == "chat" and case == "json-empty"), str(error)


def _deep_frame(name: str) -> tuple[bytes, str]:
    if name == "ollama":
        return DEEP_ARRAY + b"\n", "application/x-ndjson"
    if name == "bedrock":
        headers = {":message-type": "event", ":event-type": "contentBlockDelta", ":content-type": _JSON}
        # One event's payload is capped at 64 KiB by the encoder: deep enough all the same.
        return encode_event_stream_message(headers, b"[" * 30_000 + b"]" * 30_000), "application/vnd.amazon.eventstream"
    event = b"event: content_block_delta\n" if name == "anthropic" else b""
    return event + b"data: " + DEEP_ARRAY + b"\n\n", "text/event-stream"


@pytest.mark.anyio
@pytest.mark.parametrize("name", PROVIDERS)
async def test_deep_json_in_a_stream_frame_is_an_api_error(
    registry: Registry, server: ScriptedServer, name: str
) -> None:
    """A stream frame holding JSON nested 100,000 deep: ApiError from the plugin's decoder, not a crash."""
    frame, content_type = _deep_frame(name)
    error = await _error(registry, server, name, "stream", Reply.stream([frame], content_type=content_type))
    assert type(error) is ApiError, f"{type(error).__name__}: {error}"
    assert error.retryable is False


@pytest.mark.anyio
@pytest.mark.parametrize("name", PROVIDERS)
async def test_deep_json_error_body_keeps_its_status(registry: Registry, server: ScriptedServer, name: str) -> None:
    """A 400 whose body is JSON nested 100,000 deep is still InvalidRequest (the status decides)."""
    reply = Reply.text(DEEP_OBJECT, status=400, content_type=_JSON)
    error = await _error(registry, server, name, "chat", reply)
    assert isinstance(error, InvalidRequest), f"{type(error).__name__}: {error}"
    assert error.status == 400


@pytest.mark.anyio
@pytest.mark.parametrize("name", ["mistral", "ollama"])
async def test_deep_json_model_listing_is_an_api_error(registry: Registry, server: ScriptedServer, name: str) -> None:
    """A model listing answered with JSON nested 100,000 deep: the listing's error is an ApiError."""
    server.add(Reply.text(DEEP_ARRAY, content_type=_JSON))
    cd = make(registry, table(name, server.url))
    try:
        (listing,) = await cd.models(name, refresh=True)
    finally:
        await cd.aclose()
    assert type(listing.error) is ApiError, f"{type(listing.error).__name__}: {listing.error}"


_SOCKS_MISSING = importlib.util.find_spec("socksio") is None


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        pytest.param(
            "ALL_PROXY",
            "socks5://bob:Hunter2-socks@127.0.0.1:1080",
            "pip install 'httpx[socks]'",
            marks=pytest.mark.skipif(not _SOCKS_MISSING, reason="the socks extra is installed"),
        ),
        ("HTTPS_PROXY", "ftp://bob:Hunter2-ftp@127.0.0.1:21", "http://, https:// or socks5://"),
        ("HTTP_PROXY", "http://[::1:3128", "not a proxy URL"),
        ("http_proxy", "http://bob:Hunter2-port@127.0.0.1:99999", "not a proxy URL"),
    ],
    ids=["socks-without-extra", "ftp", "bad-ipv6", "bad-port"],
)
@pytest.mark.parametrize("with_model", [True, False], ids=["-m", "no -m"])
def test_unusable_proxy_setting_exits_2_naming_it(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: Any,
    server: ScriptedServer,
    variable: str,
    value: str,
    words: str,
    with_model: bool,
) -> None:
    """A SOCKS proxy without the extra or a malformed proxy URL: exit 2, one line naming the variable."""
    monkeypatch.setenv(variable, value)
    monkeypatch.setenv("CLAWDESK_CONFIG", str(write_config(tmp_path, table("mistral", server.url))))
    args = ["chat", "--no-stream", "hi"]
    if with_model:
        args[1:1] = ["-m", "mistral/mistral-small-latest"]
    result = fakedist.run_main(args, monkeypatch=monkeypatch, capsys=capsys)
    assert result.returncode == 2, (result.returncode, result.stderr)
    errors = [line for line in result.stderr.splitlines() if line.startswith("clawdesk: error:")]
    assert len(errors) == 1, result.stderr
    assert variable in errors[0], errors[0]
    assert words in errors[0], errors[0]
    assert "internal error" not in result.stderr
    assert "Hunter2" not in result.stdout + result.stderr


@pytest.mark.anyio
async def test_unusable_proxy_setting_is_a_config_error_in_the_library(
    registry: Registry, server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The library raises the same ConfigError (not ImportError or ValueError) when the client is made."""
    monkeypatch.setenv("HTTPS_PROXY", "gopher://127.0.0.1:70")
    cd = make(registry, table("mistral", server.url))
    try:
        with pytest.raises(ConfigError, match="HTTPS_PROXY"):
            await _call(cd, "mistral", "chat")
    finally:
        await cd.aclose()
