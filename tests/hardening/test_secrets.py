"""Secrets as they really arrive: with a newline from a secrets file, with stray characters, inside URLs.

Each case talks to a real loopback server through a first-party plugin (the
library, or the CLI in this process) and checks what the server received and
what the caller saw: no 6-character piece of the key in any message, ``--json``
output, exception attribute or cause.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

import clawdesk
from clawdesk import ChatRequest, ConfigError, Message, ProviderError, Registry
from clawdesk.testing import RecordedRequest, Reply, ScriptedServer, unused_port

fakedist = sys.modules["clawdesk_tests_fakedist"]
hardening = sys.modules["clawdesk_tests_hardening"]
KEY, PROVIDERS, SPECS = hardening.KEY, hardening.PROVIDERS, hardening.SPECS
make, no_key_piece, table, write_config = (
    hardening.make,
    hardening.no_key_piece,
    hardening.table,
    hardening.write_config,
)

# Where each plugin puts the key on the wire (bedrock: a bearer token, like the OpenAI-style ones).
_HEADER = {"anthropic": "x-api-key", "gemini": "x-goog-api-key"}
_ENV = {
    "mistral": "MISTRAL_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "gemini": "GEMINI_API_KEY",
    "ollama": "OLLAMA_API_KEY",
}


def _sent_key(request: RecordedRequest, name: str) -> str:
    header = request.headers.get(_HEADER.get(name, "authorization"), "")
    return header.removeprefix("Bearer ")


def _everything(error: BaseException) -> str:
    """Every text an exception and its causes expose: str, repr, args and attributes."""
    texts: list[str] = []
    seen: set[int] = set()
    stack: list[BaseException | None] = [error]
    while stack:
        item = stack.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        texts += [str(item), repr(item), *map(repr, item.args), *map(repr, vars(item).values())]
        stack += [item.__cause__, item.__context__]
    return "\n".join(texts)


async def _chat(cd: clawdesk.Clawdesk, name: str) -> Any:
    target = cd.resolve(f"{name}/{SPECS[name].model}")
    return await cd.chat_target(target, ChatRequest(SPECS[name].model, (Message.user("hi"),)))


@pytest.mark.anyio
@pytest.mark.parametrize("name", [n for n in PROVIDERS if n in _ENV])
@pytest.mark.parametrize("raw", [KEY + "\n", f"  {KEY}\r\n", f"\t{KEY} "], ids=["newline", "crlf", "spaces"])
async def test_key_from_a_secrets_file_is_stripped(
    registry: Registry, server: ScriptedServer, name: str, raw: str
) -> None:
    """A key read with a trailing newline or surrounding blanks is sent stripped, and the call goes through."""
    seen: list[str] = []

    def reply(request: RecordedRequest) -> Reply:
        seen.append(_sent_key(request, name))
        return Reply.json({"error": "stop here"}, status=418)

    server.add(reply)
    cd = make(registry, table(name, server.url, key=None), env={_ENV[name]: raw})
    try:
        with pytest.raises(ProviderError) as info:
            await _chat(cd, name)
    finally:
        await cd.aclose()
    assert seen == [KEY], f"the server got {seen!r}"
    assert info.value.status == 418, f"{type(info.value).__name__}: {info.value}"


@pytest.mark.anyio
@pytest.mark.parametrize("name", PROVIDERS)
@pytest.mark.parametrize(
    ("bad", "words"),
    [
        (KEY[:10] + "\x07" + KEY[10:], "control character"),
        (KEY[:10] + "\n" + KEY[10:], "control character"),
        (KEY[:10] + " " + KEY[10:], "whitespace"),
        (KEY[:10] + "é" + KEY[10:], "non-ASCII"),
        (KEY[:10] + "\u200b" + KEY[10:], "non-ASCII"),
    ],
    ids=["bell", "inner-newline", "inner-space", "accent", "zero-width"],
)
async def test_unusable_key_in_config_is_a_config_error(
    registry: Registry, server: ScriptedServer, name: str, bad: str, words: str
) -> None:
    """A key with an inner control character, blank or non-ASCII letter is a ConfigError naming the key path."""
    before = len(server.requests)
    cd = make(registry, table(name, server.url, key=bad))
    try:
        with pytest.raises(ConfigError) as info:
            await _chat(cd, name)
    finally:
        await cd.aclose()
    message = str(info.value)
    assert f"providers.{name}.api_key" in message, message
    assert words in message, message
    assert "\n" not in message
    no_key_piece(_everything(info.value))
    assert len(server.requests) == before, "a request was sent with an unusable key"


@pytest.mark.anyio
@pytest.mark.parametrize("name", ["mistral", "gemini"])
async def test_unusable_key_in_environment_names_the_variable(
    registry: Registry, server: ScriptedServer, name: str
) -> None:
    """A key variable holding a non-ASCII or control character is a ConfigError naming the variable, not the value."""
    for bad in (KEY + "ü", KEY[:8] + "\x1b[2J" + KEY[8:]):
        cd = make(registry, table(name, server.url, key=None), env={_ENV[name]: bad})
        try:
            with pytest.raises(ConfigError) as info:
                await _chat(cd, name)
        finally:
            await cd.aclose()
        assert _ENV[name] in str(info.value), str(info.value)
        no_key_piece(_everything(info.value))


@pytest.mark.parametrize("name", ["mistral", "ollama"])
def test_cli_unusable_key_exits_2_without_the_key(
    fake_site: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any, server: ScriptedServer, name: str
) -> None:
    """``clawdesk chat`` with a key holding a control character: exit 2, one line naming the variable, no key."""
    config = write_config(tmp_path, table(name, server.url, key=None))
    monkeypatch.setenv("CLAWDESK_CONFIG", str(config))
    monkeypatch.setenv(_ENV[name], KEY[:12] + "\x01" + KEY[12:])
    for args in (["chat", "-m", f"{name}/{SPECS[name].model}", "--no-stream", "hi"], ["chat", "--json", "hi"]):
        result = fakedist.run_main(args, monkeypatch=monkeypatch, capsys=capsys)
        assert result.returncode == 2, result
        no_key_piece(result.stdout + result.stderr)
        assert _ENV[name] in result.stdout + result.stderr, result


@pytest.mark.anyio
@pytest.mark.parametrize("name", PROVIDERS)
@pytest.mark.parametrize("cut", [6, 10, 20])
async def test_echoed_key_cut_by_the_message_limit_leaves_no_prefix(
    registry: Registry, server: ScriptedServer, name: str, cut: int
) -> None:
    """A key echoed at the very end of an error message's length limit leaves no 6-character piece of itself."""
    # The message is cut to 300 characters; put the key so that `cut` of its characters fit.
    body = "x" * (299 - cut) + KEY + " is not a valid key"
    server.add(Reply.json({"error": {"message": body}, "message": body}, status=400))
    cd = make(registry, table(name, server.url))
    try:
        with pytest.raises(ProviderError) as info:
            await _chat(cd, name)
    finally:
        await cd.aclose()
    assert info.value.status == 400, str(info.value)
    no_key_piece(_everything(info.value))


