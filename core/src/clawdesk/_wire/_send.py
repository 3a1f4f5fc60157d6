"""Sending a request and reading its answer: :class:`Wire`, the HTTP half every provider shares.

A plugin makes one :class:`Wire` per call from its config and the client core
hands it, then either reads a JSON answer whole::

    wire = Wire(config, http, auth=bearer(config.api_key), classify=classify,
                request_id_header="x-request-id")
    reply = await wire.json("POST", "/chat/completions", body, model=request.model)
    reply.data, reply.headers, reply.request_id

or reads a streamed answer chunk by chunk::

    async with wire.stream("POST", "/chat/completions", body, model=request.model,
                           end_marker="data: [DONE]") as reply:
        async for chunk in reply.chunks():      # httpx's own iterator: no layer added per chunk
            for data in decoder.feed(chunk):
                if data == DONE:
                    reply.end()                 # the end marker came: the answer is whole
                    break
                ...                             # yield events
            if reply.ended:
                break

What it does, so that no plugin does it again (each rule is tested here once):

- **One timeout, set once**: ``config.timeout_secs`` for connecting, sending
  and each read, passed with every request (whatever client the hook was
  given). ``first_byte_timeout`` replaces the read timeout for the wait until
  the answer starts (for backends that think before they answer): for
  :meth:`Wire.json` it bounds the whole answer (a body dripped a byte at a
  time included), for a stream the wait for the response headers (which
  such backends send with the first token); a stream then waits at most
  ``timeout_secs`` for each further piece.
- **Status before body**: the request is sent streamed, so an error status is
  judged before its body is decoded: a 503 with a broken gzip page stays a
  retryable 503, not "could not decode".
- **One classification**: an error status goes to the plugin's ``classify``
  (one :class:`ErrorResponse` with the status, headers, bounded body, parsed
  JSON, extracted message, url, model and request id) and, when that returns
  ``None``, to :func:`~clawdesk.provider.error_for_status`. Every error
  carries ``config.name``, the request id and the wait the backend asked for.
- **Transport failures in two phases**: before the response headers, httpx's
  exceptions map to ``ConnectionFailed``/``TimedOut`` (and so on); after
  them, a reset or a peer closing mid-body is :class:`~clawdesk.Truncated`
  and a read timeout ``TimedOut``.
- **Bounded reading**: a JSON answer is read up to ``max_body_bytes``
  (decompressed, so a compression bomb cannot fill memory), past which
  :class:`~clawdesk.ApiError`; an error body up to
  :data:`~clawdesk.provider.ERROR_BODY_LIMIT`.
- **One truncation error**: leaving a ``stream`` block without
  :meth:`StreamReply.end` having been called raises one
  :class:`~clawdesk.Truncated` (retryable), whether the body ended cleanly or
  was cut; a :class:`~clawdesk.provider.FramingError` from a decoder inside
  the block becomes :class:`~clawdesk.ApiError`.
- **Connection reuse**: after the end marker, what is left of the body is
  read for at most :data:`DRAIN_SECS`, so the connection goes back to the
  pool; a server that keeps the body open loses its connection instead. A
  request that went out on a kept-alive connection the server was closing
  (a clean close with no byte of an answer, or a failed write) is sent once
  more on a new connection; it is not an attempt. A reset counts as a try. One on a new connection is
  never resent, since its server may have crashed while working on it.
- **The engine's stream limits, per read**: a stream opened while the
  engine offers its limits (``clawdesk._limits``) checks the idle limit and
  the call's end at each read of the body, so the engine needs no cancel
  scope per event.
- **Auth in the header only**: :func:`bearer`, :func:`api_key_header`, or a
  signer over the finished :class:`httpx.Request`.

This module imports httpx: plugins reach it through :mod:`clawdesk.provider`,
inside their hooks.
"""

from __future__ import annotations

import inspect
import json
import logging
import math
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any

import anyio
import anyio.lowlevel
import httpx
from attrs import frozen

from .._errors import ApiError, ConnectionFailed, InvalidRequest, ProviderError, TimedOut, Truncated, _one_line
from .._limits import OFFER, StreamLimits
from .._provider_config import DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_FRAME_BYTES, ProviderConfig
from .._secret import Secret
from ._framing import FrameTooLarge, FramingError
from ._http import (
    _should_retry,
    error_for_status,
    map_transport_error,
    message_from_body,
    proxy_error,
    read_error_body,
    request_timeout,
    retry_after_from,
    safe_url,
)
from ._json import loads_json

