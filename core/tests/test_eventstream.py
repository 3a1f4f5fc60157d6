"""clawdesk._wire._eventstream: the AWS event-stream decoder and encoder, checked against botocore as an oracle."""

from __future__ import annotations

import itertools
import json
import struct
import uuid
from binascii import crc32
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.eventstream import EventStreamBuffer
from hypothesis import given
from hypothesis import strategies as st

from clawdesk._wire._eventstream import (
    EventStreamDecoder,
    EventStreamMessage,
    EventStreamTimestamp,
    HeaderValue,
    encode_event_stream_message,
)
from clawdesk._wire._framing import DEFAULT_MAX_FRAME_BYTES, FrameTooLarge, FramingError

# -- helpers ---------------------------------------------------------------------------


def _split(stream: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted({c for c in cuts if 0 < c < len(stream)}), len(stream)]
    return [stream[a:b] for a, b in itertools.pairwise(bounds)]


def decode_all(stream: bytes, cuts: list[int] | None = None, **kw: int) -> list[EventStreamMessage]:
    decoder = EventStreamDecoder(**kw)
    out: list[EventStreamMessage] = []
    for chunk in _split(stream, cuts or []):
        out += decoder.feed(chunk)
    assert not decoder.pending
    return out


def botocore_decode(chunks: list[bytes]) -> list[tuple[dict[str, Any], bytes]]:
    """What botocore's own decoder makes of the same chunks."""
    buffer = EventStreamBuffer()
    out: list[tuple[dict[str, Any], bytes]] = []
    for chunk in chunks:
        buffer.add_data(chunk)
        out += [(message.headers, message.payload) for message in buffer]
    return out


def as_botocore(message: EventStreamMessage) -> tuple[dict[str, Any], bytes]:
    """Our message in botocore's terms: it gives timestamps as int milliseconds and UUIDs as their 16 bytes."""
    headers: dict[str, Any] = {}
    for name, value in message.headers.items():
        if isinstance(value, EventStreamTimestamp):
            headers[name] = value.millis
        elif isinstance(value, uuid.UUID):
            headers[name] = value.bytes
        else:
            headers[name] = value
    return headers, message.payload


def frame(headers: bytes, payload: bytes = b"", *, total: int | None = None, headers_len: int | None = None) -> bytes:
    """A message assembled by hand from the spec's layout, with valid CRCs even when the lengths are lies."""
    if total is None:
        total = 16 + len(headers) + len(payload)
    if headers_len is None:
        headers_len = len(headers)
    head = struct.pack(">II", total, headers_len)
    body = head + struct.pack(">I", crc32(head)) + headers + payload
    return body + struct.pack(">I", crc32(body))


def string_header(name: str, value: str) -> bytes:
    raw_name, raw = name.encode(), value.encode()
    return bytes([len(raw_name)]) + raw_name + b"\x07" + struct.pack(">H", len(raw)) + raw


# -- Bedrock, as it streams ----------------------------------------------------------------

_PAD = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def bedrock_event(event_type: str, body: dict[str, Any], pad: int) -> bytes:
    """One ConverseStream event the way Bedrock frames it, with its random-length "p" padding."""
    payload = json.dumps({**body, "p": _PAD[:pad]}, separators=(",", ":")).encode()
    headers = {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}
    return encode_event_stream_message(headers, payload)


BEDROCK_STREAM = [
    bedrock_event("messageStart", {"role": "assistant"}, 6),
    bedrock_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hello"}}, 19),
    bedrock_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": ", wor\u2028ld é😀"}}, 33),
    bedrock_event("contentBlockStop", {"contentBlockIndex": 0}, 2),
    bedrock_event("messageStop", {"stopReason": "end_turn"}, 41),
    bedrock_event(
        "metadata",
        {"usage": {"inputTokens": 12, "outputTokens": 4, "totalTokens": 16}, "metrics": {"latencyMs": 321}},
        9,
    ),
]
THROTTLED = encode_event_stream_message(
    {":exception-type": "throttlingException", ":content-type": "application/json", ":message-type": "exception"},
    b'{"message":"Too many requests, please wait before trying again."}',
)


