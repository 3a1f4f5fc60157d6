"""clawdesk's conformance kit, run against the Anthropic provider on a scripted Claude API."""

from __future__ import annotations

import json
from collections.abc import Sequence

import anthropic_wire as wire

import clawdesk_anthropic._plugin
from clawdesk import ToolCall
from clawdesk.testing import ProviderConformance, Reply, ScriptedServer


class TestAnthropicConformance(ProviderConformance):
    """Every kit check, with the Messages API's answers (checked by the official SDK's models)."""

    plugin = clawdesk_anthropic._plugin
    entry_point = "anthropic"
    model = wire.MODEL

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
