"""clawdesk.sse: ``keep_ignored`` hands over the lines the standard ignores, on any chunking."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from clawdesk.sse import SSEDecoder

# A stream whose backend wrote an error object as raw, pretty-printed JSON after an event
# (what Google's APIs do when a streamed call fails after its 200).
_RAW_ERROR = {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}
_STREAM = b'data: {"a": 1}\r\n\r\n' + json.dumps(_RAW_ERROR, indent=2).encode().replace(b"\n", b"\r\n") + b"\r\n"


def _feed(decoder: SSEDecoder, stream: bytes, cuts: list[int]) -> tuple[list[str], list[str]]:
    data: list[str] = []
    ignored: list[str] = []
    start = 0
    for end in [*sorted({c for c in cuts if 0 < c < len(stream)}), len(stream)]:
        data += decoder.feed(stream[start:end])
        assert decoder.ignored is not None
        ignored += decoder.ignored
        decoder.ignored.clear()
        start = end
    return data, ignored


def test_off_by_default() -> None:
    """Without keep_ignored the decoder keeps nothing (``ignored`` is None) and still ignores the lines."""
    decoder = SSEDecoder()
    assert decoder.feed(_STREAM) == ['{"a": 1}']
    assert decoder.ignored is None


def test_unknown_fields_are_handed_over_whole() -> None:
    """Lines of unknown fields come out in order and whole; their JSON parses back to the error object."""
    data, ignored = _feed(SSEDecoder(keep_ignored=True), _STREAM, [])
    assert data == ['{"a": 1}']
    assert json.loads("\n".join(ignored)) == _RAW_ERROR


def test_standard_fields_comments_and_blank_lines_are_not_ignored_lines() -> None:
    """Comments, event, id, retry (even a malformed one) and blank lines are the standard's: never handed over."""
    decoder = SSEDecoder(keep_ignored=True)
    stream = b": ping\nevent: x\nid: 1\nretry: soon\ndata: d\n\nfoo: bar\n{\n"
    assert decoder.feed(stream) == ["d"]
    assert decoder.ignored == ["foo: bar", "{"]


def test_decode_line_hands_over_too() -> None:
    """Lines given one by one through decode_line are handed over the same way."""
    decoder = SSEDecoder(keep_ignored=True)
    for line in ('{"error": {}}', "data: x", ""):
        decoder.decode_line(line)
    assert decoder.ignored == ['{"error": {}}']


@given(st.lists(st.integers(0, len(_STREAM)), max_size=12))
def test_same_lines_for_any_chunking(cuts: list[int]) -> None:
    """Cutting the stream anywhere (CRLF pairs included) gives the same data and the same ignored lines."""
    whole = _feed(SSEDecoder(keep_ignored=True), _STREAM, [])
    assert _feed(SSEDecoder(keep_ignored=True), _STREAM, cuts) == whole
