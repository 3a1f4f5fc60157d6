"""clawdesk's conformance kit, run against the Ollama provider on a scripted local server."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from typing import Any

import clawdesk_ollama._plugin
from clawdesk import (
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
    Usage,
)
from clawdesk.testing import ProviderConformance, RecordedRequest, Reply, ScriptedServer, SentMessage, SentRequest

MODEL = "llama3.2:latest"
STAMP = "2026-11-24T07:00:00.123456789Z"


def _call(call: ToolCall) -> dict[str, object]:
    return {"function": {"name": call.name, "arguments": dict(call.arguments)}}


def _line(data: dict[str, object]) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode() + b"\n"


#: The core options and where /api/chat's ``options`` object names them.
_OPTIONS = {
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "num_predict": "max_tokens",
    "seed": "seed",
}
_EFFORTS = {"low": ReasoningEffort.LOW, "medium": ReasoningEffort.MEDIUM, "high": ReasoningEffort.HIGH}


def _sent_message(data: Any, index: int) -> SentMessage:
    where = f"messages[{index}]"
    if not isinstance(data, dict) or not isinstance(data.get("content"), str):
        raise ValueError(f"{where} is not an Ollama message: {data!r}")
    parts: list[Any] = []
    if data.get("thinking"):
        parts.append(ReasoningPart(data["thinking"]))
    parts.append(TextPart(data["content"]))
    parts += [ImagePart(data=base64.b64decode(i, validate=True), media_type="image/*") for i in data.get("images", ())]
    calls = []
    for i, call in enumerate(data.get("tool_calls") or ()):
        arguments = call["function"]["arguments"]
        if not isinstance(arguments, dict):
            raise ValueError(f"{where}.tool_calls[{i}].function.arguments is not an object: {arguments!r}")
        calls.append(ToolCall("", call["function"]["name"], arguments))
    return SentMessage(role=Role(data["role"]), parts=parts, tool_calls=calls)


def read_ollama(sent: RecordedRequest) -> SentRequest:
    """A captured ``POST /api/chat`` read back: options from ``options``, think, format, tools."""
    body = sent.json()
    model_options = dict(body.get("options") or {})
    options = {core: model_options.pop(wire) for wire, core in _OPTIONS.items() if wire in model_options}
    if "stop" in model_options:
        options["stop"] = tuple(model_options.pop("stop"))
    fmt = body.get("format")
    if fmt is None:
        response_format = None
    elif fmt == "json":
        response_format = ResponseFormat.json()
    elif isinstance(fmt, dict):
        response_format = ResponseFormat.json_schema(fmt)
    else:
        raise ValueError(f"format {fmt!r} is neither 'json' nor a schema")
    think = body.get("think")
    if think is None:
        reasoning = None
    elif think is False:
        reasoning = Reasoning(effort=ReasoningEffort.NONE)
    elif think is True:
        reasoning = Reasoning()
    elif think in _EFFORTS:
        reasoning = Reasoning(effort=_EFFORTS[think])
    else:
        raise ValueError(f"think {think!r} is not true, false or a level")
    tools = []
    for tool in body.get("tools", ()):
        function = tool["function"]
        tools.append(Tool(function["name"], function.get("description", ""), function["parameters"]))
    return SentRequest(
        model=body["model"],
        messages=[_sent_message(m, i) for i, m in enumerate(body["messages"])],
        options=options,
        tools=tools,
        tool_choice=None,
        response_format=response_format,
        reasoning=reasoning,
        provider_options=model_options,
        stream=body["stream"],
    )


class TestOllamaConformance(ProviderConformance):
    """Every kit check; Ollama streams JSON lines from /api/chat and lists models at /api/tags and /api/show."""

    plugin = clawdesk_ollama._plugin
    entry_point = "ollama"
    model = MODEL
    stream_content_type = "application/x-ndjson"
    #: Ollama keeps no signatures: earlier reasoning goes back as unsigned ``thinking`` text.
    reasoning_round_trip = False

    def read_request(self, sent: RecordedRequest) -> SentRequest:
        """``POST /api/chat`` read back (:func:`read_ollama`)."""
        return read_ollama(sent)

    def provider_options_sample(self) -> Mapping[str, Any]:
        """A runner option: the context window."""
        return {"num_ctx": 8192}

    def stream_error_pieces(self, message: str) -> Sequence[bytes]:
        """A first line of text, then Ollama's ``{"error": ...}`` line in the 200 stream."""
        first = {"model": MODEL, "created_at": STAMP, "message": {"role": "assistant", "content": "Hel"}, "done": False}
        return [_line(first), _line({"error": message})]

    def finish_reply(self, text: str, reason: FinishReason) -> Reply:
        """A whole answer whose ``done_reason`` is ``length``."""
        data = json.loads(self.chat_reply(text).chunks[0])
        return Reply.json({**data, "done_reason": "length"})

    def finish_pieces(self, texts: Sequence[str], reason: FinishReason) -> Sequence[bytes]:
        """The stream of ``texts`` whose ``done`` line says ``length``."""
        pieces = list(self.stream_pieces(texts))
        final = json.loads(pieces[-1])
        return [*pieces[:-1], _line({**final, "done_reason": "length"})]

    def chat_usage(self) -> Usage:
        """``prompt_eval_count`` and ``eval_count`` of :meth:`chat_reply`."""
        return Usage(26, 12)

    def stream_usage(self, texts: Sequence[str]) -> Usage:
        """The ``done`` line's counts."""
        return Usage(26, len(texts))

    def config_table(self, base_url: str, timeout_secs: float) -> dict[str, object]:
        """Ollama also waits for the first byte (model loading); the kit's wait applies to both."""
        return {
            "base_url": base_url,
            "api_key": self.api_key,
            "timeout_secs": timeout_secs,
            "first_byte_timeout_secs": timeout_secs,
        }

    def chat_reply(self, text: str) -> Reply:
        """A ``"stream": false`` answer."""
        data = {
            "model": MODEL,
            "created_at": STAMP,
            "message": {"role": "assistant", "content": text},
            "done": True,
            "done_reason": "stop",
            "prompt_eval_count": 26,
            "eval_count": 12,
        }
        return Reply.json(data)

    def stream_pieces(self, texts: Sequence[str]) -> Sequence[bytes]:
        """One JSON line per text, then the ``done`` line."""
        pieces = [
            _line({"model": MODEL, "created_at": STAMP, "message": {"role": "assistant", "content": t}, "done": False})
            for t in texts
        ]
        final = {
            "model": MODEL,
            "created_at": STAMP,
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "stop",
            "prompt_eval_count": 26,
            "eval_count": len(texts),
        }
        return [*pieces, _line(final)]

    def tool_call_reply(self, call: ToolCall) -> Reply:
        """Ollama sends a call whole, arguments as an object, without an id."""
        message = {"role": "assistant", "content": "", "tool_calls": [_call(call)]}
        data = {"model": MODEL, "created_at": STAMP, "message": message, "done": True, "done_reason": "stop"}
        return Reply.json(data)

    def tool_call_pieces(self, call: ToolCall) -> Sequence[bytes]:
        """A streamed call arrives whole in one line, before the ``done`` line."""
        message = {"role": "assistant", "content": "", "tool_calls": [_call(call)]}
        final = {
            "model": MODEL,
            "created_at": STAMP,
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "stop",
        }
        return [_line({"model": MODEL, "created_at": STAMP, "message": message, "done": False}), _line(final)]

    def error_reply(self, status: int, message: str) -> Reply:
        """Ollama's error body."""
        return Reply.json({"error": message}, status=status)

    def script_models(self, server: ScriptedServer) -> bool:
        """/api/tags lists one model; /api/show tells its capabilities and context length."""
        entry = {
            "name": MODEL,
            "model": MODEL,
            "modified_at": STAMP,
            "size": 2019393189,
            "digest": "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
            "details": {"family": "llama", "parameter_size": "3.2B", "quantization_level": "Q4_K_M"},
        }
        server.route("GET", "/api/tags", Reply.json({"models": [entry]}))
        show = {"capabilities": ["completion", "tools"], "model_info": {"llama.context_length": 131072}}
        server.route("POST", "/api/show", Reply.json(show))
        return True
