"""NDJSON decoding does not depend on where the bytes of a stream are split (hypothesis)."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
from hypothesis import given
from hypothesis import strategies as st

from clawdesk import (
    ChatRequest,
    Finish,
    FinishReason,
    Message,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCallEvent,
    Usage,
    UsageEvent,
)
from clawdesk_ollama import OllamaConfig
from clawdesk_ollama._chat import stream

CONFIG = OllamaConfig(base_url="http://ollama.test:11434")
REQUEST = ChatRequest("llama3.2", (Message.user("hi"),))

# Text that stresses line splitting: separators Python's splitlines knows,
# non-ASCII (multi-byte UTF-8 a split can land inside), quotes and newlines
# (escaped inside JSON strings).
_text = st.text(
    alphabet=st.sampled_from(["a", "é", "語", "🦙", "\x85", "\u2028", "\u2029", "\x1c", "\n", "\r", '"', "\\", " "]),
    min_size=1,
    max_size=8,
)
_fragment = st.tuples(st.sampled_from(["content", "thinking", "tool"]), _text)


class _Chunks(httpx.AsyncByteStream):
    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            yield chunk


def _body(fragments: list[tuple[str, str]], crlf: bool, final_newline: bool) -> tuple[bytes, list[Any]]:
    """The NDJSON body for ``fragments`` and the events it must give."""
    lines: list[dict[str, Any]] = []
    expected: list[Any] = []
    for kind, text in fragments:
        message: dict[str, Any] = {"role": "assistant", "content": ""}
        if kind == "content":
            message["content"] = text
            expected.append(TextDelta(text))
        elif kind == "thinking":
            message["thinking"] = text
            expected.append(ReasoningDelta(text))
        else:
            message["tool_calls"] = [{"function": {"name": "echo", "arguments": {"text": text}}}]
            expected.append(("tool", text))
        lines.append({"model": "llama3.2", "created_at": "2026-11-24T07:00:00Z", "message": message, "done": False})
    lines.append(
        {
            "model": "llama3.2",
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "stop",
            "prompt_eval_count": 5,
            "eval_count": len(fragments),
        }
    )
    has_tools = any(kind == "tool" for kind, _ in fragments)
    expected += [
        UsageEvent(Usage(5, len(fragments), raw={"prompt_eval_count": 5, "eval_count": len(fragments)})),
        Finish(FinishReason.TOOL_CALLS if has_tools else FinishReason.STOP, "stop"),
    ]
    end = b"\r\n" if crlf else b"\n"
    body = end.join(json.dumps(line, ensure_ascii=False).encode() for line in lines)
    return (body + end if final_newline else body), expected


async def _decode(chunks: list[bytes]) -> list[StreamEvent]:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "application/x-ndjson"}, stream=_Chunks(chunks))

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        return [event async for event in stream(CONFIG, http, REQUEST)]


def _comparable(events: list[StreamEvent]) -> list[Any]:
    return [("tool", e.call.arguments["text"]) if isinstance(e, ToolCallEvent) else e for e in events]


@given(
    fragments=st.lists(_fragment, max_size=6),
    crlf=st.booleans(),
    final_newline=st.booleans(),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12),
)
def test_same_events_whatever_the_chunking(
    fragments: list[tuple[str, str]], crlf: bool, final_newline: bool, cuts: list[int]
) -> None:
    """Lines split across chunks, many lines per chunk, a last line without newline: same events."""
    body, expected = _body(fragments, crlf, final_newline)
    points = sorted({c % (len(body) + 1) for c in cuts} | {0, len(body)})
    chunks = [body[a:b] for a, b in itertools.pairwise(points) if b > a]
    whole = anyio.run(_decode, [body])
    split = anyio.run(_decode, chunks)
    assert _comparable(split) == _comparable(whole) == expected
    tool_ids = [e.call.id for e in split if isinstance(e, ToolCallEvent)]
    assert tool_ids == [e.call.id for e in whole if isinstance(e, ToolCallEvent)]
    assert len(set(tool_ids)) == len(tool_ids)


@given(data=st.binary(max_size=200))
def test_garbage_never_passes_as_a_success(data: bytes) -> None:
    """Whatever bytes a server sends, the stream ends with a Finish only if a done:true line came."""
    from clawdesk import ProviderError

    try:
        events = anyio.run(_decode, [data])
    except ProviderError:
        return
    assert isinstance(events[-1], Finish)
    assert b'"done"' in data


async def _outcome(chunks: list[bytes]) -> tuple[list[Any], str | None]:
    from clawdesk import ProviderError

    events: list[StreamEvent] = []

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "application/x-ndjson"}, stream=_Chunks(chunks))

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        try:
            async for event in stream(CONFIG, http, REQUEST):
                events.append(event)
        except ProviderError as exc:
            return _comparable(events), f"{type(exc).__name__}: {exc}"
    return _comparable(events), None


@given(
    texts=st.lists(_text, min_size=1, max_size=5),
    ending=st.sampled_from(["error", "no-done"]),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12),
)
def test_failures_do_not_depend_on_chunking(texts: list[str], ending: str, cuts: list[int]) -> None:
    """An error line or a missing done line fails the same way, after the same events, however it is split."""
    lines = [
        json.dumps({"model": "m", "message": {"role": "assistant", "content": t}, "done": False}).encode()
        for t in texts
    ]
    if ending == "error":
        lines.append(b'{"error":"an error was encountered while running the model"}')
    body = b"\n".join(lines) + b"\n"
    points = sorted({c % (len(body) + 1) for c in cuts} | {0, len(body)})
    chunks = [body[a:b] for a, b in itertools.pairwise(points) if b > a]
    whole = anyio.run(_outcome, [body])
    split = anyio.run(_outcome, chunks)
    assert split == whole
    events, error = whole
    assert events == [TextDelta(t) for t in texts]
    assert error is not None
    assert ("running the model" in error) if ending == "error" else ("done:true" in error)
