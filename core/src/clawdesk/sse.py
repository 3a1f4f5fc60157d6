"""A fast, incremental decoder for server-sent events (``text/event-stream``).

Any provider whose backend streams SSE (Mistral, OpenAI-style servers, ...)
can use it; it does no I/O and imports nothing heavy. Feed it the raw body
bytes as they arrive, in chunks of any size::

    decoder = SSEDecoder()
    async for chunk in response.aiter_bytes():
        for data in decoder.feed(chunk):
            if data == DONE:
                ...
            handle(json.loads(data))

It follows the WHATWG "event stream interpretation" rules:

- lines end with ``\\r\\n``, ``\\n`` or ``\\r`` (also when a ``\\r\\n`` pair is
  split between two chunks), and with nothing else: unlike
  ``str.splitlines`` (and so httpx's ``aiter_lines``), U+2028, U+0085 and
  other Unicode line breaks inside the data are kept as data;
- a leading byte-order mark is dropped; bytes that are not UTF-8 become U+FFFD;
- ``data:`` with or without the one optional space; several ``data`` lines of
  one event are joined with ``\\n``; a line without a colon is a field with an
  empty value (``data`` alone adds an empty line);
- comment lines (starting with ``:``) and unknown fields are ignored; ``event``,
  ``id`` (ignored when it contains NUL) and ``retry`` (ASCII digits only) are
  kept for :meth:`SSEDecoder.feed_events`. A decoder made with
  ``keep_ignored=True`` also hands over the lines of unknown fields
  (:attr:`SSEDecoder.ignored`), for backends that write something other than
  events into the stream (an error object as raw JSON lines) and consumers
  that must not lose it;
- an event is dispatched at a blank line, and only when it has data; an event
  whose blank line never came (the body ended first) is **not** dispatched, as
  the standard says. :attr:`SSEDecoder.pending` tells whether such a partial
  event (or line) was left at the end.

``[DONE]``: the decoder gives no meaning to any payload. OpenAI-style servers
end a stream with the event whose data is exactly ``[DONE]`` (:data:`DONE`);
the consumer compares each payload with it. Because an event counts only once
its blank line arrived, a body cut right after ``data: [DONE]`` (before the
blank line) is a truncated stream, never a finished one.

Speed matters here (one call per network chunk on the streaming hot path), so
:meth:`SSEDecoder.feed` splits each chunk with bytes methods, decodes UTF-8
once per chunk, and checks the common ``data: `` prefix before anything else;
there are no regexes and no objects made per line.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator

from attrs import frozen

from ._wire._framing import DEFAULT_MAX_FRAME_BYTES, FrameTooLarge, excerpt

__all__ = ["DONE", "SSEDecoder", "ServerSentEvent", "aiter_sse", "aiter_sse_data"]

#: The payload OpenAI-style servers send as their last event.
DONE = "[DONE]"


@frozen
class ServerSentEvent:
    """One dispatched event: its type (``"message"`` unless an ``event:`` field said otherwise), data,
    the last event id seen so far and the ``retry`` the stream asked for (``None`` when it did not)."""

    data: str
    event: str = "message"
    id: str = ""
    retry: int | None = None


class SSEDecoder:
    """Turns the bytes of an event stream into events, incrementally.

    One decoder per response. :meth:`feed` returns the data of each event
    completed by the chunk (the fast path); :meth:`feed_events` returns whole
    :class:`ServerSentEvent` objects instead; :meth:`decode_line` takes
    already-split lines. Mixing :meth:`feed` and :meth:`feed_events` on one
    decoder is allowed; mixing bytes and lines is not.

    ``max_event_bytes`` caps one event's data (its lines joined) and what is
    held for the event still being read (its data lines and a line waiting
    for its end: a comment or a field that never ends counts too). The call
    whose chunk passes it raises :class:`~clawdesk.provider.FrameTooLarge`,
    so the decoder holds at most the cap plus one chunk; it is not to be fed
    again. Keep-alive comments between events cost nothing.
    """

    __slots__ = (
        "_count",
        "_data",
        "_event",
        "_max",
        "_parts",
        "_size",
        "_skip_lf",
        "_started",
        "ignored",
        "last_event_id",
        "retry",
    )

    def __init__(self, *, keep_ignored: bool = False, max_event_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        if max_event_bytes < 1:
            raise ValueError(f"max_event_bytes must be at least 1, not {max_event_bytes}")
        self._max = max_event_bytes
        # The size of the event being read, kept up to date once per chunk for the cap: bytes in
        # _parts (_size[0]) and characters in the first _count data lines (_size[1]).
        self._size = [0, 0]
        self._count = 0
        self._parts: list[bytes] = []  # the start of a line whose end has not arrived
        self._skip_lf = False  # the last chunk ended with \r: a \n at the start of the next is its pair
        self._started = False  # whether the first line (and so a BOM) has been seen
        self._data: list[str] = []  # data lines of the event being read
        self._event = ""
        #: The last ``id`` field seen (it persists across events, as the standard says).
        self.last_event_id = ""
        #: The reconnection time the stream asked for, in milliseconds.
        self.retry: int | None = None
        #: With ``keep_ignored=True``: the lines the standard ignores (fields of unknown names, such as
        #: ``{"error": {`` or ``}``), whole and in order, as the chunks that complete them are fed;
        #: comments and blank lines are not in it. The consumer reads and empties it (the decoder only
        #: appends), so it holds at most what one chunk brought. ``None`` without ``keep_ignored``.
        self.ignored: list[str] | None = [] if keep_ignored else None

    @property
    def pending(self) -> bool:
        """Whether a line or an event has begun but was not completed (what a cut body leaves behind)."""
        return bool(self._parts or self._data or self._event)

    # -- splitting ----------------------------------------------------------------

    def _lines(self, chunk: bytes) -> list[str]:
        """The complete lines in ``chunk`` (and what came before it), decoded."""
        if not chunk:
            return []
        if self._skip_lf:
            self._skip_lf = False
            if chunk[0] == 0x0A:
                chunk = chunk[1:]
                if not chunk:
                    return []
        if b"\r" in chunk:
            # A \r at the very end ends a line now; remember it so that a \n
            # opening the next chunk is taken as the rest of a \r\n pair.
            self._skip_lf = chunk[-1] == 0x0D
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        end = chunk.rfind(b"\n")
        if end < 0:
            self._parts.append(chunk)
            self._size[0] += len(chunk)
            return []
        if self._parts:
            self._parts.append(chunk)
            chunk = b"".join(self._parts)
            end = chunk.rfind(b"\n")
            self._parts = []
        self._size[0] = len(chunk) - end - 1
        if end + 1 < len(chunk):
            self._parts.append(chunk[end + 1 :])
        text = chunk[:end].decode("utf-8", "replace")
        if not self._started:
            self._started = True
            if text.startswith("\ufeff"):
                text = text[1:]
        return text.split("\n")

    # -- fields -------------------------------------------------------------------

    def _field(self, line: str) -> None:
        """Apply one non-blank line that is not the common ``data: `` form."""
        name, colon, value = line.partition(":")
        if colon:
            if not name:
                return  # a comment
            if value[:1] == " ":
                value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self.last_event_id = value
        elif name == "retry":
            if value.isascii() and value.isdigit():
                self.retry = int(value)
        elif self.ignored is not None:
            # Ignored, as the standard says, but handed over to a consumer that asked for it.
            self.ignored.append(line)

    def _dispatch(self) -> ServerSentEvent | None:
        data, event = self._data, self._event
        self._data, self._event = [], ""
        self._count = self._size[1] = 0
        if not data:
            return None
        if sum(map(len, data)) + len(data) - 1 > self._max:
            raise self._too_large(data[0][:64].encode())
        return ServerSentEvent(
            data[0] if len(data) == 1 else "\n".join(data),
            event or "message",
            self.last_event_id,
            self.retry,
        )

    # -- public -------------------------------------------------------------------

    def _check_size(self) -> None:
        """Raise :class:`FrameTooLarge` when the event being read (data lines and unfinished line) passes the cap."""
        # Called after a chunk was split, only when something is pending (never on the fast path).
        data, sizes = self._data, self._size
        if len(data) < self._count:  # the data was emptied since (an event was dispatched)
            self._count = sizes[1] = 0
        if len(data) > self._count:
            sizes[1] += sum(map(len, data[self._count :])) + len(data) - self._count
            self._count = len(data)
        if sizes[0] + sizes[1] > self._max:
            head = data[0].encode()[:64] if data else b"".join(self._parts[:2])[:64]
            self._parts, self._data = [], []
            raise self._too_large(head)

    def _too_large(self, head: bytes) -> FrameTooLarge:
        return FrameTooLarge(f"an SSE event is longer than max_event_bytes={self._max} (it starts {excerpt(head)})")

    def feed(self, chunk: bytes) -> list[str]:
        """The data of every event that ``chunk`` completes, in order (often none or one).

        Event types are not reported here; use :meth:`feed_events` when they matter.
        """
        # The usual chunk is exactly one event, ``data: <payload>\n\n`` or, for
        # backends that name their events, ``event: <type>\ndata: <payload>\n\n``,
        # with nothing pending before it: answer it without splitting lines
        # (feed reports no event types, so the name needs no reading).
        end = len(chunk) - 2
        if chunk.endswith(b"\n\n") and b"\r" not in chunk and not (self._parts or self._data or self._skip_lf):
            start = 6 if chunk.startswith(b"data: ") else _named_data_start(chunk)
            if start and chunk.find(b"\n", start) == end:
                if end - start > self._max:
                    raise self._too_large(chunk[start : start + 64])
                self._started = True
                self._event = ""
                return [chunk[start:end].decode("utf-8", "replace")]
        elif chunk.endswith(b"\r\n\r\n") and chunk.startswith(b"data: ") and not (self._parts or self._data):
            # The same with CRLF line ends (Gemini's): one data line, then the blank line.
            end -= 2
            if chunk.find(b"\r", 6) == end and chunk.find(b"\n", 6) == end + 1:
                if end - 6 > self._max:
                    raise self._too_large(chunk[6:70])
                self._started = True
                self._skip_lf = False
                self._event = ""
                return [chunk[6:end].decode("utf-8", "replace")]
        out: list[str] = []
        data = self._data
        for line in self._lines(chunk):
            if line.startswith("data: "):
                data.append(line[6:])
            elif not line:
                if data:
                    payload = data[0] if len(data) == 1 else "\n".join(data)
                    if len(payload) > self._max:
                        raise self._too_large(payload[:64].encode())
                    out.append(payload)
                    data.clear()
                    self._count = self._size[1] = 0
                self._event = ""
            else:
                self._field(line)
        if self._parts or data:
            self._check_size()
        return out

    def feed_events(self, chunk: bytes) -> list[ServerSentEvent]:
        """Every event that ``chunk`` completes, in order, with its type, id and retry."""
        out: list[ServerSentEvent] = []
        for line in self._lines(chunk):
            if line:
                self._field(line)
            else:
                event = self._dispatch()
                if event is not None:
                    out.append(event)
        if self._parts or self._data:
            self._check_size()
        return out

    def decode_line(self, line: str) -> ServerSentEvent | None:
        """Apply one line that was already split off (without its line break).

        For callers that have lines already, such as httpx's ``aiter_lines()``
        (beware: that also splits at U+2028 and other Unicode line breaks,
        which may appear unescaped inside JSON; :meth:`feed` does not).
        Returns the event a blank line completes, else ``None``.
        """
        if not self._started:
            self._started = True
            if line.startswith("\ufeff"):
                line = line[1:]
        if line:
            self._field(line)
            if self._data:
                self._check_size()
            return None
        return self._dispatch()


def _named_data_start(chunk: bytes) -> int:
    """Where the payload starts in ``event: <type>\ndata: <payload>...``, or 0 for any other chunk."""
    if not chunk.startswith(b"event: "):
        return 0
    line_end = chunk.find(b"\n", 7)
    return line_end + 7 if line_end > 0 and chunk.startswith(b"data: ", line_end + 1) else 0


async def aiter_sse_data(chunks: AsyncIterable[bytes]) -> AsyncIterator[str]:
    """The data of each event in a stream of body chunks (e.g. ``response.aiter_bytes()``).

    A final event without its blank line is dropped; check the payloads for
    :data:`DONE` to know whether the stream finished.
    """
    decoder = SSEDecoder()
    async for chunk in chunks:
        for data in decoder.feed(chunk):
            yield data


async def aiter_sse(chunks: AsyncIterable[bytes]) -> AsyncIterator[ServerSentEvent]:
    """Each event, as a :class:`ServerSentEvent`, in a stream of body chunks."""
    decoder = SSEDecoder()
    async for chunk in chunks:
        for event in decoder.feed_events(chunk):
            yield event
