"""A fast, incremental splitter for newline-delimited JSON (NDJSON, JSON Lines) bodies.

Ollama streams its answers this way, one JSON object a line. The decoder does
no I/O and parses no JSON: it returns each line's bytes, for the caller to
``json.loads`` (or not)::

    decoder = NDJSONDecoder()
    async for chunk in response.aiter_bytes():
        for line in decoder.feed(chunk):
            handle(json.loads(line))
    for line in decoder.flush():  # a last line without its newline
        handle(json.loads(line))

The rules:

- lines end at ``\\n`` bytes and at nothing else: unlike ``str.splitlines``
  (and so httpx's ``aiter_lines``), U+2028, U+0085 and the other Unicode line
  breaks stay inside the line, because a JSON string may hold them as they
  are; so does a ``\\r`` that is not right before the ``\\n``;
- one ``\\r`` right before the ``\\n`` is dropped, so CRLF bodies work;
- blank lines (empty, or only spaces, tabs and ``\\r``) are skipped: they hold
  no JSON value, and some servers send them to keep a connection alive;
- NDJSON allows the last line to lack its ``\\n``: :meth:`NDJSONDecoder.feed`
  keeps such a partial line (:attr:`NDJSONDecoder.pending`) and
  :meth:`NDJSONDecoder.flush` returns it once the body has ended. Whether a
  line without its newline is a complete answer or a cut one is the caller's
  call (Ollama's last line carries ``"done": true``, which settles it);
- bytes are returned as they came: no UTF-8 decoding, no BOM handling;
- a line longer than ``max_line_bytes`` (the bytes before its ``\\n``, a
  ``\\r`` included) raises :class:`FrameTooLarge` from the
  :meth:`~NDJSONDecoder.feed` call whose chunk passes the cap, so a server
  that never ends its line costs at most the cap plus one chunk of memory.
  Lines that chunk completed before the long one are not returned: the
  stream is unusable anyway.

Speed matters here (one call per network chunk on the streaming hot path):
each chunk is split once with ``bytes.split``, and one that is exactly one
line with nothing pending (the usual case: servers flush a line at a time)
is answered right away. The pieces of a line that spans chunks are kept in a
list and joined once, when its end arrives, so a long line in many small
chunks costs no repeated copying. No regexes, no work per byte in Python.
"""

from __future__ import annotations

from ._framing import DEFAULT_MAX_FRAME_BYTES, FrameTooLarge, excerpt

__all__ = ["NDJSONDecoder"]

# What a blank line may hold: JSON's insignificant whitespace, less the \n that ends it.
_BLANK = b" \t\r"


class NDJSONDecoder:
    """Turns the bytes of an NDJSON body into its lines, incrementally.

    One decoder per response. :meth:`feed` returns the lines each chunk
    completes, :meth:`flush` the last line if the body ended without a
    newline. The same bytes give the same lines however they are cut into
    chunks.
    """

    __slots__ = ("_max", "_parts", "_size")

    def __init__(self, *, max_line_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        if max_line_bytes < 1:
            raise ValueError(f"max_line_bytes must be at least 1, not {max_line_bytes}")
        self._max = max_line_bytes
        self._parts: list[bytes] = []  # the start of a line whose \n has not arrived (never empty pieces)
        self._size = 0  # the bytes in _parts, so the cap is checked without joining them

    @property
    def pending(self) -> bool:
        """Whether a line has begun but its ``\\n`` has not arrived (what :meth:`flush` would look at)."""
        return bool(self._parts)

    def feed(self, chunk: bytes) -> list[bytes]:
        """Every non-blank line that ``chunk`` completes, in order, without its ``\\n`` (or ``\\r\\n``)."""
        lines = chunk.split(b"\n")
        parts = self._parts
        limit = self._max
        if len(lines) == 2 and not lines[1] and not parts:
            # The usual chunk: one whole line (its only \n is its last byte)
            # with nothing pending before it.
            line = lines[0]
            if len(line) > limit:
                raise self._too_large(line)
            if line[-1:] == b"\r":
                line = line[:-1]
            # A line that starts with something other than blank-line bytes is not blank: no strip() copy.
            return [line] if (line and line[0] not in _BLANK) or line.strip(_BLANK) else []
        rest = lines.pop()  # after the last \n: the start of the next line (or b"")
        if not lines:  # no \n in the chunk: all of it continues the pending line
            if rest:
                size = self._size + len(rest)
                if size > limit:
                    raise self._too_large(parts[0] if parts else rest)
                parts.append(rest)
                self._size = size
            return []
        if parts:
            # Checked before the join, so a line over the cap is never assembled.
            if self._size + len(lines[0]) > limit:
                raise self._too_large(parts[0])
            parts.append(lines[0])
            lines[0] = b"".join(parts)
            parts.clear()
        # Within the cap already unless the chunk itself is longer than it (the
        # joined first line was checked above).
        if len(chunk) > limit:
            for piece in (*lines, rest):
                if len(piece) > limit:
                    raise self._too_large(piece)
        if rest:
            parts.append(rest)
        self._size = len(rest)
        out: list[bytes] = []
        for line in lines:
            if line.strip(_BLANK):
                out.append(line[:-1] if line.endswith(b"\r") else line)
        return out

    def flush(self) -> list[bytes]:
        """The pending line, if the body ended without its ``\\n`` and it is not blank; the decoder is then empty."""
        if not self._parts:
            return []
        line = b"".join(self._parts)
        self._parts.clear()
        self._size = 0
        if line.endswith(b"\r"):
            line = line[:-1]
        return [line] if line.strip(_BLANK) else []

    def _too_large(self, start: bytes) -> FrameTooLarge:
        return FrameTooLarge(f"an NDJSON line is longer than max_line_bytes={self._max} (it starts {excerpt(start)})")
