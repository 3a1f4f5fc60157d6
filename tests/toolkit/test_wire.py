"""The wire toolkit's Wire against a scripted server: each rule it promises, once, vendor-neutral."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from clawdesk import (
    ApiError,
    AuthFailed,
    ConnectionFailed,
    InvalidRequest,
    ModelNotFound,
    ProviderError,
    QuotaExceeded,
    RateLimited,
    TimedOut,
    Truncated,
)
from clawdesk.provider import (
    DRAIN_SECS,
    ErrorResponse,
    FramingError,
    HeaderAuth,
    NDJSONDecoder,
    ProviderConfig,
    SSEDecoder,
    Wire,
    api_key_header,
    bearer,
    encode_json,
    error_for_status,
    map_transport_error,
    retry_after_from,
)
from clawdesk.testing import Reply, ScriptedServer, unused_port

pytestmark = pytest.mark.anyio

KEY = "sk-toolkit-0123456789abcdef"


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as srv:
        yield srv


def _config(url: str, **kw: Any) -> ProviderConfig:
    return ProviderConfig(base_url=url, name=kw.pop("name", "acme"), timeout_secs=kw.pop("timeout_secs", 5.0), **kw)


async def _json(server_url: str, **wire_kw: Any) -> Any:
    async with httpx.AsyncClient() as http:
        wire = Wire(_config(server_url), http, **wire_kw)
        return await wire.json("POST", "/chat", {"q": 1}, model="m1")


async def _stream(server_url: str, *, end_on: bytes = b"END", config: Any = None, **wire_kw: Any) -> list[bytes]:
    """The NDJSON lines of a stream; a line equal to ``end_on`` is the end marker."""
    got: list[bytes] = []
    async with httpx.AsyncClient() as http:
        wire = Wire(config or _config(server_url), http, **wire_kw)
        lines = NDJSONDecoder()
        async with wire.stream("POST", "/chat", {"q": 1}, model="m1", end_marker="END") as reply:
            async for chunk in reply.chunks():
                for line in lines.feed(chunk):
                    if line == end_on:
                        reply.end()
                        break
                    got.append(line)
                if reply.ended:
                    break
    return got


# -- sending ----------------------------------------------------------------------------------


async def test_json_round_trip_headers_auth_and_request_id(server: ScriptedServer) -> None:
    """The body is compact JSON, the key is in the header alone, the request id comes back on the reply."""
    server.add(Reply.json({"ok": True}, headers=[("x-request-id", "req-1")]))
    reply = await _json(server.url, auth=bearer(KEY), request_id_header="x-request-id", headers={"x-api-version": "2"})
    assert (reply.data, reply.status, reply.request_id) == ({"ok": True}, 200, "req-1")
    sent = server.requests[0]
    assert sent.body == b'{"q":1}'
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["x-api-version"] == "2"
    assert KEY not in sent.path


async def test_named_header_and_signer_auth(server: ScriptedServer) -> None:
    """api_key_header puts the key in that header; a signer sees the finished request (body included)."""
    server.add(Reply.json({}), Reply.json({}))
    await _json(server.url, auth=api_key_header("x-goog-api-key", KEY))
    assert server.requests[0].headers["x-goog-api-key"] == KEY
    assert "authorization" not in server.requests[0].headers

    seen: list[bytes] = []

    async def sign(request: httpx.Request) -> None:
        seen.append(request.content)
        request.headers["x-signature"] = f"sig-{len(request.content)}"

    await _json(server.url, auth=sign)
    assert seen == [b'{"q":1}']
    assert server.requests[1].headers["x-signature"] == "sig-7"


def test_auth_never_shows_the_key() -> None:
    """HeaderAuth's repr hides the key; no key means no auth at all."""
    auth = bearer(KEY)
    assert isinstance(auth, HeaderAuth)
    assert KEY not in repr(auth)
    assert auth.value() == f"Bearer {KEY}"
    assert bearer(None) is None
    assert api_key_header("x-api-key", "") is None


