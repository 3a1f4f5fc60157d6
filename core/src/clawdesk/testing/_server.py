"""A scripted HTTP/1.1 server on 127.0.0.1, for tests that need real HTTP.

It speaks plain HTTP/1.1 over a real socket, writes exactly the bytes a
script says (so a test can reproduce a backend's wire format byte for byte),
and can misbehave on purpose: cut a body short, reset a connection, accept
and never answer, stall after the headers, drip bytes slowly.

It runs its own asyncio loop in a background thread, so the code under test
can use any event loop (asyncio or trio) or none. Only loopback is ever bound.

Usage::

    with ScriptedServer() as server:
        server.add(Reply.json({"ok": True}))           # answers the next request
        server.route("GET", "/api/tags", Reply.json({...}))  # answers every GET /api/tags
        ... client talks to server.url ...
        server.requests[0].json()                      # what the client sent
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import struct
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from attrs import define, field, frozen

__all__ = ["RecordedRequest", "Reply", "ScriptedServer", "unused_port"]


def unused_port() -> int:
    """A loopback port nothing listens on (for "connection refused" tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@frozen
class RecordedRequest:
    """One request as the server received it."""

    method: str
    path: str
    headers: Mapping[str, str]  # lower-cased names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@frozen(kw_only=True)
class Reply:
    """What the server sends back for one request.

    - ``status``/``reason``/``headers``: the status line and headers, as given
      (``content-length`` or ``transfer-encoding: chunked`` is added unless
      present).
    - ``chunks``: the body, written piece by piece (each piece is one HTTP
      chunk when ``chunked``), with ``delay`` seconds before each piece.
    - ``cut_after``: after this many pieces, close the connection without
      finishing the body (a truncated response).
    - ``reset_on_cut``: make that close an abrupt reset (RST) instead of a
      clean close (FIN): a peer that crashed mid-body.
    - ``stall_after``: after this many pieces, send nothing more and keep the
      connection open (a backend that hangs mid-stream).
    - ``action``: ``"reply"`` (normal), ``"reset"`` (close abruptly, with an
      RST, before any byte is sent), ``"stall"`` (read the request, never
      answer), ``"stall_after_headers"`` (send the headers, then nothing),
      ``"raw"`` (write ``chunks`` exactly as given, with no status line or
      headers of its own, then close: for responses that are not valid HTTP,
      or HTTP written by hand).
    """

    status: int = 200
    reason: str = ""
    headers: Sequence[tuple[str, str]] = ()
    chunks: Sequence[bytes] = ()
    chunked: bool = False
    delay: float = 0.0
    cut_after: int | None = None
    action: str = "reply"
    reset_on_cut: bool = False
    stall_after: int | None = None

    @classmethod
    def json(cls, data: Any, *, status: int = 200, headers: Iterable[tuple[str, str]] = ()) -> Reply:
        body = json.dumps(data).encode()
        return cls(status=status, headers=(("content-type", "application/json"), *headers), chunks=(body,))

    @classmethod
    def text(
        cls,
        body: str | bytes,
        *,
        status: int = 200,
        content_type: str = "text/plain; charset=utf-8",
        headers: Iterable[tuple[str, str]] = (),
    ) -> Reply:
        data = body.encode() if isinstance(body, str) else body
        return cls(status=status, headers=(("content-type", content_type), *headers), chunks=(data,))

    @classmethod
    def stream(
        cls,
        pieces: Iterable[bytes],
        *,
        content_type: str,
        status: int = 200,
        delay: float = 0.0,
        cut_after: int | None = None,
        headers: Iterable[tuple[str, str]] = (),
        reset_on_cut: bool = False,
        stall_after: int | None = None,
    ) -> Reply:
        """A chunked streaming body, one HTTP chunk per piece."""
        return cls(
            status=status,
            headers=(("content-type", content_type), *headers),
            chunks=tuple(pieces),
            chunked=True,
            delay=delay,
            cut_after=cut_after,
            reset_on_cut=reset_on_cut,
            stall_after=stall_after,
        )

    @classmethod
    def raw(cls, *pieces: bytes, delay: float = 0.0) -> Reply:
        """Exactly these bytes (status line and headers included), then the connection is closed."""
        return cls(chunks=pieces, delay=delay, action="raw")

    @classmethod
    def reset(cls) -> Reply:
        return cls(action="reset")

    @classmethod
    def stall(cls) -> Reply:
        return cls(action="stall")

    @classmethod
    def stall_after_headers(cls, *, content_type: str = "application/json") -> Reply:
        return cls(headers=(("content-type", content_type),), chunked=True, action="stall_after_headers")


Handler = Callable[[RecordedRequest], Reply]


@define
class ScriptedServer:
    """A real HTTP server on ``127.0.0.1`` answering from a script. See the module docstring.

    ``ssl_context`` (a server-side :class:`ssl.SSLContext`) makes it speak
    HTTPS, for tests of certificate checking; :attr:`url` then starts with
    ``https://``.
    """

    ssl_context: ssl.SSLContext | None = field(default=None, kw_only=True)
    requests: list[RecordedRequest] = field(factory=list, init=False)
    port: int = field(default=0, init=False)
    _queue: deque[Reply | Handler] = field(factory=deque, init=False)
    _routes: dict[tuple[str, str], Reply | Handler] = field(factory=dict, init=False)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)
    _stopping: asyncio.Event | None = field(default=None, init=False)
    _open: set[asyncio.StreamWriter] = field(factory=set, init=False)
    _handlers: set[asyncio.Task[None]] = field(factory=set, init=False)
    _lock: threading.Lock = field(factory=threading.Lock, init=False)
    connections_opened: int = field(default=0, init=False)

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def open_connections(self) -> int:
        """Connections the server still holds open right now."""
        return len(self._open)

    # -- scripting -----------------------------------------------------------

    def add(self, *replies: Reply | Handler) -> None:
        """Queue replies; each answers one request, in order (before routes)."""
        with self._lock:
            self._queue.extend(replies)

    def route(self, method: str, path: str, reply: Reply | Handler) -> None:
        """Answer every ``method path`` request (when the queue is empty) with ``reply``."""
        with self._lock:
            self._routes[(method.upper(), path)] = reply

    def _next(self, request: RecordedRequest) -> Reply:
        with self._lock:
            item = self._queue.popleft() if self._queue else self._routes.get((request.method, request.path))
        if item is None:
            return Reply.json({"error": f"no scripted reply for {request.method} {request.path}"}, status=599)
        return item(request) if callable(item) else item

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> ScriptedServer:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="scripted-server", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("scripted server did not start")
        return self

    def stop(self) -> None:
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stopping.set)
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve(ready))
        finally:
            loop.close()

    async def _serve(self, ready: threading.Event) -> None:
        self._stopping = asyncio.Event()
        # A 1 MiB line limit: tests send big headers on purpose, and asyncio's
        # 64 KiB default would drop such a request as a protocol error.
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.ssl_context, limit=_LINE_LIMIT)
        self.port = server.sockets[0].getsockname()[1]
        ready.set()
        async with server:
            await self._stopping.wait()
            for writer in list(self._open):
                writer.close()
            # Let stalled handlers see the stop and finish, so the loop closes
            # with no task pending ("Task was destroyed but it is pending!").
            if self._handlers:
                await asyncio.wait(list(self._handlers), timeout=5)
        server.close()

    # -- protocol ------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)
        self._open.add(writer)
        self.connections_opened += 1
        try:
            while True:
                try:
                    request = await _read_request(reader)
                except ValueError:
                    # A request we cannot parse (bad request line, bad chunk
                    # size, a line over the limit): drop the connection, as a
                    # real server would, instead of a traceback from the loop.
                    return
                if request is None:
                    return
                self.requests.append(request)
                reply = self._next(request)
                if not await self._write(reply, writer):
                    return
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            return
        finally:
            self._open.discard(writer)
            if not writer.is_closing():
                writer.close()

    async def _write(self, reply: Reply, writer: asyncio.StreamWriter) -> bool:
        assert self._stopping is not None
        if reply.action == "reset":
            _cut(writer, reset=True)
            return False
        if reply.action == "stall":
            await self._stopping.wait()
            return False
        if reply.action == "raw":
            for piece in reply.chunks:
                if reply.delay:
                    await asyncio.sleep(reply.delay)
                writer.write(piece)
                await writer.drain()
            _cut(writer, reset=reply.reset_on_cut)
            return False
        names = {name.lower() for name, _ in reply.headers}
        head = [f"HTTP/1.1 {reply.status} {reply.reason or _REASONS.get(reply.status, 'Status')}"]
        head += [f"{name}: {value}" for name, value in reply.headers]
        if reply.chunked:
            if "transfer-encoding" not in names:
                head.append("transfer-encoding: chunked")
        elif "content-length" not in names:
            head.append(f"content-length: {sum(len(c) for c in reply.chunks)}")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        await writer.drain()
        if reply.action == "stall_after_headers":
            await self._stopping.wait()
            return False
        for index, piece in enumerate(reply.chunks):
            if reply.cut_after is not None and index >= reply.cut_after:
                _cut(writer, reset=reply.reset_on_cut)
                return False
            if reply.stall_after is not None and index >= reply.stall_after:
                await self._stopping.wait()
                return False
            if reply.delay:
                await asyncio.sleep(reply.delay)
            if reply.chunked:
                if piece:
                    writer.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            else:
                writer.write(piece)
            await writer.drain()
        if reply.cut_after is not None and reply.cut_after <= len(reply.chunks):
            _cut(writer, reset=reply.reset_on_cut)
            return False
        if reply.stall_after is not None and reply.stall_after <= len(reply.chunks):
            await self._stopping.wait()
            return False
        if reply.chunked:
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        return True


