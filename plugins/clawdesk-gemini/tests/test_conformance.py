"""clawdesk's conformance kit, run against the Gemini provider on a scripted Gemini API."""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import unquote

import clawdesk_gemini._plugin
from clawdesk import (
    ApiError,
    ContentPart,
    DocumentPart,
    FinishReason,
    ImagePart,
    ProviderError,
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
from clawdesk.testing import (
    ERROR_STATUSES,
    ProviderConformance,
    RecordedRequest,
    Reply,
    ScriptedServer,
    SentMessage,
    SentRequest,
)

# The builders, from this directory's conftest (test directories are not packages).
_conftest = sys.modules["clawdesk_gemini_testwire"]
GW = _conftest.GeminiWire()
SIGNATURE = "Q2lRQmpEMDg5cGxHVEJrU2l2dFE="

_GENERATION = {
    "temperature": "temperature",
    "topP": "top_p",
    "topK": "top_k",
    "maxOutputTokens": "max_tokens",
    "seed": "seed",
}
_OWN = {"presencePenalty": "presence_penalty", "frequencyPenalty": "frequency_penalty"}
_LEVELS = {"MINIMAL": ReasoningEffort.MINIMAL, "LOW": ReasoningEffort.LOW, "MEDIUM": ReasoningEffort.MEDIUM}
_LEVELS["HIGH"] = ReasoningEffort.HIGH
_MODES = {"AUTO": ToolChoiceMode.AUTO, "NONE": ToolChoiceMode.NONE, "ANY": ToolChoiceMode.REQUIRED}


def _media(blob: Mapping[str, Any], url: str | None) -> ImagePart | DocumentPart:
    mime = blob["mimeType"]
    cls = ImagePart if mime.startswith("image/") else DocumentPart
    if url is not None:
        return cls(url=url)
    return cls(data=base64.b64decode(blob["data"], validate=True), media_type=mime)


def _turn(content: Mapping[str, Any], where: str) -> list[SentMessage]:
    """One ``Content`` read back: its function responses as tool messages, the rest as one message."""
    parts: list[ContentPart] = []
    calls: list[ToolCall] = []
    results: list[SentMessage] = []
    for i, part in enumerate(content["parts"]):
        if "text" in part:
            signature = part.get("thoughtSignature")
            parts.append(
                ReasoningPart(part["text"], signature=signature) if part.get("thought") else TextPart(part["text"])
            )
        elif "inlineData" in part:
            parts.append(_media(part["inlineData"], None))
        elif "fileData" in part:
            parts.append(_media(part["fileData"], part["fileData"]["fileUri"]))
        elif "functionCall" in part:
            call = part["functionCall"]
            if not isinstance(call.get("args"), dict):
                raise ValueError(f"{where}.parts[{i}].functionCall.args is not an object: {call.get('args')!r}")
            calls.append(ToolCall(call.get("id", ""), call["name"], call["args"]))
        elif "functionResponse" in part:
            response = part["functionResponse"]["response"]
            text = response["result"] if set(response) == {"result"} else json.dumps(response)
            results.append(SentMessage(role=Role.TOOL, parts=text, tool_call_id=part["functionResponse"].get("id")))
        else:
            raise ValueError(f"{where}.parts[{i}] is not a Gemini part: {part!r}")
    role = Role.ASSISTANT if content["role"] == "model" else Role.USER
    return results + ([SentMessage(role=role, parts=parts, tool_calls=calls)] if parts or calls else [])


def read_generate_content(sent: RecordedRequest) -> SentRequest:
    """A captured ``generateContent``/``streamGenerateContent`` request read back (model and stream from the path)."""
    body = sent.json()
    path = unquote(sent.path.split("?")[0])
    model, _, method = path.removeprefix("/v1beta/models/").partition(":")
    if method not in ("generateContent", "streamGenerateContent"):
        raise ValueError(f"{sent.path} is not a generate-content path")
    messages: list[SentMessage] = []
    system = "".join(p.get("text", "") for p in body.get("systemInstruction", {}).get("parts", ()))
    if system:
        messages.append(SentMessage(role=Role.SYSTEM, parts=system))
    for index, content in enumerate(body["contents"]):
        messages += _turn(content, f"contents[{index}]")
    config = body.get("generationConfig", {})
    options: dict[str, Any] = {core: config[wire] for wire, core in _GENERATION.items() if wire in config}
    if "stopSequences" in config:
        options["stop"] = tuple(config["stopSequences"])
    mime = config.get("responseMimeType")
    response_format = None
    if mime == "text/plain":
        response_format = ResponseFormat()
    elif mime == "application/json":
        schema = config.get("responseJsonSchema")
        response_format = ResponseFormat.json() if schema is None else ResponseFormat.json_schema(schema)
    thinking = config.get("thinkingConfig")
    reasoning = None
    if thinking is not None and ("thinkingBudget" in thinking or "thinkingLevel" in thinking):
        budget = thinking.get("thinkingBudget")
        if budget == 0:
            reasoning = Reasoning(effort=ReasoningEffort.NONE)
        elif "thinkingLevel" in thinking:
            reasoning = Reasoning(effort=_LEVELS[thinking["thinkingLevel"]])
        else:
            reasoning = Reasoning(budget_tokens=None if budget == -1 else budget)
    tools = [
        Tool(d["name"], d.get("description", ""), d["parametersJsonSchema"])
        for group in body.get("tools", ())
        for d in group.get("functionDeclarations", ())
    ]
    calling = body.get("toolConfig", {}).get("functionCallingConfig")
    tool_choice = None
    if calling is not None:
        allowed = calling.get("allowedFunctionNames")
        if calling["mode"] == "ANY" and allowed and len(allowed) == 1:
            tool_choice = ToolChoice.function(allowed[0])
        elif calling["mode"] in _MODES:
            tool_choice = ToolChoice(_MODES[calling["mode"]])
        else:
            raise ValueError(f"toolConfig.functionCallingConfig {calling!r} is not a Gemini mode")
    return SentRequest(
        model=model,
        messages=messages,
        options=options,
        tools=tools,
        tool_choice=tool_choice,
        response_format=response_format,
        reasoning=reasoning,
        provider_options={own: config[wire] for wire, own in _OWN.items() if wire in config},
        stream=method == "streamGenerateContent",
    )


class TestGeminiConformance(ProviderConformance):
    """Every kit check; Gemini streams SSE without an end marker and lists models page by page."""

    plugin = clawdesk_gemini._plugin
    entry_point = "gemini"
    model = _conftest.MODEL
    #: The kit's table and the deadline Google documents besides (504 DEADLINE_EXCEEDED).
    error_statuses: ClassVar[Mapping[int, type[ProviderError]]] = {**ERROR_STATUSES, 504: ApiError}

    def read_request(self, sent: RecordedRequest) -> SentRequest:
        """Generate-content read back (:func:`read_generate_content`)."""
        return read_generate_content(sent)

    def provider_options_sample(self) -> Mapping[str, Any]:
        """A presence penalty, sent in ``generationConfig``."""
        return {"presence_penalty": 0.5}

    def stream_error_pieces(self, message: str) -> Sequence[bytes]:
        """A first text chunk, then Google's error object as an event of the 200 stream."""
        first = GW.response(GW.text("Hel"), finish=None, usage=GW.usage(9, None))
        error = {"error": {"code": 500, "message": message, "status": "INTERNAL"}}
        return [*GW.sse(first), b"data: " + json.dumps(error).encode() + b"\r\n\r\n"]

    def finish_reply(self, text: str, reason: FinishReason) -> Reply:
        """An answer whose candidate stopped at ``MAX_TOKENS``."""
        return GW.answer(GW.text(text), finish="MAX_TOKENS", usage=GW.usage())

    def finish_pieces(self, texts: Sequence[str], reason: FinishReason) -> Sequence[bytes]:
        """The text chunks, the last one saying ``MAX_TOKENS``."""
        return GW.sse(*GW.text_stream(*texts, finish="MAX_TOKENS"))

    def chat_usage(self) -> Usage:
        """``usageMetadata``: 9 prompt and 5 candidate tokens."""
        return Usage(9, 5)

    def stream_usage(self, texts: Sequence[str]) -> Usage:
        """The last chunk's usage: 9 prompt tokens, one candidate token per text."""
        return Usage(9, len(texts))

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
