"""clawdesk.http: status and httpx-exception mapping, Retry-After, error-body messages."""

from __future__ import annotations

import datetime
import email.utils
import inspect
import json
from typing import Any

import httpcore
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from clawdesk import (
    ApiError,
    AuthFailed,
    ClawdeskError,
    ConnectionFailed,
    InvalidRequest,
    ModelNotFound,
    PermissionDenied,
    ProviderError,
    QuotaExceeded,
    RateLimited,
    TimedOut,
)
from clawdesk.provider import (
    error_for_status,
    map_transport_error,
    message_from_body,
    parse_retry_after,
    raise_for_response,
    safe_url,
)

NOW = 1_800_000_000.0  # a fixed "now" (2027-01-15) for HTTP-date tests


# -- Retry-After ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2", 2.0),
        ("0", 0.0),
        (" 17 ", 17.0),
        ("1.5", 1.5),
        ("120", 120.0),
        (None, None),
        ("", None),
        ("   ", None),
        ("-1", None),
        ("-0.5", None),
        ("+3", None),
        ("1e3", None),
        ("nan", None),
        ("inf", None),
        ("soon", None),
        ("3 seconds", None),
        ("9" * 400, None),
        ("Wed, 21 Oct 2026 07:28:00", 0.0),  # asctime-less, no zone: GMT, in the past
        ("Mon, 32 Oct 2026 07:28:00 GMT", None),
        ("Wed, 21 Oct 2026 25:28:00 GMT", None),
    ],
)
def test_retry_after_values(value: str | None, expected: float | None) -> None:
    """Delta-seconds (also fractional) are read; empty, negative and garbage values count as absent."""
    assert parse_retry_after(value, now=NOW) == expected


def http_date(when: float) -> str:
    return email.utils.formatdate(when, usegmt=True)


def test_retry_after_http_date_in_the_future() -> None:
    """An HTTP-date gives the seconds from now until then."""
    assert parse_retry_after(http_date(NOW + 30), now=NOW) == 30.0


def test_retry_after_http_date_in_the_past_is_zero() -> None:
    """A date already past means "retry now", never a negative wait."""
    assert parse_retry_after(http_date(NOW - 3600), now=NOW) == 0.0


def test_retry_after_other_date_forms() -> None:
    """The RFC 850 and asctime forms of HTTP-date are understood too (both are GMT)."""
    when = datetime.datetime.fromtimestamp(NOW + 90, tz=datetime.UTC)
    rfc850 = when.strftime("%A, %d-%b-%y %H:%M:%S GMT")
    asctime = when.strftime("%a %b %d %H:%M:%S %Y")
    assert parse_retry_after(rfc850, now=NOW) == 90.0
    assert parse_retry_after(asctime, now=NOW) == 90.0


def test_retry_after_uses_the_clock_by_default() -> None:
    """Without now=, a date is measured from the current time."""
    result = parse_retry_after(http_date(datetime.datetime.now(datetime.UTC).timestamp() + 100))
    assert result is not None
    assert 95 <= result <= 101


@given(st.integers(min_value=0, max_value=10**12))
def test_retry_after_any_delta_seconds(seconds: int) -> None:
    """Every delta-seconds value reads back as that many seconds."""
    assert parse_retry_after(str(seconds)) == float(seconds)


@given(st.integers(min_value=-(10**9), max_value=10**9))
def test_retry_after_any_date(offset: int) -> None:
    """Every HTTP-date reads back as its distance from now, or 0 when past."""
    assert parse_retry_after(http_date(NOW + offset), now=NOW) == max(0.0, float(offset))


@given(st.text(max_size=60))
def test_retry_after_never_raises(value: str) -> None:
    """Any header text gives None or a finite wait of at least 0 seconds."""
    result = parse_retry_after(value, now=NOW)
    assert result is None or (result >= 0 and result != float("inf"))


# -- status mapping -------------------------------------------------------------------------


