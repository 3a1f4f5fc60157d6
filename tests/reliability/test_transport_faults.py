"""Fault matrix, part 2: transport faults through both plugins, for chat and for stream.

Connection refused, a reset before any byte, a body cut (FIN) or reset (RST)
part-way, a server that accepts and never answers, one that sends headers and
stalls, one that stalls mid-stream, and a slow drip that stays under the
per-read timeout (which must succeed). Every failure is retryable when nothing
reached the caller; once stream events were delivered it is a
StreamInterrupted holding them (never retried: the caller has part of an answer).
"""

from __future__ import annotations

from typing import Any

import pytest

from clawdesk import ConnectionFailed, TimedOut, Truncated
from clawdesk.testing import Reply, unused_port

pytestmark = pytest.mark.anyio

PROVIDERS = ["mistral", "ollama"]
MODES = ["chat", "stream"]
#: Seconds between dripped pieces: well under the per-read timeout of the cases.
DRIP = 0.08


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_connection_refused(harness: Any, provider: str, mode: str) -> None:
    """Nothing listening is a retryable ConnectionFailed naming the address tried."""
    port = unused_port()
    base_url = f"http://127.0.0.1:{port}{harness.wire(provider).base_path}"
    outcome = await harness.run(provider, Reply(), mode=mode, base_url=base_url, case=f"{provider} refused")
    error = outcome.assert_error(ConnectionFailed, retryable=True)
    assert f"127.0.0.1:{port}" in str(error), f"{outcome.describe()}: the URL tried is not named"


@pytest.mark.parametrize("mode", MODES)
async def test_ollama_refused_says_how_to_fix(harness: Any, mode: str) -> None:
    """Ollama not running is the common case: the message suggests starting it."""
    outcome = await harness.run(
        "ollama", Reply(), mode=mode, base_url=f"http://127.0.0.1:{unused_port()}", case="ollama refused"
    )
    error = outcome.assert_error(ConnectionFailed, retryable=True)
    detail = error.detail.lower()
    assert "ollama" in detail, f"{outcome.describe()}: Ollama is not named"
    assert any(word in detail for word in ("start", "serve", "running")), f"{outcome.describe()}: no hint to start it"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_reset_before_headers(harness: Any, provider: str, mode: str) -> None:
    """A connection reset before any byte of the answer is a retryable ConnectionFailed."""
    outcome = await harness.run(provider, Reply.reset(), mode=mode, case=f"{provider} reset before headers")
    outcome.assert_error(ConnectionFailed, retryable=True)
    assert outcome.requests == 1


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_accepts_and_never_answers(harness: Any, provider: str, mode: str) -> None:
    """A server that reads the request and never answers gives a retryable TimedOut when the timeout is up."""
    outcome = await harness.run(provider, Reply.stall(), mode=mode, case=f"{provider} never answers")
    outcome.assert_error(TimedOut, retryable=True)
    assert outcome.elapsed >= outcome.timeout * 0.9, f"{outcome.describe()}: gave up before the timeout"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_headers_then_stall(harness: Any, provider: str, mode: str) -> None:
    """Headers followed by silence is a retryable TimedOut (no event was delivered)."""
    wire = harness.wire(provider)
    content_type = wire.stream_content_type if mode == "stream" else "application/json"
    reply = Reply.stall_after_headers(content_type=content_type)
    outcome = await harness.run(provider, reply, mode=mode, case=f"{provider} headers then stall")
    outcome.assert_error(TimedOut, retryable=True)
    assert outcome.elapsed >= outcome.timeout * 0.9, f"{outcome.describe()}: gave up before the timeout"


@pytest.mark.parametrize("reset", [False, True], ids=["fin", "rst"])
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_chat_body_cut(harness: Any, provider: str, reset: bool) -> None:
    """A chat body cut part-way (clean close or reset) is a retryable Truncated, never a parsed half."""
    body = harness.wire(provider).chat_body("Hello there")
    half = len(body) // 2
    # The empty piece only waits DRIP seconds, so the first half surely arrives before the cut.
    reply = Reply(
        headers=(("content-type", "application/json"),),
        chunks=(body[:half], b"", body[half:]),
        delay=DRIP,
        cut_after=2,
        reset_on_cut=reset,
    )
    outcome = await harness.run(provider, reply, mode="chat", case=f"{provider} chat body cut ({reset=})")
    outcome.assert_error(Truncated, retryable=True)


@pytest.mark.parametrize("reset", [False, True], ids=["fin", "rst"])
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_stream_cut_mid_body(harness: Any, provider: str, reset: bool) -> None:
    """A stream whose connection drops after two events is StreamInterrupted holding both, caused by Truncated."""
    wire = harness.wire(provider)
    pieces = [wire.frame("Hel"), wire.frame("lo"), b"", wire.frame(" there"), wire.final_frame()]
    reply = wire.stream_reply(pieces, delay=DRIP, cut_after=3, reset_on_cut=reset)
    outcome = await harness.run(provider, reply, mode="stream", case=f"{provider} stream cut ({reset=})")
    outcome.assert_interrupted(delivered=2, cause=(Truncated,))


