"""The AWS binary event stream (``application/vnd.amazon.eventstream``): an incremental decoder and an encoder.

Bedrock's ConverseStream (like every AWS streaming API) frames its events this
way instead of with SSE. The decoder does no I/O and gives the payloads no
meaning; the caller reads the ``:message-type`` / ``:event-type`` headers and
parses the payload (JSON for Bedrock)::

    decoder = EventStreamDecoder()
    async for chunk in response.aiter_bytes():
        for message in decoder.feed(chunk):
            if message.message_type == "event":
                handle(message.event_type, json.loads(message.payload))
    if decoder.pending:
        ...  # the body was cut in the middle of a message

The format (Smithy's "Amazon Event Stream Specification"), one message after
another with no delimiter; lengths and CRCs are unsigned 32-bit integers, and
every integer is big-endian::

    [4 total_length][4 headers_length][4 prelude_crc]   the 12-byte prelude
    [headers: headers_length bytes][payload]
    [4 message_crc]

``prelude_crc`` is the CRC32 (zlib's, :func:`binascii.crc32`) of the first 8
bytes, ``message_crc`` that of every byte before it; so ``total_length`` is
``16 + headers_length + len(payload)``. Each header is ``[1 name length]
[name, 1..255 bytes of UTF-8][1 type][value]``, and a name appears at most
once in a message.

Header values (:data:`HeaderValue`), by wire type:

==========  ===========================  ======================================
type        on the wire                  in Python
==========  ===========================  ======================================
0, 1        bool true / false, no bytes  ``True`` / ``False``
2, 3, 4, 5  int8, int16, int32, int64    ``int`` (the width is not kept)
6           2-byte length + bytes        ``bytes``
7           2-byte length + UTF-8        ``str`` (all Bedrock sends)
8           int64 ms since the epoch     :class:`EventStreamTimestamp`
9           16 bytes                     :class:`uuid.UUID`
==========  ===========================  ======================================

A timestamp is its own small type rather than a :class:`~datetime.datetime`
because an int64 of milliseconds reaches far beyond the years a datetime can
hold, and a plain ``int`` would be indistinguishable from a type-5 value;
:meth:`EventStreamTimestamp.as_datetime` converts it. :func:`encode_event_stream_message`
turns ``int`` into type 4 when it fits 32 bits and type 5 otherwise, so a
decode/encode round trip keeps every value but not always its wire width.

What the decoder checks, in this order, and raises
:class:`~clawdesk._wire._framing.FramingError` for (a one-line message naming
what is wrong):

1. the prelude CRC, as soon as the 12 prelude bytes are in and before either
   length is believed: a corrupted length can never make the decoder wait for,
   or allocate, gigabytes (a body that is not an event stream at all, such as
   an HTML error page, fails here at once);
2. ``total_length >= 16`` and ``headers_length <= total_length - 16``;
3. the caps: ``total_length <= max_message_bytes`` and ``headers_length <=
   max_header_bytes``, else :class:`~clawdesk._wire._framing.FrameTooLarge`,
   still before any of the message past its prelude is buffered;
4. once the whole message is in, the message CRC;
5. the headers: each one complete within ``headers_length``, a name of at least
   one byte of UTF-8, a known type (0 to 9), a string value in UTF-8, no name
   twice.

Any single corrupted byte therefore fails a check: CRC32 catches every error
within 32 consecutive bits. After a :class:`~clawdesk._wire._framing.FramingError`
the stream cannot be resynchronised (there are no delimiters to look for);
stop reading it. The messages the same chunk completed before the bad one are
not returned: the stream is unusable either way.

Limits: the specification lets a service send payloads up to 24 MiB and
headers up to 128 KiB, and asks clients not to enforce those limits. A client
that buffers whole messages must still bound its memory, so the decoder caps a
whole message at ``max_message_bytes``, 16 MiB unless told otherwise (as
aws-c-event-stream does), and its headers at ``max_header_bytes``, 128 KiB
(the specification's limit, which botocore enforces too); raise them for an
API whose events are larger. String
and byte-array values may be 0 to 65535 bytes long (the specification says 1
to 32767; botocore, like this decoder, accepts any 16-bit length).

Buffering: a message may span many chunks and a chunk may hold many messages.
When nothing is pending, a chunk is decoded where it lies, without being
copied; only an unfinished message's bytes are kept, in one ``bytearray`` that
grows in place and is trimmed once per :meth:`~EventStreamDecoder.feed`. While
a message is incomplete, each further chunk costs one append and a length
comparison, so a large message in many small chunks is linear, not quadratic.
A stream repeats a few header blocks (Bedrock's differ only in
``:event-type``), so the decoder remembers the last few small ones it parsed
and copies the result instead of parsing them again.
"""