@pytest.mark.parametrize("value", [float("nan"), float("inf"), {1, 2}, b"bytes", object()])
def test_encode_json_refuses_what_json_cannot_carry(value: object) -> None:
    """NaN, infinity, sets, bytes, objects: InvalidRequest naming the provider, never a TypeError."""
    with pytest.raises(InvalidRequest, match="JSON cannot carry") as info:
        encode_json({"v": value}, provider="acme")
    assert info.value.provider == "acme"


def test_encode_json_is_compact_utf8() -> None:
    assert encode_json({"a": "é", "b": [1, 2]}, provider="acme") == '{"a":"é","b":[1,2]}'.encode()


# -- statuses -----------------------------------------------------------------------------------


async def test_classifier_sees_one_object_and_wins(server: ScriptedServer) -> None:
    """The plugin's classifier gets status, headers, body, parsed JSON, message, url, model and request id."""
    seen: list[ErrorResponse] = []

    def classify(error: ErrorResponse) -> ProviderError | None:
        seen.append(error)
        if error.json and error.json.get("type") == "invalid_model":
            return ModelNotFound(error.message, model=error.model, **error.kw())
        return None

    server.add(Reply.json({"message": "no such model", "type": "invalid_model"}, status=400, headers=[("rid", "r9")]))
    with pytest.raises(ModelNotFound) as info:
        await _json(server.url, classify=classify, request_id_header="rid")
    [error] = seen
    assert (error.status, error.message, error.model, error.request_id) == (400, "no such model", "m1", "r9")
    assert error.url.endswith("/chat")
    assert error.provider == "acme"
    assert info.value.request_id == "r9"
    assert "r9" in str(info.value)


async def test_classifier_error_gets_the_request_id(server: ScriptedServer) -> None:
    """An error a classifier built without the request id still carries it."""
    server.add(Reply.json({"message": "nope"}, status=401, headers=[("rid", "r7")]))

    def classify(error: ErrorResponse) -> ProviderError | None:
        return AuthFailed("refused", provider=error.provider)

    with pytest.raises(AuthFailed) as info:
        await _json(server.url, classify=classify, request_id_header="rid")
    assert info.value.request_id == "r7"
    assert "request id r7" in str(info.value)


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [
        (402, QuotaExceeded, False),
        (429, RateLimited, True),
        (503, ApiError, True),
        (529, ApiError, True),
        (408, TimedOut, True),
        (404, ModelNotFound, False),
    ],
)
async def test_status_table(server: ScriptedServer, status: int, kind: type[ProviderError], retryable: bool) -> None:
    server.add(Reply.json({"error": {"message": "scripted"}}, status=status))
    with pytest.raises(kind) as info:
        await _json(server.url)
    assert (info.value.retryable, info.value.status, info.value.provider) == (retryable, status, "acme")
    assert "scripted" in str(info.value)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"retry-after-ms": "soon", "retry-after": "9"}, 9.0),
        ({"retry-after": "3"}, 3.0),
        ({"retry-after-ms": "-1"}, None),
        ({}, None),
    ],
)
def test_retry_after_ms_then_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after_from(httpx.Headers(headers)) == expected


def test_retry_after_on_every_retryable_status_and_should_retry_wins() -> None:
    """A 503 carries retry_after too; x-should-retry overrides the status table either way."""
    error = error_for_status("acme", 503, "busy", headers=httpx.Headers({"retry-after": "4"}))
    assert (error.retryable, error.retry_after) == (True, 4.0)
    assert not error_for_status("acme", 503, "x", headers=httpx.Headers({"x-should-retry": "false"})).retryable
    assert error_for_status("acme", 400, "x", headers=httpx.Headers({"x-should-retry": "true"})).retryable
    assert error_for_status("acme", 400, "x").retry_after is None


async def test_should_retry_overrides_a_classifier_too(server: ScriptedServer) -> None:
    server.add(Reply.json({"message": "m"}, status=500, headers=[("x-should-retry", "false")]))

    def classify(error: ErrorResponse) -> ProviderError | None:
        return ApiError(error.message, **error.kw())

    with pytest.raises(ApiError) as info:
        await _json(server.url, classify=classify)
    assert info.value.retryable is False


