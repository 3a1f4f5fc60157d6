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
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

import clawdesk
from clawdesk import (
    AllProvidersFailed,
    ChatOptions,
    Finish,
    FinishReason,
    Registry,
    StreamInterrupted,
    TextDelta,
    TimedOut,
)
from clawdesk.provider import NDJSONDecoder, Wire, hookimpl
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


class _Sleeper:
    """A provider that reads no HTTP: one event, then a wait of 30 s before the next (its wire is its own)."""

    CLAWDESK_CONTRACT = 2

    @hookimpl
    def provider_name(self) -> str:
        return "sleeper"

    @hookimpl
    async def provider_models(self) -> list[Any]:
        return []

    @hookimpl
    def provider_capabilities(self, model: str) -> None:
        return None

    @hookimpl
    async def provider_chat(self, config: Any, http: Any, request: Any) -> Any:
        raise NotImplementedError  # never called: the tests stream

    @hookimpl
    def provider_stream(self, config: Any, http: Any, request: Any) -> AsyncIterator[Any]:
        return self._stream()

    async def _stream(self) -> AsyncIterator[Any]:
        yield TextDelta("first")
        await anyio.sleep(30)
        yield Finish(FinishReason.STOP)


async def test_a_stream_not_read_through_the_wire_keeps_the_engines_idle_limit() -> None:
    """A plugin that waits by other means than a wire's reads is still cut at the idle limit, by the engine."""
    registry = Registry(discover=False)
    registry.register(_Sleeper())
    config = clawdesk.parse_config('[providers.sleeper]\nbase_url = "http://127.0.0.1:9"\n' + IDLE_1S)
    async with clawdesk.Clawdesk(registry=registry, config=config, env={}) as cd:
        seen: list[Any] = []

        async def read() -> None:
            async with cd.stream("sleeper/m", "hi") as events:
                async for event in events:
                    seen.append(event)

        with pytest.raises(StreamInterrupted) as info:
            await read()
    assert [type(e) for e in seen] == [TextDelta]
    assert timed_out(info.value).limit == "idle"


async def test_a_wire_stream_takes_the_limits_over(server: ScriptedServer, registry: Registry) -> None:
    """A stream read through the wire enforces the engine's limits itself, so the engine asks for events unscoped."""
    server.add(sse_reply([sse_frame("a"), sse_frame("b"), SSE_END], delay=0.05))
    async with client(server, registry) as cd:
        claimed: list[tuple[type, list[bool]]] = []
        async with cd.stream(f"mistral/{MISTRAL_MODEL}", "hi") as events:
            async for event in events:
                claimed.append((type(event), [limits.claimed for limits in cd._streams]))
    # Claimed from the first event on (the text events are handed out from inside the wire's block).
    assert [held for kind, held in claimed if kind is TextDelta] == [[True], [True]], claimed
    assert not cd._streams


class _ReadsThenWaits(_Sleeper):
    """A provider that reads an NDJSON stream through the wire and waits as ``after`` says.

    ``"fetch"``: a wire request after the stream's block; ``"fetch-each"``: one after each event too (with no
    read in between) and one after the block; anything else: an event after the block, then a 30 s sleep.
    """

    def __init__(self, after: str) -> None:
        self.after = after

    @hookimpl
    def provider_name(self) -> str:
        return "reader"

    @hookimpl
    def provider_stream(self, config: Any, http: Any, request: Any) -> AsyncIterator[Any]:
        return self._read(config, http)

    async def _read(self, config: Any, http: Any) -> AsyncIterator[Any]:
        wire = Wire(config, http)
        lines = NDJSONDecoder()
        async with wire.stream("POST", "/chat", {}, end_marker="END") as reply:
            async for chunk in reply.chunks():
                for line in lines.feed(chunk):
                    if line == b"END":
                        reply.end()
                        break
                    yield TextDelta(line.decode())
                    if self.after == "fetch-each":
                        await wire.json("POST", "/usage", {})  # no read between the event and this request
                if reply.ended:
                    break
        if self.after in ("fetch", "fetch-each"):
            await wire.json("POST", "/usage", {})  # in the same step: the wire bounds it
        else:
            yield TextDelta("tail")
            await anyio.sleep(30)  # in the next step: the engine bounds it
        yield Finish(FinishReason.STOP)


