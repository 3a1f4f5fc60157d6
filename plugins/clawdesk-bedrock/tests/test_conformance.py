"""clawdesk's conformance kit against the Bedrock provider on a scripted local server: bearer and SigV4."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, ClassVar

import clawdesk_bedrock._plugin
from clawdesk import ToolCall
from clawdesk.provider import encode_event_stream_message
from clawdesk.testing import ProviderConformance, Reply, ScriptedServer

_CODES = {
    400: "ValidationException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}


def _event(kind: str, payload: dict[str, Any]) -> bytes:
    headers = {":event-type": kind, ":content-type": "application/json", ":message-type": "event"}
    return encode_event_stream_message(headers, json.dumps({**payload, "p": "abcdefgh"}).encode())


class BedrockWire:
    """The adapter half for Converse: JSON answers, binary event streams, AWS error shapes."""

    # The kit looks for the model id verbatim in the path; a Bedrock id's ':' travels as %3A, so the kit's
    # own plain id is used (test_stream and test_chat check real ids and their encoding).
    stream_content_type: ClassVar[str] = "application/vnd.amazon.eventstream"

    def chat_reply(self, text: str) -> Reply:
        """A Converse answer whose one block is ``text``."""
        return Reply.json(
            {
                "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
                "stopReason": "end_turn",
                "usage": {"inputTokens": 9, "outputTokens": 5, "totalTokens": 14},
                "metrics": {"latencyMs": 1},
            }
        )

    def stream_pieces(self, texts: Sequence[str]) -> Sequence[bytes]:
        """messageStart, one contentBlockDelta per text, the stops and the metadata, one frame per piece."""
        pieces = [_event("messageStart", {"role": "assistant"})]
        pieces += [_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": t}}) for t in texts]
        pieces += [
            _event("contentBlockStop", {"contentBlockIndex": 0}),
            _event("messageStop", {"stopReason": "end_turn"}),
            _event(
                "metadata",
                {"usage": {"inputTokens": 9, "outputTokens": 4, "totalTokens": 13}, "metrics": {"latencyMs": 1}},
            ),
        ]
        return pieces

    def tool_call_reply(self, call: ToolCall) -> Reply | None:
        """A Converse answer with one toolUse block."""
        use = {"toolUseId": call.id, "name": call.name, "input": dict(call.arguments)}
        return Reply.json(
            {
                "output": {"message": {"role": "assistant", "content": [{"toolUse": use}]}},
                "stopReason": "tool_use",
                "usage": {"inputTokens": 9, "outputTokens": 5, "totalTokens": 14},
                "metrics": {"latencyMs": 1},
            }
        )

    def tool_call_pieces(self, call: ToolCall) -> Sequence[bytes] | None:
        """The call's start, its input JSON in three fragments, its stop, messageStop."""
        arguments = json.dumps(dict(call.arguments), ensure_ascii=False)
        third = len(arguments) // 3
        parts = [arguments[:third], arguments[third : 2 * third], arguments[2 * third :]]
        start = {"toolUse": {"toolUseId": call.id, "name": call.name}}
        pieces = [
            _event("messageStart", {"role": "assistant"}),
            _event("contentBlockStart", {"contentBlockIndex": 0, "start": start}),
        ]
        pieces += [
            _event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"toolUse": {"input": p}}}) for p in parts
        ]
        pieces += [
            _event("contentBlockStop", {"contentBlockIndex": 0}),
            _event("messageStop", {"stopReason": "tool_use"}),
        ]
        return pieces

    def error_reply(self, status: int, message: str) -> Reply:
        """AWS's error: the code in x-amzn-ErrorType (when the status has a modeled one), the message in the body."""
        headers = [("x-amzn-RequestId", "rid-conformance")]
        if status in _CODES:
            headers.append(
                ("x-amzn-ErrorType", f"{_CODES[status]}:http://internal.amazon.com/coral/com.amazon.coral.service/")
            )
        return Reply.json({"message": message}, status=status, headers=headers)

    def script_models(self, server: ScriptedServer) -> bool:
        """The control plane's two listings (the runtime and control URLs both point at the scripted server)."""
        summary = {
            "modelArn": "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
            "modelId": "anthropic.claude-3-haiku-20240307-v1:0",
            "modelName": "Claude 3 Haiku",
            "providerName": "Anthropic",
            "inputModalities": ["TEXT", "IMAGE"],
            "outputModalities": ["TEXT"],
            "responseStreamingSupported": True,
            "inferenceTypesSupported": ["ON_DEMAND"],
            "modelLifecycle": {"status": "ACTIVE"},
        }
        server.route("GET", "/foundation-models?byOutputModality=TEXT", Reply.json({"modelSummaries": [summary]}))
        server.route("GET", "/inference-profiles?maxResults=1000", Reply.json({"inferenceProfileSummaries": []}))
        return True


class TestBedrockBearerConformance(BedrockWire, ProviderConformance):
    """Every kit check with a Bedrock API key (``api_key``, sent as a bearer token)."""

    plugin = clawdesk_bedrock._plugin
    entry_point = "bedrock"

    def config_table(self, base_url: str, timeout_secs: float) -> dict[str, Any]:
        """Both endpoints at the scripted server, a region, the key, and every timeout the check's."""
        return {
            "base_url": base_url,
            "control_url": base_url,
            "region": "us-east-1",
            "api_key": self.api_key,
            "timeout_secs": timeout_secs,
            "first_byte_timeout_secs": timeout_secs,
        }


class TestBedrockSigV4Conformance(BedrockWire, ProviderConformance):
    """Every kit check with SigV4 credentials; the kit's leak checks look for the secret access key."""

    plugin = clawdesk_bedrock._plugin
    entry_point = "bedrock"
    #: The kit searches errors, reprs and logs for this value: here it is the secret key.
    api_key: ClassVar[str] = "ck-conformance-secret/Key+0123456789abcdef"

    def config_table(self, base_url: str, timeout_secs: float) -> dict[str, Any]:
        """Access keys and a session token instead of an API key."""
        return {
            "base_url": base_url,
            "control_url": base_url,
            "region": "us-east-1",
            "access_key_id": "AKIACONFORMANCE00000",
            "secret_access_key": self.api_key,
            "session_token": "ck-conformance-session-token-0123456789",
            "timeout_secs": timeout_secs,
            "first_byte_timeout_secs": timeout_secs,
        }
