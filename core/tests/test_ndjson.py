"""clawdesk._wire._ndjson: the NDJSON line splitter, on hand-written cases, random chunk boundaries and its size cap."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clawdesk._wire._framing import DEFAULT_MAX_FRAME_BYTES, FrameTooLarge, FramingError
from clawdesk._wire._ndjson import NDJSONDecoder


def _split(stream: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted({c for c in cuts if 0 < c < len(stream)}), len(stream)]
    return [stream[a:b] for a, b in itertools.pairwise(bounds)]


def feed_all(stream: bytes, cuts: list[int] | None = None, *, flush: bool = True, **kw: int) -> list[bytes]:
    decoder = NDJSONDecoder(**kw)
    out: list[bytes] = []
    for chunk in _split(stream, cuts or []):
        out += decoder.feed(chunk)
    if flush:
        out += decoder.flush()
    return out


def expected_lines(stream: bytes) -> list[bytes]:
    """The reference reading: split at every \\n, drop one \\r before it, skip lines of only blanks."""
    lines = [line.removesuffix(b"\r") for line in stream.split(b"\n")]
    return [line for line in lines if line.strip(b" \t\r")]


def test_lines_without_their_newline() -> None:
    """Each line comes back without its \\n, in order, several per chunk."""
    assert feed_all(b'{"a":1}\n{"b":2}\n[3]\n') == [b'{"a":1}', b'{"b":2}', b"[3]"]


def test_crlf_line_ends() -> None:
    """One \\r right before the \\n is dropped; a \\r elsewhere is part of the line."""
    assert feed_all(b"a\r\nb\r\r\nc\rd\n") == [b"a", b"b\r", b"c\rd"]


def test_crlf_split_between_chunks() -> None:
    """A \\r at the end of one chunk and the \\n opening the next still make one CRLF."""
    decoder = NDJSONDecoder()
    assert decoder.feed(b"a\r") == []
    assert decoder.pending
    assert decoder.feed(b"\nb\r") == [b"a"]
    assert decoder.feed(b"\n") == [b"b"]
    assert not decoder.pending


def test_blank_lines_skipped() -> None:
    """Empty lines and lines of only spaces, tabs and \\r are skipped; other whitespace around a value is kept."""
    assert feed_all(b"\n\r\n \t \n{}\n\n  [1] \n\x0c\n") == [b"{}", b"  [1] ", b"\x0c"]


def test_unicode_line_separators_stay_in_the_line() -> None:
    """U+2028, U+2029, U+0085, VT and FF do not end a line (unlike str.splitlines)."""
    text = '{"t":"a\u2028b\u2029c\u0085d\x0be\x0cf"}'.encode()
    assert feed_all(text + b"\n" + text + b"\n") == [text, text]
    for cut in range(1, len(text)):
        assert feed_all(text + b"\n", [cut]) == [text]


def test_last_line_without_newline_comes_from_flush() -> None:
    """A final line with no \\n is pending after feed and returned (once) by flush, without a trailing \\r."""
    decoder = NDJSONDecoder()
    assert decoder.feed(b'{"a":1}\n{"done":true}') == [b'{"a":1}']
    assert decoder.pending
    assert decoder.flush() == [b'{"done":true}']
    assert not decoder.pending
    assert decoder.flush() == []
    decoder.feed(b"x\r")
    assert decoder.flush() == [b"x"]


def test_flush_of_blank_or_nothing() -> None:
    """flush returns nothing when no line is pending, or when the pending one is blank (but it still clears it)."""
    decoder = NDJSONDecoder()
    assert decoder.flush() == []
    decoder.feed(b"{}\n \t")
    assert decoder.pending
    assert decoder.flush() == []
    assert not decoder.pending


def test_empty_chunks_change_nothing() -> None:
    """An empty chunk returns nothing and leaves a pending line pending (it is not mistaken for a line)."""
    decoder = NDJSONDecoder()
    assert decoder.feed(b"") == []
    assert not decoder.pending
    decoder.feed(b"ab")
    assert decoder.feed(b"") == []
    assert decoder.feed(b"c\n") == [b"abc"]


def test_single_line_chunks_join_what_is_pending() -> None:
    """A chunk that is one whole line (the fast path) still completes what earlier chunks left pending."""
    decoder = NDJSONDecoder()
    assert decoder.feed(b'{"a"') == []
    assert decoder.feed(b":1}\n") == [b'{"a":1}']
    assert decoder.feed(b"[2]\n") == [b"[2]"]
    assert decoder.feed(b"\r\n") == []
    assert decoder.feed(b"\n") == []
    assert decoder.feed(b"[3]\r\n") == [b"[3]"]
    assert not decoder.pending


def test_lines_are_bytes_as_sent() -> None:
    """No decoding: invalid UTF-8 and a BOM come back as the bytes they were."""
    assert feed_all(b"\xef\xbb\xbf{}\n\xff\xfe\n") == [b"\xef\xbb\xbf{}", b"\xff\xfe"]


# -- property: chunk boundaries do not matter -------------------------------------

_line = st.binary(max_size=30).map(lambda b: b.replace(b"\n", b""))
_end = st.sampled_from([b"\n", b"\r\n", b"\n\n", b" \n"])


@st.composite
def _bodies(draw: st.DrawFn) -> bytes:
    """An NDJSON-ish body: arbitrary line bytes (with stray \\r, blanks, U+2028...), mixed ends, maybe no final \\n."""
    body = b"".join(draw(_line) + draw(_end) for _ in range(draw(st.integers(0, 8))))
    return body + draw(st.one_of(st.just(b""), _line))


@given(_bodies(), st.lists(st.integers(0, 300), max_size=15))
def test_same_lines_for_any_chunking(body: bytes, cuts: list[int]) -> None:
    """Cutting the body anywhere gives the same lines as the reference reading of the whole."""
    assert feed_all(body, cuts) == expected_lines(body)


@given(_bodies(), st.lists(st.integers(0, 300), max_size=15))
def test_pending_at_every_boundary(body: bytes, cuts: list[int]) -> None:
    """After each chunk, pending says exactly whether bytes follow the last \\n fed so far."""
    decoder = NDJSONDecoder()
    fed = b""
    for chunk in _split(body, cuts):
        decoder.feed(chunk)
        fed += chunk
        assert decoder.pending == bool(fed.rpartition(b"\n")[2])


@given(_bodies(), st.lists(st.integers(0, 300), max_size=15))
def test_lines_within_the_cap_are_unaffected_by_it(body: bytes, cuts: list[int]) -> None:
    """A cap equal to the longest line (its \\r included) changes nothing, whatever the chunking."""
    longest = max((len(piece) for piece in body.split(b"\n")), default=0)
    assert feed_all(body, cuts, max_line_bytes=max(longest, 1)) == expected_lines(body)


# -- the size cap ----------------------------------------------------------------------


@pytest.mark.parametrize("cuts", [[], [3], [5], [9], [10], [11], [3, 7]])
def test_cap_is_exact(cuts: list[int]) -> None:
    """A line of exactly max_line_bytes passes and one byte more raises, however the line is cut."""
    assert feed_all(b"0123456789\n", cuts, max_line_bytes=10) == [b"0123456789"]
    with pytest.raises(FrameTooLarge):
        feed_all(b"0123456789X\n", cuts, max_line_bytes=10)


def test_cap_counts_every_buffered_piece() -> None:
    """The cap counts what is already pending, whether it came alone or after a complete line, before the \\n."""
    decoder = NDJSONDecoder(max_line_bytes=10)
    assert decoder.feed(b"x" * 10) == []
    with pytest.raises(FrameTooLarge):
        decoder.feed(b"x")
    decoder = NDJSONDecoder(max_line_bytes=10)
    assert decoder.feed(b"{}\n" + b"y" * 6) == [b"{}"]
    assert decoder.feed(b"y" * 4) == []
    with pytest.raises(FrameTooLarge):
        decoder.feed(b"y")


def test_cap_applies_in_the_middle_of_a_chunk() -> None:
    """A too-long line between short ones in one chunk raises too."""
    with pytest.raises(FrameTooLarge):
        feed_all(b"{}\n" + b"x" * 11 + b"\n{}\n", max_line_bytes=10)
    with pytest.raises(FrameTooLarge):
        feed_all(b"{}\n" + b"x" * 11, flush=False, max_line_bytes=10)


@given(st.lists(st.integers(1, 400), min_size=1, max_size=40), st.integers(1, 2000))
def test_unended_line_raises_as_soon_as_it_passes_the_cap(sizes: list[int], cap: int) -> None:
    """A line that never ends raises from the very feed that takes it past the cap, so at most the cap is held."""
    decoder = NDJSONDecoder(max_line_bytes=cap)
    total = 0
    for size in sizes:
        total += size
        if total > cap:
            with pytest.raises(FrameTooLarge):
                decoder.feed(b"x" * size)
            return
        assert decoder.feed(b"x" * size) == []
    assert decoder.flush() == [b"x" * total]


def test_huge_line_at_the_default_cap() -> None:
    """A 4 MiB line in 4 KiB chunks is returned whole; one past the 16 MiB default raises before 17 MiB arrived."""
    piece = b"a" * 4096
    decoder = NDJSONDecoder()
    for _ in range(1024):
        assert decoder.feed(piece) == []
    assert decoder.feed(b"\n") == [piece * 1024]

    mib = b"b" * (1024 * 1024)
    decoder = NDJSONDecoder()
    for _ in range(DEFAULT_MAX_FRAME_BYTES // len(mib)):
        assert decoder.feed(mib) == []
    with pytest.raises(FrameTooLarge) as caught:
        decoder.feed(mib)  # the 17th MiB is refused
    message = str(caught.value)
    assert "max_line_bytes=16777216" in message
    assert "\n" not in message
    assert len(message) < 120  # a short excerpt of the line, not the line


def test_error_types() -> None:
    """FrameTooLarge is a FramingError is a ValueError; a cap below one byte is refused."""
    assert issubclass(FrameTooLarge, FramingError)
    assert issubclass(FramingError, ValueError)
    with pytest.raises(ValueError, match="max_line_bytes"):
        NDJSONDecoder(max_line_bytes=0)