def expected_for(status: int) -> tuple[type[ProviderError], bool]:
    """The documented table of error_for_status."""
    if status in (400, 413, 422):
        return InvalidRequest, False
    table: dict[int, tuple[type[ProviderError], bool]] = {
        401: (AuthFailed, False),
        402: (QuotaExceeded, False),
        403: (PermissionDenied, False),
        404: (ModelNotFound, False),
        408: (TimedOut, True),
        429: (RateLimited, True),
        409: (ApiError, True),
    }
    if status in table:
        return table[status]
    return ApiError, status >= 500


@pytest.mark.parametrize("status", range(400, 600))
def test_every_error_status_maps_as_documented(status: int) -> None:
    """Each status 400-599 gives the documented error class, kind and retryable flag, naming provider and status."""
    error = error_for_status("acme", status, "it went wrong\nbadly", url="http://h/x")
    cls, retryable = expected_for(status)
    assert type(error) is cls
    assert error.retryable is retryable
    assert error.status == status
    assert error.provider == "acme"
    assert error.url == "http://h/x"
    text = str(error)
    assert text.startswith(f"acme: {cls.kind} (HTTP {status})")
    assert "it went wrong badly" in text
    assert "\n" not in text


@pytest.mark.parametrize("status", [401, 403, 404, 408, 429, 500, 529])
def test_empty_message_still_says_something(status: int) -> None:
    """Without a message from the body, the error still reads as a sentence."""
    error = error_for_status("acme", status, "")
    assert str(error).startswith(f"acme: {type(error).kind} (HTTP {status}): ")
    assert len(error.detail) > 0


def test_rate_limited_reads_retry_after() -> None:
    """429 takes its wait from the Retry-After header, and says it."""
    error = error_for_status("acme", 429, "slow down", headers={"retry-after": "7"})
    assert isinstance(error, RateLimited)
    assert error.retry_after == 7.0
    assert "retry after 7s" in str(error)
    garbage = error_for_status("acme", 429, "", headers=httpx.Headers({"Retry-After": "later"}))
    assert isinstance(garbage, RateLimited)
    assert garbage.retry_after is None


def test_model_not_found_carries_the_model() -> None:
    """404 keeps the model that was asked for."""
    error = error_for_status("acme", 404, "no such model", model="big")
    assert isinstance(error, ModelNotFound)
    assert error.model == "big"


# -- httpx exception mapping -----------------------------------------------------------------

REQUEST = httpx.Request("POST", "https://user:pw@api.example/v1/chat?key=sk-should-not-show#frag")

#: What each httpx exception class means: (kind, retryable).
EXPECTED_KINDS: dict[str, tuple[str, bool]] = {
    "TimeoutException": ("timeout", True),
    "ConnectTimeout": ("timeout", True),
    "ReadTimeout": ("timeout", True),
    "WriteTimeout": ("timeout", True),
    "PoolTimeout": ("timeout", True),
    "ConnectError": ("connection_failed", True),
    "ReadError": ("connection_failed", True),
    "WriteError": ("connection_failed", True),
    "CloseError": ("connection_failed", True),
    "NetworkError": ("connection_failed", True),
    "ProtocolError": ("connection_failed", True),
    "LocalProtocolError": ("invalid_request", False),  # our own malformed request: sending it again cannot help
    "RemoteProtocolError": ("connection_failed", True),
    "ProxyError": ("connection_failed", True),
    "TransportError": ("connection_failed", True),
    "UnsupportedProtocol": ("connection_failed", False),
    "InvalidURL": ("connection_failed", False),
    "DecodingError": ("api_error", False),
    "TooManyRedirects": ("api_error", False),
    "RequestError": ("api_error", False),
    "HTTPError": ("api_error", False),
    "HTTPStatusError": ("api_error", True),  # built with a 503 below
    "StreamError": ("api_error", False),
    "StreamConsumed": ("api_error", False),
    "StreamClosed": ("api_error", False),
    "ResponseNotRead": ("api_error", False),
    "RequestNotRead": ("api_error", False),
    "CookieConflict": ("api_error", False),
}


def httpx_exception_classes() -> list[type[Exception]]:
    return sorted(
        (
            obj
            for obj in vars(httpx).values()
            if inspect.isclass(obj) and issubclass(obj, Exception) and obj.__module__.startswith("httpx")
        ),
        key=lambda c: c.__name__,
    )