def test_bedrock_stream() -> None:
    """A realistic ConverseStream body decodes to its events, in order, with their types and JSON payloads."""
    messages = decode_all(b"".join(BEDROCK_STREAM))
    assert [m.event_type for m in messages] == [
        "messageStart",
        "contentBlockDelta",
        "contentBlockDelta",
        "contentBlockStop",
        "messageStop",
        "metadata",
    ]
    assert {m.message_type for m in messages} == {"event"}
    assert {m.content_type for m in messages} == {"application/json"}
    assert all(m.exception_type is None for m in messages)
    deltas = [json.loads(m.payload)["delta"]["text"] for m in messages if m.event_type == "contentBlockDelta"]
    assert "".join(deltas) == "Hello, wor\u2028ld é😀"
    assert json.loads(messages[4].payload)["stopReason"] == "end_turn"


def test_bedrock_exception_message() -> None:
    """An in-stream modeled error is a message of type exception naming its exception type."""
    [message] = decode_all(BEDROCK_STREAM[0] + THROTTLED)[1:]
    assert message.message_type == "exception"
    assert message.exception_type == "throttlingException"
    assert message.event_type is None
    assert json.loads(message.payload)["message"].startswith("Too many requests")


def test_bedrock_stream_matches_botocore() -> None:
    """botocore decodes the same Bedrock bytes, in the same chunks, to the same headers and payloads."""
    stream = b"".join(BEDROCK_STREAM) + THROTTLED
    for cuts in ([], [1], [7, 12, 13, 100], list(range(0, len(stream), 5))):
        chunks = _split(stream, cuts)
        ours = EventStreamDecoder()
        got = [as_botocore(m) for chunk in chunks for m in ours.feed(chunk)]
        assert got == botocore_decode(chunks)
        assert len(got) == 7


# -- botocore's test vectors ----------------------------------------------------------------
# Encoded messages from boto/botocore tests/unit/test_eventstream.py, with the
# headers botocore expects, restated in our types (timestamps and UUIDs).

BOTOCORE_POSITIVE: list[tuple[bytes, dict[str, HeaderValue], bytes]] = [
    (b"\x00\x00\x00\x10\x00\x00\x00\x00\x05\xc2H\xeb}\x98\xc8\xff", {}, b""),
    (b"\x00\x00\x00\x17\x00\x00\x00\x07)\x86\x01X\x04byte\x02\xff\xc2\xf8i\xdc", {"byte": -1}, b""),
    (b"\x00\x00\x00\x19\x00\x00\x00\tq\x0e\x92>\x05short\x03\xff\xff\xb2|\xb6\xcc", {"short": -1}, b""),
    (
        b"\x00\x00\x00\x1d\x00\x00\x00\r\x83\xe3\xf0\xe7\x07integer\x04\xff\xff\xff\xff\x8b\x8e\x12\xeb",
        {"integer": -1},
        b"",
    ),
    (
        b"\x00\x00\x00\x1e\x00\x00\x00\x0e]J\xdb\x8d\x04long\x05\xff\xff\xff\xff\xff\xff\xff\xffK\xc22\xda",
        {"long": -1},
        b"",
    ),
    (b"\x00\x00\x00\x1d\x00\x00\x00\x00\xfdR\x8cZ{'foo':'bar'}\xc3e96", {}, b"{'foo':'bar'}"),
    (
        b"\x00\x00\x00=\x00\x00\x00 \x07\xfd\x83\x96\x0ccontent-type\x07\x00\x10"
        b"application/json{'foo':'bar'}\x8d\x9c\x08\xb1",
        {"content-type": "application/json"},
        b"{'foo':'bar'}",
    ),
    (
        b"\x00\x00\x00\x62\x00\x00\x00\x52\x03\xb5\xcb\x9c"
        b"\x010\x00\x011\x01\x012\x02\x02\x013\x03\x00\x03"
        b"\x014\x04\x00\x00\x00\x04\x015\x05\x00\x00\x00\x00\x00\x00\x00\x05"
        b"\x016\x06\x00\x05bytes\x017\x07\x00\x04utf8"
        b"\x018\x08\x00\x00\x00\x00\x00\x00\x00\x08\x019\x090123456789abcdef"
        b"\x63\x35\x36\x71",
        {
            "0": True,
            "1": False,
            "2": 2,
            "3": 3,
            "4": 4,
            "5": 5,
            "6": b"bytes",
            "7": "utf8",
            "8": EventStreamTimestamp(8),
            "9": uuid.UUID(bytes=b"0123456789abcdef"),
        },
        b"",
    ),
    (
        b"\x00\x00\x00\x52\x00\x00\x00\x42\xbf\x23\x63\x7e"
        b"\x0d:message-type\x07\x00\x05error"
        b"\x0b:error-code\x07\x00\x04code"
        b"\x0e:error-message\x07\x00\x07message"
        b"\x6b\x6c\xea\x3d",
        {":message-type": "error", ":error-code": "code", ":error-message": "message"},
        b"",
    ),
]