__all__ = [
    "DRAIN_SECS",
    "MAX_BODY_BYTES",
    "Auth",
    "Classify",
    "ErrorResponse",
    "HeaderAuth",
    "JsonReply",
    "Signer",
    "StreamReply",
    "Wire",
    "api_key_header",
    "bearer",
    "encode_json",
]

#: The largest JSON answer :meth:`Wire.json` reads (after decompression) unless the
#: provider's ``max_body_bytes`` says otherwise: 32 MiB. A chat answer is a few KiB;
#: a model listing of a big catalogue well under 1 MiB.
MAX_BODY_BYTES = DEFAULT_MAX_BODY_BYTES
#: The most decompressed bytes made from a compressed body at a time: a small
#: compressed chunk may expand a thousandfold, so it is inflated in pieces this
#: big, each counted against the cap before the next is made.
_INFLATE_PIECE = 64 * 1024
# Content encodings inflated here, piece by piece (any other one is left to httpx).
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
#: How long the rest of a body is read after the end marker before the connection is dropped.
DRAIN_SECS = 0.05

# One encoder for every request: json.dumps with options builds a new one per call.
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
_loads = loads_json


def encode_json(value: Any, *, provider: str) -> bytes:
    """``value`` as compact UTF-8 JSON, or :class:`~clawdesk.InvalidRequest` naming what JSON cannot carry.

    NaN and infinities are refused (JSON has no such numbers, and a backend
    would answer 400 or, worse, read them as null), as are objects JSON does
    not know (a set, bytes, a datetime), circular and absurdly deep values.
    Keys must be strings, numbers, booleans or ``None``.
    """
    try:
        return _encode(value).encode()
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidRequest(f"the request holds a value JSON cannot carry: {exc}", provider=provider) from None


# -- auth -----------------------------------------------------------------------


@frozen(repr=False)
class HeaderAuth:
    """A credential sent in one header: ``name: prefix + key``.

    The key stays a :class:`~clawdesk.Secret` until the header is built, so
    no repr, log line or error shows it; it never goes into the URL.
    """

    name: str
    key: Secret
    prefix: str = ""

    def value(self) -> str:
        return self.prefix + self.key.reveal()

    def __repr__(self) -> str:
        return f"HeaderAuth({self.name!r}, {self.prefix}***)"


#: Signs the finished request in place (adds headers computed over its method,
#: URL, headers and body: AWS SigV4 is one). May be sync or async.
Signer = Callable[[httpx.Request], Awaitable[None] | None]
#: What :class:`Wire` accepts as ``auth``: a header, a signer, or ``None`` for no auth.
Auth = HeaderAuth | Signer


def bearer(key: Secret | str | None) -> HeaderAuth | None:
    """``Authorization: Bearer <key>``, or ``None`` when there is no key (nothing is sent)."""
    if not key:
        return None
    return HeaderAuth("authorization", key if isinstance(key, Secret) else Secret(key), "Bearer ")


def api_key_header(name: str, key: Secret | str | None) -> HeaderAuth | None:
    """The key alone in header ``name`` (``x-api-key``, ``x-goog-api-key``), or ``None`` without a key."""
    if not key:
        return None
    return HeaderAuth(name.lower(), key if isinstance(key, Secret) else Secret(key))


# -- errors ---------------------------------------------------------------------


@frozen(kw_only=True)
class ErrorResponse:
    """What a plugin's ``classify`` sees of an error response.

    ``body`` is at most :data:`~clawdesk.provider.ERROR_BODY_LIMIT` bytes
    (empty when it could not be read or decoded), ``json`` the body parsed
    (``None`` when it is not JSON), ``message`` the one-line message found in
    it (see :func:`~clawdesk.provider.message_from_body`), ``url`` the address
    without credentials, ``model`` the model asked for (``None`` for calls
    about no model), ``request_id`` the backend's id for the request.
    :meth:`kw` gives the keyword arguments every error made from it should
    carry.
    """

    provider: str
    status: int
    headers: httpx.Headers
    body: bytes
    json: Any
    message: str
    url: str
    model: str | None
    request_id: str | None

    def kw(self) -> dict[str, Any]:
        """``provider``, ``status``, ``url``, ``request_id`` and ``retry_after``, for an error's constructor."""
        return {
            "provider": self.provider,
            "status": self.status,
            "url": self.url,
            "request_id": self.request_id,
            "retry_after": retry_after_from(self.headers),
        }


#: A plugin's own reading of an error response: an error, or ``None`` to let the status decide.
Classify = Callable[[ErrorResponse], ProviderError | None]