from __future__ import annotations

import struct
import uuid
from binascii import crc32
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TypeAlias

from attrs import field, frozen

from ._framing import DEFAULT_MAX_FRAME_BYTES, FrameTooLarge, FramingError, excerpt

__all__ = [
    "EventStreamDecoder",
    "EventStreamMessage",
    "EventStreamTimestamp",
    "HeaderValue",
    "encode_event_stream_message",
]

_PRELUDE_BYTES = 12
_OVERHEAD = _PRELUDE_BYTES + 4  # prelude and message CRC: the smallest possible message
_PRELUDE = struct.Struct(">III")
_LENGTHS = struct.Struct(">II")
_U32 = struct.Struct(">I")
_U16 = struct.Struct(">H")
_INT32 = struct.Struct(">i")
_INT64 = struct.Struct(">q")
# The fixed-size integer header types: type -> its layout (8, the timestamp, is an int64 too).
_FIXED = {2: struct.Struct(">b"), 3: struct.Struct(">h"), 4: _INT32, 5: _INT64, 8: _INT64}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DEFAULT_MAX_HEADER_BYTES = 128 * 1024
_CACHED_BLOCKS = 32  # header blocks remembered per decoder (then forgotten all at once)
_CACHED_BLOCK_BYTES = 1024  # a block longer than this is not remembered


@frozen
class EventStreamTimestamp:
    """A timestamp header value (wire type 8): whole milliseconds since 1970-01-01 UTC, kept exactly."""

    millis: int

    def as_datetime(self) -> datetime:
        """The timestamp as an aware UTC datetime (:exc:`OverflowError` beyond the years 1 to 9999)."""
        return _EPOCH + timedelta(milliseconds=self.millis)


#: What a header value may be; see the table in the module's docstring.
HeaderValue: TypeAlias = bool | int | bytes | str | EventStreamTimestamp | uuid.UUID


def _payload_repr(payload: bytes) -> str:
    # A message's payload may be megabytes: its repr shows the start and the size.
    return f"<{len(payload)} bytes: {excerpt(payload)}>" if len(payload) > 40 else repr(payload)


@frozen
class EventStreamMessage:
    """One decoded message: its headers (in wire order) and its payload, as they came."""

    headers: Mapping[str, HeaderValue]
    payload: bytes = field(repr=_payload_repr)

    @property
    def message_type(self) -> str | None:
        """``:message-type``: ``"event"``, ``"exception"`` (a modeled error) or ``"error"`` (an unmodeled one)."""
        return self._text(":message-type")

    @property
    def event_type(self) -> str | None:
        """``:event-type``: the event's member name, such as ``"contentBlockDelta"``."""
        return self._text(":event-type")

    @property
    def exception_type(self) -> str | None:
        """``:exception-type``: the modeled error's member name, such as ``"throttlingException"``."""
        return self._text(":exception-type")

    @property
    def content_type(self) -> str | None:
        """``:content-type``: the payload's media type, such as ``"application/json"``."""
        return self._text(":content-type")

    def _text(self, name: str) -> str | None:
        # None when the header is missing, and also when it is not a string
        # (the protocol makes these strings; anything else is not a usable answer).
        value = self.headers.get(name)
        return value if isinstance(value, str) else None


