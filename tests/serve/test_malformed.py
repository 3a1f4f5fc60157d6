"""Malformed input to the real gateway process, over raw HTTP: each is one clear 4xx error naming what is wrong."""

from __future__ import annotations

import socket
import time
from typing import Any

import httpx
import pytest
from backends import KEY_C, GatewayProcess

from conftest import Backends

AUTH = {"authorization": f"Bearer {KEY_C}"}
USER = [{"role": "user", "content": "Say hello."}]


def post(gateway: GatewayProcess, body: Any = None, *, content: bytes | None = None, **kw: Any) -> httpx.Response:
    headers = {**AUTH, **kw.pop("headers", {})}
    url = f"{gateway.url}/v1/chat/completions"
    if content is not None:
        return httpx.post(url, content=content, headers={"content-type": "application/json", **headers}, timeout=30)
    return httpx.post(url, json=body, headers=headers, timeout=30)


def error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()["error"]
    assert set(body) == {"message", "type", "param", "code"}
    assert "\n" not in body["message"]
    assert "Traceback" not in body["message"]
    return body


def test_bad_json(gateway: GatewayProcess, backends: Backends) -> None:
    """A body that is not JSON: 400 saying so; nothing reaches a backend."""
    body = error(post(gateway, content=b'{"model": "mistral/x", "messages": ['), 400)
    assert "not valid JSON" in body["message"]
    assert backends.mistral.count == 0


def test_not_an_object(gateway: GatewayProcess) -> None:
    """A JSON array instead of an object: 400."""
    assert "JSON object" in error(post(gateway, [1, 2]), 400)["message"]


def test_not_utf8(gateway: GatewayProcess) -> None:
    """Bytes that are not UTF-8: 400."""
    assert error(post(gateway, content=b'{"model": "\xff"}'), 400)["message"]


@pytest.mark.parametrize(
    ("body", "param", "words"),
    [
        ({"model": 5, "messages": USER}, "model", "expected a string"),
        ({"messages": USER}, "model", "missing"),
        ({"model": "mistral/x"}, "messages", "missing"),
        ({"model": "mistral/x", "messages": "hi"}, "messages", "expected an array"),
        ({"model": "mistral/x", "messages": []}, "messages", "empty"),
        ({"model": "mistral/x", "messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role", "wizard"),
        ({"model": "mistral/x", "messages": [{"role": "user", "content": 7}]}, "messages[0].content", "expected"),
        ({"model": "mistral/x", "messages": USER, "temperature": "hot"}, "temperature", "expected a number"),
        ({"model": "mistral/x", "messages": USER, "temperature": 9}, "temperature", "from 0 to 2"),
        ({"model": "mistral/x", "messages": USER, "max_tokens": 0}, "max_tokens", ">= 1"),
        ({"model": "mistral/x", "messages": USER, "max_tokens": True}, "max_tokens", "expected an integer"),
        ({"model": "mistral/x", "messages": USER, "stream": "yes"}, "stream", "expected a boolean"),
        ({"model": "mistral/x", "messages": USER, "stop": [1]}, "stop[0]", "expected a string"),
        ({"model": "mistral/x", "messages": USER, "tools": [{"type": "web"}]}, "tools[0].type", "function"),
        ({"model": "mistral/x", "messages": USER, "tool_choice": "maybe"}, "tool_choice", "maybe"),
        ({"model": "mistral/x", "messages": USER, "response_format": {"type": "xml"}}, "response_format.type", "xml"),
        ({"model": "mistral/x", "messages": USER, "reasoning_effort": "huge"}, "reasoning_effort", "huge"),
        ({"model": "mistral/x", "messages": USER, "stream_options": {"include_usage": True}}, "stream_options", ""),
    ],
)
def test_wrong_types_and_values(gateway: GatewayProcess, body: dict[str, Any], param: str, words: str) -> None:
    """A field of the wrong type or out of range: 400 with `param` naming the field."""
    found = error(post(gateway, body), 400)
    assert found["param"] == param
    assert words in found["message"]


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("colour", "red", "unknown field"),
        ("logit_bias", {"50256": -100}, "not supported"),
        ("user", "u-1", "not supported"),
        ("n", 2, "only 1"),
        ("parallel_tool_calls", False, "only true"),
        ("presence_penalty", 0.5, "only 0"),
    ],
)
def test_unknown_and_unsupported_fields_are_refused(
    gateway: GatewayProcess, backends: Backends, field: str, value: Any, words: str
) -> None:
    """A field the gateway does not know or cannot honour is refused by name, never dropped."""
    found = error(post(gateway, {"model": "mistral/mistral-small-latest", "messages": USER, field: value}), 400)
    assert found["param"] == field
    assert words in found["message"]
    assert backends.mistral.count == 0


def test_defaults_and_nulls_are_accepted(gateway: GatewayProcess, backends: Backends) -> None:
    """Fields at the protocol's default, and null for optional ones, are fine."""
    body = {"model": "mistral/mistral-small-latest", "messages": USER, "n": 1, "presence_penalty": 0}
    response = post(gateway, {**body, "parallel_tool_calls": True, "logprobs": False, "user": None, "seed": None})
    assert response.status_code == 200, response.text


def test_huge_body_is_413(gateway: GatewayProcess, backends: Backends) -> None:
    """A body over max_body_bytes (8 MiB by default) is refused with 413."""
    big = {"model": "mistral/x", "messages": [{"role": "user", "content": "x" * (9 * 1024 * 1024)}]}
    assert error(post(gateway, big), 413)["code"] == "request_too_large"
    assert backends.mistral.count == 0


def test_huge_chunked_body_is_413(gateway: GatewayProcess) -> None:
    """Without a content-length (chunked upload) the limit holds while reading."""

    def pieces() -> Any:
        for _ in range(10):
            yield b"x" * (1024 * 1024)

    response = httpx.post(f"{gateway.url}/v1/chat/completions", content=pieces(), headers=AUTH, timeout=30)
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("model", "status", "code"),
    [("nosuch/model", 404, "model_not_found"), ("Bad Model!", 400, "invalid_model"), ("/x", 400, "invalid_model")],
)
def test_bad_model_ids(gateway: GatewayProcess, model: str, status: int, code: str | None) -> None:
    """An unknown provider is 404; a malformed model id is 400."""
    found = error(post(gateway, {"model": model, "messages": USER}), status)
    if code is not None:
        assert found["code"] == code


def test_unknown_route_and_method(gateway: GatewayProcess) -> None:
    """Other routes and methods get the protocol's error shape too."""
    assert error(httpx.get(f"{gateway.url}/v1/embeddings"), 404)["code"] == "not_found"
    assert error(httpx.get(f"{gateway.url}/v1/chat/completions", headers=AUTH), 405)["code"] == "method_not_allowed"


def test_slow_body_does_not_hold_the_gateway(gateway: GatewayProcess) -> None:
    """A client that sends half a body and stalls does not stop others from being served."""
    with socket.create_connection(("127.0.0.1", gateway.port)) as slow:
        slow.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            b"authorization: Bearer " + KEY_C.encode() + b'\r\ncontent-length: 1000\r\n\r\n{"model":'
        )
        time.sleep(0.2)
        assert post(gateway, {"model": "mistral/mistral-small-latest", "messages": USER}).status_code == 200
