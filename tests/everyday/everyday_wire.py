"""Builders for the backends' wire formats, shared by the everyday-use tests (importable: see conftest.py)."""

from __future__ import annotations

import json
from typing import Any

from clawdesk.testing import Reply

#: The Mistral key every everyday test configures (and looks for where it must not be).
KEY = "sk-everyday-test-key-0123456789"
MODEL = "mistral-small-latest"
SSE = "text/event-stream; charset=utf-8"
NDJSON = "application/x-ndjson"
USAGE = {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}


# -- Mistral's wire ----------------------------------------------------------------------------------


def frame(data: Any) -> bytes:
    """One SSE event as Mistral writes it."""
    return b"data: " + json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode() + b"\n\n"


def chunk(
    content: Any = None, *, finish: str | None = None, usage: dict[str, int] | None = None, role: str | None = None
) -> dict[str, Any]:
    """A ``chat.completion.chunk``."""
    delta: dict[str, Any] = {}
    if role is not None:
        delta["role"] = role
    if content is not None:
        delta["content"] = content
    data: dict[str, Any] = {
        "id": "cmpl-e5cc70bb28c444948073e77776eb30ef",
        "object": "chat.completion.chunk",
        "created": 1702256327,
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage is not None:
        data["usage"] = usage
    return data


def thinking(text: str) -> list[dict[str, Any]]:
    """Delta content holding reasoning (Magistral's ``thinking`` chunk)."""
    return [{"type": "thinking", "thinking": [{"type": "text", "text": text}]}]


def mistral_stream(*pieces: Any, finish: str = "stop", usage: dict[str, int] | None = USAGE, **kw: Any) -> Reply:
    """A streamed answer: a role chunk, one chunk per piece (text or content chunks), finish with usage, [DONE]."""
    frames = [frame(chunk("", role="assistant"))]
    frames += [frame(chunk(piece)) for piece in pieces]
    frames += [frame(chunk("", finish=finish, usage=usage)), b"data: [DONE]\n\n"]
    return Reply.stream(frames, content_type=SSE, **kw)


def mistral_answer(content: Any = "", *, finish: str = "stop", tool_calls: list[dict[str, Any]] | None = None) -> Reply:
    """A whole (non-streamed) answer."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls is not None:
        message["tool_calls"] = tool_calls
    data = {
        "id": "cmpl-0a1b2c",
        "object": "chat.completion",
        "created": 1702256327,
        "model": MODEL,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": USAGE,
    }
    return Reply.json(data)


def tool_call(call_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """A tool call as Mistral writes it (arguments as a JSON string)."""
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}


# -- Ollama's wire -----------------------------------------------------------------------------------


def ollama_stream(*pieces: str, thinking: str | None = None, reason: str = "stop") -> Reply:
    """A streamed Ollama answer: optional thinking line, one line per piece, then the final line."""
    stamp = "2026-11-24T07:00:00.123456789Z"
    lines = []
    if thinking is not None:
        message = {"role": "assistant", "content": "", "thinking": thinking}
        lines.append({"model": "llama3.2", "created_at": stamp, "message": message, "done": False})
    for piece in pieces:
        message = {"role": "assistant", "content": piece}
        lines.append({"model": "llama3.2", "created_at": stamp, "message": message, "done": False})
    final = {
        "model": "llama3.2",
        "created_at": stamp,
        "message": {"role": "assistant", "content": ""},
        "done_reason": reason,
        "done": True,
        "prompt_eval_count": 9,
        "eval_count": 4,
    }
    lines.append(final)
    return Reply.stream([json.dumps(line).encode() + b"\n" for line in lines], content_type=NDJSON)


def ollama_answer(content: str, *, reason: str = "stop") -> Reply:
    """A whole (``"stream": false``) Ollama answer."""
    data = {
        "model": "llama3.2",
        "created_at": "2026-11-24T07:00:00.123456789Z",
        "message": {"role": "assistant", "content": content},
        "done_reason": reason,
        "done": True,
        "prompt_eval_count": 9,
        "eval_count": 4,
    }
    return Reply.json(data)