async def test_status_is_judged_before_a_broken_gzip_body(server: ScriptedServer) -> None:
    """A 503 whose gzip error page is corrupt stays a retryable 503, not 'could not decode'."""
    server.add(Reply(status=503, headers=(("content-encoding", "gzip"),), chunks=(b"\x1f\x8b not gzip at all",)))
    with pytest.raises(ApiError) as info:
        await _json(server.url)
    assert (info.value.status, info.value.retryable) == (503, True)


async def test_redirect_is_not_followed(server: ScriptedServer) -> None:
    server.add(Reply(status=301, headers=(("location", "https://elsewhere.example/v1/chat?key=x"),)))
    with pytest.raises(ApiError, match="not followed") as info:
        await _json(server.url, auth=bearer(KEY))
    assert "key=x" not in str(info.value)
    assert len(server.requests) == 1


# -- bounded reading ----------------------------------------------------------------------------


async def test_json_answer_over_the_cap_is_an_api_error(server: ScriptedServer) -> None:
    """A body over max_body_bytes (by content-length, or counted while chunked) is a typed ApiError."""
    big = json.dumps({"x": "a" * 5000}).encode()
    server.add(Reply(headers=(("content-type", "application/json"),), chunks=(big,)))
    with pytest.raises(ApiError, match="max_body_bytes=1000"):
        await _json(server.url, max_body_bytes=1000)
    server.add(Reply.stream([big[:3000], big[3000:]], content_type="application/json"))
    with pytest.raises(ApiError, match="max_body_bytes=1000"):
        await _json(server.url, max_body_bytes=1000)


async def test_decompressed_size_is_what_counts(server: ScriptedServer) -> None:
    """A small gzip body that inflates past the cap is refused: the cap bounds memory, not the wire."""
    bomb = gzip.compress(b'{"x":"' + b"a" * 200_000 + b'"}')
    assert len(bomb) < 5000
    server.add(Reply(headers=(("content-encoding", "gzip"), ("content-type", "application/json")), chunks=(bomb,)))
    with pytest.raises(ApiError, match="max_body_bytes=50000"):
        await _json(server.url, max_body_bytes=50_000)


@pytest.mark.parametrize(("body", "what"), [(b"", "empty"), (b"<html>hi</html>", "not JSON")])
async def test_answer_that_is_not_json(server: ScriptedServer, body: bytes, what: str) -> None:
    server.add(Reply.text(body, content_type="text/html"))
    with pytest.raises(ApiError, match=what) as info:
        await _json(server.url)
    assert not info.value.retryable


# -- transport ----------------------------------------------------------------------------------


async def test_refused_connection_with_hint() -> None:
    url = f"http://127.0.0.1:{unused_port()}"
    with pytest.raises(ConnectionFailed, match="start the server") as info:
        await _json(url, connect_hint="start the server")
    assert info.value.retryable
    assert url in str(info.value)


async def test_first_byte_timeout_then_timeout_secs(server: ScriptedServer) -> None:
    """The first-byte wait has its own timeout and hint; after the headers a stalled stream uses timeout_secs."""
    server.add(Reply.stall())
    started = time.monotonic()
    with pytest.raises(TimedOut, match=r"within 0\.3s; it may be loading"):
        await _json(server.url, first_byte_timeout=0.3, first_byte_hint="it may be loading")
    assert time.monotonic() - started < 3
    server.add(Reply.stream([b"a\n"], content_type="application/x-ndjson", stall_after=1))
    started = time.monotonic()
    with pytest.raises(TimedOut, match="waiting for more of the answer"):
        await _stream(server.url, config=_config(server.url, timeout_secs=0.3), first_byte_timeout=30)
    assert time.monotonic() - started < 3


async def test_json_body_cut_is_truncated(server: ScriptedServer) -> None:
    body = json.dumps({"x": "y" * 100}).encode()
    server.add(Reply(headers=(("content-type", "application/json"),), chunks=(body[:20], body[20:]), cut_after=1))
    with pytest.raises(Truncated) as info:
        await _json(server.url)
    assert info.value.retryable


# -- streams ------------------------------------------------------------------------------------


