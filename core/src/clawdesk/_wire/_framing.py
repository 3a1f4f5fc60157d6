"""What every framing decoder of the wire toolkit shares: its errors and its default size cap.

A framing decoder turns the bytes of a response body into frames (an SSE
event, an NDJSON line, an event-stream message) and gives them no meaning.
When the bytes cannot be frames it raises :class:`FramingError`; the message
is one short line that names what is wrong and quotes at most a few dozen
bytes of the body, so that logging it can neither flood a log nor copy a
whole answer into it.
"""

from __future__ import annotations

__all__ = ["DEFAULT_MAX_FRAME_BYTES", "FrameTooLarge", "FramingError"]

#: The largest frame (one SSE event, one NDJSON line, one event-stream message)
#: a decoder buffers by default: 16 MiB. Far above any real event (a streamed
#: token is tens of bytes, a whole tool call or a usage block a few KiB, and
#: aws-c-event-stream caps a message at the same 16 MiB), far below the
#: machine's memory: a server that never ends its line, or a corrupted length,
#: costs at most this much before the decoder gives up.
DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024

_EXCERPT_CHARS = 40


class FramingError(ValueError):
    """The body is not well-formed in its framing (a bad checksum, a length that does not fit, ...).

    The stream cannot be trusted past this point: stop reading it. A decoder
    that raised is not to be fed again.
    """


class FrameTooLarge(FramingError):
    """One frame is longer than the decoder's cap; raised as soon as the cap is passed,
    so the decoder never holds much more than the cap."""


def excerpt(data: bytes | bytearray | memoryview, limit: int = _EXCERPT_CHARS) -> str:
    """The start of ``data`` as a one-line ``repr``, at most ``limit`` characters (for error messages)."""
    text = repr(bytes(data[:limit]))
    return text if len(text) <= limit else text[: limit - 3] + "..."
