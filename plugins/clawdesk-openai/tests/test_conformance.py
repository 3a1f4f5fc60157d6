"""clawdesk's conformance kit, run against the openai provider as OpenAI and as two compatible servers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import clawdesk_openai._plugin
from clawdesk.testing import ProviderConformance, Reply, ScriptedServer
from clawdesk_openai_compat.testing import OpenAICompatibleWire


class _OpenAIKit(OpenAICompatibleWire, ProviderConformance):
    plugin = clawdesk_openai._plugin
    entry_point = "openai"
    model = "conformance-model"
    dialect = "openai"

    def config_table(self, base_url: str, timeout_secs: float) -> dict[str, Any]:
        """The base URL carries /v1; the dialect is named (auto would take loopback for a local server)."""
        return {
            "base_url": base_url + "/v1",
            "api_key": self.api_key,
            "dialect": self.dialect,
            "timeout_secs": timeout_secs,
            "first_byte_timeout_secs": timeout_secs,
        }

    def provider_options_sample(self) -> Mapping[str, Any]:
        """Two of the plugin's own options, sent as top-level fields of the body."""
        return {"presence_penalty": 0.5, "user": "conformance-user"}

    def script_models(self, server: ScriptedServer) -> bool:
        """GET /v1/models answers OpenAI's list with one model."""
        card = {"id": self.model, "object": "model", "created": 1700000000, "owned_by": "system"}
        server.route("GET", "/v1/models", Reply.json({"object": "list", "data": [card]}))
        return True


class TestOpenAIConformance(_OpenAIKit):
    """Every kit check with the OpenAI dialect: max_completion_tokens, include_usage, a key required."""


class TestGroqInstanceConformance(_OpenAIKit):
    """Every kit check for a compatible hosted service configured as a named instance would be: Groq's dialect,
    its own key variable."""

    dialect = "groq"

    def config_table(self, base_url: str, timeout_secs: float) -> dict[str, Any]:
        """A [providers.groq] table: plugin openai (implied here), its base_url, key and key variable."""
        return {**super().config_table(base_url, timeout_secs), "api_key_env": "GROQ_API_KEY"}


class TestLlamaCppConformance(_OpenAIKit):
    """Every kit check with llama.cpp's dialect: no key needed, top_k sent, Connection: close on streams."""

    dialect = "llama.cpp"