def make(cls: type[Exception], *, with_request: bool) -> Exception:
    """An instance of any httpx exception class, with a request attached where the class takes one."""
    if cls is httpx.HTTPStatusError:
        response = httpx.Response(503, request=REQUEST)
        return cls("Server error '503'", request=REQUEST, response=response)
    params = inspect.signature(cls.__init__).parameters
    args = ["something broke"] if "message" in params else []
    kwargs = {"request": REQUEST} if with_request and "request" in params else {}
    return cls(*args, **kwargs)


def test_every_httpx_exception_class_is_known() -> None:
    """The table below covers every exception class httpx exports (a new one makes this fail, on purpose)."""
    assert {c.__name__ for c in httpx_exception_classes()} == set(EXPECTED_KINDS)


@pytest.mark.parametrize("cls", httpx_exception_classes(), ids=lambda c: c.__name__)
@pytest.mark.parametrize("with_request", [True, False], ids=["request", "no-request"])
def test_every_httpx_exception_maps_to_a_clawdesk_error(cls: type[Exception], with_request: bool) -> None:
    """Each httpx exception maps to a ProviderError of a sensible kind, one line, with a safe URL."""
    error = map_transport_error("acme", make(cls, with_request=with_request))
    assert isinstance(error, ProviderError)
    assert isinstance(error, ClawdeskError)
    kind, retryable = EXPECTED_KINDS.get(cls.__name__, ("api_error", False))
    assert (error.kind, error.retryable) == (kind, retryable)
    assert error.provider == "acme"
    text = str(error)
    assert text.startswith(f"acme: {kind}")
    assert "\n" not in text
    assert "sk-should-not-show" not in text
    assert "pw@" not in text
    if with_request and "request" in inspect.signature(cls.__init__).parameters:
        assert error.url == "https://api.example/v1/chat"


@pytest.mark.parametrize(
    ("cls", "kind", "retryable"),
    [
        (httpcore.ConnectError, "connection_failed", True),
        (httpcore.ReadTimeout, "timeout", True),
        (httpcore.RemoteProtocolError, "connection_failed", True),
        (httpcore.UnsupportedProtocol, "connection_failed", False),
    ],
)
def test_unwrapped_httpcore_exceptions_map_like_httpx_ones(cls: type[Exception], kind: str, retryable: bool) -> None:
    """An httpcore exception that escaped httpx's wrapping maps like its httpx namesake."""
    error = map_transport_error("acme", cls("low-level trouble"))
    assert (error.kind, error.retryable) == (kind, retryable)
    assert kind == "timeout" or "low-level trouble" in str(error)


def test_unknown_exception_maps_to_api_error() -> None:
    """Anything else maps to a non-retryable ApiError naming the exception type."""
    error = map_transport_error("acme", OSError("disk on fire"))
    assert isinstance(error, ApiError)
    assert not error.retryable
    assert "OSError: disk on fire" in str(error)


@pytest.mark.anyio
async def test_real_connection_refused_maps_to_connection_failed() -> None:
    """A real refused connection on loopback is a retryable ConnectionFailed naming the URL."""
    from clawdesk.testing import unused_port

    url = f"http://127.0.0.1:{unused_port()}/api"
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.ConnectError) as info:
            await client.get(url)
    error = map_transport_error("acme", info.value)
    assert isinstance(error, ConnectionFailed)
    assert error.retryable
    assert url in str(error)


def test_safe_url_drops_credentials_query_and_fragment() -> None:
    """safe_url keeps scheme, host, port and path only."""
    assert safe_url("https://u:p@h.example:8443/a/b?key=x#f") == "https://h.example:8443/a/b"