@pytest.mark.parametrize("reset", [False, True], ids=["fin", "rst"])
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_stream_cut_before_first_event(harness: Any, provider: str, reset: bool) -> None:
    """A stream dropped after its headers, before any event, is a plain retryable Truncated (the answer had begun)."""
    wire = harness.wire(provider)
    reply = wire.stream_reply([b"", wire.frame("never")], delay=DRIP, cut_after=1, reset_on_cut=reset)
    outcome = await harness.run(provider, reply, mode="stream", case=f"{provider} stream cut at start ({reset=})")
    outcome.assert_error(Truncated, retryable=True)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_stream_stalls_mid_stream(harness: Any, provider: str) -> None:
    """A stream that goes silent after two events ends, at the read timeout, as StreamInterrupted by TimedOut."""
    wire = harness.wire(provider)
    pieces = [wire.frame("Hel"), wire.frame("lo"), wire.frame(" there"), wire.final_frame()]
    reply = wire.stream_reply(pieces, stall_after=2)
    outcome = await harness.run(provider, reply, mode="stream", case=f"{provider} stream stalls")
    outcome.assert_interrupted(delivered=2, cause=(TimedOut,))
    assert outcome.elapsed >= outcome.timeout * 0.9, f"{outcome.describe()}: gave up before the timeout"


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_chat_slow_drip_succeeds(harness: Any, provider: str) -> None:
    """A chat body dripped in small pieces, each well within the read timeout, is a success."""
    body = harness.wire(provider).chat_body("Hello there, slowly")
    size = len(body) // 8 + 1
    pieces = tuple(body[i : i + size] for i in range(0, len(body), size))
    reply = Reply(headers=(("content-type", "application/json"),), chunks=pieces, delay=DRIP)
    # Ollama's first_byte_timeout_secs bounds a whole non-streamed answer (as its docs say): left at its
    # default here, so that only the per-read timeout is in play (tests/bounds covers the whole-answer bound).
    outcome = await harness.run(
        provider, reply, mode="chat", case=f"{provider} chat drip", first_byte_timeout_secs=None
    )
    outcome.assert_ok(text="Hello there, slowly", budget=len(pieces) * DRIP + outcome.timeout)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_stream_slow_drip_succeeds(harness: Any, provider: str) -> None:
    """Stream frames dripped one at a time, each within the read timeout, arrive whole and in order."""
    wire = harness.wire(provider)
    texts = ["The ", "quick ", "brown ", "fox ", "jumps."]
    pieces = wire.stream_pieces(texts)
    reply = wire.stream_reply(pieces, delay=DRIP)
    outcome = await harness.run(provider, reply, mode="stream", case=f"{provider} stream drip")
    outcome.assert_ok(text="".join(texts), budget=len(pieces) * DRIP + outcome.timeout)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_stream_frame_split_across_drips(harness: Any, provider: str) -> None:
    """Frames split byte-wise across slow pieces (within the timeout) are reassembled, not rejected."""
    wire = harness.wire(provider)
    data = b"".join(wire.stream_pieces(["split ", "frames"]))
    size = len(data) // 6 + 1
    reply = wire.stream_reply([data[i : i + size] for i in range(0, len(data), size)], delay=DRIP)
    outcome = await harness.run(provider, reply, mode="stream", case=f"{provider} split drip")
    outcome.assert_ok(text="split frames", budget=8 * DRIP + outcome.timeout)


async def test_ollama_first_byte_timeout_is_its_own(harness: Any) -> None:
    """Ollama waits ``first_byte_timeout_secs`` (a model may be loading) for the answer to start."""
    outcome = await harness.run(
        "ollama", Reply.stall(), mode="chat", timeout=0.2, first_byte_timeout_secs=0.8, case="ollama first byte"
    )
    outcome.assert_error(TimedOut, retryable=True, budget=0.8)
    assert outcome.elapsed >= 0.7, f"{outcome.describe()}: gave up before first_byte_timeout_secs"


async def test_ollama_read_timeout_after_first_byte(harness: Any) -> None:
    """Once the answer has started, Ollama's reads use ``timeout_secs`` again, not the longer first-byte wait."""
    wire = harness.wire("ollama")
    reply = wire.stream_reply(wire.stream_pieces(["a", "b"]), stall_after=1)
    outcome = await harness.run(
        "ollama", reply, mode="stream", timeout=0.2, first_byte_timeout_secs=3.0, case="ollama read after first byte"
    )
    outcome.assert_interrupted(delivered=1, cause=(TimedOut,), budget=0.2)
