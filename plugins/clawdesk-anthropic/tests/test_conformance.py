"""clawdesk's conformance kit, run against the Anthropic provider on a scripted Claude API."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import anthropic_wire as wire

import clawdesk_anthropic._plugin
from clawdesk import (
    ApiError,
    AuthFailed,
    ContentPart,
    DocumentPart,
    FinishReason,
    ImagePart,
    InvalidRequest,
    ModelNotFound,
    PermissionDenied,
    ProviderError,
    QuotaExceeded,
    RateLimited,
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
from clawdesk.testing import ProviderConformance, RecordedRequest, Reply, ScriptedServer, SentMessage, SentRequest

_EFFORTS = {"low": ReasoningEffort.LOW, "medium": ReasoningEffort.MEDIUM, "high": ReasoningEffort.HIGH}
_EFFORTS["max"] = ReasoningEffort.MAX
_CHOICES = {"auto": ToolChoiceMode.AUTO, "none": ToolChoiceMode.NONE, "any": ToolChoiceMode.REQUIRED}


def _source(block: Mapping[str, Any], where: str) -> ImagePart | DocumentPart:
    source = block.get("source")
    cls = ImagePart if block["type"] == "image" else DocumentPart
    if not isinstance(source, dict):
        raise ValueError(f"{where} has no source")
    if source.get("type") == "url":
        return cls(url=source["url"])
    if source.get("type") == "base64":
        return cls(data=base64.b64decode(source["data"], validate=True), media_type=source["media_type"])
    if source.get("type") == "text":
        return cls(data=source["data"].encode(), media_type=source["media_type"])
    raise ValueError(f"{where}.source {source!r} is not url, base64 or text")


def _parts(content: Any, where: str) -> tuple[list[ContentPart], list[ToolCall], list[tuple[str, list[ContentPart]]]]:
    """The parts, tool calls and tool results (call id, parts) of one turn's content."""
    if isinstance(content, str):
        return [TextPart(content)], [], []
    parts: list[ContentPart] = []
    calls: list[ToolCall] = []
    results: list[tuple[str, list[ContentPart]]] = []
    for i, block in enumerate(content):
        at = f"{where}.content[{i}]"
        kind = block.get("type")
        if kind == "text":
            parts.append(TextPart(block["text"]))
        elif kind == "thinking":
            parts.append(ReasoningPart(block["thinking"], signature=block.get("signature")))
        elif kind == "redacted_thinking":
            parts.append(ReasoningPart(redacted=block["data"]))
        elif kind in ("image", "document"):
            parts.append(_source(block, at))
        elif kind == "tool_use":
            if not isinstance(block.get("input"), dict):
                raise ValueError(f"{at}.input is not an object: {block.get('input')!r}")
            calls.append(ToolCall(block["id"], block["name"], block["input"]))
        elif kind == "tool_result":
            inner, _, _ = _parts(block.get("content", []), at)
            results.append((block["tool_use_id"], inner))
        else:
            raise ValueError(f"{at} is not a Messages API block: {block!r}")
    return parts, calls, results


def read_messages_request(sent: RecordedRequest) -> SentRequest:
    """A captured ``POST /v1/messages`` read back: the system prompt first, tool results as tool messages."""
    body = sent.json()
    messages: list[SentMessage] = []
    system = body.get("system")
    if system:
        text = system if isinstance(system, str) else "".join(b["text"] for b in system)
        messages.append(SentMessage(role=Role.SYSTEM, parts=text))
    for index, turn in enumerate(body["messages"]):
        parts, calls, results = _parts(turn["content"], f"messages[{index}]")
        messages += [SentMessage(role=Role.TOOL, parts=inner, tool_call_id=call) for call, inner in results]
        if parts or calls or not results:
            messages.append(SentMessage(role=Role(turn["role"]), parts=parts, tool_calls=calls))
    options: dict[str, Any] = {k: body[k] for k in ("temperature", "top_p", "top_k", "max_tokens") if k in body}
    if "stop_sequences" in body:
        options["stop"] = tuple(body["stop_sequences"])
    choice = body.get("tool_choice")
    tool_choice = None
    if choice is not None:
        if choice.get("type") == "tool":
            tool_choice = ToolChoice.function(choice["name"])
        elif choice.get("type") in _CHOICES:
            tool_choice = ToolChoice(_CHOICES[choice["type"]])
        else:
            raise ValueError(f"tool_choice {choice!r} is not a Messages API tool choice")
    output = body.get("output_config", {})
    fmt = output.get("format")
    response_format = None if fmt is None else ResponseFormat.json_schema(fmt["schema"])
    thinking = body.get("thinking")
    effort = _EFFORTS[output["effort"]] if "effort" in output else None
    reasoning = None
    if thinking is not None:
        if thinking["type"] == "disabled":
            reasoning = Reasoning(effort=ReasoningEffort.NONE)
        elif thinking["type"] == "enabled":
            reasoning = Reasoning(budget_tokens=thinking["budget_tokens"], effort=effort)
        else:
            reasoning = Reasoning(effort=effort)
    tools = [Tool(t["name"], t.get("description", ""), t["input_schema"]) for t in body.get("tools", ())]
    known = {"model", "max_tokens", "system", "messages", "tools", "tool_choice", "thinking", "output_config"}
    known |= {"temperature", "top_p", "top_k", "stop_sequences", "stream"}
    return SentRequest(
        model=body["model"],
        messages=messages,
        options=options,
        tools=tools,
        tool_choice=tool_choice,
        response_format=response_format,
        reasoning=reasoning,
        provider_options={k: v for k, v in body.items() if k not in known},
        stream=body.get("stream", False),
    )


