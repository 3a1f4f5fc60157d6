"""The one place that turns HTTP statuses and httpx's exceptions into clawdesk errors.

Everything a plugin would otherwise write again lives here, so that a plugin
maps only what is truly provider-specific (an error body's shape, a status a
backend uses in its own way):

- :func:`error_for_status` turns a status code and a message into the right
  :class:`~clawdesk.ProviderError` subclass, with ``retry_after`` and the
  backend's ``x-should-retry`` verdict;
- :func:`raise_for_response` reads (a bounded part of) an error response,
  extracts the message and raises that error;
- :func:`map_transport_error` turns any httpx exception into a
  :class:`~clawdesk.ProviderError` (before or after the response headers);
  raise its result ``from`` the original;
- :func:`parse_retry_after` reads ``Retry-After`` in both of its forms, and
  :func:`retry_after_from` the headers that carry a wait.

Plugins normally use these through :class:`~clawdesk.provider.Wire`, which
calls them at the right moments. This module imports httpx: plugins reach it
through :mod:`clawdesk.provider`, inside their hooks.
"""

from __future__ import annotations

import datetime
import email.utils
import functools
import json
import math
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from .._errors import (
    ApiError,
    AuthFailed,
    ConnectionFailed,
    InvalidRequest,
    ModelNotFound,
    PermissionDenied,
    ProviderError,
    QuotaExceeded,
    RateLimited,
    TimedOut,
    Truncated,
)
from .._provider_config import ProviderConfig
from .._secret import redact
from ._proxy import proxy_for

__all__ = [
    "ERROR_BODY_LIMIT",
    "client_timeout",
    "error_for_status",
    "map_transport_error",
    "message_from_body",
    "parse_json",
    "parse_retry_after",
    "raise_for_response",
    "read_error_body",
    "request_timeout",
    "retry_after_from",
    "safe_url",
    "short_text",
]

#: How much of an error body is read: enough for any real message, and a
#: 10 MiB HTML page from a proxy is not pulled into memory.
ERROR_BODY_LIMIT = 64 * 1024
_MESSAGE_LIMIT = 300
_json_loads = json.loads
#: Where an HTML page's <title> is looked for.
_HTML_HEAD_LIMIT = 8 * 1024


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header value, or ``None``.

    Accepts delta-seconds (``"2"``, also ``"1.5"`` which some servers send) and
    an HTTP-date (``"Wed, 21 Oct 2026 07:28:00 GMT"``, measured from ``now``,
    a Unix time defaulting to the clock). A date in the past gives ``0.0``.
    Anything else (empty, negative, garbage, NaN) gives ``None``: a header we
    cannot read is treated as absent, never as "wait forever".
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if math.isfinite(seconds) and seconds >= 0 and re.fullmatch(r"\d+(\.\d+)?", text):
            return seconds
        return None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        # HTTP dates are always GMT; only the asctime form leaves the zone out.
        when = when.replace(tzinfo=datetime.UTC)
    reference = time.time() if now is None else now
    return max(0.0, when.timestamp() - reference)


def safe_url(url: httpx.URL | str) -> str:
    """The URL without user info or query string (which may hold a key)."""
    return _safe_url(str(url))


# Two full URL parses cost ~60 µs, and plugins ask for the same few URLs on every call.
@functools.lru_cache(maxsize=256)
def _safe_url(text: str) -> str:
    u = httpx.URL(text)
    return str(u.copy_with(userinfo=b"", query=None, fragment=None))


def retry_after_from(headers: Mapping[str, str] | httpx.Headers | None) -> float | None:
    """The wait a response asks for, in seconds: ``retry-after-ms`` first, then ``Retry-After``.

    ``retry-after-ms`` (milliseconds, sent by OpenAI-style and Azure backends)
    is more precise, so it wins when both are there and readable. An
    unreadable value counts as absent (``None``), never as "wait forever".
    """
    if headers is None:
        return None
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            value = float(millis)
        except ValueError:
            value = math.nan
        if math.isfinite(value) and value >= 0:
            return value / 1000
    return parse_retry_after(headers.get("retry-after"))


def _should_retry(headers: Mapping[str, str] | httpx.Headers | None) -> bool | None:
    # The backend's own verdict on retrying (OpenAI-style servers send it); anything but
    # true/false is ignored.
    value = headers.get("x-should-retry") if headers is not None else None
    if value is None:
        return None
    value = value.strip().lower()
    return True if value == "true" else False if value == "false" else None


