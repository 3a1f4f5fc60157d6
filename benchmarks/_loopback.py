"""The benchmark's loopback server: Mistral SSE, Ollama NDJSON and plain JSON replies.

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
- ``POST .../api/chat`` (Ollama): NDJSON lines (Ollama streams unless the body
  says ``"stream": false``), the last one ``done: true`` with token counts, or
  one JSON object;
- ``GET .../models`` and ``GET .../api/tags``: a one-model list;
- ``GET /__stats``: open connections and the most open at once since the
  last ``/__stats`` (how the harness checks that streams really ran concurrently).

The chunk count comes from the model name's trailing digits (``bench-10000``:
10,000 chunks; no digits: 1), so the plugins need no special support. A model
named ``status-NNN`` gets an error reply with that HTTP status. Streams are
chunked (one HTTP chunk per event, as real servers flush them).
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

_DIGITS = re.compile(rb"(\d+)$")
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)
_CREATED = 1_764_000_000
_MISTRAL_ID = "cmpl-e5cc70bb28c444948073e77776eb30ef"
_OLLAMA_TIME = "2026-11-24T07:00:00.000000000Z"
_WORDS = (" the", " quick", " brown", " fox", " jumps", " over", " a", " lazy", " dog", ".")


def _head(status: int, reason: str, content_type: str, *, length: int | None) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}", f"content-type: {content_type}", "server: clawdesk-bench"]
    lines.append(f"content-length: {length}" if length is not None else "transfer-encoding: chunked")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


def _whole(body: bytes, content_type: str = "application/json", status: int = 200, reason: str = "OK") -> bytes:
    return _head(status, reason, content_type, length=len(body)) + body


def _chunked(pieces: list[bytes], content_type: str) -> bytes:
    out = [_head(200, "OK", content_type, length=None)]
    for piece in pieces:
        out.append(b"%x\r\n%s\r\n" % (len(piece), piece))
    out.append(b"0\r\n\r\n")
    return b"".join(out)


def _dumps(data: object) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def mistral_stream(model: str, n: int) -> bytes:
    """``n`` SSE chunks (each one content delta; the last also finish + usage), then ``[DONE]``."""
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
        if i == n - 1:
            chunk["usage"] = {"prompt_tokens": 12, "completion_tokens": n, "total_tokens": 12 + n}
        pieces.append(b"data: " + _dumps(chunk) + b"\n\n")
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

    def chat(self, protocol: str, body: bytes) -> bytes:
        try:
            request = json.loads(body)
            model = str(request.get("model", ""))
        except (ValueError, AttributeError):
            return error_reply(400)
        stream = request.get("stream") is True if protocol == "mistral" else request.get("stream") is not False
        key = (protocol, stream, model)
        reply = self._replies.get(key)
        if reply is None:
            reply = self._replies[key] = self._build(protocol, stream, model)
        return reply

    @staticmethod
    def _build(protocol: str, stream: bool, model: str) -> bytes:
        if model.startswith("status-"):
            return error_reply(int(model.removeprefix("status-")))
        found = _DIGITS.search(model.encode())
        n = max(1, int(found.group(1))) if found else 1
        if protocol == "mistral":
            return mistral_stream(model, n) if stream else mistral_json(model)
        return ollama_stream(model, n) if stream else ollama_json(model)


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
