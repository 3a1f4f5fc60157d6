"""Property-based faults over real HTTP: any error status with any body, and streams assembled from random frames.

- Any 4xx/5xx status with any body and content type maps by status alone
  (the table of :func:`clawdesk.http.error_for_status`; other 4xx are
  non-retryable ApiErrors, other 5xx retryable ones), in one clean line.
- A stream built from a random sequence of frames (text, the final frame, the
  end marker, keep-alives, malformed frames, error frames), cut into random
  HTTP chunks, ends exactly as a simple model of the wire format predicts:
  success with the text before the first end marker, or an error, after
  delivered text a StreamInterrupted holding exactly that text.
- Random bytes as a stream body never crash a plugin (no PluginError, nothing
  but ProviderErrors), never hang and never leak a connection.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from clawdesk import (
    ApiError,
    AuthFailed,
    InvalidRequest,
    ModelNotFound,
    PermissionDenied,
    PluginError,
    ProviderError,
    QuotaExceeded,
    RateLimited,
    StreamInterrupted,
    TextDelta,
    TimedOut,
    Truncated,
)
from clawdesk.testing import Reply

pytestmark = pytest.mark.anyio

PROVIDERS = ["mistral", "ollama"]
# Each example is a real HTTP exchange: keep the count modest; the module server is reused across examples.
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def expected_for(status: int) -> tuple[type[ProviderError], bool]:
    """The error class and retryable flag a status maps to, whatever the body."""
    table: dict[int, tuple[type[ProviderError], bool]] = {
        400: (InvalidRequest, False),
        413: (InvalidRequest, False),
        422: (InvalidRequest, False),
        401: (AuthFailed, False),
        402: (QuotaExceeded, False),
        403: (PermissionDenied, False),
        404: (ModelNotFound, False),
        408: (TimedOut, True),
        429: (RateLimited, True),
        409: (ApiError, True),
    }
    return table.get(status, (ApiError, status >= 500))


# Bodies that cannot trigger a provider-specific mapping by accident (Mistral's "invalid_model" type,
# Ollama's "does not support"): random bytes, random text, random JSON.
bodies = st.one_of(
    st.binary(max_size=3000),
    st.text(max_size=500).map(str.encode),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=40),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
        max_leaves=12,
    ).map(lambda v: json.dumps(v).encode()),
)
content_types = st.sampled_from([None, "application/json", "text/html", "text/plain", "application/octet-stream"])


@FUZZ
@given(
    status=st.integers(400, 599),
    body=bodies,
    content_type=content_types,
    provider=st.sampled_from(PROVIDERS),
    mode=st.sampled_from(["chat", "stream"]),
)
async def test_any_error_status_any_body(
    harness: Any, status: int, body: bytes, content_type: str | None, provider: str, mode: str
) -> None:
    """Any error status is classified by its status alone, whatever the body, in one line, leaking nothing.

    One exception by design: Ollama answers every error with a JSON {"error": ...} body, so a 404
    without one comes from a server that is not Ollama (ApiError saying so), not an unknown model.
    """
    headers = (("content-type", content_type),) if content_type else ()
    reply = Reply(status=status, headers=headers, chunks=(body,) if body else ())
    outcome = await harness.run(provider, reply, mode=mode, case=f"{provider} fuzz {status}")
    kind, retryable = expected_for(status)
    if provider == "ollama" and status == 404 and not _ollama_error_body(body):
        kind = ApiError
    outcome.assert_error(kind, retryable=retryable, status=status)
    assert len(str(outcome.error)) <= 1000


def _ollama_error_body(body: bytes) -> bool:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return False
    return isinstance(data, dict) and "error" in data


TOKENS = ["text", "final", "end", "keepalive", "malformed", "error"]


def _frames(wire: Any, tokens: list[tuple[str, str]]) -> bytes:
    keepalive = b": keep-alive\n\n" if wire.name == "mistral" else b"\n"
    out = []
    for token, text in tokens:
        out.append(
            {
                "text": lambda t=text: wire.frame(t),
                "final": wire.final_frame,
                "end": lambda: wire.end_marker() or wire.final_frame(),
                "keepalive": lambda: keepalive,
                "malformed": wire.malformed_frame,
                "error": lambda: wire.stream_error_frame("model crashed"),
            }[token]()
        )
    return b"".join(out)


def predict(provider: str, tokens: list[tuple[str, str]]) -> tuple[str, str]:
    """("ok" | "error" | "truncated", text delivered): a small model of each wire format's end-of-stream rules.

    "error" is a frame the backend got wrong (ApiError); "truncated" a body that ended before its end
    marker (Truncated, one error whatever the framing).
    """
    text = ""
    for token, piece in tokens:
        if token == "text":
            text += piece
        elif token in ("malformed", "error"):
            return "error", text
        elif token == "end" or (token == "final" and provider == "ollama"):
            # Ollama's final line is its end marker; Mistral's final chunk is not ([DONE] is).
            return "ok", text
    return "truncated", text


token_lists = st.lists(
    st.tuples(st.sampled_from(TOKENS), st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=8)),
    min_size=1,
    max_size=8,
)


@FUZZ
@given(tokens=token_lists, cuts=st.lists(st.integers(0, 4000), max_size=6), provider=st.sampled_from(PROVIDERS))
async def test_random_frame_sequences(
    harness: Any, tokens: list[tuple[str, str]], cuts: list[int], provider: str
) -> None:
    """A stream of random frames in random chunks ends exactly as the wire format's rules predict."""
    wire = harness.wire(provider)
    data = _frames(wire, tokens)
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True) if b > a]
    outcome = await harness.run(provider, wire.stream_reply(pieces), mode="stream", case=f"{provider} {tokens}")
    verdict, text = predict(provider, tokens)
    if verdict == "ok":
        outcome.assert_ok(text=text)
    elif text:
        assert isinstance(outcome.error, StreamInterrupted), outcome.describe()
        delivered = "".join(e.text for e in outcome.error.delivered if isinstance(e, TextDelta))
        assert delivered == text, f"{outcome.describe()}: delivered {delivered!r}, expected {text!r}"
        expected = Truncated if verdict == "truncated" else ApiError
        assert type(outcome.error.cause) is expected, outcome.describe()
        outcome.assert_hygiene()
    else:
        assert outcome.error is not None, f"{outcome.describe()}: expected an error"
        expected = Truncated if verdict == "truncated" else ApiError
        assert type(outcome.error) is expected, f"{outcome.describe()}: expected {expected.__name__}"
        if verdict == "truncated":
            assert outcome.error.retryable, outcome.describe()
        outcome.assert_hygiene()


@FUZZ
@given(
    body=st.binary(max_size=5000), cuts=st.lists(st.integers(0, 5000), max_size=4), provider=st.sampled_from(PROVIDERS)
)
async def test_random_bytes_as_stream(harness: Any, body: bytes, cuts: list[int], provider: str) -> None:
    """Random bytes under a 200 stream never crash a plugin, hang, or leave a connection checked out."""
    # Bytes that happen to spell a complete stream (its end marker and nothing else) are a success.
    assume(not re.fullmatch(rb"\s*data: ?\[DONE\]\s*", body))
    wire = harness.wire(provider)
    points = sorted({c % (len(body) + 1) for c in cuts})
    pieces = [body[a:b] for a, b in zip([0, *points], [*points, len(body)], strict=True) if b > a]
    outcome = await harness.run(provider, wire.stream_reply(pieces), mode="stream", case=f"{provider} random bytes")
    assert outcome.error is not None, f"{outcome.describe()}: random bytes were a successful stream"
    assert isinstance(outcome.error, ProviderError), f"{outcome.describe()}: not a ProviderError"
    assert not isinstance(outcome.error, PluginError), f"{outcome.describe()}: the plugin crashed"
    outcome.assert_hygiene()
