"""Time bounds over real loopback HTTP: a server that drips a byte at a time or sends only keep-alives cannot
hold a call forever. The idle limit (http.idle_timeout_secs) counts events, not bytes; the call's overall
timeout (ChatOptions.timeout, http.call_timeout_secs, ``clawdesk chat --timeout``) covers a whole stream; Ollama's
first_byte_timeout_secs bounds a whole non-streamed answer as its docs say. Each failure is a TimedOut whose
``limit`` names the limit that fired.

The servers below would keep going for 20 s or more; every limit under test is 1 s, so a call that ends with
the expected error ended because of the limit (no timing is asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from clawdesk import AllProvidersFailed, ChatOptions, Registry, StreamInterrupted, TimedOut
from clawdesk.testing import Reply, ScriptedServer

from .conftest import (
    KEY,
    MISTRAL_MODEL,
    NDJSON,
    OLLAMA_MODEL,
    SSE_END,
    client,
    mistral_body,
    ollama_line,
    sse_frame,
    sse_reply,
)

pytestmark = pytest.mark.anyio

CLI = (sys.executable, "-m", "clawdesk")
IDLE_1S = "[http]\nidle_timeout_secs = 1\n"


def timed_out(exc: BaseException) -> TimedOut:
    """The TimedOut behind ``exc`` (the last attempt of AllProvidersFailed, or StreamInterrupted's cause)."""
    if isinstance(exc, AllProvidersFailed):
        error = exc.attempts[-1].error
        assert error is not None
        exc = error
    if isinstance(exc, StreamInterrupted):
        exc = exc.cause
    assert isinstance(exc, TimedOut), repr(exc)
    return exc


async def test_sse_keep_alive_comments_do_not_reset_the_idle_limit(server: ScriptedServer, registry: Registry) -> None:
    """A stream of nothing but SSE comments (20 s of them) fails with TimedOut(limit="idle") at the idle limit."""
    server.route("POST", "/v1/chat/completions", sse_reply([b": keep-alive\n\n"] * 400, delay=0.05))
    async with client(server, registry, toml=IDLE_1S) as cd:
        with pytest.raises(AllProvidersFailed) as info:
            await cd.stream(f"mistral/{MISTRAL_MODEL}", "hi").collect()
    error = timed_out(info.value)
    assert error.limit == "idle"
    assert "http.idle_timeout_secs" in str(error)


async def test_ndjson_blank_lines_do_not_reset_the_idle_limit(server: ScriptedServer, registry: Registry) -> None:
    """An Ollama stream that sends one event, then only blank lines, is interrupted by the idle limit."""
    pieces = [ollama_line("Hel")] + [b"\n"] * 400
    server.route("POST", "/api/chat", Reply.stream(pieces, content_type=NDJSON, delay=0.05))
    async with client(server, registry, provider="ollama", toml=IDLE_1S) as cd:
        with pytest.raises(StreamInterrupted) as info:
            await cd.stream(f"ollama/{OLLAMA_MODEL}", "hi").collect()
    assert [e.text for e in info.value.delivered] == ["Hel"]
    assert timed_out(info.value).limit == "idle"


async def test_a_body_dripped_byte_by_byte_is_bounded(server: ScriptedServer, registry: Registry) -> None:
    """A whole answer dripped a byte every 50 ms (each read well within timeout_secs) ends at the idle limit."""
    body = mistral_body("Hello there, very slowly")
    reply = Reply(headers=(("content-type", "application/json"),), chunks=[bytes([b]) for b in body], delay=0.05)
    server.route("POST", "/v1/chat/completions", reply)
    async with client(server, registry, toml=IDLE_1S) as cd:
        with pytest.raises(AllProvidersFailed) as info:
            await cd.chat(f"mistral/{MISTRAL_MODEL}", "hi")
    assert timed_out(info.value).limit == "idle"


async def test_chat_options_timeout_covers_a_whole_stream(server: ScriptedServer, registry: Registry) -> None:
    """ChatOptions.timeout ends a stream that keeps delivering events (every 100 ms for 20 s) as a whole."""
    server.route("POST", "/v1/chat/completions", sse_reply([sse_frame("w ")] * 200 + [SSE_END], delay=0.1))
    async with client(server, registry) as cd:
        with pytest.raises(StreamInterrupted) as info:
            await cd.stream(f"mistral/{MISTRAL_MODEL}", "hi", ChatOptions(timeout=1)).collect()
    error = timed_out(info.value)
    assert error.limit == "call"
    assert "the call's timeout" in str(error)
    assert 0 < len(info.value.delivered) < 200


async def test_http_call_timeout_secs_is_the_default(server: ScriptedServer, registry: Registry) -> None:
    """[http] call_timeout_secs applies to a call that sets no timeout of its own, and names itself."""
    server.route("POST", "/v1/chat/completions", sse_reply([sse_frame("w ")] * 200 + [SSE_END], delay=0.1))
    async with client(server, registry, toml="[http]\ncall_timeout_secs = 1\n") as cd:
        with pytest.raises(StreamInterrupted) as info:
            await cd.stream(f"mistral/{MISTRAL_MODEL}", "hi").collect()
    error = timed_out(info.value)
    assert error.limit == "call"
    assert "http.call_timeout_secs" in str(error)


async def test_events_reset_the_idle_limit(server: ScriptedServer, registry: Registry) -> None:
    """A stream whose events come more often than the idle limit runs past it to its end."""
    server.route("POST", "/v1/chat/completions", sse_reply([sse_frame("w ")] * 15 + [SSE_END], delay=0.1))
    async with client(server, registry, toml=IDLE_1S) as cd:
        response = await cd.stream(f"mistral/{MISTRAL_MODEL}", "hi").collect()
    assert response.message.text == "w " * 15


async def test_ollama_first_byte_timeout_bounds_a_whole_answer(server: ScriptedServer, registry: Registry) -> None:
    """Ollama's first_byte_timeout_secs bounds a whole non-streamed answer (as documented), dripped or not."""
    line = ollama_line("Hello there, slowly", done=True)
    reply = Reply(headers=(("content-type", "application/json"),), chunks=[bytes([b]) for b in line], delay=0.05)
    server.route("POST", "/api/chat", reply)
    async with client(server, registry, provider="ollama", first_byte_timeout_secs=1.0) as cd:
        with pytest.raises(AllProvidersFailed) as info:
            await cd.chat(f"ollama/{OLLAMA_MODEL}", "hi", ChatOptions())
    error = timed_out(info.value)
    assert error.limit == "first_byte"
    assert "first_byte_timeout_secs" in str(error)


def test_cli_timeout_flag_ends_a_stalled_stream(server: ScriptedServer, tmp_path: Path) -> None:
    """`clawdesk chat --timeout 1` against a stream of keep-alives exits 1 with one line naming the timeout."""
    server.route("POST", "/v1/chat/completions", sse_reply([b": keep-alive\n\n"] * 400, delay=0.05))
    config = tmp_path / "config.toml"
    table: dict[str, Any] = {"base_url": server.url + "/v1", "max_retries": 0, "verify_tls": False}
    config.write_text("[providers.mistral]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in table.items()))
    env = {**os.environ, "MISTRAL_API_KEY": KEY, "CLAWDESK_PLUGINS": "mistral"}
    done = subprocess.run(
        [*CLI, "--config", str(config), "chat", "--no-log", "-m", f"mistral/{MISTRAL_MODEL}", "--timeout", "1", "hi"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "timeout" in done.stderr
    assert "the call's timeout" in done.stderr
    assert "Traceback" not in done.stderr


def test_cli_timeout_flag_refuses_nonsense(tmp_path: Path) -> None:
    """`--timeout 0` or `--timeout soon` is a one-line usage error (exit 2), before anything is sent."""
    env = {**os.environ, "MISTRAL_API_KEY": KEY, "CLAWDESK_PLUGINS": "mistral"}
    for value in ("0", "soon", "nan"):
        done = subprocess.run(
            [*CLI, "chat", "--no-log", "-m", "mistral/x", "--timeout", value, "hi"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert done.returncode == 2, done.stderr
        assert "--timeout" in done.stderr
        assert "Traceback" not in done.stderr


async def test_the_idle_limit_never_cuts_a_providers_own_first_byte_wait(
    server: ScriptedServer, registry: Registry
) -> None:
    """A whole answer that takes longer than the idle limit but less than first_byte_timeout_secs is a success."""
    reply = Reply(headers=(("content-type", "application/json"),), chunks=(ollama_line("late", done=True),), delay=1.5)
    server.route("POST", "/api/chat", reply)
    async with client(server, registry, provider="ollama", first_byte_timeout_secs=5.0, toml=IDLE_1S) as cd:
        response = await cd.chat(f"ollama/{OLLAMA_MODEL}", "hi")
    assert response.message.text == "late"