# -- error bodies ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (b'{"message": "bad model"}', "application/json", "bad model"),
        (b'{"error": "model \'x\' not found"}', "application/json", "model 'x' not found"),
        (b'{"error": {"message": "nested", "type": "invalid"}}', None, "nested"),
        (b'{"detail": "plain detail"}', None, "plain detail"),
        (
            b'{"detail": [{"loc": ["body", "model"], "msg": "field required"}, {"loc": ["body"], "msg": "bad"}]}',
            None,
            "model: field required; bad",
        ),
        (
            b'{"object": "error", "message": {"detail": [{"loc": ["body", "temperature"], "msg": "too hot"}]}}',
            None,
            "temperature: too hot",
        ),
        (b'["first", "second"]', None, "first; second"),
        (b'{"unrelated": 1}', None, '{"unrelated": 1}'),
        (b"{not json", None, "{not json"),
        (
            b"<html><head><title>502 Bad Gateway</title></head><body>...</body></html>",
            None,
            "HTML error page: 502 Bad Gateway",
        ),
        (b"<!DOCTYPE html><p>no title</p>", None, "HTML error page"),
        (b"<p>fragment</p>", "text/html; charset=utf-8", "HTML error page"),
        (b"  upstream\r\n  exploded\n\n", "text/plain", "upstream exploded"),
        (b"", None, ""),
        (b"   \n", None, ""),
        (b"bad \xff\xfe bytes", None, "bad \ufffd\ufffd bytes"),
        (b"[" * 100_000, None, "[" * 299 + "…"),
        (b'{"a":' * 50_000, None, ('{"a":' * 60)[:299] + "…"),
    ],
)
def test_message_from_body_shapes(body: bytes, content_type: str | None, expected: str) -> None:
    """JSON error shapes, HTML pages, text, empty and invalid bodies each give one clear line."""
    assert message_from_body(body, content_type) == expected


def test_message_from_huge_body_is_bounded() -> None:
    """A 10 MiB body gives a message of at most 300 characters."""
    message = message_from_body(b"x" * (10 * 1024 * 1024))
    assert len(message) == 300


def test_hostile_html_is_fast() -> None:
    """Many unclosed <title tags do not make the title search quadratic."""
    import time

    started = time.process_time()
    message_from_body(b"<html><title>" * 5000)
    assert time.process_time() - started < 0.5


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["message", "error", "detail", "msg", "loc", "x"]) | st.text(), inner, max_size=4
        )
    ),
    max_leaves=20,
)


@given(st.binary(max_size=2000), st.one_of(st.none(), st.sampled_from(["text/html", "application/json", "text/plain"])))
def test_message_from_any_bytes_is_one_bounded_line(body: bytes, content_type: str | None) -> None:
    """Any bytes give a single line of at most 300 characters, never an exception."""
    message = message_from_body(body, content_type)
    assert isinstance(message, str)
    assert len(message) <= 300
    assert message == " ".join(message.split())


@given(json_values)
def test_message_from_any_json_is_one_bounded_line(value: Any) -> None:
    """Any JSON document gives a single line of at most 300 characters, never an exception."""
    message = message_from_body(json.dumps(value).encode())
    assert len(message) <= 300
    assert message == " ".join(message.split())


@given(st.text(min_size=1, max_size=200).filter(lambda t: t.strip()))
def test_message_field_is_used(text: str) -> None:
    """The 'message' of a JSON error object is what the message says."""
    assert message_from_body(json.dumps({"message": text}).encode()) == " ".join(text.split())[:300]


# -- raise_for_response against a real server --------------------------------------------------------


@pytest.mark.anyio
async def test_raise_for_response_reads_a_bounded_body() -> None:
    """An error response with a 10 MiB body raises the mapped error after reading at most 64 KiB."""
    from clawdesk.testing import Reply, ScriptedServer

    with ScriptedServer() as server:
        huge = b'{"message": "overloaded"}' + b" " * (10 * 1024 * 1024)
        server.add(Reply(status=503, headers=(("content-type", "application/json"),), chunks=(huge,)))
        async with httpx.AsyncClient() as client, client.stream("GET", server.url + "/x") as response:
            with pytest.raises(ApiError) as info:
                await raise_for_response("acme", response)
    assert info.value.status == 503
    assert info.value.retryable
    assert "overloaded" in str(info.value)


