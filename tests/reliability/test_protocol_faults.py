"""Fault matrix, part 5: answers that break HTTP itself, or use its less common corners.

Written byte for byte with ``Reply.raw``: a peer that does not speak HTTP, an
invalid Content-Length, a broken chunk size, a header section over h11's
limit, a compressed body that does not decompress; and valid corners that must
work: a close-delimited body (no length, no chunking), a gzip-compressed
answer, an interim ``100 Continue`` before the real answer.
"""

from __future__ import annotations

import gzip
from typing import Any

import pytest

from clawdesk import ApiError, ConnectionFailed, Truncated
from clawdesk.testing import Reply

pytestmark = pytest.mark.anyio

PROVIDERS = ["mistral", "ollama"]
MODES = ["chat", "stream"]


def _body_and_type(wire: Any, mode: str, text: str = "Hello there") -> tuple[bytes, str]:
    if mode == "chat":
        return wire.chat_body(text), "application/json"
    return b"".join(wire.stream_pieces([text[:5], text[5:]])), wire.stream_content_type


def _head(status: int, *headers: str) -> bytes:
    return ("\r\n".join([f"HTTP/1.1 {status} X", *headers]) + "\r\n\r\n").encode("latin-1")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_peer_does_not_speak_http(harness: Any, provider: str, mode: str) -> None:
    """A peer answering with something that is not HTTP (an SSH banner) is a retryable ConnectionFailed."""
    outcome = await harness.run(provider, Reply.raw(b"SSH-2.0-OpenSSH_9.6\r\n"), mode=mode, case=f"{provider} ssh")
    outcome.assert_error(ConnectionFailed, retryable=True)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_invalid_content_length(harness: Any, provider: str, mode: str) -> None:
    """A Content-Length that is not a number is a protocol error: a retryable ConnectionFailed."""
    body, ctype = _body_and_type(harness.wire(provider), mode)
    reply = Reply.raw(_head(200, f"content-type: {ctype}", "content-length: lots") + body)
    outcome = await harness.run(provider, reply, mode=mode, case=f"{provider} bad content-length")
    outcome.assert_error(ConnectionFailed, retryable=True)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_header_section_too_large(harness: Any, provider: str, mode: str) -> None:
    """A header section over h11's limit is refused as a protocol error, not read forever."""
    body, ctype = _body_and_type(harness.wire(provider), mode)
    huge = "x-padding: " + "p" * (128 * 1024)
    reply = Reply.raw(_head(200, f"content-type: {ctype}", huge, f"content-length: {len(body)}") + body)
    outcome = await harness.run(provider, reply, mode=mode, case=f"{provider} huge headers")
    outcome.assert_error(ConnectionFailed, retryable=True)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_broken_chunk_size_mid_stream(harness: Any, provider: str) -> None:
    """A chunked stream whose next chunk size is garbage, after two events, is StreamInterrupted."""
    wire = harness.wire(provider)
    frames = [wire.frame("Hel"), wire.frame("lo")]
    chunks = b"".join(f"{len(f):x}\r\n".encode() + f + b"\r\n" for f in frames)
    head = _head(200, f"content-type: {wire.stream_content_type}", "transfer-encoding: chunked")
    reply = Reply.raw(head + chunks, b"zz\r\nnot a chunk\r\n", delay=0.05)
    outcome = await harness.run(provider, reply, mode="stream", case=f"{provider} bad chunk size")
    error = outcome.assert_interrupted(delivered=2, cause=(Truncated,))
    assert error.cause.retryable  # type: ignore[attr-defined]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_close_delimited_body(harness: Any, provider: str, mode: str) -> None:
    """A body with neither length nor chunking, ended by closing the connection, is valid HTTP/1.1: success."""
    body, ctype = _body_and_type(harness.wire(provider), mode)
    reply = Reply.raw(_head(200, f"content-type: {ctype}", "connection: close") + body)
    outcome = await harness.run(provider, reply, mode=mode, case=f"{provider} close-delimited")
    outcome.assert_ok(text="Hello there")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_interim_100_continue(harness: Any, provider: str, mode: str) -> None:
    """An interim ``100 Continue`` before the real answer is skipped, not taken for the answer."""
    body, ctype = _body_and_type(harness.wire(provider), mode)
    final = _head(200, f"content-type: {ctype}", f"content-length: {len(body)}", "connection: close") + body
    outcome = await harness.run(provider, Reply.raw(_head(100), final), mode=mode, case=f"{provider} 100-continue")
    outcome.assert_ok(text="Hello there")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_gzip_answer(harness: Any, provider: str, mode: str) -> None:
    """A gzip-compressed answer (``content-encoding: gzip``) is decompressed and used."""
    body, ctype = _body_and_type(harness.wire(provider), mode)
    packed = gzip.compress(body)
    reply = Reply(headers=(("content-type", ctype), ("content-encoding", "gzip")), chunks=(packed,))
    outcome = await harness.run(provider, reply, mode=mode, case=f"{provider} gzip")
    outcome.assert_ok(text="Hello there")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_gzip_that_does_not_decompress(harness: Any, provider: str, mode: str) -> None:
    """A 200 claiming gzip that is not gzip is a non-retryable ApiError (the answer cannot be read)."""
    _, ctype = _body_and_type(harness.wire(provider), mode)
    reply = Reply(headers=(("content-type", ctype), ("content-encoding", "gzip")), chunks=(b"this is not gzip",))
    outcome = await harness.run(provider, reply, mode=mode, case=f"{provider} broken gzip")
    outcome.assert_error(ApiError, retryable=False)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_error_status_with_broken_gzip_body(harness: Any, provider: str, mode: str) -> None:
    """A 503 whose error page claims gzip but is not still says 503: a retryable ApiError with that status."""
    reply = Reply(
        status=503,
        headers=(("content-type", "text/html"), ("content-encoding", "gzip")),
        chunks=(b"<html>busy</html>",),
    )
    outcome = await harness.run(provider, reply, mode=mode, case=f"{provider} 503 broken gzip")
    outcome.assert_error(ApiError, retryable=True, status=503)