def _with_request_id(error: ProviderError, request_id: str | None) -> ProviderError:
    # A classifier may build its error without the id; every error carries it.
    if request_id and not error.request_id:
        error.request_id = _one_line(request_id)[:200]
        error.message = _one_line(error._compose())
        error.args = (error.message,)
    return error


# -- replies --------------------------------------------------------------------


class JsonReply:
    """A JSON answer: ``data`` (parsed), ``status``, ``headers`` and the backend's ``request_id``."""

    __slots__ = ("data", "headers", "request_id", "status")

    def __init__(self, data: Any, status: int, headers: httpx.Headers, request_id: str | None) -> None:
        self.data = data
        self.status = status
        self.headers = headers
        self.request_id = request_id


class StreamReply:
    """A streamed answer, as an async context manager; see the module docstring for the pattern.

    Entering it sends the request and raises the classified error for an
    error status (nothing is yielded then). Inside the block,
    :meth:`chunks` gives the body's (decompressed) chunks and :meth:`end`
    records that the end marker came. Leaving the block:

    - normally, after :meth:`end`: the rest of the body is drained briefly
      and the connection released;
    - normally, without :meth:`end`: :class:`~clawdesk.Truncated` (the body
      ended before its end marker);
    - with an httpx exception from the body: its mapped error (``Truncated``
      for a reset or a peer that closed mid-body, ``TimedOut`` for a read
      timeout), raised ``from`` it;
    - with a :class:`~clawdesk.provider.FramingError`: :class:`~clawdesk.ApiError`
      (the backend's framing is broken; not retryable);
    - with anything else (the plugin's own error, ``GeneratorExit`` when the
      consumer closed the stream early, cancellation): the response is
      closed at once and the exception goes on unchanged.
    """

    __slots__ = (
        "_accept",
        "_body",
        "_chunks",
        "_claims",
        "_ended",
        "_limits",
        "_marker",
        "_method",
        "_model",
        "_path",
        "_wire",
        "response",
    )

    def __init__(
        self, wire: Wire, method: str, path: str, body: Any, model: str | None, marker: str, accept: str | None
    ) -> None:
        self._wire = wire
        self._accept = accept
        self._method = method
        self._path = path
        self._body = body
        self._model = model
        self._marker = marker
        self._ended = False
        self._chunks: AsyncIterator[bytes] | None = None
        self._limits: StreamLimits | None = None
        self._claims = False  # whether this stream holds the claim on _limits (the first one open did)
        #: The httpx response, once the block is entered.
        self.response: httpx.Response | None = None

    @property
    def status(self) -> int:
        return self._response().status_code

    @property
    def headers(self) -> httpx.Headers:
        return self._response().headers

    @property
    def request_id(self) -> str | None:
        """The backend's id for this request (from the wire's ``request_id_header``), or ``None``."""
        return self._wire._request_id(self._response())

    @property
    def ended(self) -> bool:
        """Whether :meth:`end` was called."""
        return self._ended

    def end(self) -> None:
        """Record that the end marker arrived: the answer is whole, and leaving the block is a success."""
        self._ended = True

    def chunks(self) -> AsyncIterator[bytes]:
        """The body's chunks as they arrive, decompressed: httpx's own iterator (the same one on every call).

        A gzip or deflate body is inflated here instead, at most 64 KiB at a
        time, so that a compression bomb meets the decoder's frame cap before
        it can fill memory. A body without ``Content-Encoding`` is read from
        the transport's stream itself, which is what ``aiter_bytes`` would give
        through two more generators (about 1 us per chunk, 7% of a stream's
        cost). Breaking out of ``async for`` over it and iterating it again
        goes on where it stopped.
        """
        chunks = self._chunks
        if chunks is None:
            chunks = _body_chunks(self._response())
            limits = self._limits
            if limits is not None:
                response = self._response()
                per_read = self._wire._config.timeout_secs if _times_its_reads(response) else None
                chunks = _Limited(chunks, limits, per_read)
            self._chunks = chunks
        return chunks

    def _response(self) -> httpx.Response:
        if self.response is None:
            raise RuntimeError("the stream reply is used outside its `async with` block")
        return self.response

    async def __aenter__(self) -> StreamReply:
        limits = OFFER.get()
        if limits is not None and not limits.scoped:
            # Opened in a step the engine does not scope (see Wire.json): the wait for the answer
            # to start, and an error body, are bounded by the stream's limits here.
            at = limits.deadline(anyio.current_time())
            with anyio.CancelScope(deadline=at) as bounded:
                await self._open()
            if bounded.cancelled_caught:
                if self.response is not None:
                    await self.response.aclose()  # closed already on every path in _open; never left open
                raise limits.error_at(at)
        else:
            await self._open()
        if limits is not None:
            # The engine's limits for this stream are enforced at each read of it from now on (the
            # engine stops scoping its steps while the first stream open holds the claim).
            self._limits = limits
            self._claims = not limits.claimed
            limits.claimed = True
        return self

    async def _open(self) -> None:
        wire = self._wire
        response = await wire._send(self._method, self._path, self._body, self._model, self._accept)
        self.response = response
        if not response.is_success:
            try:
                await wire._raise_status(response, self._model)
            finally:
                await response.aclose()
        await wire._refuse_page(response, self._path, self._accept)
        if wire._first_byte is not None:
            _read_timeout(response, wire._config.timeout_secs)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        response = self._response()
        try:
            if exc is None:
                if not self._ended:
                    wire = self._wire
                    where = wire._where(self._path)
                    raise Truncated(
                        f"the stream ended before {self._marker}: the answer is incomplete ({where})",
                        provider=wire.provider,
                        url=where,
                        request_id=wire._request_id(response),
                    )
                await self._drain()
                return False
            if isinstance(exc, httpx.HTTPError):
                if isinstance(exc, httpx.RequestError) and exc._request is None:
                    exc.request = response.request  # as aiter_bytes would have set it
                error = self._wire._transport(exc, self._path, after_headers=True, first_byte=False, response=response)
                if type(error) is Truncated:
                    # Said the same way as a body that ended cleanly: what was missing, and why.
                    error = Truncated(
                        f"the stream broke off before {self._marker}: {error.detail}",
                        provider=error.provider,
                        url=error.url,
                        request_id=error.request_id,
                    )
                raise error from exc
            if isinstance(exc, FramingError):
                wire = self._wire
                where = wire._where(self._path)
                what = f"the stream is malformed: {exc}"
                if isinstance(exc, FrameTooLarge):
                    what += f"; providers.{wire.provider}.max_frame_bytes sets the cap"
                raise ApiError(
                    f"{what} ({where})",
                    provider=wire.provider,
                    url=where,
                    request_id=wire._request_id(response),
                ) from exc
            return False
        finally:
            limits = self._limits
            if limits is not None and self._claims:
                # Handed back: whatever the plugin waits for next is the engine's to bound again.
                limits.claimed = False
            await response.aclose()

    async def _drain(self) -> None:
        # The answer is complete. Reading on to the end of the body (normally just the chunked
        # terminator, already on its way) puts the connection back in the pool; what a server sends
        # after its end marker is not part of the answer and is ignored.
        if self._chunks is None and self._response().is_stream_consumed:
            return  # the plugin read the body through another httpx iterator: only that one could go on
        chunks = self.chunks()
        with anyio.move_on_after(DRAIN_SECS):
            try:
                async for _ in chunks:
                    pass
            except httpx.HTTPError:
                pass