BOTOCORE_NEGATIVE = {
    "corrupted headers length": b"\x00\x00\x00=\xff\x00\x01\x02\x07\xfd\x83\x96\x0ccontent-type\x07\x00"
    b"\x10application/json{'foo':'bar'}\x8d\x9c\x08\xb1",
    "corrupted header name": b"\x00\x00\x00=\x00\x00\x00 \x07\xfd\x83\x96\x0ccontent+type\x07\x00\x10"
    b"application/json{'foo':'bar'}\x8d\x9c\x08\xb1",
    "corrupted total length": b"\x01\x00\x00\x1d\x00\x00\x00\x00\xfdR\x8cZ{'foo':'bar'}\xc3e96",
    "corrupted payload": b"\x00\x00\x00\x1d\x00\x00\x00\x00\xfdR\x8cZ{'foo':'bar'\x8d\xc3e96",
    "duplicate header": b"\x00\x00\x00\x24\x00\x00\x00\x14\x4b\xb9\x82\xd0"
    b"\x04test\x04asdf\x04test\x04asdf\xf3\xf4\x75\x63",
}


@pytest.mark.parametrize(("encoded", "headers", "payload"), BOTOCORE_POSITIVE)
def test_botocore_vectors_decode(encoded: bytes, headers: dict[str, HeaderValue], payload: bytes) -> None:
    """Each of botocore's valid test messages decodes to the headers and payload botocore expects."""
    assert decode_all(encoded) == [EventStreamMessage(headers, payload)]


def test_botocore_vectors_in_one_stream() -> None:
    """botocore's valid test messages back to back, cut every 3 bytes, decode in order."""
    stream = b"".join(encoded for encoded, _, _ in BOTOCORE_POSITIVE)
    expected = [EventStreamMessage(headers, payload) for _, headers, payload in BOTOCORE_POSITIVE]
    assert decode_all(stream, list(range(0, len(stream), 3))) == expected


def test_botocore_vector_in_two_chunks() -> None:
    """botocore's two-chunk message (cut inside an int32 header value) decodes once both chunks are in."""
    decoder = EventStreamDecoder()
    assert decoder.feed(b"\x00\x00\x00+\x00\x00\x00\x0e4\x8b\xec{\x08event-id\x04\x00") == []
    assert decoder.pending
    [message] = decoder.feed(b"\x00\xa0\x0c{'foo':'bar'}\xd3\x89\x02\x85")
    assert message == EventStreamMessage({"event-id": 0xA00C}, b"{'foo':'bar'}")
    assert not decoder.pending


@pytest.mark.parametrize("encoded", BOTOCORE_NEGATIVE.values(), ids=BOTOCORE_NEGATIVE.keys())
def test_botocore_negative_vectors_raise(encoded: bytes) -> None:
    """Each of botocore's invalid test messages raises FramingError."""
    with pytest.raises(FramingError):
        EventStreamDecoder().feed(encoded)


# -- a message built by hand from the spec ---------------------------------------------------


def test_hand_built_frame_decodes() -> None:
    """A message laid out byte by byte from the specification decodes with ours and with botocore."""
    headers = (
        string_header(":event-type", "contentBlockDelta")
        + string_header(":content-type", "application/json")
        + string_header(":message-type", "event")
        + b"\x03seq\x05"
        + struct.pack(">q", -(2**40))
        + b"\x02ok\x00"
        + b"\x02no\x01"
        + b"\x02at\x08"
        + struct.pack(">q", 1_700_000_000_123)
        + b"\x02id\x09"
        + uuid.UUID(int=42).bytes
    )
    payload = b'{"contentBlockIndex":0,"delta":{"text":"Hi"},"p":"abcdefgh"}'
    encoded = frame(headers, payload)
    [message] = decode_all(encoded)
    assert message.headers == {
        ":event-type": "contentBlockDelta",
        ":content-type": "application/json",
        ":message-type": "event",
        "seq": -(2**40),
        "ok": True,
        "no": False,
        "at": EventStreamTimestamp(1_700_000_000_123),
        "id": uuid.UUID(int=42),
    }
    assert list(message.headers) == [":event-type", ":content-type", ":message-type", "seq", "ok", "no", "at", "id"]
    assert message.payload == payload
    assert botocore_decode([encoded]) == [as_botocore(message)]
    # The encoder lays the same headers out the same way (a 64-bit int stays type 5).
    assert encode_event_stream_message(message.headers, payload) == encoded


