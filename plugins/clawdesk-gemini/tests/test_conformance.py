"""clawdesk's conformance kit, run against the Gemini provider on a scripted Gemini API."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

import clawdesk_gemini._plugin
from clawdesk import ToolCall
from clawdesk.testing import ProviderConformance, Reply, ScriptedServer

# The builders, from this directory's conftest (test directories are not packages).
_conftest = sys.modules["clawdesk_gemini_testwire"]
GW = _conftest.GeminiWire()
SIGNATURE = "Q2lRQmpEMDg5cGxHVEJrU2l2dFE="


class TestGeminiConformance(ProviderConformance):
    """Every kit check; Gemini streams SSE without an end marker and lists models page by page."""

    plugin = clawdesk_gemini._plugin
    entry_point = "gemini"
    model = _conftest.MODEL

    def config_table(self, base_url: str, timeout_secs: float) -> dict[str, Any]:
        """Gemini also waits for the first byte (thinking); the kit's wait applies to both."""
        return {
            "base_url": base_url,
            "api_key": self.api_key,
            "timeout_secs": timeout_secs,
            "first_byte_timeout_secs": timeout_secs,
        }

    def chat_reply(self, text: str) -> Reply:
        """A ``generateContent`` answer with one text part."""
        return GW.answer(GW.text(text), usage=GW.usage())

    def stream_pieces(self, texts: Sequence[str]) -> Sequence[bytes]:
        """One chunk per text, then a chunk with only the finishReason and the usage (Gemini's last chunk)."""
        return GW.sse(*GW.text_stream(*texts))

    def tool_call_reply(self, call: ToolCall) -> Reply:
        """Gemini sends a call whole, arguments as an object, without an id, with a thought signature."""
        part = GW.call(call.name, dict(call.arguments), signature=SIGNATURE)
        return GW.answer(part, usage=GW.usage())

    def tool_call_pieces(self, call: ToolCall) -> Sequence[bytes]:
        """A streamed call arrives whole in one chunk; the finish comes in the next."""
        part = GW.call(call.name, dict(call.arguments), signature=SIGNATURE)
        first = GW.response(part, finish=None)
        last = GW.response(finish="STOP", no_content=True, usage=GW.usage())
        return GW.sse(first, last)

    def error_reply(self, status: int, message: str) -> Reply:
        """Google's ``{"error": {code, message, status}}``, pretty-printed."""
        return GW.error(status, message)

    def script_models(self, server: ScriptedServer) -> bool:
        """``GET /v1beta/models`` lists a chat model and an embedding model on one page."""
        page = json.loads(
            GW.models_page(
                GW.model_entry(self.model, ["generateContent", "countTokens", "createCachedContent"], thinking=True),
                GW.model_entry("gemini-embedding-001", ["embedContent"], input_limit=2048, output_limit=1),
            ).chunks[0]
        )
        server.route("GET", "/v1beta/models?pageSize=1000", GW.json(page))
        return True
