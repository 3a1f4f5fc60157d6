"""clawdesk's conformance kit, run against the Mistral provider on a scripted local server."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import clawdesk_mistral._plugin
from clawdesk.testing import ProviderConformance, Reply, ScriptedServer
from clawdesk_openai_compat.testing import OpenAICompatibleWire


class TestMistralConformance(OpenAICompatibleWire, ProviderConformance):
    """Every kit check; Mistral speaks OpenAI-style chat completions with its own error body."""

    plugin = clawdesk_mistral._plugin
    entry_point = "mistral"
    model = "mistral-small-latest"

    def config_table(self, base_url: str, timeout_secs: float) -> dict[str, object]:
        """Mistral's base URL carries the /v1 prefix."""
        return {"base_url": base_url + "/v1", "api_key": self.api_key, "timeout_secs": timeout_secs}

    def error_reply(self, status: int, message: str) -> Reply:
        """Mistral's documented error object."""
        body = {"object": "error", "message": message, "type": "conformance", "param": None, "code": str(status)}
        return Reply.json(body, status=status)

    def provider_options_sample(self) -> Mapping[str, Any]:
        """Two of Mistral's own options, sent as top-level fields of the body."""
        return {"safe_prompt": True, "presence_penalty": 0.5}

    def script_models(self, server: ScriptedServer) -> bool:
        """GET /v1/models answers with one chat model."""
        model = {
            "id": "mistral-small-latest",
            "object": "model",
            "capabilities": {"completion_chat": True, "function_calling": True, "vision": False},
        }
        server.route("GET", "/v1/models", Reply.json({"object": "list", "data": [model]}))
        return True