@pytest.mark.parametrize("after", ["fetch", "yield-then-sleep"])
async def test_the_limits_hold_after_a_wire_stream_ends(server: ScriptedServer, after: str) -> None:
    """After its wire stream, a plugin's next request, or a wait after its next event, is cut at the idle limit."""
    server.add(Reply.stream([b"a\n", b"b\nEND\n"], content_type="application/x-ndjson"), Reply.stall())
    registry = Registry(discover=False)
    registry.register(_ReadsThenWaits(after))
    table = f'[providers.reader]\nbase_url = "{server.url}"\ntimeout_secs = 20\n'
    async with clawdesk.Clawdesk(registry=registry, config=clawdesk.parse_config(table + IDLE_1S), env={}) as cd:
        seen: list[Any] = []

        async def read() -> None:
            async with cd.stream("reader/m", "hi") as events:
                async for event in events:
                    seen.append(event)

        with pytest.raises(StreamInterrupted) as info:
            await read()
    assert [e.text for e in seen] == (["a", "b"] if after == "fetch" else ["a", "b", "tail"])
    assert timed_out(info.value).limit == "idle"


class _Silent(httpx.AsyncByteStream):
    """An SSE body of one event, then silence (an hour of it)."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield sse_frame("Hel")
        await anyio.sleep(3600)
        yield b": never\n\n"


async def test_the_idle_limit_holds_over_a_transport_that_times_no_reads(registry: Registry) -> None:
    """Through a transport of the caller's that applies no read timeout, every read is bounded by the wire instead."""

    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=_Silent())

    table = f'[providers.mistral]\napi_key = "{KEY}"\nbase_url = "http://127.0.0.1:9/v1"\nmax_retries = 0\n'
    table += "timeout_secs = 0.5\n"  # shorter than the idle limit: without a scope, a read here would never end
    config = clawdesk.parse_config(table + IDLE_1S)
    transport = httpx.MockTransport(handler)
    async with clawdesk.Clawdesk(registry=registry, config=config, env={}, transport=transport) as cd:
        with pytest.raises(StreamInterrupted) as info, anyio.fail_after(20):  # a hang fails the test
            await cd.stream(f"mistral/{MISTRAL_MODEL}", "hi").collect()
    assert timed_out(info.value).limit == "idle"


async def test_a_callers_pause_between_events_does_not_count_against_the_idle_limit(server: ScriptedServer) -> None:
    """A caller that takes 1.5 s over each event (idle limit 1 s) is not the stream's idleness: every request runs."""
    pieces = Reply.stream([b"a\n", b"b\n", b"END\n"], content_type="application/x-ndjson", delay=0.2)
    server.add(pieces)
    server.route("POST", "/usage", Reply.json({}))
    registry = Registry(discover=False)
    registry.register(_ReadsThenWaits("fetch-each"))
    table = f'[providers.reader]\nbase_url = "{server.url}"\ntimeout_secs = 20\n'
    async with clawdesk.Clawdesk(registry=registry, config=clawdesk.parse_config(table + IDLE_1S), env={}) as cd:
        seen: list[Any] = []
        async with cd.stream("reader/m", "hi") as events:
            async for event in events:
                seen.append(event)
                await anyio.sleep(1.5)
    assert [type(e) for e in seen] == [TextDelta, TextDelta, Finish]
    assert [r.path for r in server.requests] == ["/chat", "/usage", "/usage", "/usage"]


class _OpensASecondStream(_ReadsThenWaits):
    """A provider that, while its first stream is open, opens a second one after its first event."""

    async def _read(self, config: Any, http: Any) -> AsyncIterator[Any]:
        wire = Wire(config, http)
        async with wire.stream("POST", "/chat", {}, end_marker="END") as first:
            async for _chunk in first.chunks():
                yield TextDelta("a")
                async with wire.stream("POST", "/more", {}, end_marker="END") as second:
                    async for _more in second.chunks():
                        pass
                    second.end()
                first.end()
                break
        yield Finish(FinishReason.STOP)


async def test_a_second_stream_opened_mid_stream_waits_within_the_limits(server: ScriptedServer) -> None:
    """A stream opened while the first holds the limits, to a server that never answers, ends at the idle limit."""
    server.add(Reply.stream([b"a\n", b"END\n"], content_type="application/x-ndjson", delay=0.2))
    server.route("POST", "/more", Reply.stall())
    registry = Registry(discover=False)
    registry.register(_OpensASecondStream("fetch"))
    table = f'[providers.reader]\nbase_url = "{server.url}"\ntimeout_secs = 20\n'
    async with clawdesk.Clawdesk(registry=registry, config=clawdesk.parse_config(table + IDLE_1S), env={}) as cd:
        with pytest.raises(StreamInterrupted) as info, anyio.fail_after(15):
            await cd.stream("reader/m", "hi").collect()
    assert timed_out(info.value).limit == "idle"