class TestAnthropicConformance(ProviderConformance):
    """Every kit check, with the Messages API's answers (checked by the official SDK's models)."""

    plugin = clawdesk_anthropic._plugin
    entry_point = "anthropic"
    model = wire.MODEL
    stream_end_marker = b"event: message_stop"
    #: Every status the API documents (its error types, wire.ERROR_TYPES) and the error each becomes.
    error_statuses: ClassVar[Mapping[int, type[ProviderError]]] = {
        400: InvalidRequest,
        401: AuthFailed,
        402: QuotaExceeded,
        403: PermissionDenied,
        404: ModelNotFound,
        409: ApiError,
        413: InvalidRequest,
        429: RateLimited,
        500: ApiError,
        503: ApiError,
        504: ApiError,
        529: ApiError,
    }

    def read_request(self, sent: RecordedRequest) -> SentRequest:
        """``POST /v1/messages`` read back (:func:`read_messages_request`)."""
        return read_messages_request(sent)

    def provider_options_sample(self) -> Mapping[str, Any]:
        """The service tier, sent as the top-level ``service_tier``."""
        return {"service_tier": "standard_only"}

    def stream_error_pieces(self, message: str) -> Sequence[bytes]:
        """A text delta, then the API's ``error`` event (an overloaded backend mid-stream)."""
        frames = list(wire.text_events("Hel"))[:4]
        return [*frames, wire.event({"type": "error", "error": {"type": "overloaded_error", "message": message}})]

    def finish_reply(self, text: str, reason: FinishReason) -> Reply:
        """A Message with one text block that stopped at ``max_tokens``."""
        return wire.json_reply(wire.message([{"type": "text", "text": text}], stop_reason="max_tokens"))

    def finish_pieces(self, texts: Sequence[str], reason: FinishReason) -> Sequence[bytes]:
        """The text events, the message_delta saying ``max_tokens``."""
        return wire.text_events(*texts, stop_reason="max_tokens")

    def chat_usage(self) -> Usage:
        """The Message's usage: 12 input, 6 output tokens."""
        return Usage(12, 6)

    def stream_usage(self, texts: Sequence[str]) -> Usage:
        """message_start's 12 input tokens, message_delta's 6 output tokens."""
        return Usage(12, 6)

    def config_table(self, base_url: str, timeout_secs: float) -> dict[str, object]:
        """The check's wait applies to the first byte too (the timeout checks wait that long)."""
        table = super().config_table(base_url, timeout_secs)
        return {**table, "first_byte_timeout_secs": timeout_secs}

    def chat_reply(self, text: str) -> Reply:
        """A Message with one text block."""
        return wire.json_reply(wire.message([{"type": "text", "text": text}]))

    def stream_pieces(self, texts: Sequence[str]) -> Sequence[bytes]:
        """message_start, a text block with one delta per text, message_delta, message_stop."""
        return wire.text_events(*texts)

    def error_reply(self, status: int, message: str) -> Reply:
        """The API's error body, with the error type that goes with the status."""
        return wire.json_reply(wire.error_body(wire.ERROR_TYPES.get(status, "api_error"), message), status=status)

    def tool_call_reply(self, call: ToolCall) -> Reply | None:
        """A Message with one tool_use block, stop_reason tool_use."""
        block = {"type": "tool_use", "id": call.id, "name": call.name, "input": dict(call.arguments)}
        return wire.json_reply(wire.message([block], stop_reason="tool_use"))

    def tool_call_pieces(self, call: ToolCall) -> Sequence[bytes] | None:
        """A tool_use block whose input arrives as an empty piece and then three input_json_delta pieces."""
        arguments = json.dumps(dict(call.arguments), ensure_ascii=False)
        third = len(arguments) // 3
        parts = ["", arguments[:third], arguments[third : 2 * third], arguments[2 * third :]]
        frames = [
            wire.event(wire.message_start()),
            wire.event(wire.block_start(0, {"type": "tool_use", "id": call.id, "name": call.name, "input": {}})),
        ]
        frames += [wire.event(wire.delta(0, {"type": "input_json_delta", "partial_json": p})) for p in parts]
        frames += [
            wire.event(wire.block_stop(0)),
            wire.event(wire.message_delta("tool_use")),
            wire.event(wire.MESSAGE_STOP),
        ]
        return frames

    def script_models(self, server: ScriptedServer) -> bool:
        """GET /v1/models answers with one page of two models."""
        page = {
            "data": [
                wire.model_entry(wire.MODEL, capabilities=wire.capabilities()),
                wire.model_entry("claude-future-6", max_input_tokens=2_000_000, max_tokens=256_000),
            ],
            "first_id": wire.MODEL,
            "last_id": "claude-future-6",
            "has_more": False,
        }
        server.route("GET", "/v1/models?limit=1000", Reply.json(page))
        return True
