"""A representative part of the fault matrix again, on trio: classification and cleanup do not depend on asyncio."""

from __future__ import annotations

from typing import Any

import pytest

from clawdesk import ApiError, AuthFailed, ConnectionFailed, RateLimited, TimedOut, Truncated
from clawdesk.testing import Reply, unused_port

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("anyio_backend", ["trio"])]

PROVIDERS = ["mistral", "ollama"]
MODES = ["chat", "stream"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_trio_statuses(harness: Any, provider: str, mode: str) -> None:
    """On trio, 401, 429 with Retry-After and a 503 HTML page map as on asyncio."""
    wire = harness.wire(provider)
    outcome = await harness.run(provider, Reply.json({"detail": "Unauthorized"}, status=401), mode=mode)
    outcome.assert_error(AuthFailed, retryable=False, status=401)
    reply = Reply(
        status=429,
        headers=(("content-type", "application/json"), ("retry-after", "3")),
        chunks=(wire.error_json(429, "slow down"),),
    )
    outcome = await harness.run(provider, reply, mode=mode)
    error = outcome.assert_error(RateLimited, retryable=True, status=429)
    assert isinstance(error, RateLimited)
    assert error.retry_after == 3.0
    reply = Reply.text("<html><title>503</title></html>", status=503, content_type="text/html")
    outcome = await harness.run(provider, reply, mode=mode)
    outcome.assert_error(ApiError, retryable=True, status=503)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_trio_transport(harness: Any, provider: str, mode: str) -> None:
    """On trio, refused, reset and a silent server are classified and time out as on asyncio."""
    wire = harness.wire(provider)
    refused = f"http://127.0.0.1:{unused_port()}{wire.base_path}"
    outcome = await harness.run(provider, Reply(), mode=mode, base_url=refused)
    outcome.assert_error(ConnectionFailed, retryable=True)
    outcome = await harness.run(provider, Reply.reset(), mode=mode)
    outcome.assert_error(ConnectionFailed, retryable=True)
    outcome = await harness.run(provider, Reply.stall(), mode=mode)
    outcome.assert_error(TimedOut, retryable=True)
    assert outcome.elapsed >= outcome.timeout * 0.9


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_trio_streams(harness: Any, provider: str) -> None:
    """On trio, a good stream succeeds, a cut one is StreamInterrupted and an early exit releases the connection."""
    wire = harness.wire(provider)
    outcome = await harness.run(provider, wire.stream_reply(wire.stream_pieces(["a", "b"])), mode="stream")
    outcome.assert_ok(text="ab")
    reply = wire.stream_reply([wire.frame("a"), wire.frame("b"), b"", wire.frame("c")], delay=0.05, cut_after=3)
    outcome = await harness.run(provider, reply, mode="stream")
    outcome.assert_interrupted(delivered=2, cause=(Truncated,))
    reply = wire.stream_reply(wire.stream_pieces(["a", "b", "c"]), delay=0.02)
    outcome = await harness.run(provider, reply, mode="stream", limit_events=1)
    assert outcome.error is None
    assert len(outcome.events) == 1
    outcome.assert_hygiene()
    outcome = await harness.run(provider, wire.chat_reply("chat on trio"), mode="chat")
    outcome.assert_ok(text="chat on trio")
