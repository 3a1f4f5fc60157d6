"""clawdesk.sse: the event-stream decoder, on hand-written cases and on random chunk boundaries."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from clawdesk.sse import DONE, ServerSentEvent, SSEDecoder, aiter_sse, aiter_sse_data


def feed_all(stream: bytes, cuts: list[int] | None = None) -> list[str]:
    decoder = SSEDecoder()
    out: list[str] = []
    bounds = sorted(set(cuts or []))
    start = 0
    for end in [*bounds, len(stream)]:
        out += decoder.feed(stream[start:end])
        start = end
    return out


def test_data_with_and_without_space() -> None:
    """One optional space after ``data:`` is removed, a second one is kept."""
    assert feed_all(b"data: a\n\ndata:b\n\ndata:  c\n\n") == ["a", "b", " c"]


def test_multiline_data_joined_with_newline() -> None:
    """Several data lines of one event are joined with a newline."""
    assert feed_all(b"data: one\ndata: two\ndata:\n\n") == ["one\ntwo\n"]


def test_comments_and_other_fields_ignored_by_feed() -> None:
    """Comments, event, id, retry and unknown fields do not become data."""
    stream = b": keep-alive\nevent: ping\nid: 7\nretry: 1000\nfoo: bar\ndata: x\n\n:\n\n"
    assert feed_all(stream) == ["x"]


def test_event_without_data_is_not_dispatched() -> None:
    """A blank line after only non-data fields dispatches nothing."""
    assert feed_all(b"event: ping\n\n\n\ndata: y\n\n") == ["y"]


def test_field_without_colon() -> None:
    """A bare ``data`` line is a data field with an empty value."""
    assert feed_all(b"data\ndata\n\n") == ["\n"]


def test_final_event_without_blank_line_is_dropped() -> None:
    """An event the body ended in the middle of is not dispatched, and ``pending`` says so."""
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n\ndata: [DONE]\n") == ["a"]
    assert decoder.pending
    decoder2 = SSEDecoder()
    decoder2.feed(b"data: a\n\n")
    assert not decoder2.pending


def test_line_endings_crlf_cr_lf() -> None:
    """CRLF, CR and LF all end lines, also mixed in one stream."""
    assert feed_all(b"data: a\r\n\r\ndata: b\r\rdata: c\n\n") == ["a", "b", "c"]


def test_crlf_split_between_chunks() -> None:
    """A CR at the end of one chunk and the LF starting the next are one line break."""
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\n\r") == ["a"]
    assert decoder.feed(b"\ndata: b\r\n\r\n") == ["b"]


def test_unicode_line_separators_are_data() -> None:
    """U+2028, U+0085 and form feeds inside data do not split lines (unlike str.splitlines)."""
    text = "a\u2028b\u0085c\x0cd"
    assert feed_all(f"data: {text}\n\n".encode()) == [text]


def test_bom_stripped_once() -> None:
    """A leading byte-order mark is dropped, even when split across chunks; a later one is kept."""
    stream = "\ufeffdata: a\n\n".encode()
    assert feed_all(stream, [1, 2]) == ["a"]
    assert feed_all(b"data: a\n\n" + "\ufeffdata: b\n\n".encode()) == ["a"]  # a BOM field name: unknown field


def test_invalid_utf8_replaced() -> None:
    """Bytes that are not UTF-8 become U+FFFD rather than raising."""
    assert feed_all(b"data: \xff\n\n") == ["\ufffd"]


def test_multibyte_char_split_across_chunks() -> None:
    """A UTF-8 character cut between chunks is decoded whole."""
    stream = "data: é€😀\n\n".encode()
    for cut in range(1, len(stream)):
        assert feed_all(stream, [cut]) == ["é€😀"]


def test_feed_events_reports_type_id_retry() -> None:
    """feed_events gives event type, last id (kept across events) and retry."""
    decoder = SSEDecoder()
    events = decoder.feed_events(b"event: add\nid: 1\nretry: 250\ndata: x\n\ndata: y\n\nid: a\0b\ndata: z\n\n")
    assert events == [
        ServerSentEvent("x", "add", "1", 250),
        ServerSentEvent("y", "message", "1", 250),
        ServerSentEvent("z", "message", "1", 250),
    ]


def test_retry_must_be_ascii_digits() -> None:
    """A retry value that is not all ASCII digits is ignored."""
    decoder = SSEDecoder()
    decoder.feed_events(b"retry: 12a\nretry: \xd9\xa3\ndata: x\n\n")
    assert decoder.retry is None


def test_decode_line() -> None:
    """decode_line applies already-split lines and returns the event a blank line completes."""
    decoder = SSEDecoder()
    assert decoder.decode_line("\ufeffdata: a") is None
    assert decoder.decode_line(": comment") is None
    assert decoder.decode_line("data: b") is None
    assert decoder.decode_line("") == ServerSentEvent("a\nb")
    assert decoder.decode_line("") is None


def test_done_is_plain_data() -> None:
    """[DONE] is reported as a payload equal to DONE, for the consumer to act on."""
    assert feed_all(b"data: {}\n\ndata: [DONE]\n\n") == ["{}", DONE]


# -- property: chunk boundaries do not matter -------------------------------------

_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
    max_size=20,
)
_line_end = st.sampled_from(["\n", "\r\n", "\r"])


@st.composite
def _streams(draw: st.DrawFn) -> tuple[bytes, list[str]]:
    """An event stream with random line ends, comments, fields and multi-line data, and its expected data."""
    pieces: list[str] = []
    expected: list[str] = []
    for _ in range(draw(st.integers(0, 6))):
        data_lines: list[str] = []
        for _ in range(draw(st.integers(0, 3))):
            kind = draw(st.sampled_from(["data", "data_nospace", "comment", "event", "id", "retry"]))
            value = draw(_text)
            end = draw(_line_end)
            if kind == "data":
                pieces.append(f"data: {value}{end}")
                data_lines.append(value)
            elif kind == "data_nospace":
                pieces.append(f"data:{value}{end}")
                data_lines.append(value[1:] if value.startswith(" ") else value)  # one leading space is syntax
            elif kind == "comment":
                pieces.append(f":{value}{end}")
            else:
                pieces.append(f"{kind}: {value}{end}")
        blank = draw(_line_end)
        if blank == "\n" and pieces and pieces[-1].endswith("\r"):
            blank = "\r\n"  # a lone LF right after a CR would be read as one CRLF break
        pieces.append(blank)
        if data_lines:
            expected.append("\n".join(data_lines))
    return "".join(pieces).encode(), expected


@given(_streams(), st.lists(st.integers(0, 400), max_size=12))
def test_same_events_for_any_chunking(case: tuple[bytes, list[str]], cuts: list[int]) -> None:
    """Cutting the byte stream anywhere gives the same data payloads as feeding it whole."""
    stream, expected = case
    assert feed_all(stream) == expected
    assert feed_all(stream, [c for c in cuts if c <= len(stream)]) == expected


@given(_streams(), st.lists(st.integers(0, 400), max_size=12))
def test_feed_and_feed_events_agree(case: tuple[bytes, list[str]], cuts: list[int]) -> None:
    """feed_events yields the same payloads as feed for the same stream and chunking."""
    stream, expected = case
    decoder = SSEDecoder()
    got: list[str] = []
    start = 0
    for end in [*sorted({c for c in cuts if c <= len(stream)}), len(stream)]:
        got += [e.data for e in decoder.feed_events(stream[start:end])]
        start = end
    assert got == expected


class _Chunks(httpx.AsyncByteStream):
    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self._chunks:
            yield piece


def _split(stream: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted({c for c in cuts if 0 < c < len(stream)}), len(stream)]
    return [stream[a:b] for a, b in itertools.pairwise(bounds) if b > a]


@pytest.mark.anyio
@given(case=_streams(), cuts=st.lists(st.integers(0, 400), max_size=12))
async def test_through_httpx_any_chunking(case: tuple[bytes, list[str]], cuts: list[int]) -> None:
    """Through a real httpx response whose body arrives in random chunks, aiter_sse_data gives the same payloads."""
    stream, expected = case
    chunks = _split(stream, cuts)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=_Chunks(chunks))

    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client,
        client.stream("GET", "http://sse.test/") as response,
    ):
        got = [data async for data in aiter_sse_data(response.aiter_bytes())]
    assert got == expected


@pytest.mark.anyio
async def test_aiter_sse_events() -> None:
    """aiter_sse yields whole events from body chunks."""

    async def body() -> AsyncIterator[bytes]:
        yield b"event: a\ndata: 1\n"
        yield b"\ndata: 2\n\n"

    events = [e async for e in aiter_sse(body())]
    assert events == [ServerSentEvent("1", "a"), ServerSentEvent("2")]


def test_single_event_chunks_respect_pending_state() -> None:
    """A chunk that is one whole ``data:`` event still joins what earlier chunks left pending."""
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n") == []
    assert decoder.feed(b"data: b\n\n") == ["a\nb"]
    assert decoder.feed(b"data: c") == []
    assert decoder.feed(b"data: d\n\n") == ["cdata: d"]
    assert decoder.feed(b"data: e\r") == []
    assert decoder.feed(b"\ndata: f\n\n") == ["e\nf"]
    assert decoder.feed(b"event: x\n") == []
    assert decoder.feed(b"data: g\n\n") == ["g"]
    assert decoder.feed_events(b"data: h\n\n") == [ServerSentEvent("h")]


def test_single_named_event_chunks() -> None:
    """A chunk that is one whole ``event:``/``data:`` event gives its data, and joins what was pending before."""
    decoder = SSEDecoder()
    assert decoder.feed(b"event: message_start\ndata: {}\n\n") == ["{}"]
    assert decoder.feed(b"event: a\ndata: x\ndata: y\n\n") == ["x\ny"]
    assert decoder.feed(b"event: b\n\n") == []
    assert decoder.feed(b"data: c\n") == []
    assert decoder.feed(b"event: d\ndata: e\n\n") == ["c\ne"]
    assert decoder.feed(b"event: f\nid: 7\n\n") == []
    assert decoder.feed_events(b"event: g\ndata: h\n\n") == [ServerSentEvent("h", "g", "7")]


def test_single_crlf_event_chunks() -> None:
    """A chunk that is one whole ``data:`` event with CRLF line ends (Gemini's) gives its data, as the slow path."""
    decoder = SSEDecoder()
    assert decoder.feed(b'data: {"a":1}\r\n\r\n') == ['{"a":1}']
    assert decoder.feed(b"data: x\r\ndata: y\r\n\r\n") == ["x\ny"]
    assert decoder.feed(b"data: a\rb\r\n\r\n") == ["a"]  # a lone CR ends a line: "b" is a field, ignored
    assert decoder.feed(b"data: c\r") == []
    assert decoder.feed(b"\ndata: d\r\n\r\n") == ["c\nd"]
    assert decoder.feed(b"data: e\r\n") == []
    assert decoder.feed(b"data: f\r\n\r\n") == ["e\nf"]
    assert decoder.feed(b"data: g\r") == []
    assert decoder.feed(b"\n\r\n") == ["g"]
    assert decoder.feed(b"data: h\r\n\r\n") == ["h"]


@st.composite
def _event_chunks(draw: st.DrawFn) -> list[bytes]:
    """A stream as a list of chunks, each one whole event (as servers flush them), with random line ends."""
    chunks = []
    for _ in range(draw(st.integers(1, 6))):
        lines = [f"data: {draw(_text)}" for _ in range(draw(st.integers(0, 2)))]
        if draw(st.booleans()):
            lines.insert(0, f"event: {draw(_text)}")
        end = draw(_line_end)
        chunks.append("".join(line + end for line in lines).encode() + end.encode())
    return chunks


@given(_event_chunks())
def test_event_per_chunk_same_as_whole(chunks: list[bytes]) -> None:
    """Feeding one event per chunk (the decoder's fast paths) gives the data that feeding the stream whole gives."""
    decoder = SSEDecoder()
    per_chunk = [data for chunk in chunks for data in decoder.feed(chunk)]
    assert per_chunk == feed_all(b"".join(chunks))
