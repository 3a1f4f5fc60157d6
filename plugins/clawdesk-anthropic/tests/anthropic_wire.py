"""The scripted Claude API: its answers, byte for byte, each checked by the official SDK's models.

Imported by the test modules and by the conformance kit's adapter (``conftest.py``
puts this folder on ``sys.path``). The ``anthropic`` package is a test-only
oracle here (pinned in requirements-dev.txt): every ``Message``, stream event,
error body and model entry these helpers build is validated with its pydantic
models, so a test cannot script a shape the real API would never send.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pydantic
from anthropic.types import Message as SdkMessage
from anthropic.types import ModelInfo as SdkModelInfo
from anthropic.types import RawMessageStreamEvent
from anthropic.types.shared import ErrorResponse as SdkErrorResponse

from clawdesk.testing import Reply, ScriptedServer

KEY = "sk-ant-test-0123456789abcdef"
MODEL = "claude-sonnet-5-5"
SSE_TYPE = "text/event-stream; charset=utf-8"
REQUEST_ID = "req_011CSHoEeqs5C35K2UUqR7Fy"
USAGE = {"input_tokens": 12, "output_tokens": 6, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
#: The API's error type for each status (docs and the SDK's enum).
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    503: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}

_STREAM_EVENT = pydantic.TypeAdapter(RawMessageStreamEvent)


def config_text(base_url: str, **extra: Any) -> str:
    lines = ["[providers.anthropic]", f'base_url = "{base_url}"']
    for key, value in extra.items():
        lines.append(f"{key} = {json.dumps(value)}")
    return "\n".join(lines) + "\n"


def check_requests(server: ScriptedServer, validator: jsonschema.protocols.Validator) -> None:
    """Every message request ``server`` received matches the spec and carries the API's headers."""
    for recorded in server.requests:
        if recorded.method == "POST" and recorded.path == "/v1/messages":
            errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(recorded.json())]
            assert not errors, f"request body breaks Anthropic's CreateMessageParams: {errors}"
        if recorded.path.startswith("/v1/"):
            assert recorded.headers.get("anthropic-version"), "a request without anthropic-version"
            assert recorded.headers.get("x-api-key"), "a request without x-api-key"


def event(data: dict[str, Any], *, check: bool = True) -> bytes:
    """One SSE event as the API writes it: ``event: <type>``, ``data: <json>``, a blank line."""
    if check and data["type"] not in ("ping", "error"):
        _STREAM_EVENT.validate_python(data)
    if check and data["type"] == "error":
        SdkErrorResponse.model_validate(data)
    payload = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return f"event: {data['type']}\ndata: {payload}\n\n".encode()


def message_start(*, usage: dict[str, Any] | None = None, model: str = MODEL) -> dict[str, Any]:
    start_usage = usage if usage is not None else {"input_tokens": 12, "output_tokens": 1}
    message = {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": start_usage,
    }
    return {"type": "message_start", "message": message}


def block_start(index: int, block: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": block}


def delta(index: int, data: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": data}


def block_stop(index: int) -> dict[str, Any]:
    return {"type": "content_block_stop", "index": index}


def message_delta(stop_reason: str | None = "end_turn", usage: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "type": "message_delta",
        "delta": {"stop_reason": stop_reason, "stop_sequence": None},
        "usage": usage if usage is not None else {"output_tokens": 6},
    }


MESSAGE_STOP = {"type": "message_stop"}
PING = {"type": "ping"}


def text_events(*pieces: str, stop_reason: str = "end_turn", usage: dict[str, Any] | None = None) -> list[bytes]:
    """The events of a streamed text answer, one per piece, as the API sends them (a ping included)."""
    frames = [event(message_start()), event(block_start(0, {"type": "text", "text": ""})), event(PING)]
    frames += [event(delta(0, {"type": "text_delta", "text": piece})) for piece in pieces]
    frames += [event(block_stop(0)), event(message_delta(stop_reason, usage)), event(MESSAGE_STOP)]
    return frames


def sse_reply(frames: list[bytes], **kw: Any) -> Reply:
    headers = (("request-id", REQUEST_ID), *kw.pop("headers", ()))
    return Reply.stream(frames, content_type=SSE_TYPE, headers=headers, **kw)


def message(
    content: list[dict[str, Any]] | None = None,
    *,
    stop_reason: str = "end_turn",
    usage: dict[str, Any] | None = None,
    model: str = MODEL,
    **extra: Any,
) -> dict[str, Any]:
    """A whole ``Message`` answer, checked by the SDK's model."""
    data = {
        "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content if content is not None else [{"type": "text", "text": "Hello!"}],
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage if usage is not None else USAGE,
        **extra,
    }
    SdkMessage.model_validate(data)
    return data


def json_reply(data: Any, *, status: int = 200, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    return Reply.json(data, status=status, headers=(("request-id", REQUEST_ID), *headers))


#: Error types the docs list but the SDK's typed union does not (its models cannot check them).
UNTYPED_ERRORS = frozenset({"conflict_error", "request_too_large"})


def error_body(kind: str, text: str) -> dict[str, Any]:
    """The API's error body, checked by the SDK's ErrorResponse (for the types it knows)."""
    data = {"type": "error", "error": {"type": kind, "message": text}, "request_id": REQUEST_ID}
    if kind not in UNTYPED_ERRORS:
        SdkErrorResponse.model_validate(data)
    return data


def model_entry(model_id: str, **extra: Any) -> dict[str, Any]:
    """One ``ModelInfo`` of ``GET /v1/models``, checked by the SDK's model."""
    data = {
        "type": "model",
        "id": model_id,
        "display_name": extra.pop("display_name", model_id),
        "created_at": "2026-09-01T00:00:00Z",
        "lifecycle": "active",
        **extra,
    }
    SdkModelInfo.model_validate(data)
    return data


def capabilities(
    *,
    thinking: tuple[str, ...] = ("adaptive", "disabled"),
    vision: bool = True,
    pdf: bool = True,
    structured: bool = True,
    effort: bool = True,
) -> dict[str, Any]:
    """A ``capabilities`` object of a ModelInfo."""

    def yes(flag: bool) -> dict[str, bool]:
        return {"supported": flag}

    levels = {level: yes(effort) for level in ("low", "medium", "high", "max")}
    kinds = ("adaptive", "between_tools", "disabled", "enabled")
    return {
        "batch": yes(True),
        "citations": yes(True),
        "code_execution": yes(True),
        "context_management": {"supported": False},
        "effort": {"supported": effort, **levels},
        "image_input": yes(vision),
        "pdf_input": yes(pdf),
        "server_tools": {"supported": False, "code_execution": yes(False), "web_search": yes(False)},
        "structured_outputs": yes(structured),
        "thinking": {"supported": bool(set(thinking) - {"disabled"}), "types": {k: yes(k in thinking) for k in kinds}},
    }
