"""clawdesk's conformance kit, run against the Ollama provider on a scripted local server."""

from __future__ import annotations

import json
from collections.abc import Sequence

import clawdesk_ollama._plugin
from clawdesk import ToolCall
from clawdesk.testing import ProviderConformance, Reply, ScriptedServer

MODEL = "llama3.2:latest"
STAMP = "2026-11-24T07:00:00.123456789Z"


def _call(call: ToolCall) -> dict[str, object]:
    return {"function": {"name": call.name, "arguments": dict(call.arguments)}}


def _line(data: dict[str, object]) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode() + b"\n"


class TestOllamaConformance(ProviderConformance):
    """Every kit check; Ollama streams JSON lines from /api/chat and lists models at /api/tags and /api/show."""

    plugin = clawdesk_ollama._plugin
    entry_point = "ollama"
    model = MODEL
    stream_content_type = "application/x-ndjson"

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
