"""The kit adapter for the echo sample backend (shared by the kit's own tests)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from clawdesk.testing import Reply, ScriptedServer


class EchoWire:
    """How the echo backend answers each scripted situation."""

    stream_content_type = "application/x-ndjson"

    def chat_reply(self, text: str) -> Reply:
        return Reply.json({"text": text, "done_reason": "stop", "usage": {"in": 3, "out": 2}})

    def stream_pieces(self, texts: Sequence[str]) -> Sequence[bytes]:
        lines = [json.dumps({"text": t}).encode() + b"\n" for t in texts]
        return [
            *lines,
            json.dumps({"done": True, "done_reason": "stop", "usage": {"in": 3, "out": 4}}).encode() + b"\n",
        ]

    def error_reply(self, status: int, message: str) -> Reply:
        return Reply.json({"error": message}, status=status)

    def script_models(self, server: ScriptedServer) -> bool:
        server.route("GET", "/models", Reply.json({"models": [{"id": "echo-1", "caps": ["chat", "streaming"]}]}))
        return True
