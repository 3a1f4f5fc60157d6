"""The SSE decoder's ``max_event_bytes`` cap: events within it decode as without a cap, however the body is
cut into chunks; an event past it raises FrameTooLarge however it is cut; keep-alive comments cost nothing."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clawdesk.provider import FrameTooLarge
from clawdesk.sse import SSEDecoder

CAP = 64


def chunked(body: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(body) + 1) for c in cuts} | {0, len(body)})
    return [body[a:b] for a, b in itertools.pairwise(points)]


def feed_all(decoder: SSEDecoder, chunks: list[bytes]) -> None:
    for chunk in chunks:
        decoder.feed(chunk)


texts = st.text(alphabet="abc xyz", max_size=CAP - 8)


@given(st.lists(texts, max_size=8), st.lists(st.integers(min_value=0), max_size=12), st.integers(0, 4), st.booleans())
def test_events_within_the_cap_decode_as_without_one(
    data: list[str], cuts: list[int], comments: int, crlf: bool
) -> None:
    """Events no longer than the cap (with any number of keep-alive comments, LF or CRLF) give the uncapped data."""
    body = b"".join(b": keep-alive\n\n" * comments + f"data: {d}\n\n".encode() for d in data)
    if crlf:
        body = body.replace(b"\n", b"\r\n")
    capped, plain = SSEDecoder(max_event_bytes=CAP), SSEDecoder()
    got = [x for chunk in chunked(body, cuts) for x in capped.feed(chunk)]
    assert got == [x for chunk in chunked(body, cuts) for x in plain.feed(chunk)] == data


@given(st.integers(CAP + 1, 4 * CAP), st.lists(st.integers(min_value=0), max_size=12), st.booleans(), st.booleans())
def test_an_event_past_the_cap_raises_however_it_is_cut(size: int, cuts: list[int], lines: bool, crlf: bool) -> None:
    """An event longer than the cap, as one line or many, LF or CRLF, raises FrameTooLarge before it ends."""
    # As data lines, the data is "x\nx\n...x": two bytes a line.
    payload = b"data: x\n" * (size // 2 + 1) if lines else b"data: " + b"x" * size + b"\n"
    body = b"data: ok\n\n" + payload + b"\n"
    if crlf:
        # Whole CRLF events in one chunk take the decoder's fast path (Gemini's framing).
        body = body.replace(b"\n", b"\r\n")
    decoder = SSEDecoder(max_event_bytes=CAP)
    with pytest.raises(FrameTooLarge, match=f"max_event_bytes={CAP}"):
        feed_all(decoder, chunked(body, cuts))


def test_an_unending_comment_line_is_capped_too() -> None:
    """A comment line that never ends is held only up to the cap."""
    decoder = SSEDecoder(max_event_bytes=CAP)
    with pytest.raises(FrameTooLarge):
        feed_all(decoder, [b": xx"] * CAP)


def test_feed_events_honours_the_cap() -> None:
    """feed_events counts the same event size as feed."""
    decoder = SSEDecoder(max_event_bytes=CAP)
    with pytest.raises(FrameTooLarge):
        decoder.feed_events(b"event: e\ndata: " + b"x" * (CAP + 1) + b"\n")


def test_a_cap_below_one_is_refused() -> None:
    """max_event_bytes must be at least 1."""
    with pytest.raises(ValueError, match="max_event_bytes"):
        SSEDecoder(max_event_bytes=0)


@pytest.mark.parametrize("newline", [b"\n", b"\r\n"])
def test_a_whole_event_in_one_chunk_is_capped(newline: bytes) -> None:
    """An over-long event that arrives as one whole chunk (the decoder's fast path, LF or CRLF) still raises."""
    decoder = SSEDecoder(max_event_bytes=CAP)
    assert decoder.feed(b"data: ok" + newline * 2) == ["ok"]
    with pytest.raises(FrameTooLarge, match=f"max_event_bytes={CAP}"):
        decoder.feed(b"data: " + b"x" * (CAP + 1) + newline * 2)