async def test_stream_reads_until_the_end_marker_and_drains(server: ScriptedServer) -> None:
    """After end(), what follows is not read as answer, and the connection goes back to the pool."""
    server.add(Reply.stream([b"a\n", b"b\nEND\n", b"ignored\n"], content_type="application/x-ndjson"))
    server.add(Reply.stream([b"c\nEND\n"], content_type="application/x-ndjson"))
    async with httpx.AsyncClient() as http:
        for expected in ([b"a", b"b"], [b"c"]):
            wire = Wire(_config(server.url), http)
            lines = NDJSONDecoder()
            got: list[bytes] = []
            async with wire.stream("POST", "/chat", None) as reply:
                async for chunk in reply.chunks():
                    for line in lines.feed(chunk):
                        if line == b"END":
                            reply.end()
                            break
                        got.append(line)
                    if reply.ended:
                        break
            assert got == expected
    assert server.connections_opened == 1


@pytest.mark.parametrize("how", ["clean", "fin", "reset"])
async def test_stream_without_its_end_marker_is_one_truncated(server: ScriptedServer, how: str) -> None:
    """Clean end, a peer closing mid-body, a reset: the same retryable Truncated, naming the marker."""
    pieces = [b"a\n", b"b\n", b"c\n"]
    if how == "clean":
        reply = Reply.stream(pieces, content_type="application/x-ndjson")
    else:
        reply = Reply.stream(pieces, content_type="application/x-ndjson", cut_after=2, reset_on_cut=how == "reset")
    server.add(reply)
    with pytest.raises(Truncated, match="before END") as info:
        await _stream(server.url, request_id_header="x-request-id")
    assert info.value.retryable
    assert info.value.provider == "acme"


async def test_stream_error_status_before_any_chunk(server: ScriptedServer) -> None:
    server.add(Reply.json({"message": "slow down"}, status=429, headers=[("retry-after", "2")]))
    with pytest.raises(RateLimited) as info:
        await _stream(server.url)
    assert info.value.retry_after == 2.0


async def test_framing_error_inside_the_block_is_an_api_error(server: ScriptedServer) -> None:
    server.add(Reply.stream([b"x" * 100 + b"\n"], content_type="application/x-ndjson"))

    async def read(wire: Wire) -> None:
        async with wire.stream("POST", "/chat", None) as reply:
            lines = NDJSONDecoder(max_line_bytes=10)
            async for chunk in reply.chunks():
                lines.feed(chunk)

    async with httpx.AsyncClient() as http:
        with pytest.raises(ApiError, match="malformed") as info:
            await read(Wire(_config(server.url), http))
    assert isinstance(info.value.__cause__, FramingError)
    assert not info.value.retryable


async def test_plugin_errors_and_early_close_pass_through(server: ScriptedServer) -> None:
    """A plugin's own error inside the block goes on unchanged; closing early releases the connection."""
    server.add(Reply.stream([b"a\n"] * 50, content_type="application/x-ndjson", delay=0.01))
    server.add(Reply.json({"ok": 1}))

    async def fail_inside(wire: Wire) -> None:
        async with wire.stream("POST", "/chat", None) as reply:
            async for _ in reply.chunks():
                raise KeyError("the plugin's own")

    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=1)) as http:
        with pytest.raises(KeyError):
            await fail_inside(Wire(_config(server.url), http))
        reply2 = await Wire(_config(server.url), http).json("GET", "/x")
    assert reply2.data == {"ok": 1}


async def test_server_keeping_the_body_open_after_the_marker_is_not_waited_for(server: ScriptedServer) -> None:
    server.add(Reply.stream([b"a\nEND\n"], content_type="application/x-ndjson", stall_after=1))
    started = time.monotonic()
    assert await _stream(server.url) == [b"a"]
    assert time.monotonic() - started < DRAIN_SECS + 1


async def test_sse_decoder_with_the_wire(server: ScriptedServer) -> None:
    """The SSE decoder and the wire together: [DONE] is the end marker."""
    server.add(Reply.stream([b"data: 1\n\n", b"data: 2\n\ndata: [DONE]\n\n"], content_type="text/event-stream"))
    got: list[str] = []
    async with httpx.AsyncClient() as http:
        decoder = SSEDecoder()
        async with Wire(_config(server.url), http).stream("POST", "/chat", None) as reply:
            async for chunk in reply.chunks():
                for data in decoder.feed(chunk):
                    if data == "[DONE]":
                        reply.end()
                        break
                    got.append(data)
                if reply.ended:
                    break
    assert got == ["1", "2"]