class EventStreamDecoder:
    """Turns the bytes of an event stream into :class:`EventStreamMessage` objects, incrementally.

    One decoder per response. :meth:`feed` returns the messages each chunk
    completes; the same bytes give the same messages however they are cut into
    chunks. See the module's docstring for what is checked.
    """

    __slots__ = ("_buf", "_headers", "_max_headers", "_max_message", "_need")

    def __init__(
        self, *, max_message_bytes: int = DEFAULT_MAX_FRAME_BYTES, max_header_bytes: int = _DEFAULT_MAX_HEADER_BYTES
    ) -> None:
        if max_message_bytes < _OVERHEAD:
            raise ValueError(f"max_message_bytes must be at least {_OVERHEAD}, not {max_message_bytes}")
        if max_header_bytes < 0:
            raise ValueError(f"max_header_bytes must not be negative, not {max_header_bytes}")
        self._max_message = max_message_bytes
        self._max_headers = max_header_bytes
        self._buf = bytearray()  # the start of a message that has not fully arrived
        self._need = _PRELUDE_BYTES  # how long _buf must be before decoding can make progress
        # Header blocks already parsed, by their bytes: a stream repeats a few
        # (Bedrock's differ only in :event-type), and a lookup is several
        # times cheaper than parsing. Small blocks only, and a few of them.
        self._headers: dict[bytes, dict[str, HeaderValue]] = {}

    @property
    def pending(self) -> bool:
        """Whether a message has begun but not fully arrived (what a cut body leaves behind)."""
        return bool(self._buf)

    def feed(self, chunk: bytes) -> list[EventStreamMessage]:
        """Every message that ``chunk`` completes, in order (often none or one)."""
        buf = self._buf
        data: bytes | bytearray
        if buf:
            buf += chunk
            if len(buf) < self._need:
                return []
            data = buf
        elif chunk:
            data = chunk  # decoded where it lies; only an unfinished tail is copied
        else:
            return []
        out: list[EventStreamMessage] = []
        pos = 0
        size = len(data)
        need = _PRELUDE_BYTES
        # The view lets CRCs and payloads be taken without copying slices
        # first; it must be released before the bytearray is resized.
        with memoryview(data) as view:
            while size - pos >= _PRELUDE_BYTES:
                total, headers_len, prelude_crc = _PRELUDE.unpack_from(data, pos)
                if crc32(view[pos : pos + 8]) != prelude_crc:
                    raise FramingError(
                        "event stream: prelude checksum mismatch (corrupted, or not an event stream: "
                        f"it starts {excerpt(view[pos : pos + _PRELUDE_BYTES])})"
                    )
                self._check_lengths(total, headers_len)
                if size - pos < total:
                    need = total
                    break
                end = pos + total
                (message_crc,) = _U32.unpack_from(data, end - 4)
                # The CRC of the bytes before the message CRC, carried on from
                # the prelude's (which covers the first 8 bytes).
                if crc32(view[pos + 8 : end - 4], prelude_crc) != message_crc:
                    raise FramingError(f"event stream: message checksum mismatch in a {total}-byte message")
                start = pos + _PRELUDE_BYTES
                split = start + headers_len
                headers = self._parse_headers(view[start:split]) if headers_len else {}
                out.append(EventStreamMessage(headers, view[split : end - 4].tobytes()))
                pos = end
            if data is not buf and pos < size:
                buf += view[pos:]
        if data is buf:
            del buf[:pos]
        self._need = need
        return out

    def _parse_headers(self, block: memoryview) -> dict[str, HeaderValue]:
        raw = block.tobytes()
        known = self._headers.get(raw)
        if known is None:
            known = _parse_headers(raw)
            if len(raw) <= _CACHED_BLOCK_BYTES:
                if len(self._headers) >= _CACHED_BLOCKS:
                    self._headers.clear()
                self._headers[raw] = known
        return known.copy()  # each message owns its dict; the values are immutable

    def _check_lengths(self, total: int, headers_len: int) -> None:
        if total < _OVERHEAD:
            raise FramingError(f"event stream: total length {total} is below the {_OVERHEAD}-byte minimum")
        if headers_len > total - _OVERHEAD:
            raise FramingError(f"event stream: headers length {headers_len} does not fit in a {total}-byte message")
        if total > self._max_message:
            raise FrameTooLarge(
                f"event stream: a {total}-byte message is longer than max_message_bytes={self._max_message}"
            )
        if headers_len > self._max_headers:
            raise FrameTooLarge(
                f"event stream: {headers_len} bytes of headers are more than max_header_bytes={self._max_headers}"
            )


def _name_repr(name: str) -> str:
    text = repr(name)
    return text if len(text) <= 40 else text[:37] + "..."