def _body_chunks(response: httpx.Response) -> AsyncIterator[bytes]:
    """The decoded body: the transport's own stream, httpx's iterator, or, for gzip and deflate, inflated here."""
    headers = response.headers
    if "content-encoding" not in headers:
        stream = response.stream
        if isinstance(stream, httpx.AsyncByteStream) and not (response.is_stream_consumed or response.is_closed):
            # What aiter_raw does before reading, less its byte count (nobody reads it here) and its
            # exception context (StreamReply.__aexit__ sets the request on the error instead).
            response.is_stream_consumed = True
            return stream.__aiter__()
        return response.aiter_bytes()
    encoding = headers["content-encoding"].strip().lower()
    wbits = _WBITS.get(encoding) if encoding else None
    if wbits is None:
        return response.aiter_bytes()
    return _inflate(response, wbits)


async def _inflate(response: httpx.Response, wbits: int) -> AsyncIterator[bytes]:
    # httpx inflates each network chunk whole: 64 KiB of zeros compressed become 64 MiB at once.
    # Inflating at most _INFLATE_PIECE per step lets the caller's cap stop a bomb at the cap.
    inflater = zlib.decompressobj(wbits)
    first = True
    try:
        async for raw in response.aiter_raw():
            if first and raw and wbits == zlib.MAX_WBITS and (raw[0] & 0x0F) != 8:
                # "deflate" as some servers send it: raw deflate without the zlib header.
                inflater = zlib.decompressobj(-zlib.MAX_WBITS)
            first = first and not raw
            data = raw
            while True:
                out = inflater.decompress(data, _INFLATE_PIECE)
                data = inflater.unconsumed_tail
                if out:
                    yield out
                if not data and len(out) < _INFLATE_PIECE:
                    break
                if inflater.eof:
                    break
    except zlib.error as exc:
        raise httpx.DecodingError(str(exc), request=response.request) from exc


