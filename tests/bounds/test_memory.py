"""Memory bounds over real loopback HTTP: a whole body, a decompressed body and one stream event are read up
to a configurable cap, past which the call fails with a typed, non-retryable error; what a failed stream keeps
for ``StreamInterrupted.delivered`` is bounded too."""

from __future__ import annotations

import functools
import json
import tracemalloc
import zlib
from typing import Any

import pytest

import clawdesk
from clawdesk import AllProvidersFailed, ApiError, ConfigError, Registry, StreamInterrupted, TextDelta
from clawdesk.testing import Reply, ScriptedServer

from .conftest import (
    MISTRAL_MODEL,
    NDJSON,
    OLLAMA_MODEL,
    SSE,
    SSE_END,
    client,
    mistral_body,
    ollama_line,
    sse_frame,
    sse_reply,
)

pytestmark = pytest.mark.anyio

MiB = 1024 * 1024
#: What a bomb inflates to: far above every cap under test, small enough to build quickly.
BOMB_SIZE = 64 * MiB


@functools.cache
def gzip_of(prefix: bytes, filler: bytes) -> bytes:
    """``prefix`` followed by ``BOMB_SIZE`` bytes of ``filler``, gzip-compressed (about 64 KiB)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = filler * (MiB // len(filler))
    parts = [compressor.compress(prefix)]
    parts += [compressor.compress(block) for _ in range(BOMB_SIZE // MiB)]
    parts.append(compressor.flush())
    return b"".join(parts)


def last_error(exc: BaseException) -> BaseException:
    """The error of the last attempt when ``exc`` is AllProvidersFailed, else ``exc`` itself."""
    if isinstance(exc, AllProvidersFailed):
        error = exc.attempts[-1].error
        assert error is not None
        return error
    return exc


async def read_into(stream: clawdesk.ChatStream, seen: list[Any]) -> None:
    """Read ``stream`` to its end (or its error), keeping every event in ``seen``."""
    async with stream as events:
        async for event in events:
            seen.append(event)


def chat_requests(server: ScriptedServer, path: str) -> int:
    return sum(1 for r in list(server.requests) if r.path == path)


async def test_whole_body_over_the_cap_fails_typed_and_is_not_retried(
    server: ScriptedServer, registry: Registry
) -> None:
    """A non-streamed answer longer than providers.<name>.max_body_bytes is an ApiError naming the cap, sent once."""
    server.route("POST", "/v1/chat/completions", Reply.json(json.loads(mistral_body("x" * 200_000))))
    async with client(server, registry, max_body_bytes=65536, max_retries=2) as cd:
        with pytest.raises(Exception) as info:
            await cd.chat(f"mistral/{MISTRAL_MODEL}", "hi")
    error = last_error(info.value)
    assert isinstance(error, ApiError), repr(error)
    assert "max_body_bytes=65536" in str(error)
    assert not error.retryable
    assert chat_requests(server, "/v1/chat/completions") == 1


async def test_gzip_bomb_body_is_capped_while_it_is_decoded(server: ScriptedServer, registry: Registry) -> None:
    """A small gzip body that inflates to 64 MiB fails at the 1 MiB cap without ever holding much more."""
    bomb = gzip_of(b'{"id": "', b"\0")
    server.route(
        "POST",
        "/v1/chat/completions",
        Reply(headers=(("content-type", "application/json"), ("content-encoding", "gzip")), chunks=(bomb,)),
    )
    async with client(server, registry, max_body_bytes=MiB) as cd:
        tracemalloc.start()
        try:
            with pytest.raises(Exception) as info:
                await cd.chat(f"mistral/{MISTRAL_MODEL}", "hi")
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    error = last_error(info.value)
    assert isinstance(error, ApiError), repr(error)
    assert "max_body_bytes" in str(error)
    # httpx alone inflates each network read whole: 64 KiB of compressed zeros became 64 MiB at once.
    assert peak < 8 * MiB, f"peak {peak / MiB:.1f} MiB while reading a body capped at 1 MiB"


async def test_gzip_bomb_stream_is_capped_while_it_is_decoded(server: ScriptedServer, registry: Registry) -> None:
    """A gzip SSE stream whose one event inflates to 64 MiB fails at max_frame_bytes, holding little more."""
    bomb = gzip_of(b"data: ", b"a")
    server.route(
        "POST",
        "/v1/chat/completions",
        Reply(headers=(("content-type", SSE), ("content-encoding", "gzip")), chunks=(bomb,)),
    )
    async with client(server, registry, max_frame_bytes=MiB) as cd:
        tracemalloc.start()
        try:
            with pytest.raises(Exception) as info:
                await cd.stream(f"mistral/{MISTRAL_MODEL}", "hi").collect()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    error = last_error(info.value)
    assert isinstance(error, ApiError), repr(error)
    assert "max_frame_bytes" in str(error)
    assert not error.retryable
    assert peak < 12 * MiB, f"peak {peak / MiB:.1f} MiB while reading a stream capped at 1 MiB per event"


async def test_sse_event_over_the_cap_fails_typed(server: ScriptedServer, registry: Registry) -> None:
    """One SSE event (valid JSON) longer than max_frame_bytes, dripped in 4 KiB pieces, is an ApiError naming it."""
    frame = sse_frame("y" * 300_000)
    pieces = [frame[i : i + 4096] for i in range(0, len(frame), 4096)] + [SSE_END]
    server.route("POST", "/v1/chat/completions", sse_reply(pieces))
    async with client(server, registry, max_frame_bytes=65536) as cd:
        with pytest.raises(Exception) as info:
            await cd.stream(f"mistral/{MISTRAL_MODEL}", "hi").collect()
    error = last_error(info.value)
    assert isinstance(error, ApiError), repr(error)
    assert "max_event_bytes=65536" in str(error)
    assert "max_frame_bytes" in str(error)
    assert not error.retryable


async def test_ndjson_line_over_the_cap_fails_typed(server: ScriptedServer, registry: Registry) -> None:
    """One Ollama line (valid JSON) longer than max_frame_bytes is an ApiError naming the cap."""
    line = ollama_line("z" * 300_000)
    pieces = [line[i : i + 4096] for i in range(0, len(line), 4096)] + [ollama_line("", done=True)]
    server.route("POST", "/api/chat", Reply.stream(pieces, content_type=NDJSON))
    async with client(server, registry, provider="ollama", max_frame_bytes=65536) as cd:
        with pytest.raises(Exception) as info:
            await cd.stream(f"ollama/{OLLAMA_MODEL}", "hi").collect()
    error = last_error(info.value)
    assert isinstance(error, ApiError), repr(error)
    assert "max_line_bytes=65536" in str(error)
    assert "max_frame_bytes" in str(error)


async def test_delivered_events_are_bounded(server: ScriptedServer, registry: Registry) -> None:
    """A stream cut after 30 events keeps the first http.max_delivered_events of them and counts the rest."""
    pieces = [sse_frame(f"w{i} ") for i in range(30)]
    server.route("POST", "/v1/chat/completions", sse_reply(pieces, cut_after=30))
    seen: list[Any] = []
    async with client(server, registry, toml="[http]\nmax_delivered_events = 10\n") as cd:
        with pytest.raises(StreamInterrupted) as info:
            await read_into(cd.stream(f"mistral/{MISTRAL_MODEL}", "hi"), seen)
    error = info.value
    assert len(seen) >= 30
    assert len(error.delivered) == 10
    assert list(error.delivered) == seen[:10]
    assert error.dropped == len(seen) - 10
    assert f"after {len(seen)} events" in str(error)
    assert all(isinstance(e, TextDelta) for e in error.delivered[1:])


@pytest.mark.parametrize(
    ("toml", "path"),
    [
        ("[providers.mistral]\nmax_body_bytes = 10\n", "providers.mistral.max_body_bytes"),
        ("[providers.mistral]\nmax_frame_bytes = -1\n", "providers.mistral.max_frame_bytes"),
        ("[http]\nmax_delivered_events = 0\n", "http.max_delivered_events"),
        ("[http]\nmax_connections = 0\n", "http.max_connections"),
    ],
)
def test_caps_out_of_range_are_config_errors(toml: str, path: str, registry: Registry) -> None:
    """A cap too small to be usable is a ConfigError naming its key path."""

    def load() -> None:
        config = clawdesk.parse_config(toml)
        clawdesk.Clawdesk(registry=registry, config=config, env={}).provider_config("mistral")

    with pytest.raises(ConfigError, match=path.replace(".", r"\.")):
        load()