def _parse_headers(data: bytes) -> dict[str, HeaderValue]:
    """The headers in ``data``, which must be exactly a sequence of whole headers."""
    headers: dict[str, HeaderValue] = {}
    pos = 0
    end = len(data)
    while pos < end:
        name_len = data[pos]
        if not name_len:
            raise FramingError("event stream: a header has an empty name")
        pos += 1
        type_at = pos + name_len
        if type_at >= end:  # the name and its type byte must both be within the headers
            raise FramingError("event stream: a header name runs past the end of the headers")
        try:
            name = data[pos:type_at].decode()
        except UnicodeDecodeError:
            raise FramingError(f"event stream: a header name is not UTF-8 ({excerpt(data[pos:type_at])})") from None
        kind = data[type_at]
        pos = type_at + 1
        value: HeaderValue
        if kind == 7 or kind == 6:  # string (the usual header) or bytes: a 2-byte length first
            if pos + 2 > end:
                raise _truncated(name)
            (length,) = _U16.unpack_from(data, pos)
            pos += 2
            if pos + length > end:
                raise _truncated(name)
            raw = data[pos : pos + length]
            pos += length
            if kind == 6:
                value = raw
            else:
                try:
                    value = raw.decode()
                except UnicodeDecodeError:
                    raise FramingError(f"event stream: header {_name_repr(name)} is not UTF-8") from None
        elif kind == 0 or kind == 1:
            value = kind == 0
        elif kind in _FIXED:
            layout = _FIXED[kind]
            if pos + layout.size > end:
                raise _truncated(name)
            (number,) = layout.unpack_from(data, pos)
            pos += layout.size
            value = EventStreamTimestamp(number) if kind == 8 else number
        elif kind == 9:
            if pos + 16 > end:
                raise _truncated(name)
            value = uuid.UUID(bytes=data[pos : pos + 16])
            pos += 16
        else:
            raise FramingError(f"event stream: header {_name_repr(name)} has unknown type {kind}")
        if name in headers:
            raise FramingError(f"event stream: header {_name_repr(name)} appears twice")
        headers[name] = value
    return headers


def _truncated(name: str) -> FramingError:
    return FramingError(f"event stream: the value of header {_name_repr(name)} runs past the end of the headers")


def encode_event_stream_message(headers: Mapping[str, HeaderValue], payload: bytes) -> bytes:
    """One message in the event-stream framing (for scripted test servers and fakes).

    Strings become type 7, bools types 0/1, ints type 4 (when they fit 32
    bits) or 5, bytes type 6, :class:`EventStreamTimestamp` type 8 and
    :class:`uuid.UUID` type 9. Only what the wire format cannot represent is
    refused (:exc:`ValueError`: an empty or over-255-byte name, a value over
    65535 bytes, an int beyond 64 bits; :exc:`TypeError`: another value type),
    so a test can build messages beyond the specification's size limits.
    """
    out = bytearray()
    for name, value in headers.items():
        raw_name = name.encode()
        if not 1 <= len(raw_name) <= 255:
            raise ValueError(f"a header name must be 1 to 255 bytes of UTF-8, not {len(raw_name)}: {_name_repr(name)}")
        out.append(len(raw_name))
        out += raw_name
        if isinstance(value, bool):
            out.append(0 if value else 1)
        elif isinstance(value, int):
            if -(2**31) <= value < 2**31:
                out.append(4)
                out += _INT32.pack(value)
            elif -(2**63) <= value < 2**63:
                out.append(5)
                out += _INT64.pack(value)
            else:
                raise ValueError(f"header {_name_repr(name)}: {value} does not fit in 64 bits")
        elif isinstance(value, str | bytes):
            raw = value.encode() if isinstance(value, str) else value
            if len(raw) > 0xFFFF:
                raise ValueError(f"header {_name_repr(name)}: a {len(raw)}-byte value is over 65535 bytes")
            out.append(7 if isinstance(value, str) else 6)
            out += _U16.pack(len(raw))
            out += raw
        elif isinstance(value, EventStreamTimestamp):
            if not -(2**63) <= value.millis < 2**63:
                raise ValueError(f"header {_name_repr(name)}: {value.millis} ms does not fit in 64 bits")
            out.append(8)
            out += _INT64.pack(value.millis)
        elif isinstance(value, uuid.UUID):
            out.append(9)
            out += value.bytes
        else:
            raise TypeError(f"header {_name_repr(name)}: a {type(value).__name__} cannot be an event-stream header")
    total = _OVERHEAD + len(out) + len(payload)
    if total > 0xFFFFFFFF:
        raise ValueError(f"a {total}-byte message does not fit the 32-bit total length")
    head = _LENGTHS.pack(total, len(out))
    prelude_crc = crc32(head)
    message = bytearray(head)
    message += _U32.pack(prelude_crc)
    message += out
    message += payload
    message += _U32.pack(crc32(message))
    return bytes(message)
