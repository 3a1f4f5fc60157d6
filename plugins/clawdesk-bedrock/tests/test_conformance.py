"""clawdesk's conformance kit against the Bedrock provider on a scripted local server: bearer and SigV4."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import unquote

import clawdesk_bedrock._plugin
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
from clawdesk.provider import encode_event_stream_message
from clawdesk.testing import ProviderConformance, RecordedRequest, Reply, ScriptedServer, SentMessage, SentRequest

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


_INFERENCE = {"maxTokens": "max_tokens", "temperature": "temperature", "topP": "top_p"}
_OWN = {"requestMetadata": "request_metadata"}


def _media(block: Mapping[str, Any], kind: str, where: str) -> ImagePart | DocumentPart:
    cls = ImagePart if kind == "image" else DocumentPart
    source = block["source"]
    if "bytes" in source:
        return cls(data=base64.b64decode(source["bytes"], validate=True), media_type=f"{kind}/{block['format']}")
    if "s3Location" in source:
        return cls(url=source["s3Location"]["uri"])
    raise ValueError(f"{where}.source {source!r} has neither bytes nor s3Location")


def _blocks(content: Any, where: str) -> tuple[list[ContentPart], list[ToolCall], list[SentMessage]]:
    parts: list[ContentPart] = []
    calls: list[ToolCall] = []
    results: list[SentMessage] = []
    for i, block in enumerate(content):
        at = f"{where}.content[{i}]"
        if "text" in block:
            parts.append(TextPart(block["text"]))
        elif "image" in block or "document" in block:
            kind = "image" if "image" in block else "document"
            parts.append(_media(block[kind], kind, at))
        elif "reasoningContent" in block:
            reasoning = block["reasoningContent"]
            if "redactedContent" in reasoning:
                parts.append(ReasoningPart(redacted=reasoning["redactedContent"]))
            else:
                text = reasoning["reasoningText"]
                parts.append(ReasoningPart(text["text"], signature=text.get("signature")))
        elif "toolUse" in block:
            use = block["toolUse"]
            if not isinstance(use.get("input"), dict):
                raise ValueError(f"{at}.toolUse.input is not an object: {use.get('input')!r}")
            calls.append(ToolCall(use["toolUseId"], use["name"], use["input"]))
        elif "toolResult" in block:
            result = block["toolResult"]
            inner, _, _ = _blocks(result["content"], at)
            results.append(SentMessage(role=Role.TOOL, parts=inner, tool_call_id=result["toolUseId"]))
        elif "cachePoint" not in block:
            raise ValueError(f"{at} is not a Converse content block: {block!r}")
    return parts, calls, results


def read_converse(sent: RecordedRequest) -> SentRequest:
    """A captured Converse request read back: the model and the stream flag from the path."""
    body = sent.json()
    path = unquote(sent.path)
    if not path.startswith("/model/") or not path.endswith(("/converse", "/converse-stream")):
        raise ValueError(f"{sent.path} is not a Converse path")
    model, _, operation = path[len("/model/") :].rpartition("/")
    system = "".join(b["text"] for b in body.get("system", ()) if "text" in b)
    messages = [SentMessage(role=Role.SYSTEM, parts=system)] if system else []
    for index, turn in enumerate(body["messages"]):
        parts, calls, results = _blocks(turn["content"], f"messages[{index}]")
        messages += results
        if parts or calls:
            messages.append(SentMessage(role=Role(turn["role"]), parts=parts, tool_calls=calls))
    inference = body.get("inferenceConfig", {})
    options: dict[str, Any] = {core: inference[wire] for wire, core in _INFERENCE.items() if wire in inference}
    if "stopSequences" in inference:
        options["stop"] = tuple(inference["stopSequences"])
    fields = body.get("additionalModelRequestFields", {})
    config = body.get("toolConfig", {})
    tools = [
        Tool(t["toolSpec"]["name"], t["toolSpec"].get("description", ""), t["toolSpec"]["inputSchema"]["json"])
        for t in config.get("tools", ())
        if "toolSpec" in t
    ]
    choice = config.get("toolChoice")
    tool_choice = None
    if choice is not None:
        if "tool" in choice:
            tool_choice = ToolChoice.function(choice["tool"]["name"])
        elif "any" in choice:
            tool_choice = ToolChoice(ToolChoiceMode.REQUIRED)
        elif "auto" in choice:
            tool_choice = ToolChoice(ToolChoiceMode.AUTO)
        else:
            raise ValueError(f"toolConfig.toolChoice {choice!r} is not a Converse tool choice")
    text_format = body.get("outputConfig", {}).get("textFormat")
    response_format = None
    if text_format is not None:
        definition = text_format["structure"]["jsonSchema"]
        response_format = ResponseFormat.json_schema(json.loads(definition["schema"]), name=definition["name"])
    thinking = fields.get("thinking")
    reasoning = None
    if thinking is not None:
        reasoning = Reasoning(budget_tokens=thinking["budget_tokens"])
    elif "reasoning_effort" in fields:
        reasoning = Reasoning(effort=ReasoningEffort(fields["reasoning_effort"]))
    known = {"messages", "system", "inferenceConfig", "toolConfig", "outputConfig"}
    return SentRequest(
        model=model,
        messages=messages,
        options=options,
        tools=tools,
        tool_choice=tool_choice,
        response_format=response_format,
        reasoning=reasoning,
        # The provider's own options under their option names (the rest of the body is Converse's own).
        provider_options={_OWN.get(k, k): v for k, v in body.items() if k not in known},
        stream=operation == "converse-stream",
    )


class BedrockWire:
    """The adapter half for Converse: JSON answers, binary event streams, AWS error shapes."""

    # The kit looks for the model id verbatim in the path; a Bedrock id's ':' travels as %3A, so the kit's
    # own plain id is used (test_stream and test_chat check real ids and their encoding).
    stream_content_type: ClassVar[str] = "application/vnd.amazon.eventstream"

    def stream_end_piece(self, pieces: Sequence[bytes]) -> int:
        """messageStop completes the answer; the metadata event after it carries only usage and metrics."""
        return len(pieces) - 2

    def read_request(self, sent: RecordedRequest) -> SentRequest:
        """Converse read back (:func:`read_converse`)."""
        return read_converse(sent)

    def provider_options_sample(self) -> Mapping[str, Any]:
        """A request metadata table, sent as ``requestMetadata``."""
        return {"request_metadata": {"team": "conformance"}}

    def stream_error_pieces(self, message: str) -> Sequence[bytes]:
        """messageStart, a text delta, then an exception event in the 200 stream."""
        headers = {":exception-type": "modelStreamErrorException", ":content-type": "application/json"}
        error = encode_event_stream_message(
            {**headers, ":message-type": "exception"}, json.dumps({"message": message}).encode()
        )
        return [*list(self.stream_pieces(["Hel"]))[:2], error]

    def garbled_stream_pieces(self) -> Sequence[bytes]:
        """A well-framed contentBlockDelta event whose payload is not JSON."""
        headers = {":event-type": "contentBlockDelta", ":content-type": "application/json", ":message-type": "event"}
        return [encode_event_stream_message(headers, b'{"contentBlockIndex": 0, "delta": {"te')]

    def finish_reply(self, text: str, reason: FinishReason) -> Reply:
        """A Converse answer that stopped at ``max_tokens``."""
        data = json.loads(self.chat_reply(text).chunks[0])
        return Reply.json({**data, "stopReason": "max_tokens"})

    def finish_pieces(self, texts: Sequence[str], reason: FinishReason) -> Sequence[bytes]:
        """The stream whose messageStop says ``max_tokens``."""
        pieces = list(self.stream_pieces(texts))
        pieces[-2] = _event("messageStop", {"stopReason": "max_tokens"})
        return pieces

    def chat_usage(self) -> Usage:
        """9 input and 5 output tokens."""
        return Usage(9, 5)

    def stream_usage(self, texts: Sequence[str]) -> Usage:
        """The metadata event's 9 input and 4 output tokens."""
        return Usage(9, 4)

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
