"""The benchmark's loopback server: every provider's wire (SSE, NDJSON, AWS event stream) and JSON replies.

Run as its own process (``run.py`` starts and stops it); it prints its port on
stdout when ready. It only ever binds 127.0.0.1 and is bounded three ways: it
stops after ``--max-requests`` requests, after ``--max-seconds`` seconds, and as
soon as its stdin closes (so it never outlives the harness, even when the
harness is killed).

It is built to cost the client side nothing measurable: a raw asyncio
``Protocol`` (no stream objects, no HTTP library), and every response is built
once and cached as the exact bytes to write, so serving a request is a header
scan, one small ``json.loads`` of the request body and one ``write``.

What it answers:

- ``POST .../chat/completions`` (Mistral): a ``chat.completion`` JSON object,
  or with ``"stream": true`` an SSE stream of ``data: {json}`` events ending
  with ``data: [DONE]``; the last JSON chunk carries ``finish_reason`` and
  ``usage``;
- the same path for OpenAI: the same chunks, plus the ``choices: []`` usage
  chunk when the body asks for ``stream_options.include_usage``;
- ``POST .../api/chat`` (Ollama): NDJSON lines (Ollama streams unless the body
  says ``"stream": false``), the last one ``done: true`` with token counts, or
  one JSON object;
- ``POST /v1/messages`` (Anthropic): a ``message`` object, or with ``"stream":
  true`` named SSE events (``event: message_start`` ... one
  ``content_block_delta`` per chunk ... ``message_delta``, ``message_stop``);
- ``POST /v1beta/models/{model}:generateContent`` and
  ``:streamGenerateContent?alt=sse`` (Gemini): a ``GenerateContentResponse``,
  or one ``data:`` event per chunk (no end marker; the last carries
  ``finishReason`` and ``usageMetadata``);
- ``POST /model/{id}/converse`` and ``/converse-stream`` (Bedrock): a Converse
  answer, or ``application/vnd.amazon.eventstream`` binary frames made with the
  toolkit's own encoder and padded as Bedrock pads them (``messageStart``, one
  ``contentBlockDelta`` per chunk, ``contentBlockStop``, ``messageStop``,
  ``metadata``); the SigV4 signature is not checked;
- ``GET .../models`` and ``GET .../api/tags``: a one-model list;
- ``GET /__stats``: open connections and the most open at once since the
  last ``/__stats`` (how the harness checks that streams really ran concurrently).

The chunk count comes from the model name's trailing digits (``bench-10000``:
10,000 chunks; no digits: 1), so the plugins need no special support. A model
named ``status-NNN`` gets an error reply with that HTTP status. Streams are
chunked (one HTTP chunk per event, as real servers flush them). A model whose
name starts with ``late-`` (``late-100``) gets the response head and the first
event at once and the rest :data:`LATE_SECS` later: the time-to-first-event
benchmark measures how soon each client hands over that first event.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import sys
import threading
from urllib.parse import unquote

_DIGITS = re.compile(rb"(\d+)$")
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)
_CREATED = 1_764_000_000
_MISTRAL_ID = "cmpl-e5cc70bb28c444948073e77776eb30ef"
_OLLAMA_TIME = "2026-11-24T07:00:00.000000000Z"
_WORDS = (" the", " quick", " brown", " fox", " jumps", " over", " a", " lazy", " dog", ".")
_ANTHROPIC_ID = "msg_01XFDUDYJgAACzvnptvVoYEL"
_GEMINI_ID = "mYtRZ8rBKs2mz7IPy8yH8A4"
_REQUEST_ID = "0c1f5a2e-8d4b-4f0e-9a7c-2b3d4e5f6a7b"
_PAD = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123"
#: How long a ``late-`` stream waits between its first event and the rest.
LATE_SECS = 0.05


def _head(status: int, reason: str, content_type: str, *, length: int | None, extra: tuple[str, ...] = ()) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}", f"content-type: {content_type}", "server: clawdesk-bench", *extra]
    lines.append(f"content-length: {length}" if length is not None else "transfer-encoding: chunked")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


def _whole(
    body: bytes,
    content_type: str = "application/json",
    status: int = 200,
    reason: str = "OK",
    extra: tuple[str, ...] = (),
) -> bytes:
    return _head(status, reason, content_type, length=len(body), extra=extra) + body


class Stream(bytes):
    """A chunked streamed reply (its whole bytes), knowing where its first text event ends (for ``late-`` models)."""

    first: int  # the bytes up to the end of the first event that carries text
    late: bool = False  # whether to send the rest LATE_SECS after those


def _chunked(pieces: list[bytes], content_type: str, extra: tuple[str, ...] = (), *, text_at: int = 0) -> Stream:
    out = [_head(200, "OK", content_type, length=None, extra=extra)]
    for piece in pieces:
        out.append(b"%x\r\n%s\r\n" % (len(piece), piece))
    out.append(b"0\r\n\r\n")
    reply = Stream(b"".join(out))
    reply.first = sum(len(piece) for piece in out[: text_at + 2])
    return reply


def _dumps(data: object) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def mistral_stream(model: str, n: int, *, include_usage: bool = False) -> bytes:
    """``n`` SSE chunks (each one content delta; the last also finish + usage), then ``[DONE]``.

    With ``include_usage`` (OpenAI's ``stream_options``), the usage comes in
    one more chunk with ``choices: []`` instead, as OpenAI sends it.
    """
    pieces = []
    for i in range(n):
        chunk: dict[str, object] = {
            "id": _MISTRAL_ID,
            "object": "chat.completion.chunk",
            "created": _CREATED,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "delta": {"role": "assistant", "content": _WORDS[i % len(_WORDS)]}
                    if i == 0
                    else {"content": _WORDS[i % len(_WORDS)]},
                    "finish_reason": "stop" if i == n - 1 else None,
                }
            ],
        }
        usage = {"prompt_tokens": 12, "completion_tokens": n, "total_tokens": 12 + n}
        if i == n - 1 and not include_usage:
            chunk["usage"] = usage
        pieces.append(b"data: " + _dumps(chunk) + b"\n\n")
    if include_usage:
        last = {"id": _MISTRAL_ID, "object": "chat.completion.chunk", "created": _CREATED, "model": model}
        pieces.append(b"data: " + _dumps({**last, "choices": [], "usage": usage}) + b"\n\n")
    pieces.append(b"data: [DONE]\n\n")
    return _chunked(pieces, "text/event-stream")


def mistral_json(model: str) -> bytes:
    body = {
        "id": _MISTRAL_ID,
        "object": "chat.completion",
        "created": _CREATED,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "The quick brown fox jumps over a lazy dog.",
                    "tool_calls": None,
                },
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 10, "total_tokens": 22},
    }
    return _whole(_dumps(body))


def ollama_stream(model: str, n: int) -> bytes:
    """``n`` NDJSON lines: ``n - 1`` content fragments, then ``done: true`` with the counts."""
    pieces = []
    for i in range(n - 1):
        line = {
            "model": model,
            "created_at": _OLLAMA_TIME,
            "message": {"role": "assistant", "content": _WORDS[i % len(_WORDS)]},
            "done": False,
        }
        pieces.append(_dumps(line) + b"\n")
    pieces.append(_dumps(_ollama_done(model, "", n)) + b"\n")
    return _chunked(pieces, "application/x-ndjson")


def _ollama_done(model: str, content: str, n: int) -> dict[str, object]:
    return {
        "model": model,
        "created_at": _OLLAMA_TIME,
        "message": {"role": "assistant", "content": content},
        "done": True,
        "done_reason": "stop",
        "total_duration": 5_043_500_667,
        "load_duration": 5_025_959,
        "prompt_eval_count": 12,
        "prompt_eval_duration": 325_953_000,
        "eval_count": n,
        "eval_duration": 4_709_213_000,
    }


def ollama_json(model: str) -> bytes:
    return _whole(_dumps(_ollama_done(model, "The quick brown fox jumps over a lazy dog.", 10)))


def _sse(event: str, data: dict[str, object]) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + _dumps(data) + b"\n\n"


def anthropic_stream(model: str, n: int) -> bytes:
    """Anthropic's named events: ``message_start``, a text block of ``n`` deltas ... ``message_stop``."""
    usage = {"input_tokens": 12, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 1}
    message = {"id": _ANTHROPIC_ID, "type": "message", "role": "assistant", "model": model, "content": [],
               "stop_reason": None, "stop_sequence": None, "usage": usage}  # fmt: skip
    pieces = [
        _sse("message_start", {"type": "message_start", "message": message}),
        _sse("content_block_start",
             {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    ]  # fmt: skip
    for i in range(n):
        delta = {"type": "text_delta", "text": _WORDS[i % len(_WORDS)]}
        pieces.append(_sse("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}))
    pieces.append(_sse("content_block_stop", {"type": "content_block_stop", "index": 0}))
    pieces.append(_sse("message_delta", {"type": "message_delta",
                                         "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                         "usage": {"output_tokens": n}}))  # fmt: skip
    pieces.append(_sse("message_stop", {"type": "message_stop"}))
    return _chunked(pieces, "text/event-stream", ("request-id: req_011CSHoEeqs5C35K2UUqR7Fy",), text_at=2)


def anthropic_json(model: str) -> bytes:
    body = {
        "id": _ANTHROPIC_ID, "type": "message", "role": "assistant", "model": model,
        "content": [{"type": "text", "text": "The quick brown fox jumps over a lazy dog."}],
        "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": 12, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                  "output_tokens": 10},
    }  # fmt: skip
    return _whole(_dumps(body), extra=("request-id: req_011CSHoEeqs5C35K2UUqR7Fy",))


def _gemini_chunk(model: str, text: str | None, last: bool, n: int) -> dict[str, object]:
    candidate: dict[str, object] = {"index": 0}
    if text is not None:
        candidate["content"] = {"parts": [{"text": text}], "role": "model"}
    if last:
        candidate["finishReason"] = "STOP"
    usage: dict[str, object] = {"promptTokenCount": 12, "totalTokenCount": 12}
    if last:
        usage = {"promptTokenCount": 12, "candidatesTokenCount": n, "totalTokenCount": 12 + n,
                 "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 12}]}  # fmt: skip
    return {"candidates": [candidate], "usageMetadata": usage, "modelVersion": model, "responseId": _GEMINI_ID}


def gemini_stream(model: str, n: int) -> bytes:
    """``n`` ``data:`` events, each a ``GenerateContentResponse`` with one text part; the last also finishes."""
    pieces = [
        b"data: " + _dumps(_gemini_chunk(model, _WORDS[i % len(_WORDS)], i == n - 1, n)) + b"\r\n\r\n" for i in range(n)
    ]
    return _chunked(pieces, "text/event-stream")


def gemini_json(model: str) -> bytes:
    return _whole(_dumps(_gemini_chunk(model, "The quick brown fox jumps over a lazy dog.", True, 10)))


def _frame(kind: str, payload: dict[str, object]) -> bytes:
    # Imported here: only Bedrock's stream needs the toolkit's encoder (the server stays light to start).
    from clawdesk.provider import encode_event_stream_message

    body = dict(payload)
    body["p"] = _PAD[: (len(json.dumps(payload)) * 7) % len(_PAD) + 1]  # Bedrock's padding
    headers = {":event-type": kind, ":content-type": "application/json", ":message-type": "event"}
    return encode_event_stream_message(headers, _dumps(body))


def bedrock_stream(n: int) -> bytes:
    """ConverseStream's frames: ``messageStart``, ``n`` text deltas, block stop, ``messageStop``, ``metadata``."""
    frames = [_frame("messageStart", {"role": "assistant"})]
    frames += [
        _frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": _WORDS[i % len(_WORDS)]}})
        for i in range(n)
    ]
    frames.append(_frame("contentBlockStop", {"contentBlockIndex": 0}))
    frames.append(_frame("messageStop", {"stopReason": "end_turn"}))
    usage = {"inputTokens": 12, "outputTokens": n, "totalTokens": 12 + n}
    frames.append(_frame("metadata", {"usage": usage, "metrics": {"latencyMs": 321}}))
    return _chunked(frames, "application/vnd.amazon.eventstream", (f"x-amzn-RequestId: {_REQUEST_ID}",), text_at=1)


def bedrock_json() -> bytes:
    body = {
        "output": {
            "message": {"role": "assistant", "content": [{"text": "The quick brown fox jumps over a lazy dog."}]}
        },
        "stopReason": "end_turn",
        "usage": {"inputTokens": 12, "outputTokens": 10, "totalTokens": 22},
        "metrics": {"latencyMs": 420},
    }
    return _whole(_dumps(body), extra=(f"x-amzn-RequestId: {_REQUEST_ID}",))


def error_reply(status: int) -> bytes:
    return _whole(
        _dumps({"message": f"benchmark error {status}", "error": f"benchmark error {status}"}),
        status=status,
        reason="Error",
    )


_NOT_FOUND = _whole(b'{"error":"not found"}', status=404, reason="Not Found")
_MODELS = _whole(_dumps({"object": "list", "data": [{"id": "bench-1", "object": "model", "owned_by": "bench"}]}))
_TAGS = _whole(_dumps({"models": [{"name": "bench-1", "model": "bench-1", "details": {"family": "bench"}}]}))


class _Cache:
    """Response bytes by (protocol, stream, model), built on first request."""

    def __init__(self) -> None:
        self._replies: dict[tuple[str, bool, str], bytes] = {}

    def chat(self, protocol: str, body: bytes, model: str | None = None, stream: bool | None = None) -> bytes:
        """The reply to a chat; ``model`` and ``stream`` come from the body unless the path said them."""
        if model is None or stream is None:
            try:
                request = json.loads(body)
                model = str(request.get("model", ""))
            except (ValueError, AttributeError):
                return error_reply(400)
            # Ollama streams unless told not to; the others only when asked.
            stream = request.get("stream") is not False if protocol == "ollama" else request.get("stream") is True
            if protocol == "mistral" and stream and (request.get("stream_options") or {}).get("include_usage"):
                protocol = "openai"
        key = (protocol, stream, model)
        reply = self._replies.get(key)
        if reply is None:
            reply = self._replies[key] = self._build(protocol, stream, model)
            if type(reply) is Stream:
                reply.late = model.startswith("late-")
        return reply

    @staticmethod
    def _build(protocol: str, stream: bool, model: str) -> bytes:
        if model.startswith("status-"):
            return error_reply(int(model.removeprefix("status-")))
        found = _DIGITS.search(model.encode())
        n = max(1, int(found.group(1))) if found else 1
        if not stream:
            if protocol == "bedrock":
                return bedrock_json()
            whole = {"ollama": ollama_json, "anthropic": anthropic_json, "gemini": gemini_json}
            return whole.get(protocol, mistral_json)(model)
        if protocol in ("mistral", "openai"):
            return mistral_stream(model, n, include_usage=protocol == "openai")
        if protocol == "ollama":
            return ollama_stream(model, n)
        if protocol == "anthropic":
            return anthropic_stream(model, n)
        if protocol == "gemini":
            return gemini_stream(model, n)
        return bedrock_stream(n)


class _Http(asyncio.Protocol):
    """One connection: keep-alive HTTP/1.1, requests with a content-length body."""

    def __init__(self, server: _Server) -> None:
        self._server = server
        self._buffer = b""
        self._transport: asyncio.Transport | None = None
        self._stats = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._server.opened()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._stats:
            self._server.closed()

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer + data if self._buffer else data
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            found = _CONTENT_LENGTH.search(buffer, 0, end + 2)
            total = end + 4 + (int(found.group(1)) if found else 0)
            if len(buffer) < total:
                break
            line_end = buffer.find(b"\r\n")
            request_line = buffer[:line_end]
            if request_line.startswith(b"GET /__stats ") and not self._stats:
                self._stats = True  # a stats connection is not one of the measured ones
                self._server.closed()
            reply = self._server.answer(request_line, buffer[end + 4 : total])
            buffer = buffer[total:]
            assert self._transport is not None
            if type(reply) is Stream and reply.late:
                # The head and the first event now, the rest later: a model that thinks between tokens.
                self._transport.write(reply[: reply.first])
                asyncio.get_running_loop().call_later(LATE_SECS, self._transport.write, reply[reply.first :])
            else:
                self._transport.write(reply)
        self._buffer = buffer


class _Server:
    def __init__(self, max_requests: int, stop: asyncio.Event) -> None:
        self._cache = _Cache()
        self._left = max_requests
        self._stop = stop
        self._open = 0
        self._peak = 0

    def opened(self) -> None:
        self._open += 1
        self._peak = max(self._peak, self._open)

    def closed(self) -> None:
        self._open -= 1

    def _stats(self) -> bytes:
        """Open and peak connections since the last ask (the peak restarts from the open count).

        The asking connection is not counted, but it may have raised the peak by one on connecting.
        """
        body = _dumps({"open": self._open, "peak": self._peak})
        self._peak = self._open
        return _whole(body)

    def answer(self, request_line: bytes, body: bytes) -> bytes:
        self._left -= 1
        if self._left <= 0:
            self._stop.set()
        method, _, rest = request_line.partition(b" ")
        path = rest.partition(b" ")[0].partition(b"?")[0]
        if method == b"POST" and path.endswith(b"/chat/completions"):
            return self._cache.chat("mistral", body)
        if method == b"POST" and path.endswith(b"/api/chat"):
            return self._cache.chat("ollama", body)
        if method == b"POST" and path.endswith(b"/v1/messages"):
            return self._cache.chat("anthropic", body)
        if method == b"POST" and b"/models/" in path and b":" in path:
            # Gemini: /v1beta/models/{model}:generateContent or :streamGenerateContent
            model, _, operation = path.rpartition(b"/")[2].partition(b":")
            stream = operation == b"streamGenerateContent"
            return self._cache.chat("gemini", body, unquote(model.decode()), stream)
        if method == b"POST" and path.startswith(b"/model/"):
            # Bedrock: /model/{model id, URL-encoded}/converse or /converse-stream
            model, _, operation = path[7:].rpartition(b"/")
            return self._cache.chat("bedrock", body, unquote(model.decode()), operation == b"converse-stream")
        if path == b"/__stats":
            return self._stats()
        if method == b"GET" and path.endswith(b"/models"):
            return _MODELS
        if method == b"GET" and path.endswith(b"/api/tags"):
            return _TAGS
        return _NOT_FOUND


async def _serve(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(4096)
    server = _Server(args.max_requests, stop)
    listener = await loop.create_server(lambda: _Http(server), sock=sock, backlog=4096)

    def watch_stdin() -> None:
        # EOF on stdin means the harness is gone (or asked us to stop).
        try:
            sys.stdin.buffer.read()
        finally:
            loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=watch_stdin, daemon=True).start()
    loop.call_later(args.max_seconds, stop.set)
    print(sock.getsockname()[1], flush=True)
    await stop.wait()
    listener.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any free one)")
    parser.add_argument("--max-requests", type=int, default=2_000_000)
    parser.add_argument("--max-seconds", type=float, default=1800.0)
    parser.add_argument("--cpu", type=int, default=None, help="pin the server to this CPU")
    args = parser.parse_args()
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