# -- property: encode, decode, any chunking ---------------------------------------------------

_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)
_names = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30)
_values: st.SearchStrategy[HeaderValue] = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.integers(-(2**31), 2**31 - 1),
    st.binary(max_size=40),
    _text,
    st.builds(EventStreamTimestamp, st.integers(-(2**63), 2**63 - 1)),
    st.uuids(),
)
_headers = st.dictionaries(_names, _values, max_size=6)
_messages = st.builds(EventStreamMessage, _headers, st.binary(max_size=120))


@given(_headers, st.binary(max_size=300))
def test_round_trip(headers: dict[str, HeaderValue], payload: bytes) -> None:
    """Any headers and payload come back from encode then decode unchanged, in their order."""
    [message] = decode_all(encode_event_stream_message(headers, payload))
    assert message == EventStreamMessage(headers, payload)
    assert list(message.headers) == list(headers)
    assert all(type(message.headers[name]) is type(value) for name, value in headers.items())


@given(st.lists(_messages, max_size=5), st.lists(st.integers(0, 1500), max_size=20))
def test_same_messages_for_any_chunking(messages: list[EventStreamMessage], cuts: list[int]) -> None:
    """Cutting a stream anywhere gives the same messages, and botocore reads the same from the same chunks."""
    stream = b"".join(encode_event_stream_message(m.headers, m.payload) for m in messages)
    assert decode_all(stream, cuts) == messages
    assert botocore_decode(_split(stream, cuts)) == [as_botocore(m) for m in messages]


@given(st.lists(_messages, min_size=1, max_size=4), st.lists(st.integers(0, 1500), max_size=20))
def test_pending_at_every_boundary(messages: list[EventStreamMessage], cuts: list[int]) -> None:
    """After each chunk, pending is true exactly when the bytes fed so far end inside a message,
    and the messages returned so far are exactly those wholly fed."""
    encoded = [encode_event_stream_message(m.headers, m.payload) for m in messages]
    ends = list(itertools.accumulate(len(e) for e in encoded))
    decoder = EventStreamDecoder()
    fed = 0
    got: list[EventStreamMessage] = []
    for chunk in _split(b"".join(encoded), cuts):
        got += decoder.feed(chunk)
        fed += len(chunk)
        assert decoder.pending == (fed not in ends)
        assert got == messages[: sum(end <= fed for end in ends)]


def test_truncated_input_stays_pending() -> None:
    """A body cut at any byte inside a message returns the messages before it and leaves pending true."""
    stream = b"".join(BEDROCK_STREAM[:3])
    ends = list(itertools.accumulate(len(e) for e in BEDROCK_STREAM[:3]))
    for cut in range(1, len(stream)):
        decoder = EventStreamDecoder()
        got = decoder.feed(stream[:cut])
        assert len(got) == sum(end <= cut for end in ends)
        assert decoder.pending == (cut not in ends)


def test_messages_with_the_same_headers_do_not_share_them() -> None:
    """Two messages with byte-identical headers get separate header dicts: changing one leaves the other alone."""
    decoder = EventStreamDecoder()
    first, second = decoder.feed(BEDROCK_STREAM[1] + BEDROCK_STREAM[2])
    assert first.headers == second.headers
    first.headers[":event-type"] = "changed"  # type: ignore[index]  # a dict, though typed as a Mapping
    [third] = decoder.feed(BEDROCK_STREAM[1])
    assert second.event_type == third.event_type == "contentBlockDelta"