def error_for_status(
    provider: str,
    status: int,
    message: str,
    *,
    headers: Mapping[str, str] | httpx.Headers | None = None,
    url: str | None = None,
    model: str | None = None,
    request_id: str | None = None,
) -> ProviderError:
    """The :class:`~clawdesk.ProviderError` for an HTTP error status.

    ====================  ==============================  ==========
    status                error                           retryable
    ====================  ==============================  ==========
    400, 413, 422         InvalidRequest                  no
    401                   AuthFailed                      no
    402                   QuotaExceeded                   no
    403                   PermissionDenied                no
    404                   ModelNotFound                   no
    408                   TimedOut                        yes
    429                   RateLimited                     yes
    409, 5xx (529 too)    ApiError                        yes
    3xx with Location     ApiError ("not followed")       no
    any other             ApiError                        no
    ====================  ==============================  ==========

    ``retry_after`` is read (see :func:`retry_after_from`) for every
    retryable status, not only 429: a 503 often says when to come back. An
    ``x-should-retry: true`` or ``false`` header overrides the table's
    verdict, since the backend knows best whether asking again can help.
    ``request_id`` goes into the error (and its message).
    """
    kw: dict[str, Any] = {"provider": provider, "status": status, "url": url, "request_id": request_id}
    verdict = _should_retry(headers)
    if verdict is not None:
        kw["retryable"] = verdict
    retryable = status in (408, 409, 429) or status >= 500
    if (retryable or verdict) and headers is not None:
        kw["retry_after"] = retry_after_from(headers)
    if status in (400, 413, 422):
        return InvalidRequest(message, **kw)
    if status == 401:
        return AuthFailed(message or "the API key was refused", **kw)
    if status == 402:
        return QuotaExceeded(message or "out of credit or quota (HTTP 402 Payment Required)", **kw)
    if status == 403:
        return PermissionDenied(message or "not allowed", **kw)
    if status == 404:
        return ModelNotFound(message or "not found", model=model, **kw)
    if status == 408:
        return TimedOut(message or "the server timed out waiting for the request", **kw)
    if status == 429:
        return RateLimited(message or "rate limited", **kw)
    if 300 <= status < 400 and headers is not None and headers.get("location"):
        # Redirects are not followed (a key must not travel to another host);
        # the usual cause is a base_url with http:// where https:// is served.
        try:
            location = safe_url(headers["location"])
        except httpx.InvalidURL:
            location = "another address"
        return ApiError(f"redirected to {location}, which is not followed: check base_url", **kw)
    return ApiError(message or f"HTTP {status}", **kw)


def message_from_body(body: bytes, content_type: str | None = None) -> str:
    """A one-line message from an error body, whatever its shape.

    Understands the common JSON shapes (``{"message": ...}``,
    ``{"error": "..."}``, ``{"error": {"message": ...}}``, ``{"detail": ...}``
    including FastAPI-style lists of ``{loc, msg}``). HTML pages give their
    ``<title>``; other text is used as is. Invalid UTF-8 is replaced, empty
    bodies give ``""``. The result is cut to a few hundred characters.
    """
    # Redacted first, on the raw text: a key the server echoed must go whole, before any cut below.
    text = redact(body.decode("utf-8", errors="replace")).strip()
    if not text:
        return ""
    message: str | None = None
    if text[:1] in "{[":
        try:
            message = _message_from_json(parse_json(text))
        except (ValueError, RecursionError):
            message = None
    if message is None:
        lowered = text[:512].lower()
        if "<html" in lowered or "<!doctype" in lowered or (content_type or "").startswith("text/html"):
            title = _html_title(text)
            message = f"HTML error page: {title}" if title else "HTML error page"
        else:
            message = text
    return short_text(message)