def _times_its_reads(response: httpx.Response) -> bool:
    # httpx's own transport (httpcore) bounds each read by the request's read timeout, which _Limited
    # relies on for a read it does not give a scope; a transport of another kind may not, and its
    # reads all get one. The client wraps the transport's stream (BoundAsyncStream._stream).
    stream = getattr(response.stream, "_stream", None)
    return type(stream).__module__ == "httpx._transports.default"


class _Limited:
    """``chunks``, each read bounded by the stream's idle limit and the call's end (see clawdesk._limits).

    The idle wait starts again at the first read after the engine handed out
    an event (``limits.events`` changed), so bytes that make no event (SSE
    comments, blank NDJSON lines, a body dripped a byte at a time) never
    reset it. A read whose limit is further away than ``per_read`` (the read
    timeout httpcore applies to every read) needs no scope: the read timeout
    ends it first, and ``__anext__`` hands out the underlying read itself, so
    such a read costs a clock reading and no extra frame.
    """

    __slots__ = ("_chunks", "_clock", "_limits", "_per_read")

    def __init__(self, chunks: AsyncIterator[bytes], limits: StreamLimits, per_read: float | None) -> None:
        self._chunks = chunks
        self._limits = limits
        self._per_read = per_read
        self._clock = _clock()

    def __aiter__(self) -> _Limited:
        return self

    def __anext__(self) -> Awaitable[bytes]:
        limits = self._limits
        now = self._clock()
        if limits.events != limits.window:  # StreamLimits.deadline, inlined: this runs on every read
            limits.window = limits.events
            limits.idle_at = now + limits.idle if limits.idle is not None else math.inf
        at = limits.idle_at if limits.idle_at < limits.ends else limits.ends
        left = at - now
        if left <= 0:
            raise limits.error_at(at)
        per_read = self._per_read
        if per_read is None or left < per_read:
            return self._scoped(at)
        return self._chunks.__anext__()

    async def _scoped(self, at: float) -> bytes:
        with anyio.CancelScope(deadline=at) as scope:
            chunk = await self._chunks.__anext__()
        if scope.cancelled_caught:
            raise self._limits.error_at(at)
        return chunk


def _clock() -> Callable[[], float]:
    """The running event loop's clock, looked up once: ``anyio.current_time()`` asks which loop runs at every call."""
    try:
        return anyio.lowlevel.current_token().backend_class.current_time
    except AttributeError:  # an older anyio without current_token() or its backend_class: the same clock
        return anyio.current_time


def _read_timeout(response: httpx.Response, seconds: float) -> None:
    # The connection reads its timeouts from the request's "timeout" extension (the same dict the
    # transport holds) at each read, so replacing the read timeout now makes every wait for more of
    # the stream use timeout_secs, at no cost per chunk. A transport that ignores the extension
    # keeps the longer first-byte timeout: bounded still.
    extensions = response.request.extensions
    timeouts = extensions.get("timeout")
    if isinstance(timeouts, dict):
        extensions["timeout"] = {**timeouts, "read": seconds}


_log = logging.getLogger("clawdesk.wire")

#: What h11 says when a connection ends before a single byte of the answer.
_UNANSWERED = "Server disconnected without sending a response."


class _ConnectionWatch:
    """httpcore's trace hook for one request: did it go out on a connection the pool already had?

    Only that case is resent (see ``Wire._send``): on a new connection, a peer that closes
    unanswered may have crashed while working on the request, and sending it again would run it
    twice. A transport that reports no trace events (a ``MockTransport``) is never resent.
    """

    __slots__ = ("opened", "resent", "sent")

    def __init__(self) -> None:
        self.opened = False
        self.sent = False
        self.resent = False

    async def __call__(self, event: str, info: Mapping[str, Any]) -> None:
        if event.startswith("connection.connect_"):
            self.opened = True
        elif event == "http11.send_request_headers.started":
            self.sent = True

    def stale(self, exc: httpx.HTTPError) -> bool:
        """Whether ``exc`` is a kept-alive connection the server had closed: the request may go again.

        A reused connection (headers went out, no connection was opened) that the server closed
        cleanly without a byte of an answer, or that could not take the whole request. A reset
        (RST) is not resent: it is also how a crashing server or a middlebox ends a request, and
        that counts as a try. Once only: a second failure is the server's.
        """
        if self.resent or self.opened or not self.sent:
            return False
        if isinstance(exc, httpx.RemoteProtocolError):
            return str(exc) == _UNANSWERED
        return True