def _cut(writer: asyncio.StreamWriter, *, reset: bool) -> None:
    """Close the connection: cleanly (FIN), or abruptly with an RST when ``reset``."""
    if not reset:
        writer.close()
        return
    sock = writer.get_extra_info("socket")
    if sock is not None:
        # SO_LINGER with a zero timeout makes close() send RST and drop unsent data.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


_LINE_LIMIT = 1024 * 1024


async def _read_request(reader: asyncio.StreamReader) -> RecordedRequest | None:
    try:
        line = await reader.readline()
    except (ConnectionError, asyncio.LimitOverrunError):
        return None
    if not line:
        return None
    method, path, _version = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
    headers: dict[str, str] = {}
    while True:
        raw = await reader.readline()
        if raw in (b"\r\n", b"\n", b""):
            break
        name, _, value = raw.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = b""
    if headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while True:
            size = int((await reader.readline()).split(b";")[0].strip(), 16)
            if size == 0:
                await reader.readline()
                break
            parts.append(await reader.readexactly(size))
            await reader.readline()
        body = b"".join(parts)
    elif "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    return RecordedRequest(method.upper(), path, headers, body)


_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    409: "Conflict",
    413: "Payload Too Large",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    499: "Client Closed Request",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    529: "Site Overloaded",
}