def test_cli_json_error_with_an_echoed_key(
    fake_site: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any, server: ScriptedServer
) -> None:
    """``--json`` output of an error whose body echoes the key (cut or whole) holds no piece of it."""
    body = "y" * 290 + KEY + f" and again {KEY}"
    server.add(Reply.json({"message": body}, status=401))
    config = write_config(tmp_path, table("mistral", server.url))
    monkeypatch.setenv("CLAWDESK_CONFIG", str(config))
    result = fakedist.run_main(
        ["chat", "--json", "--no-stream", "-m", "mistral/mistral-small-latest", "hi"],
        monkeypatch=monkeypatch,
        capsys=capsys,
    )
    assert result.returncode == 1, result
    no_key_piece(result.stdout + result.stderr)
    assert "auth_failed" in result.stdout + result.stderr


@pytest.mark.anyio
@pytest.mark.parametrize("variable", ["HTTP_PROXY", "ALL_PROXY", "http_proxy"])
async def test_proxy_password_is_masked_and_the_dead_proxy_named(
    registry: Registry, server: ScriptedServer, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    """A dead proxy from the environment is named (by its variable, without its password), not the backend."""
    port = unused_port()
    password = "pr0xy-Secret-Hunter2"
    monkeypatch.setenv(variable, f"http://alice:{password}@127.0.0.1:{port}")
    cd = make(registry, table("mistral", server.url))
    try:
        with pytest.raises(ProviderError) as info:
            await _chat(cd, "mistral")
    finally:
        await cd.aclose()
    message = str(info.value)
    assert f"the proxy http://***@127.0.0.1:{port} (from {variable})" in message, message
    assert password not in _everything(info.value)
    assert "alice" not in message


@pytest.mark.parametrize(
    "host",
    ["ftp://bob:s3cr3t-Passw0rd@127.0.0.1:11434", "http://bob:s3cr3t-Passw0rd@127.0.0.1:11434"],
    ids=["bad-scheme", "credentials"],
)
def test_ollama_host_password_never_shown(
    fake_site: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any, host: str
) -> None:
    """An OLLAMA_HOST with a password that cannot be used: exit 2, one line, the password masked."""
    monkeypatch.setenv("OLLAMA_HOST", host)
    monkeypatch.setenv("CLAWDESK_CONFIG", str(write_config(tmp_path, "")))
    result = fakedist.run_main(
        ["chat", "-m", "ollama/llama3.2", "--no-stream", "hi"], monkeypatch=monkeypatch, capsys=capsys
    )
    assert result.returncode == 2, result
    assert "s3cr3t" not in result.stdout + result.stderr, result
    assert "OLLAMA_HOST" in result.stderr or "base_url" in result.stderr, result


def test_redaction_runs_before_cutting_in_every_message_helper() -> None:
    """The toolkit's message reader, given a body that echoes the key past its cut, keeps no prefix of it."""
    from clawdesk import Secret
    from clawdesk.provider import message_from_body

    Secret(KEY)
    for cut in range(1, len(KEY)):
        text = message_from_body(json.dumps({"message": "z" * (299 - cut) + KEY}).encode())
        assert KEY[:6] not in text, (cut, text[-40:])


@pytest.mark.anyio
@pytest.mark.parametrize("bad", [KEY[:9] + "\x01" + KEY[9:], KEY[:9] + "\u00e9" + KEY[9:], KEY + "\n"])
async def test_wire_refuses_an_unsendable_key_without_retrying_or_showing_it(server: ScriptedServer, bad: str) -> None:
    """A key that bypassed the config checks (a plugin's own credentials) is InvalidRequest at the toolkit, unshown."""
    import httpx

    from clawdesk import InvalidRequest, Secret
    from clawdesk.provider import ProviderConfig, Wire, bearer

    config = ProviderConfig(base_url=server.url, name="custom", timeout_secs=5)
    before = len(server.requests)
    async with httpx.AsyncClient() as http:
        wire = Wire(config, http, auth=bearer(Secret(bad)))
        with pytest.raises(InvalidRequest) as info:
            await wire.json("POST", "/chat", {"x": 1})
    assert info.value.retryable is False
    assert "API key" in str(info.value)
    no_key_piece(_everything(info.value))
    assert len(server.requests) == before


@pytest.mark.parametrize(
    ("saved", "status"), [(KEY + "\n", 0), (KEY[:8] + "\u00e9" + KEY[8:], 2)], ids=["newline", "accent"]
)
def test_saved_key_is_stripped_or_refused(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: Any,
    server: ScriptedServer,
    saved: str,
    status: int,
) -> None:
    """A key in the keys file (``clawdesk keys set``, or edited by hand) is stripped, or refused naming the provider."""
    from clawdesk._home import keys_path

    seen: list[str] = []

    def reply(request: RecordedRequest) -> Reply:
        seen.append(_sent_key(request, "mistral"))
        return Reply.json(
            {
                "id": "c1",
                "object": "chat.completion",
                "model": "m",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
            }
        )

    server.route("POST", "/v1/chat/completions", reply)
    keys_path().parent.mkdir(parents=True, exist_ok=True)
    keys_path().write_text(json.dumps({"mistral": saved}), encoding="utf-8")
    monkeypatch.setenv("CLAWDESK_CONFIG", str(write_config(tmp_path, table("mistral", server.url, key=None))))
    result = fakedist.run_main(
        ["chat", "--no-stream", "-m", "mistral/mistral-small-latest", "hi"], monkeypatch=monkeypatch, capsys=capsys
    )
    assert result.returncode == status, result.stderr
    no_key_piece(result.stdout + result.stderr)
    if status == 0:
        assert seen == [KEY]
    else:
        assert "the saved key of provider 'mistral'" in result.stderr
        assert seen == []
