"""ScriptedServer: the loopback HTTP server every integration test stands on."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from clawdesk.testing import RecordedRequest, Reply, ScriptedServer, unused_port


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as running:
        yield running


def test_replies_and_records(server: ScriptedServer) -> None:
    """A queued reply answers the next request; the request is recorded with lower-cased headers and body."""
    server.add(Reply.json({"ok": True}, status=201, headers=[("X-Thing", "1")]))
    response = httpx.post(server.url + "/api/chat?x=1", json={"a": 1}, headers={"X-Custom": "v"})
    assert response.status_code == 201
    assert response.json() == {"ok": True}
    assert response.headers["x-thing"] == "1"
    (request,) = server.requests
    assert (request.method, request.path) == ("POST", "/api/chat?x=1")
    assert request.headers["x-custom"] == "v"
    assert request.json() == {"a": 1}


def test_queue_before_routes_and_unscripted_is_599(server: ScriptedServer) -> None:
    """Queued replies go first, in order; then routes answer every match; anything else gets a 599."""
    server.route("GET", "/r", Reply.text("route"))
    server.add(Reply.text("first"), Reply.text("second"))
    with httpx.Client(base_url=server.url) as client:
        assert [client.get("/r").text for _ in range(4)] == ["first", "second", "route", "route"]
        missing = client.get("/elsewhere")
    assert missing.status_code == 599
    assert "no scripted reply for GET /elsewhere" in missing.text


def test_handler_sees_the_request(server: ScriptedServer) -> None:
    """A callable reply is called with the recorded request."""
    server.route("POST", "/echo", lambda req: Reply.text(req.body[::-1]))
    assert httpx.post(server.url + "/echo", content=b"abc").text == "cba"


def test_keep_alive_and_chunked_request_bodies(server: ScriptedServer) -> None:
    """Requests reuse one connection, and chunked request bodies are read whole."""
    server.route("POST", "/x", Reply.text("ok"))

    def body() -> object:
        yield b"hello "
        yield b"world"

    with httpx.Client(base_url=server.url) as client:
        client.post("/x", content=b"one")
        client.post("/x", content=body())  # type: ignore[arg-type]
    assert server.connections_opened == 1
    assert [r.body for r in server.requests] == [b"one", b"hello world"]


def test_big_request_and_big_headers(server: ScriptedServer) -> None:
    """A 2 MiB body and a 100 KiB header line are received intact."""
    server.route("POST", "/big", Reply.text("ok"))
    body = b"x" * (2 * 1024 * 1024)
    response = httpx.post(server.url + "/big", content=body, headers={"x-long": "y" * 100_000})
    assert response.text == "ok"
    assert server.requests[0].body == body
    assert server.requests[0].headers["x-long"] == "y" * 100_000


def test_stream_reply(server: ScriptedServer) -> None:
    """A chunked stream arrives piece by piece."""
    server.add(Reply.stream([b"a\n", b"b\n", b"c\n"], content_type="application/x-ndjson", delay=0.01))
    with httpx.stream("GET", server.url + "/s") as response:
        assert response.headers["transfer-encoding"] == "chunked"
        assert list(response.iter_lines()) == ["a", "b", "c"]


def test_cut_body_is_a_protocol_error(server: ScriptedServer) -> None:
    """cut_after closes the connection mid-body; the client sees an incomplete response."""
    server.add(Reply.stream([b"a\n", b"b\n", b"c\n"], content_type="text/plain", cut_after=1))
    with pytest.raises(httpx.RemoteProtocolError), httpx.stream("GET", server.url + "/s") as response:
        response.read()


def test_reset_before_headers(server: ScriptedServer) -> None:
    """reset() aborts the connection before any byte."""
    server.add(Reply.reset())
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        httpx.get(server.url + "/x")


@pytest.mark.parametrize("reply", [Reply.stall(), Reply.stall_after_headers()], ids=["stall", "after-headers"])
def test_stalls_time_out(server: ScriptedServer, reply: Reply) -> None:
    """stall never answers, stall_after_headers never sends a body: both end in a read timeout."""
    server.add(reply)
    with pytest.raises(httpx.ReadTimeout), httpx.Client(timeout=0.2) as client:
        client.get(server.url + "/x").read()


def test_garbage_request_drops_only_that_connection(server: ScriptedServer, caplog: pytest.LogCaptureFixture) -> None:
    """A request the server cannot parse closes that connection quietly; the server keeps serving others."""
    server.route("GET", "/ok", Reply.text("fine"))
    for garbage in (b"NONSENSE\r\n\r\n", b"POST /x HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n"):
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(garbage)
            assert sock.recv(100) == b""  # closed without an answer
    assert httpx.get(server.url + "/ok").text == "fine"
    assert not [r for r in caplog.records if r.name == "asyncio" and r.levelno >= 40]


def test_unused_port_refuses() -> None:
    """unused_port gives a port where nothing listens."""
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{unused_port()}/")


def test_recorded_request_json() -> None:
    """RecordedRequest.json parses the body."""
    assert RecordedRequest("GET", "/", {}, b'{"a": [1]}').json() == {"a": [1]}