def test_many_messages_in_one_chunk() -> None:
    """Five hundred messages in one chunk all come back, in order, and remembering their headers stays bounded."""
    messages = [EventStreamMessage({":event-type": "n", "i": i}, b"x" * (i % 7)) for i in range(500)]
    stream = b"".join(encode_event_stream_message(m.headers, m.payload) for m in messages)
    assert decode_all(stream) == messages
    assert decode_all(stream, [len(stream) // 2 + 1]) == messages
    # Every header block differs (a counter, like a per-event id): the decoder's
    # cache of parsed blocks must stay bounded rather than remember them all.
    decoder = EventStreamDecoder()
    decoder.feed(stream)
    assert 0 < len(decoder._headers) <= 32


def test_large_message_in_small_chunks() -> None:
    """A 1 MiB payload fed 1 KiB at a time comes back whole from the chunk that completes it, and only then."""
    payload = bytes(range(256)) * 4096
    encoded = encode_event_stream_message({":event-type": "chunk"}, payload)
    decoder = EventStreamDecoder()
    chunks = _split(encoded, list(range(1024, len(encoded), 1024)))
    for chunk in chunks[:-1]:
        assert decoder.feed(chunk) == []
        assert decoder.pending
    assert decoder.feed(chunks[-1]) == [EventStreamMessage({":event-type": "chunk"}, payload)]
    assert not decoder.pending


def test_waiting_for_a_message_redoes_no_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """While a large message trickles in, the chunks before its last are only stored: no CRC is recomputed
    per chunk (the cost that would make many small chunks quadratic)."""
    calls: list[int] = []

    def counting_crc32(data: Any, value: int = 0) -> int:
        calls.append(len(data))
        return crc32(data, value)

    monkeypatch.setattr("clawdesk._wire._eventstream.crc32", counting_crc32)
    payload = b"z" * 500_000
    encoded = encode_event_stream_message({":event-type": "big"}, payload)
    decoder = EventStreamDecoder()
    calls.clear()
    for chunk in _split(encoded, list(range(5, len(encoded), 1000))):
        decoder.feed(chunk)
    # The prelude once when it arrives, once more with the whole message, and the message CRC.
    assert calls == [8, 8, len(encoded) - 12]


def test_empty_chunks_change_nothing() -> None:
    """An empty chunk returns nothing, with or without a message pending."""
    decoder = EventStreamDecoder()
    assert decoder.feed(b"") == []
    assert not decoder.pending
    assert decoder.feed(THROTTLED[:5]) == []
    assert decoder.feed(b"") == []
    assert decoder.pending
    assert len(decoder.feed(THROTTLED[5:])) == 1


# -- corruption and malformation -----------------------------------------------------------------


@pytest.mark.parametrize("encoded", [BEDROCK_STREAM[2], THROTTLED, BOTOCORE_POSITIVE[7][0]])
def test_every_single_byte_corruption_raises(encoded: bytes) -> None:
    """Changing any one byte of a valid message, in any of several ways, raises FramingError; a change in
    the prelude (such as a total length asking for more bytes) raises from the 12 prelude bytes alone."""
    for at, mask in itertools.product(range(len(encoded)), (0x01, 0x80, 0xFF, 0x5A)):
        corrupted = bytearray(encoded)
        corrupted[at] ^= mask
        with pytest.raises(FramingError):
            EventStreamDecoder().feed(bytes(corrupted))
        if at < 12:
            with pytest.raises(FramingError, match="prelude checksum"):
                EventStreamDecoder().feed(bytes(corrupted[:12]))


def test_corrupted_length_is_caught_before_it_is_believed() -> None:
    """A total length grown to 4 GiB fails the prelude CRC at once rather than waiting for the bytes it promises."""
    corrupted = b"\xff" + BEDROCK_STREAM[0][1:]
    decoder = EventStreamDecoder(max_message_bytes=2**32)
    with pytest.raises(FramingError, match="prelude checksum mismatch"):
        decoder.feed(corrupted[:12])


@pytest.mark.parametrize(
    ("encoded", "match"),
    [
        (frame(b"", total=12), "total length 12 is below the 16-byte minimum"),
        (frame(b"", total=0)[:12], "total length 0 is below"),
        (frame(b"\x01a\x00", b"xy", headers_len=6), "headers length 6 does not fit in a 21-byte message"),
        (frame(b"\x00\x07\x00\x01a"), "empty name"),
        (frame(b"\x05ab"), "header name runs past the end"),
        (frame(b"\x02ab"), "header name runs past the end"),  # the name ends the headers: no type byte
        (frame(b"\x01a\x0a"), "header 'a' has unknown type 10"),
        (frame(b"\x01a\xff\x00\x00"), "unknown type 255"),
        (frame(b"\x01a\x07\x00"), "value of header 'a' runs past"),
        (frame(b"\x01a\x07\x00\x05ab"), "value of header 'a' runs past"),
        (frame(b"\x01a\x06\x00\x03ab", b"c"), "value of header 'a' runs past"),  # the payload is not the headers
        (frame(b"\x01a\x02"), "value of header 'a' runs past"),
        (frame(b"\x01a\x03\x00"), "value of header 'a' runs past"),
        (frame(b"\x01a\x04\x00\x00\x00"), "value of header 'a' runs past"),
        (frame(b"\x01a\x05" + bytes(7)), "value of header 'a' runs past"),
        (frame(b"\x01a\x08" + bytes(7)), "value of header 'a' runs past"),
        (frame(b"\x01a\x09" + bytes(15)), "value of header 'a' runs past"),
        (frame(b"\x01a\x07\x00\x02\xc3\x28"), "header 'a' is not UTF-8"),
        (frame(b"\x02\xff\xfe\x00"), "header name is not UTF-8"),
        (frame(b"\x01a\x00\x01b\x00\x01a\x01"), "header 'a' appears twice"),
    ],
)
def test_malformed_message_raises(encoded: bytes, match: str) -> None:
    """Each structural fault in a message whose checksums are valid raises FramingError naming the fault."""
    with pytest.raises(FramingError, match=match) as caught:
        EventStreamDecoder().feed(encoded)
    assert not isinstance(caught.value, FrameTooLarge)


def test_not_an_event_stream() -> None:
    """An HTML error page fails at its first 12 bytes, with a one-line message quoting only their start."""
    page = b"<html><head><title>502 Bad Gateway</title></head>\n<body>" + b"x" * 5000 + b"</body></html>"
    with pytest.raises(FramingError) as caught:
        EventStreamDecoder().feed(page)
    message = str(caught.value)
    assert "prelude checksum mismatch" in message
    assert "<html>" in message
    assert "\n" not in message
    assert "Bad Gateway" not in message  # no more of the body than the prelude's 12 bytes
    assert len(message) < 160


def test_long_header_name_is_shortened_in_errors() -> None:
    """A 255-byte header name is quoted only in part in an error message."""
    with pytest.raises(FramingError) as caught:
        EventStreamDecoder().feed(frame(b"\xff" + b"n" * 255 + b"\x0a"))
    assert len(str(caught.value)) < 120


# -- size caps --------------------------------------------------------------------------------


def test_message_cap_is_exact() -> None:
    """A message of exactly max_message_bytes decodes; one byte longer raises FrameTooLarge from its prelude alone."""
    fits = encode_event_stream_message({"a": "b"}, b"x" * 100)
    assert len(decode_all(fits, max_message_bytes=len(fits))) == 1
    decoder = EventStreamDecoder(max_message_bytes=len(fits) - 1)
    with pytest.raises(FrameTooLarge, match=f"a {len(fits)}-byte message is longer than max_message_bytes"):
        decoder.feed(fits[:12])


def test_header_cap_is_exact() -> None:
    """Headers of exactly max_header_bytes decode; one byte more raises FrameTooLarge from the prelude alone."""
    encoded = encode_event_stream_message({"a": "b" * 60}, b"{}")
    headers_len = len(encoded) - 16 - 2
    assert len(decode_all(encoded, max_header_bytes=headers_len)) == 1
    with pytest.raises(FrameTooLarge, match=f"{headers_len} bytes of headers are more than max_header_bytes"):
        EventStreamDecoder(max_header_bytes=headers_len - 1).feed(encoded[:12])


def test_huge_declared_length_is_refused_before_buffering() -> None:
    """A valid prelude declaring a message past the 16 MiB default raises at once instead of waiting for it."""
    decoder = EventStreamDecoder()
    assert decoder.feed(frame(b"", total=DEFAULT_MAX_FRAME_BYTES)[:12]) == []  # at the cap: it waits
    with pytest.raises(FrameTooLarge):
        EventStreamDecoder().feed(frame(b"", total=DEFAULT_MAX_FRAME_BYTES + 1)[:12])
    with pytest.raises(FrameTooLarge):
        EventStreamDecoder().feed(frame(b"", total=2**32 - 1)[:12])


@given(st.integers(0, 3000), st.integers(16, 3100), st.lists(st.integers(0, 3100), max_size=10))
def test_cap_decides_at_the_prelude(payload_len: int, cap: int, cuts: list[int]) -> None:
    """Whatever the chunking, a message over the cap raises from the feed that completes its prelude,
    and one within it decodes."""
    encoded = encode_event_stream_message({}, b"p" * payload_len)
    decoder = EventStreamDecoder(max_message_bytes=cap)
    fed = 0
    for chunk in _split(encoded, cuts):
        fed += len(chunk)
        if len(encoded) > cap and fed >= 12:
            with pytest.raises(FrameTooLarge):
                decoder.feed(chunk)
            return
        got = decoder.feed(chunk)
    assert got == [EventStreamMessage({}, b"p" * payload_len)]


def test_constructor_checks_its_caps() -> None:
    """A message cap below the 16-byte minimum message, or a negative header cap, is refused."""
    with pytest.raises(ValueError, match="max_message_bytes"):
        EventStreamDecoder(max_message_bytes=15)
    with pytest.raises(ValueError, match="max_header_bytes"):
        EventStreamDecoder(max_header_bytes=-1)
    assert decode_all(encode_event_stream_message({}, b""), max_message_bytes=16, max_header_bytes=0)


# -- the encoder and the value types ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "wire_type"),
    [
        (True, 0),
        (False, 1),
        (0, 4),
        (2**31 - 1, 4),
        (-(2**31), 4),
        (2**31, 5),
        (-(2**31) - 1, 5),
        (b"", 6),
        ("", 7),
        (EventStreamTimestamp(0), 8),
        (uuid.UUID(int=0), 9),
    ],
)
def test_encoder_wire_types(value: HeaderValue, wire_type: int) -> None:
    """Each Python value is written with the wire type the table gives (ints by range)."""
    encoded = encode_event_stream_message({"h": value}, b"")
    assert encoded[14] == wire_type  # after the prelude, the name length and the one-byte name
    assert decode_all(encoded)[0].headers == {"h": value}


@pytest.mark.parametrize(
    ("headers", "error", "match"),
    [
        ({"": "x"}, ValueError, "1 to 255 bytes"),
        ({"n" * 256: "x"}, ValueError, "1 to 255 bytes"),
        ({"é" * 128: "x"}, ValueError, "not 256"),
        ({"h": "x" * 65536}, ValueError, "over 65535 bytes"),
        ({"h": b"x" * 65536}, ValueError, "over 65535 bytes"),
        ({"h": 2**63}, ValueError, "64 bits"),
        ({"h": -(2**63) - 1}, ValueError, "64 bits"),
        ({"h": EventStreamTimestamp(2**63)}, ValueError, "64 bits"),
        ({"h": 1.5}, TypeError, "float"),
        ({"h": None}, TypeError, "NoneType"),
    ],
)
def test_encoder_refuses_what_the_wire_cannot_carry(
    headers: Mapping[str, Any], error: type[Exception], match: str
) -> None:
    """Names, values and types the format cannot represent are refused rather than written wrong."""
    with pytest.raises(error, match=match):
        encode_event_stream_message(headers, b"")


def test_encoder_limits_are_inclusive() -> None:
    """A 255-byte name and a 65535-byte value are the largest the format holds, and they round-trip."""
    headers: dict[str, HeaderValue] = {"n" * 255: "v" * 65535, "b": b"\0" * 65535}
    encoded = encode_event_stream_message(headers, b"")  # 131334 bytes of headers: over the default cap
    assert decode_all(encoded, max_header_bytes=256 * 1024) == [EventStreamMessage(headers, b"")]


def test_timestamp_as_datetime() -> None:
    """A timestamp header converts to the aware UTC datetime it stands for, to the millisecond."""
    assert EventStreamTimestamp(1_700_000_000_123).as_datetime() == datetime(
        2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC
    )
    assert EventStreamTimestamp(-1).as_datetime() == datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)
    with pytest.raises(OverflowError):
        EventStreamTimestamp(2**62).as_datetime()


def test_convenience_properties_need_strings() -> None:
    """message_type and its siblings give None for a missing header and for one that is not a string."""
    message = EventStreamMessage({":message-type": b"event", ":event-type": 3}, b"")
    assert message.message_type is None
    assert message.event_type is None
    assert message.exception_type is None
    assert message.content_type is None


def test_repr_of_a_large_payload_is_short() -> None:
    """A message's repr shows a large payload's size and start, not all of it."""
    text = repr(EventStreamMessage({":event-type": "x"}, b"y" * 100_000))
    assert "100000 bytes" in text
    assert len(text) < 200
    assert repr(EventStreamMessage({}, b"ab")) == "EventStreamMessage(headers={}, payload=b'ab')"