@pytest.mark.anyio
async def test_raise_for_response_lets_a_plugin_classify() -> None:
    """classify() maps a provider-specific body; returning None falls back to the status table."""
    from clawdesk.testing import Reply, ScriptedServer

    def classify(status: int, body: bytes, message: str) -> ProviderError | None:
        if b"invalid_model" in body:
            return ModelNotFound(message, provider="acme", status=status, model="m")
        return None

    with ScriptedServer() as server:
        server.add(Reply.json({"message": "no such model", "code": "invalid_model"}, status=400))
        server.add(Reply.json({"message": "bad temperature"}, status=400))
        async with httpx.AsyncClient() as client:
            first = await client.get(server.url + "/x")
            second = await client.get(server.url + "/x")
    with pytest.raises(ModelNotFound):
        await raise_for_response("acme", first, classify=classify)
    with pytest.raises(InvalidRequest, match="bad temperature"):
        await raise_for_response("acme", second, classify=classify)


@pytest.mark.anyio
async def test_raise_for_response_passes_success() -> None:
    """A 2xx response raises nothing."""
    response = httpx.Response(200, request=REQUEST)
    await raise_for_response("acme", response)


@pytest.mark.anyio
async def test_raise_for_response_decodes_a_compressed_error_body() -> None:
    """A gzip-encoded error body on a streamed response gives its real message, not mojibake."""
    import gzip

    from clawdesk.testing import Reply, ScriptedServer

    body = gzip.compress(json.dumps({"message": "compressed failure"}).encode())
    headers = (("content-type", "application/json"), ("content-encoding", "gzip"))
    with ScriptedServer() as server:
        server.add(Reply(status=500, headers=headers, chunks=(body,)))
        async with httpx.AsyncClient() as client, client.stream("POST", server.url + "/x") as response:
            with pytest.raises(ApiError, match="compressed failure"):
                await raise_for_response("acme", response)


@pytest.mark.anyio
async def test_corrupt_compressed_error_body_still_gives_the_status_error() -> None:
    """An error body claiming gzip that is not gzip still raises the error its status means."""
    from clawdesk.testing import Reply, ScriptedServer

    headers = (("content-type", "application/json"), ("content-encoding", "gzip"), ("retry-after", "3"))
    with ScriptedServer() as server:
        server.add(Reply(status=429, headers=headers, chunks=(b"definitely not gzip",)))
        async with httpx.AsyncClient() as client, client.stream("POST", server.url + "/x") as response:
            with pytest.raises(RateLimited) as info:
                await raise_for_response("acme", response)
    assert info.value.retry_after == 3.0


def test_redirect_names_the_target_without_secrets() -> None:
    """A 3xx (never followed) says where it pointed, without credentials or query, and suggests base_url."""
    error = error_for_status("acme", 301, "", headers={"location": "https://u:p@api.acme.example/v1?key=sk-x"})
    assert isinstance(error, ApiError)
    assert not error.retryable
    assert "redirected to https://api.acme.example/v1" in str(error)
    assert "check base_url" in str(error)
    assert "sk-x" not in str(error)
    assert "u:p" not in str(error)
    assert "HTTP 302" in str(error_for_status("acme", 302, "moved"))


@given(
    st.sampled_from(["http", "https"]),
    st.from_regex(r"[a-z0-9]{1,8}(:[a-z0-9]{1,8})?", fullmatch=True),
    st.from_regex(r"[a-z][a-z0-9.-]{0,15}", fullmatch=True),
    st.from_regex(r"(/[a-z0-9._~-]{0,8}){0,3}", fullmatch=True),
    st.from_regex(r"[a-z0-9=&_-]{0,20}", fullmatch=True),
)
def test_safe_url_never_keeps_userinfo_or_query(scheme: str, userinfo: str, host: str, path: str, query: str) -> None:
    """safe_url drops user info and query from any URL, keeping scheme, host and path."""
    url = f"{scheme}://{userinfo}@{host}{path}?{query}"
    safe = safe_url(url)
    assert "@" not in safe
    assert "?" not in safe
    # httpx normalises the path ("/." -> "/"): compare with the same URL without user info and query.
    assert safe == str(httpx.URL(f"{scheme}://{host}{path}"))