def test_map_transport_error_phases() -> None:
    """Before the headers a reset is ConnectionFailed; after them it is Truncated; a read timeout is TimedOut."""
    reset = httpx.ReadError("connection reset")
    assert type(map_transport_error("acme", reset)) is ConnectionFailed
    assert type(map_transport_error("acme", reset, after_headers=True)) is Truncated
    closed = httpx.RemoteProtocolError("peer closed connection without sending complete message body")
    assert type(map_transport_error("acme", closed, after_headers=True)) is Truncated
    assert type(map_transport_error("acme", httpx.ReadTimeout("t"), after_headers=True)) is TimedOut


def test_importing_clawdesk_provider_does_not_import_httpx() -> None:
    code = (
        "import sys, clawdesk.provider as p; p.ProviderConfig; p.hookimpl; p.CONTRACT_VERSION\n"
        "print('httpx' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "False"


# -- a kept-alive connection the server has closed ----------------------------------------------


async def _twice(server: ScriptedServer, *, streamed: bool) -> tuple[Any, Any]:
    """Two requests on one pooled client, each as a JSON answer or a stream, as ``streamed`` says."""
    async with httpx.AsyncClient() as http:
        wire = Wire(_config(server.url), http)
        answers = []
        for _ in range(2):
            if streamed:
                async with wire.stream("POST", "/chat", {"q": 1}, model="m1") as reply:
                    async for _chunk in reply.chunks():
                        pass
                    reply.end()
                    answers.append(reply.response.status_code if reply.response is not None else None)
            else:
                answers.append((await wire.json("POST", "/chat", {"q": 1}, model="m1")).data)
        return answers[0], answers[1]


@pytest.mark.parametrize("streamed", [False, True], ids=["json", "stream"])
async def test_a_reused_connection_the_server_closed_is_sent_again(server: ScriptedServer, streamed: bool) -> None:
    """A request that meets a kept-alive connection the server is closing goes once more, on a new one."""
    server.add(Reply.json({"n": 1}), Reply.raw(), Reply.json({"n": 2}))
    first, second = await _twice(server, streamed=streamed)
    assert (first, second) == ((200, 200) if streamed else ({"n": 1}, {"n": 2}))
    assert len(server.requests) == 3, "the unanswered request is sent again, once"
    assert server.connections_opened == 2, "the second sending is on a new connection"


async def test_a_new_connection_closed_unanswered_is_not_sent_again(server: ScriptedServer) -> None:
    """On a connection just opened, an unanswered close may be a crash mid-work: one request, ConnectionFailed."""
    server.add(Reply.raw(), Reply.json({"n": 2}))
    with pytest.raises(ConnectionFailed) as info:
        await _json(server.url)
    assert info.value.retryable
    assert len(server.requests) == 1


async def test_a_reused_connection_reset_counts_as_a_try(server: ScriptedServer) -> None:
    """A reset is how a crashing server or a middlebox ends a request too: not resent, ConnectionFailed."""
    server.add(Reply.json({"n": 1}), Reply.reset(), Reply.json({"n": 2}))
    with pytest.raises(ConnectionFailed) as info:
        await _twice(server, streamed=False)
    assert info.value.retryable
    assert len(server.requests) == 2


async def test_a_reused_connection_is_sent_again_only_once(server: ScriptedServer) -> None:
    """Two unanswered closes in a row are the server's failure, not a stale connection: ConnectionFailed."""
    server.add(Reply.json({"n": 1}), Reply.raw(), Reply.raw(), Reply.json({"n": 2}))
    with pytest.raises(ConnectionFailed):
        await _twice(server, streamed=False)
    assert len(server.requests) == 3


async def test_a_reused_connection_answered_with_an_error_is_not_sent_again(server: ScriptedServer) -> None:
    """Only an unanswered close is resent: any answer, even a cut one, is the server's and stands."""
    cut = Reply(headers=[("content-type", "application/json")], chunks=[b'{"n":', b"2}"], cut_after=1)
    server.add(Reply.json({"n": 1}), cut, Reply.json({"n": 3}))
    with pytest.raises(Truncated):
        await _twice(server, streamed=False)
    assert len(server.requests) == 2
