"""Cancellation: a caller that gives up (an anyio cancel scope) stops the call at once and releases its connection.

Run on asyncio and on trio: cancellation is where the two differ most.
"""

from __future__ import annotations

from typing import Any

import pytest

from clawdesk.testing import Reply

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])]

PROVIDERS = ["mistral", "ollama"]
CANCEL = 0.15


def _scenario(wire: Any, name: str, mode: str) -> Reply:
    if name == "never_answers":
        return Reply.stall()
    if name == "headers_then_silence":
        return Reply.stall_after_headers(
            content_type=wire.stream_content_type if mode == "stream" else "application/json"
        )
    if name == "slow_body":
        if mode == "stream":
            return wire.stream_reply(wire.stream_pieces(["a", "b", "c", "d"]), delay=0.1)
        body = wire.chat_body("a slow answer")
        return Reply(headers=(("content-type", "application/json"),), chunks=tuple(bytes([b]) for b in body), delay=0.1)
    if name == "silence_mid_stream":
        return wire.stream_reply(wire.stream_pieces(["a", "b", "c"]), stall_after=1)
    raise AssertionError(name)


CASES = [
    ("never_answers", "chat"),
    ("never_answers", "stream"),
    ("headers_then_silence", "chat"),
    ("headers_then_silence", "stream"),
    ("slow_body", "chat"),
    ("slow_body", "stream"),
    ("silence_mid_stream", "stream"),
]


@pytest.mark.parametrize(("scenario", "mode"), CASES)
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_cancelled_call_stops_and_releases(harness: Any, provider: str, scenario: str, mode: str) -> None:
    """Cancelling a call mid-way ends it promptly (long before the timeout), raises nothing else, leaks nothing."""
    reply = _scenario(harness.wire(provider), scenario, mode)
    outcome = await harness.run(
        provider, reply, mode=mode, timeout=5.0, cancel_after=CANCEL, case=f"{provider} cancel {scenario}"
    )
    assert outcome.error is None, outcome.describe()
    assert outcome.cancelled, f"{outcome.describe()}: the call finished before it was cancelled"
    assert outcome.elapsed < CANCEL + 1.0, f"{outcome.describe()}: cancellation was not prompt"
    outcome.assert_hygiene(budget=CANCEL)