# -- the wire -------------------------------------------------------------------


class Wire:
    """Sends one provider's requests and reads their answers; make one per call (it is cheap).

    - ``config``: the provider's config: ``base_url`` (paths are appended to
      it), ``timeout_secs``, and ``name`` (every error's provider).
    - ``http``: the client core gave the hook.
    - ``auth``: :func:`bearer`, :func:`api_key_header`, a :data:`Signer`, or
      ``None``.
    - ``classify``: the plugin's reading of error responses (see
      :class:`ErrorResponse`); ``None`` leaves it all to the status.
    - ``request_id_header``: the response header holding the backend's id for
      the request (``x-request-id``, ``request-id``, ...).
    - ``headers``: extra headers sent with every request (an API version).
    - ``first_byte_timeout``: the wait for the response headers (and, for
      :meth:`json`, for the whole answer), when it differs from
      ``timeout_secs``; ``first_byte_hint`` and ``connect_hint`` are added to
      the messages of a timeout in that wait and of a refused connection
      (say what to do about it).
    - ``max_body_bytes``: the cap on a JSON answer (default: the config's
      ``max_body_bytes``, :data:`MAX_BODY_BYTES` unless set); the config's
      ``max_frame_bytes`` is :attr:`max_frame_bytes`, for the plugin's
      framing decoder.
    """

    __slots__ = (
        "_auth",
        "_base",
        "_classify",
        "_config",
        "_connect_hint",
        "_first_byte",
        "_first_byte_hint",
        "_headers",
        "_http",
        "_max_body",
        "_rid_header",
        "_timeout",
        "provider",
    )

    def __init__(
        self,
        config: ProviderConfig,
        http: httpx.AsyncClient,
        *,
        auth: Auth | None = None,
        classify: Classify | None = None,
        request_id_header: str | None = None,
        headers: Mapping[str, str] | None = None,
        first_byte_timeout: float | None = None,
        first_byte_hint: str | None = None,
        connect_hint: str | None = None,
        max_body_bytes: int | None = None,
    ) -> None:
        self._config = config
        self._http = http
        self._auth = auth
        self._classify = classify
        self._rid_header = request_id_header
        self._headers = headers
        self._first_byte = first_byte_timeout
        self._first_byte_hint = first_byte_hint
        self._connect_hint = connect_hint
        self._max_body = getattr(config, "max_body_bytes", MAX_BODY_BYTES) if max_body_bytes is None else max_body_bytes
        self._base = config.base_url.rstrip("/")
        self._timeout = request_timeout(config.timeout_secs, first_byte_timeout)
        #: The provider's name as callers use it (``config.name``), for errors.
        self.provider = config.name or "provider"

    @property
    def max_frame_bytes(self) -> int:
        """The cap for one stream frame (the config's ``max_frame_bytes``): pass it to the framing decoder."""
        value = getattr(self._config, "max_frame_bytes", None)
        return value if isinstance(value, int) else DEFAULT_MAX_FRAME_BYTES

    def url(self, path: str) -> str:
        """``base_url`` (without a trailing ``/``) joined with ``path``."""
        return self._base + path

    def encode(self, value: Any) -> bytes:
        """:func:`encode_json` with this provider's name."""
        return encode_json(value, provider=self.provider)

    async def json(
        self, method: str, path: str, body: Any = None, *, model: str | None = None, accept: str | None = None
    ) -> JsonReply:
        """Send ``body`` (any JSON value, already encoded ``bytes``, or ``None``) and read the JSON answer.

        ``accept`` sets the ``Accept`` header (left to the client's ``*/*``
        when ``None``). Raises the classified error for an error status, the
        mapped error for a transport failure, :class:`~clawdesk.ApiError` for
        an answer that is not JSON or is larger than ``max_body_bytes``.
        """
        limits = OFFER.get()
        if limits is not None and not limits.scoped:
            # Inside a stream's step that the engine does not scope (its limits were with a wire
            # stream): this request is bounded by them here instead.
            at = limits.deadline(anyio.current_time())
            with anyio.CancelScope(deadline=at) as bounded:
                reply = await self._json(method, path, body, model, accept)
            if bounded.cancelled_caught:
                raise limits.error_at(at)
            return reply
        return await self._json(method, path, body, model, accept)

    async def _json(self, method: str, path: str, body: Any, model: str | None, accept: str | None) -> JsonReply:
        if self._first_byte is None:
            response, raw = await self._exchange(method, path, body, model, accept)
        else:
            # The answer comes whole once it is ready: first_byte_timeout bounds all of it, so a body
            # dripped a byte at a time (each read well within the read timeout) cannot last forever.
            with anyio.move_on_after(self._first_byte) as scope:
                response, raw = await self._exchange(method, path, body, model, accept)
            if scope.cancelled_caught:
                where = self._where(path)
                hint = f"; {self._first_byte_hint}" if self._first_byte_hint else ""
                raise TimedOut(
                    f"no whole answer from {where} within {self._first_byte:g}s{hint}",
                    provider=self.provider,
                    url=where,
                    limit="first_byte",
                )
        try:
            data = _loads(raw)
        except (ValueError, RecursionError):  # RecursionError: nested too deeply for Python's decoder
            where = self._where(path)
            what = "empty" if not raw.strip() else "not JSON"
            raise ApiError(
                f"the answer is {what} ({where})",
                provider=self.provider,
                status=response.status_code,
                url=where,
                request_id=self._request_id(response),
                retryable=False,
            ) from None
        return JsonReply(data, response.status_code, response.headers, self._request_id(response))

    async def _exchange(
        self, method: str, path: str, body: Any, model: str | None, accept: str | None
    ) -> tuple[httpx.Response, bytes]:
        response = await self._send(method, path, body, model, accept)
        try:
            if not response.is_success:
                await self._raise_status(response, model)
            raw = await self._read(response, path)
        except httpx.HTTPError as exc:
            raise self._transport(exc, path, after_headers=True, first_byte=True, response=response) from exc
        finally:
            await response.aclose()
        return response, raw

    def stream(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        model: str | None = None,
        end_marker: str = "its end marker",
        accept: str | None = None,
    ) -> StreamReply:
        """A streamed answer: use as ``async with wire.stream(...) as reply``; see :class:`StreamReply`.

        ``end_marker`` names the backend's end marker in the
        :class:`~clawdesk.Truncated` message (``"data: [DONE]"``, ``"done: true"``);
        ``accept`` sets the ``Accept`` header (``"text/event-stream"``).
        """
        return StreamReply(self, method, path, body, model, end_marker, accept)

    # -- internals ----------------------------------------------------------------

    def _where(self, path: str) -> str:
        return safe_url(self._base + path)

    def _request_id(self, response: httpx.Response) -> str | None:
        name = self._rid_header
        return response.headers.get(name) if name is not None else None

    async def _send(self, method: str, path: str, body: Any, model: str | None, accept: str | None) -> httpx.Response:
        if body is None:
            content = None
        elif isinstance(body, bytes):
            content = body
        else:
            content = encode_json(body, provider=self.provider)
        headers = {"content-type": "application/json"} if content is not None else {}
        if accept is not None:
            # Only when asked for: the client's default (*/*) suits most backends, and replacing it
            # costs a header deletion and insertion on every request.
            headers["accept"] = accept
        if self._headers:
            headers.update(self._headers)
        auth = self._auth
        if type(auth) is HeaderAuth:
            value = auth.value()
            if not (value.isascii() and value.isprintable()):
                # Refused here, before httpx sees it: its errors would quote the whole header, key included.
                raise self._unsendable(path, "the API key holds a character an HTTP header cannot carry")
            headers[auth.name] = value
        http = self._http
        watch = _ConnectionWatch()
        try:
            request = http.build_request(
                method,
                self._base + path,
                content=content,
                headers=headers,
                timeout=self._timeout,
                extensions={"trace": watch},
            )
            if auth is not None and type(auth) is not HeaderAuth:
                signed = auth(request)  # type: ignore[operator]
                if inspect.isawaitable(signed):
                    await signed
            try:
                # Streamed, so that the status is judged before the body is read or decoded.
                return await http.send(request, stream=True)
            except (httpx.RemoteProtocolError, httpx.WriteError) as exc:
                if not watch.stale(exc):
                    raise
            # The server closed a kept-alive connection as this request went out on it (llama.cpp's
            # server does so just after a stream; any server at its idle timeout): nothing of an answer
            # came, so the request goes once more, on a new connection. Not a retry: the request met a
            # pooled connection, not the provider, so it costs no attempt and no cooldown (browsers
            # resend the same way: Chromium's HttpNetworkTransaction::ShouldResendRequest).
            _log.debug("%s: %s closed a reused connection unanswered; sending again", self.provider, self._where(path))
            watch.resent = True
            return await http.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise self._transport(exc, path, after_headers=False, first_byte=True) from exc
        except UnicodeEncodeError:
            pass  # raised below, outside this block: the error's context would quote the header
        raise self._unsendable(path, "a header value is not ASCII (check the API key)")

    def _unsendable(self, path: str, why: str) -> InvalidRequest:
        where = self._where(path)
        return InvalidRequest(f"the request cannot be sent ({where}): {why}", provider=self.provider, url=where)

    async def _read(self, response: httpx.Response, path: str) -> bytes:
        limit = self._max_body
        length = response.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise self._too_large(response, path)
        parts: list[bytes] = []
        size = 0
        async for chunk in _body_chunks(response):
            size += len(chunk)
            if size > limit:
                raise self._too_large(response, path)
            parts.append(chunk)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _too_large(self, response: httpx.Response, path: str) -> ApiError:
        where = self._where(path)
        return ApiError(
            f"the answer is larger than max_body_bytes={self._max_body} bytes "
            f"(providers.{self.provider}.max_body_bytes sets the cap) ({where})",
            provider=self.provider,
            status=response.status_code,
            url=where,
            request_id=self._request_id(response),
            retryable=False,
        )

    async def _refuse_page(self, response: httpx.Response, path: str, accept: str | None) -> None:
        """Raise :class:`~clawdesk.ApiError` if a stream was answered with an HTML page or a JSON document.

        A captive portal, a login page or a misrouted proxy answers 200 with
        HTML; read as a stream it looked like an answer cut short (retried as
        Truncated). JSON counts only when ``accept`` asked for something else.
        """
        media = response.headers.get("content-type", "").partition(";")[0].strip().lower()
        if media != "text/html" and not (media == "application/json" and accept and media not in accept.lower()):
            return
        try:
            body = await read_error_body(response)
        except httpx.HTTPError:
            body = b""
        finally:
            await response.aclose()
        message = message_from_body(body, media) or ("an HTML page" if media == "text/html" else "JSON")
        where = self._where(path)
        raise ApiError(
            f"expected a stream, got {message} ({where})",
            provider=self.provider,
            status=response.status_code,
            url=where,
            request_id=self._request_id(response),
            retryable=False,
        )

    async def _raise_status(self, response: httpx.Response, model: str | None) -> None:
        """Raise the error for ``response``'s (error) status."""
        url = safe_url(response.request.url)
        request_id = self._request_id(response)
        try:
            body = await read_error_body(response)
        except httpx.HTTPError:
            # A corrupt compressed body, a reset while reading it: the status still says what happened.
            body = b""
        headers = response.headers
        message = message_from_body(body, headers.get("content-type"))
        error: ProviderError | None = None
        if self._classify is not None:
            parsed: Any = None
            if body[:1] in (b"{", b"["):
                try:
                    parsed = _loads(body)
                except (ValueError, RecursionError):
                    parsed = None
            error = self._classify(
                ErrorResponse(
                    provider=self.provider,
                    status=response.status_code,
                    headers=headers,
                    body=body,
                    json=parsed,
                    message=message,
                    url=url,
                    model=model,
                    request_id=request_id,
                )
            )
        if error is None:
            error = error_for_status(
                self.provider,
                response.status_code,
                message,
                headers=headers,
                url=url,
                model=model,
                request_id=request_id,
            )
        else:
            error = _with_request_id(error, request_id)
            verdict = _should_retry(headers)
            if verdict is not None:
                error.retryable = verdict
        raise error

    def _transport(
        self,
        exc: Exception,
        path: str,
        *,
        after_headers: bool,
        first_byte: bool,
        response: httpx.Response | None = None,
    ) -> ProviderError:
        """The error for an httpx exception; ``first_byte``: it came while waiting with ``first_byte_timeout``."""
        where = self._where(path)
        request_id = self._request_id(response) if response is not None else None
        kw: dict[str, Any] = {"provider": self.provider, "url": where, "request_id": request_id}
        proxied = proxy_error(exc, where, kw)
        if proxied is not None:
            return proxied
        if isinstance(exc, httpx.ConnectError) and self._connect_hint:
            reason = str(exc).strip() or type(exc).__name__
            return ConnectionFailed(f"could not connect to {where} ({reason}); {self._connect_hint}", **kw)
        if first_byte and self._first_byte is not None and isinstance(exc, httpx.ReadTimeout):
            hint = f"; {self._first_byte_hint}" if self._first_byte_hint else ""
            return TimedOut(f"no answer from {where} within {self._first_byte:g}s{hint}", limit="first_byte", **kw)
        return map_transport_error(self.provider, exc, url=where, after_headers=after_headers, request_id=request_id)