def short_text(text: str, limit: int = _MESSAGE_LIMIT) -> str:
    """``text`` for a message: secrets masked first, then on one line, then cut to ``limit`` characters.

    In that order, so that no cut leaves the head of a key a server echoed
    (see :func:`clawdesk.redact`); a cut text ends with ``…``.
    """
    text = " ".join(redact(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_json(data: bytes | bytearray | str) -> Any:
    """``json.loads``, except that JSON nested too deeply to decode is a ``ValueError`` too.

    Python's decoder recurses once per level, so ``[[[[...]]]]`` a few
    thousand levels deep raises ``RecursionError``, which no ``except
    ValueError`` around a parse catches: a hostile body became a plugin's
    crash. Every JSON body and frame the toolkit and the first-party plugins
    read goes through here, so one ``except ValueError`` covers all junk.
    """
    try:
        return _json_loads(data)
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None


def _html_title(text: str) -> str:
    # Plain string searches over a bounded head of the page: a regex with a
    # lazy ``.*?`` goes quadratic on a page of many unclosed ``<title`` tags.
    head = text[:_HTML_HEAD_LIMIT]
    lowered = head.lower()
    start = lowered.find("<title")
    if start < 0:
        return ""
    start = lowered.find(">", start)
    end = lowered.find("</title", start)
    if start < 0 or end < 0:
        return ""
    return head[start + 1 : end].strip()


def _message_from_json(data: object) -> str | None:
    if isinstance(data, dict):
        for key in ("message", "error", "detail", "msg"):
            if key in data:
                value = data[key]
                if isinstance(value, str):
                    return value
                inner = _message_from_json(value)
                if inner:
                    return inner
        return None
    if isinstance(data, list) and data:
        parts = []
        for item in data[:5]:
            if isinstance(item, dict) and "msg" in item:
                loc = item.get("loc")
                where = ".".join(str(x) for x in loc if x != "body") if isinstance(loc, list) else ""
                parts.append(f"{where}: {item['msg']}" if where else str(item["msg"]))
            elif isinstance(item, str):
                parts.append(item)
        return "; ".join(parts) or None
    return None


async def read_error_body(response: httpx.Response, *, limit: int = ERROR_BODY_LIMIT) -> bytes:
    """Up to ``limit`` bytes of a response's (decoded) body, read or already read."""
    try:
        return response.content[:limit]
    except httpx.ResponseNotRead:
        pass
    chunks: list[bytes] = []
    size = 0
    # Decoded bytes, not raw: an error body sent with Content-Encoding: gzip
    # would otherwise become a message of mojibake.
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(chunks)[:limit]


async def raise_for_response(
    provider: str,
    response: httpx.Response,
    *,
    model: str | None = None,
    classify: Callable[[int, bytes, str], ProviderError | None] | None = None,
) -> None:
    """Raise the right :class:`~clawdesk.ProviderError` if ``response`` is not a success.

    Works on streamed and read responses; at most :data:`ERROR_BODY_LIMIT`
    bytes of the body are read. ``classify(status, body, message)`` lets a
    plugin map what is provider-specific (Mistral's 400 ``invalid_model``, say)
    and return ``None`` to fall back to :func:`error_for_status`. Transport
    errors while reading the body are mapped too.
    """
    if response.is_success:
        return
    url = safe_url(response.request.url) if response.request is not None else None
    try:
        body = await read_error_body(response)
    except httpx.DecodingError:
        body = b""  # a corrupt compressed body: the status still says what happened
    except httpx.HTTPError as exc:
        raise map_transport_error(provider, exc) from exc
    message = message_from_body(body, response.headers.get("content-type"))
    error = classify(response.status_code, body, message) if classify is not None else None
    if error is None:
        error = error_for_status(
            provider, response.status_code, message, headers=response.headers, url=url, model=model
        )
    raise error


def map_transport_error(
    provider: str,
    exc: Exception,
    *,
    url: str | None = None,
    after_headers: bool = False,
    request_id: str | None = None,
) -> ProviderError:
    """The :class:`~clawdesk.ProviderError` for an exception httpx raised.

    Every httpx exception class maps to one kind: timeouts (connect, read,
    write, pool) to :class:`~clawdesk.TimedOut`; network and protocol
    failures (refused, reset, proxies) to retryable
    :class:`~clawdesk.ConnectionFailed`; an unusable URL or scheme to
    non-retryable ``ConnectionFailed``; status errors through
    :func:`error_for_status`; decoding, redirect and stream-state errors to
    :class:`~clawdesk.ApiError`; our own malformed request (httpx's
    ``LocalProtocolError``: a header with a control character) to
    non-retryable :class:`~clawdesk.InvalidRequest`; a failure to reach or use
    a proxy from the environment names the proxy. Raise the result ``from exc``.

    ``after_headers`` says the response had begun: then a reset or a peer
    that closes mid-body (``ReadError``, ``RemoteProtocolError``) is
    :class:`~clawdesk.Truncated` (retryable), since the answer broke off; a
    read timeout stays ``TimedOut``.
    """
    if type(exc).__module__.startswith("httpcore"):
        # httpx normally wraps httpcore's errors; one that escaped unwrapped
        # has a same-named httpx counterpart that says what kind it is.
        counterpart = getattr(httpx, type(exc).__name__, None)
        if isinstance(counterpart, type) and issubclass(counterpart, httpx.TransportError):
            exc = counterpart(_reason(exc))
    if url is None:
        try:
            request = getattr(exc, "request", None)
        except RuntimeError:  # httpx raises when the exception has no request attached
            request = None
        if request is not None:
            url = safe_url(request.url)
    where = f" ({url})" if url else ""
    kw: dict[str, Any] = {"provider": provider, "url": url, "request_id": request_id}
    proxied = proxy_error(exc, url, kw)
    if proxied is not None:
        return proxied
    if isinstance(exc, httpx.TimeoutException):
        phase = {
            httpx.ConnectTimeout: "connecting",
            httpx.ReadTimeout: "waiting for more of the answer" if after_headers else "waiting for data",
            httpx.WriteTimeout: "sending the request",
            httpx.PoolTimeout: "waiting for a free connection",
        }.get(type(exc), "waiting")
        limit = {
            httpx.ConnectTimeout: "connect",
            httpx.ReadTimeout: "read",
            httpx.WriteTimeout: "write",
            httpx.PoolTimeout: "pool",
        }.get(type(exc))
        return TimedOut(f"timed out {phase}{where}", limit=limit, **kw)
    if after_headers and isinstance(exc, (httpx.ReadError, httpx.RemoteProtocolError)):
        return Truncated(f"the answer broke off{where}: {_reason(exc)}", **kw)
    if isinstance(exc, httpx.HTTPStatusError):
        return error_for_status(
            provider,
            exc.response.status_code,
            f"HTTP {exc.response.status_code}",
            headers=exc.response.headers,
            url=url,
            request_id=request_id,
        )
    if isinstance(exc, httpx.LocalProtocolError):
        # Our own request is malformed (a header value with a control character: a key read with one).
        # Asking again sends the same bytes; httpx's text quotes the header, so it is not shown.
        return InvalidRequest(
            f"the request cannot be sent{where}: a header value holds a character HTTP forbids (check the API key)",
            **kw,
        )
    if isinstance(exc, httpx.UnsupportedProtocol):
        return ConnectionFailed(f"unsupported URL{where}: {exc}", retryable=False, **kw)
    if isinstance(exc, httpx.ConnectError):
        return ConnectionFailed(f"could not connect{where}: {_reason(exc)}", **kw)
    if isinstance(exc, httpx.TransportError):  # network, protocol and proxy failures
        return ConnectionFailed(f"connection broken{where}: {_reason(exc)}", **kw)
    if isinstance(exc, httpx.DecodingError):
        return ApiError(f"could not decode the response{where}: {_reason(exc)}", retryable=False, **kw)
    if isinstance(exc, httpx.TooManyRedirects):
        return ApiError(f"too many redirects{where}", retryable=False, **kw)
    if isinstance(exc, httpx.InvalidURL):
        return ConnectionFailed(f"invalid URL: {exc}", retryable=False, **kw)
    if isinstance(exc, httpx.StreamError):
        return ApiError(f"response stream misused: {type(exc).__name__}", retryable=False, **kw)
    # httpx.CookieConflict and anything new in a later httpx.
    return ApiError(f"{type(exc).__name__}: {_reason(exc)}", retryable=False, **kw)


def proxy_error(exc: Exception, url: str | None, kw: dict[str, Any]) -> ProviderError | None:
    """The error naming the proxy, when ``exc`` is a failure to reach or use the proxy ``url`` went through."""
    if not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.ProxyError)) or not url:
        return None
    found = proxy_for(url)
    if found is None:
        return None
    variable, proxy = found
    via = f"the proxy {proxy} (from {variable}) on the way to {url}"
    if isinstance(exc, httpx.ProxyError):
        # The proxy answered but would not pass the request on (407, 403, a tunnel it refused).
        return ConnectionFailed(f"{via} refused the request: {_reason(exc)}", **{**kw, "retryable": False})
    if isinstance(exc, httpx.ConnectTimeout):
        return TimedOut(f"timed out connecting to {via}", **kw)
    return ConnectionFailed(f"could not connect to {via}: {_reason(exc)}", **kw)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text or type(exc).__name__


def client_timeout(config: ProviderConfig) -> httpx.Timeout:
    """The httpx timeout for a provider: ``timeout_secs`` for each connect, read and write (no pool timeout)."""
    return request_timeout(config.timeout_secs)


@functools.lru_cache(maxsize=64)
def request_timeout(seconds: float, first_byte: float | None = None) -> httpx.Timeout:
    """``seconds`` for each connect, read and write; ``first_byte`` (if given) for the first read.

    No pool timeout: waiting for a free connection of the client's own pool
    says nothing about the provider, so it is bounded by the call's own
    limits (``ChatOptions.timeout``, ``http.idle_timeout_secs``) instead.
    Cached: a pure function of two numbers, asked for on every request.
    """
    read = seconds if first_byte is None else first_byte
    return httpx.Timeout(seconds, read=read, pool=None)
