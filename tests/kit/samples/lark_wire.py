"""The kit adapter for the lark sample backend: its answers, streams, errors, and a strict read-back."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from typing import Any

from clawdesk import (
    ContentPart,
    DocumentPart,
    FinishReason,
    ImagePart,
    Reasoning,
    ReasoningEffort,
    ReasoningPart,
    ResponseFormat,
    Role,
    TextPart,
    Tool,
    ToolCall,
    ToolChoice,
    ToolChoiceMode,
    Usage,
)
from clawdesk.testing import RecordedRequest, Reply, SentMessage, SentRequest

MODEL = "lark-1"
_STOP = {FinishReason.STOP: "end", FinishReason.LENGTH: "max_tokens", FinishReason.TOOL_CALLS: "tool_call"}
_PARAMS = frozenset({"temperature", "top_p", "top_k", "max_tokens", "stop", "seed"})
_FIELDS = frozenset({"model", "messages", "params", "tools", "tool_choice", "format", "thinking", "stream"})


def sse(data: Any) -> bytes:
    return b"data: " + json.dumps(data).encode() + b"\n\n"


def _bytes(block: Mapping[str, Any], where: str) -> bytes:
    try:
        return base64.b64decode(block["data"], validate=True)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{where}.data is not base64: {exc}") from None


def _part(block: Any, where: str) -> ContentPart | ToolCall:
    kind = block.get("type") if isinstance(block, dict) else None
    if kind == "text" and isinstance(block.get("text"), str):
        return TextPart(block["text"])
    if kind == "thinking":
        return ReasoningPart(block.get("text", ""), signature=block.get("signature"))
    if kind == "tool_call":
        if not isinstance(block.get("arguments"), dict):
            raise ValueError(f"{where}.arguments is not an object: {block.get('arguments')!r}")
        return ToolCall(block["id"], block["name"], block["arguments"])
    if kind in ("image", "document"):
        cls = ImagePart if kind == "image" else DocumentPart
        if "data" in block:
            return cls(data=_bytes(block, where), media_type=block.get("media_type"))
        if isinstance(block.get("url"), str):
            return cls(url=block["url"])
        raise ValueError(f"{where} has neither data nor url")
    raise ValueError(f"{where} is not a lark part: {block!r}")


def _message(data: Any, index: int) -> SentMessage:
    where = f"messages[{index}]"
    if not isinstance(data, dict) or not isinstance(data.get("content"), list):
        raise ValueError(f"{where} is not a lark message: {data!r}")
    parts: list[ContentPart] = []
    calls: list[ToolCall] = []
    for i, block in enumerate(data["content"]):
        item = _part(block, f"{where}.content[{i}]")
        if isinstance(item, ToolCall):
            calls.append(item)
        else:
            parts.append(item)
    return SentMessage(role=Role(data["role"]), parts=parts, tool_calls=calls, tool_call_id=data.get("call_id"))


def _tool_choice(value: Any) -> ToolChoice | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError(f"tool_choice {value!r} is not an object like {{'type': 'auto'}}")
    kind = value.get("type")
    if kind == "tool" and isinstance(value.get("name"), str):
        return ToolChoice.function(value["name"])
    modes = {"auto": ToolChoiceMode.AUTO, "none": ToolChoiceMode.NONE, "any": ToolChoiceMode.REQUIRED}
    if kind in modes:
        return ToolChoice(modes[kind])
    raise ValueError(f"tool_choice {value!r} is not a lark tool choice")


def _format(value: Any) -> ResponseFormat | None:
    if value is None:
        return None
    kind = value.get("type") if isinstance(value, dict) else None
    if kind == "text":
        return ResponseFormat()
    if kind == "json":
        return ResponseFormat.json()
    if kind == "json_schema" and isinstance(value.get("schema"), dict):
        return ResponseFormat.json_schema(value["schema"], name=value.get("name", "response"))
    raise ValueError(f"format {value!r} is not a lark format")


def _thinking(value: Any) -> Reasoning | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError(f"thinking {value!r} is not an object")
    if value.get("enabled") is False:
        return Reasoning(effort=ReasoningEffort.NONE)
    if "budget" in value:
        return Reasoning(budget_tokens=value["budget"])
    return Reasoning(effort=ReasoningEffort(value["effort"]))


def read_lark(sent: RecordedRequest) -> SentRequest:
    """A captured ``POST /v1/chat`` read back, strictly."""
    body = sent.json()
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        raise ValueError("the body is not a lark request")
    params = body.get("params", {})
    unknown = set(params) - _PARAMS
    if unknown:
        raise ValueError(f"params {sorted(unknown)} are not lark parameters")
    options = {k: (tuple(v) if k == "stop" else v) for k, v in params.items()}
    tools = tuple(Tool(t["name"], t.get("description", ""), t.get("input_schema", {})) for t in body.get("tools", ()))
    return SentRequest(
        model=body.get("model"),
        messages=tuple(_message(m, i) for i, m in enumerate(body["messages"])),
        options=options,
        tools=tools,
        tool_choice=_tool_choice(body.get("tool_choice")),
        response_format=_format(body.get("format")),
        reasoning=_thinking(body.get("thinking")),
        provider_options={k: v for k, v in body.items() if k not in _FIELDS},
        stream=body.get("stream"),
    )


class LarkWire:
    """How the lark backend answers each scripted situation, and how its requests read back."""

    model = MODEL
    stream_content_type = "text/event-stream"
    stream_end_marker = b"data: [DONE]"

    def chat_reply(self, text: str) -> Reply:
        return self.finish_reply(text, FinishReason.STOP)

    def finish_reply(self, text: str, reason: FinishReason) -> Reply:
        content = [{"type": "text", "text": text}]
        return Reply.json({"content": content, "stop": _STOP[reason], "usage": {"in": 11, "out": 3}})

    def stream_pieces(self, texts: Sequence[str]) -> Sequence[bytes]:
        return self.finish_pieces(texts, FinishReason.STOP)

    def finish_pieces(self, texts: Sequence[str], reason: FinishReason) -> Sequence[bytes]:
        events = [sse({"type": "text", "text": t}) for t in texts]
        stop = {"type": "stop", "stop": _STOP[reason], "usage": {"in": 11, "out": len(texts)}}
        return [*events, sse(stop), b"data: [DONE]\n\n"]

    def chat_usage(self) -> Usage:
        return Usage(11, 3)

    def stream_usage(self, texts: Sequence[str]) -> Usage:
        return Usage(11, len(texts))

    def stream_error_pieces(self, message: str) -> Sequence[bytes]:
        # Lark ends every stream with its marker, an error too: only the error event says it failed.
        error = sse({"type": "error", "message": message})
        return [sse({"type": "text", "text": "Hel"}), error, b"data: [DONE]\n\n"]

    def tool_call_reply(self, call: ToolCall) -> Reply:
        block = {"type": "tool_call", "id": call.id, "name": call.name, "arguments": dict(call.arguments)}
        return Reply.json({"content": [block], "stop": "tool_call", "usage": {"in": 11, "out": 3}})

    def tool_call_pieces(self, call: ToolCall) -> Sequence[bytes]:
        block = {"type": "tool_call", "id": call.id, "name": call.name, "arguments": dict(call.arguments)}
        return [sse(block), sse({"type": "stop", "stop": "tool_call"}), b"data: [DONE]\n\n"]

    def error_reply(self, status: int, message: str) -> Reply:
        return Reply.json({"error": {"message": message, "kind": "scripted"}}, status=status)

    def read_request(self, sent: RecordedRequest) -> SentRequest:
        return read_lark(sent)

    def provider_options_sample(self) -> Mapping[str, Any]:
        return {"creativity": 0.61}
