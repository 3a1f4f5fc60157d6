"""Bedrock's Converse wire format: requests out, answers and stream events in. Pure functions, no I/O.

Every function takes the provider's name (``config.name``) for its errors.
Bodies follow ``ConverseRequest`` of the runtime's service model
(``bedrock-runtime`` 2023-09-30); what Converse cannot carry is refused before
anything is sent: :class:`~clawdesk.CapabilityMissing` when another provider
or model may take it, :class:`~clawdesk.InvalidRequest` when nobody could.

How clawdesk's request maps (the docs page has the whole table):

- system messages, wherever they stand, become the top-level ``system`` blocks,
  in order (Converse has one system prompt); a system message holds text only;
- consecutive turns of the same role are merged into one (Converse wants user
  and assistant to alternate); a tool result is a ``toolResult`` block of a
  user turn, before the other blocks of that turn;
- blank text parts are left out (Converse refuses blank text, and they carry
  nothing); a turn left with no content is refused;
- images and documents travel as bytes (``data:`` URLs are decoded) or as
  ``s3://`` locations; an http(s) URL cannot be fetched by Converse and is
  refused; a document needs a text part beside it, and its name is adapted to
  Converse's alphabet (letters, digits, single spaces, ``-()[]``) and made
  unique;
- tool call ids that Converse's alphabet (``[a-zA-Z0-9_.:-]{1,64}``) cannot
  hold are replaced, the same way in the call and in its result;
- reasoning: signed or redacted parts this plugin made go back unchanged;
  unsigned reasoning (or another provider's, whose signature means nothing
  here) goes back as unsigned ``reasoningText`` to models that reason and are
  not Claude, and is left out for Claude (which accepts only its own signed
  thinking) and for models that do not reason;
- ``temperature`` (0 to 1), ``top_p``, ``max_tokens``, ``stop`` go to
  ``inferenceConfig``; ``seed`` has no place in Converse (refused);
  ``top_k`` and ``reasoning`` go to ``additionalModelRequestFields`` in the
  form of the model's family (Claude's ``top_k`` and ``thinking``, Nova's
  ``inferenceConfig.topK`` and ``reasoningConfig``, gpt-oss's
  ``reasoning_effort``) and are refused for other families;
- tools become ``toolConfig``; ``tool_choice`` ``auto``/``required``/a function
  become ``auto``/``any``/``tool``; ``none`` sends no tools, but when the
  history holds tool blocks Converse needs a ``toolConfig`` all the same, so it
  then holds a placeholder for each tool the history used;
- ``response_format`` JSON schema becomes ``outputConfig.textFormat``; plain
  JSON mode has no Converse equivalent (refused).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote_to_bytes

from clawdesk import (
    ApiError,
    Capability,
    CapabilityMissing,
    ChatRequest,
    ChatResponse,
    DocumentPart,
    FinishReason,
    ImagePart,
    InvalidRequest,
    Message,
    Reasoning,
    ReasoningDelta,
    ReasoningEffort,
    ReasoningPart,
    ResponseFormatKind,
    Role,
    StreamEvent,
    TextDelta,
    TextPart,
    ToolCall,
    ToolChoiceMode,
    Usage,
)
from clawdesk.provider import StreamTail, ToolCallAssembler, encode_json, loads_json, parse_arguments

from ._config import PLUGIN, BedrockOptions
from ._models import base_model, capabilities_for, family

__all__ = [
    "ConverseStream",
    "decode_converse",
    "encode_converse",
    "finish_reason",
    "payload",
    "tool_use_id",
    "usage_from",
]

_DEFAULT_OPTIONS = BedrockOptions()
_TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_TOOL_USE_ID = re.compile(r"[a-zA-Z0-9_.:-]{1,64}")
_DOC_NAME_DROP = re.compile(r"[^A-Za-z0-9\s\-()\[\]]")
_IMAGE_FORMATS = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/gif": "gif",
    "image/webp": "webp",
}
_IMAGE_EXTENSIONS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".gif": "gif", ".webp": "webp"}
_DOCUMENT_FORMATS = {
    "application/pdf": "pdf",
    "text/csv": "csv",
    "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "text/html": "html",
    "text/plain": "txt",
    "text/markdown": "md",
}
_DOCUMENT_EXTENSIONS = {f".{fmt}": fmt for fmt in _DOCUMENT_FORMATS.values()}
_FINISH = {
    "end_turn": FinishReason.STOP,
    "stop_sequence": FinishReason.STOP,
    "max_tokens": FinishReason.LENGTH,
    "model_context_window_exceeded": FinishReason.LENGTH,
    "tool_use": FinishReason.TOOL_CALLS,
    "guardrail_intervened": FinishReason.CONTENT_FILTER,
    "content_filtered": FinishReason.CONTENT_FILTER,
}
_MALFORMED = frozenset({"malformed_model_output", "malformed_tool_use"})
#: Claude's thinking budget for each effort (Claude takes at least 1024).
_THINKING_BUDGET = {
    ReasoningEffort.MINIMAL: 1024,
    ReasoningEffort.LOW: 2048,
    ReasoningEffort.MEDIUM: 8192,
    ReasoningEffort.HIGH: 16384,
    ReasoningEffort.MAX: 32768,
}
_MIN_THINKING_BUDGET = 1024
#: The three levels of Nova 2's maxReasoningEffort and gpt-oss's reasoning_effort.
_EFFORT_LEVEL = {
    ReasoningEffort.MINIMAL: "low",
    ReasoningEffort.LOW: "low",
    ReasoningEffort.MEDIUM: "medium",
    ReasoningEffort.HIGH: "high",
    ReasoningEffort.MAX: "high",
}
_PLACEHOLDER_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}
_b64 = base64.b64encode
_json_decode = loads_json  # json.loads's results, about 4x faster per event


def _invalid(message: str, provider: str) -> InvalidRequest:
    return InvalidRequest(message, provider=provider)


def tool_use_id(call_id: str) -> str:
    """``call_id`` as Converse accepts it: unchanged when it fits ``[a-zA-Z0-9_.:-]{1,64}``, else a stable stand-in."""
    if _TOOL_USE_ID.fullmatch(call_id):
        return call_id
    return "tooluse_" + hashlib.sha256(call_id.encode("utf-8")).hexdigest()[:40]


# -- content ---------------------------------------------------------------------


def _data_url(url: str, where: str, provider: str) -> tuple[str, bytes]:
    header, comma, payload = url[5:].partition(",")
    if not comma:
        raise _invalid(f"{where}: a data: URL without a comma", provider)
    media_type = header.split(";", 1)[0].strip().lower()
    try:
        if header.lower().endswith(";base64"):
            data = base64.b64decode(payload, validate=True)
        else:
            data = unquote_to_bytes(payload)
    except (binascii.Error, ValueError):
        raise _invalid(f"{where}: the data: URL's base64 is broken", provider) from None
    return media_type, data


def _source(
    part: ImagePart | DocumentPart,
    formats: Mapping[str, str],
    extensions: Mapping[str, str],
    what: str,
    where: str,
    provider: str,
) -> tuple[str, dict[str, Any]]:
    """``(format, source)`` of an image or a document part."""
    media_type = (part.media_type or "").split(";", 1)[0].strip().lower()
    if part.data is not None:
        data = part.data
    else:
        url = part.url or ""
        scheme = url.partition(":")[0].lower()
        if scheme == "data":
            embedded, data = _data_url(url, where, provider)
            media_type = media_type or embedded
        elif scheme == "s3":
            if not media_type:
                dot = url.rfind(".")
                fmt = extensions.get(url[dot:].lower()) if dot > url.rfind("/") else None
                if fmt is None:
                    raise _invalid(f"{where}: give media_type= for the {what} at {url[:80]!r}", provider)
                return fmt, {"s3Location": {"uri": url}}
            return _format(formats, media_type, what, where, provider), {"s3Location": {"uri": url}}
        else:
            raise CapabilityMissing(
                f"{where}: Converse takes {what}s as bytes or s3:// locations, not {scheme or 'bare'} URLs; "
                "download it and pass data=",
                provider=provider,
            )
    if not data:
        raise _invalid(f"{where}: the {what} is empty", provider)
    return _format(formats, media_type, what, where, provider), {"bytes": _b64(data).decode("ascii")}


def _format(formats: Mapping[str, str], media_type: str, what: str, where: str, provider: str) -> str:
    fmt = formats.get(media_type)
    if fmt is None:
        kinds = ", ".join(sorted(formats))
        raise CapabilityMissing(
            f"{where}: Converse takes no {what} of type {media_type or 'unknown'!r} (it takes {kinds})",
            capability=Capability.DOCUMENTS if what == "document" else Capability.VISION,
            provider=provider,
        )
    return fmt


class _Encoder:
    """The state of encoding one request's messages: document names used, tool names seen."""

    def __init__(self, request: ChatRequest, provider: str) -> None:
        self.provider = provider
        self.model = request.model
        caps = capabilities_for(provider, request.model)
        # Unsigned reasoning goes back only to models that reason and are not Claude (see the module docstring).
        self.unsigned_reasoning = (
            family(request.model) != "anthropic" and caps is not None and Capability.REASONING in caps
        )
        self.document_names: set[str] = set()
        self.documents = 0
        #: The names of the tools the history's calls used, and whether it holds any tool block at all.
        self.history_tools: list[str] = []
        self.tool_blocks = False

    def image(self, part: ImagePart, where: str) -> dict[str, Any]:
        fmt, source = _source(part, _IMAGE_FORMATS, _IMAGE_EXTENSIONS, "image", where, self.provider)
        return {"image": {"format": fmt, "source": source}}

    def document(self, part: DocumentPart, where: str) -> dict[str, Any]:
        fmt, source = _source(part, _DOCUMENT_FORMATS, _DOCUMENT_EXTENSIONS, "document", where, self.provider)
        self.documents += 1
        name = " ".join(_DOC_NAME_DROP.sub(" ", part.name or "").split())[:200] or f"document {self.documents}"
        unique, n = name, 1
        while unique in self.document_names:
            n += 1
            unique = f"{name[:190]} ({n})"
        self.document_names.add(unique)
        return {"document": {"format": fmt, "name": unique, "source": source}}

    def reasoning(self, part: ReasoningPart) -> dict[str, Any] | None:
        if part.source == PLUGIN and part.redacted is not None:
            return {"reasoningContent": {"redactedContent": part.redacted}}
        if part.source == PLUGIN and part.signature is not None:
            return {"reasoningContent": {"reasoningText": {"text": part.text, "signature": part.signature}}}
        if self.unsigned_reasoning and part.text.strip():
            return {"reasoningContent": {"reasoningText": {"text": part.text}}}
        return None

    def content(self, message: Message, where: str) -> list[dict[str, Any]]:
        """The blocks of a user or assistant message (tool calls of an assistant message last)."""
        role = message.role
        blocks: list[dict[str, Any]] = []
        for i, part in enumerate(message.content):
            at = f"{where}.content[{i}]"
            if type(part) is TextPart:
                if part.text.strip():
                    blocks.append({"text": part.text})
            elif type(part) is ReasoningPart:
                block = self.reasoning(part)
                if block is not None:
                    blocks.append(block)
            elif role is not Role.USER:
                kind = "images" if type(part) is ImagePart else "documents"
                raise CapabilityMissing(f"{at}: Converse takes {kind} in user turns only", provider=self.provider)
            elif type(part) is ImagePart:
                blocks.append(self.image(part, at))
            else:
                assert type(part) is DocumentPart
                blocks.append(self.document(part, at))
        for j, call in enumerate(message.tool_calls):
            if not _TOOL_NAME.fullmatch(call.name):
                raise _invalid(f"{where}.tool_calls[{j}].name: Converse wants 1-64 of a-z A-Z 0-9 _ -", self.provider)
            self.history_tools.append(call.name)
            self.tool_blocks = True
            blocks.append(
                {"toolUse": {"toolUseId": tool_use_id(call.id), "name": call.name, "input": dict(call.arguments)}}
            )
        return blocks

    def tool_result(self, message: Message, where: str) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        for i, part in enumerate(message.content):
            at = f"{where}.content[{i}]"
            if type(part) is TextPart:
                if part.text.strip():
                    content.append({"text": part.text})
            elif type(part) is ImagePart:
                content.append(self.image(part, at))
            elif type(part) is DocumentPart:
                content.append(self.document(part, at))
        assert message.tool_call_id is not None
        self.tool_blocks = True
        return {"toolResult": {"toolUseId": tool_use_id(message.tool_call_id), "content": content}}

    def messages(self, messages: Iterable[Message]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """``(system blocks, turns)``."""
        system: list[dict[str, Any]] = []
        turns: list[dict[str, Any]] = []
        for index, message in enumerate(messages):
            where = f"messages[{index}]"
            role = message.role
            if role is Role.SYSTEM:
                for i, part in enumerate(message.content):
                    if type(part) is not TextPart:
                        raise _invalid(
                            f"{where}.content[{i}]: a system message holds text only on Converse", self.provider
                        )
                    if part.text.strip():
                        system.append({"text": part.text})
                continue
            if message.name is not None and role is not Role.TOOL:
                raise CapabilityMissing(
                    f"{where}.name: Converse has no place for the name of a {role.value} message",
                    provider=self.provider,
                )
            if role is Role.TOOL:
                wire_role, blocks = "user", [self.tool_result(message, where)]
            else:
                wire_role = "assistant" if role is Role.ASSISTANT else "user"
                blocks = self.content(message, where)
            if not blocks:
                raise _invalid(f"{where}: the message has no content Converse can carry (blank text?)", self.provider)
            if turns and turns[-1]["role"] == wire_role:
                turns[-1]["content"].extend(blocks)
            else:
                turns.append({"role": wire_role, "content": blocks})
        for turn in turns:
            content = turn["content"]
            if turn["role"] == "user":
                # Tool results lead their turn (Claude requires it); the rest keeps its order.
                results = [b for b in content if "toolResult" in b]
                if results and results != content[: len(results)]:
                    turn["content"] = results + [b for b in content if "toolResult" not in b]
                if any("document" in b for b in content) and not any("text" in b for b in content):
                    raise CapabilityMissing(
                        "a user turn with a document needs a text part too on Converse", provider=self.provider
                    )
        return system, turns


# -- the request -----------------------------------------------------------------


def _number(name: str, value: Any, low: float, high: float, provider: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _invalid(f"options.{name}: expected a number, got {value!r}", provider)
    if value < low:
        raise _invalid(f"options.{name}: expected at least {low:g}, got {value!r}", provider)
    if value > high:
        raise CapabilityMissing(
            f"options.{name}: Converse takes {low:g} to {high:g}, got {value!r}", option=name, provider=provider
        )
    return value


def _count(name: str, value: Any, low: int, provider: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise _invalid(f"options.{name}: expected an integer >= {low}, got {value!r}", provider)
    return value


def _reasoning_fields(reasoning: Reasoning, model: str, provider: str) -> dict[str, Any]:
    """``additionalModelRequestFields`` for :attr:`ChatOptions.reasoning` on ``model``'s family."""
    vendor = family(model)
    base = base_model(model)
    caps = capabilities_for(provider, model)
    effort, budget = reasoning.effort, reasoning.budget_tokens

    def missing(what: str, option: str = "reasoning") -> CapabilityMissing:
        return CapabilityMissing(f"options.{option}: {what}", option=option, provider=provider)

    if not reasoning.enabled:
        if vendor == "openai" or (vendor == "deepseek" and base.startswith("deepseek.r1")):
            raise missing(f"{model} always reasons; it cannot be turned off")
        return {}
    if caps is not None and Capability.REASONING not in caps:
        raise CapabilityMissing(
            f"options.reasoning: {model} does not reason", capability=Capability.REASONING, provider=provider
        )
    if vendor == "anthropic":
        if budget is None:
            budget = _THINKING_BUDGET[effort] if effort is not None else _THINKING_BUDGET[ReasoningEffort.MEDIUM]
        if budget < _MIN_THINKING_BUDGET:
            raise missing(
                f"Claude's thinking budget is at least {_MIN_THINKING_BUDGET} tokens", "reasoning.budget_tokens"
            )
        return {"thinking": {"type": "enabled", "budget_tokens": budget}}
    if budget is not None:
        raise missing(f"{model} takes no reasoning budget (only an effort)", "reasoning.budget_tokens")
    if vendor == "amazon" and base.startswith("amazon.nova-2"):
        level = _EFFORT_LEVEL[effort] if effort is not None else "medium"
        return {"reasoningConfig": {"type": "enabled", "maxReasoningEffort": level}}
    if vendor == "openai":
        return {"reasoning_effort": _EFFORT_LEVEL[effort]} if effort is not None else {}
    if vendor == "deepseek" and base.startswith("deepseek.r1"):
        if effort is not None:
            raise missing(f"{model} reasons at one strength; it takes no effort", "reasoning.effort")
        return {}
    raise CapabilityMissing(
        f"options.reasoning: clawdesk does not know how to ask {model} to reason; pass the model's own field in "
        "provider_options.bedrock.additional_model_request_fields",
        capability=Capability.REASONING,
        provider=provider,
    )


def _top_k_fields(top_k: int, model: str, provider: str) -> dict[str, Any]:
    vendor = family(model)
    if vendor == "anthropic":
        return {"top_k": top_k}
    if vendor == "amazon" and base_model(model).startswith("amazon.nova"):
        return {"inferenceConfig": {"topK": top_k}}
    raise CapabilityMissing(
        f"options.top_k: Converse has no top_k, and clawdesk does not know {model}'s own field for it; pass it in "
        "provider_options.bedrock.additional_model_request_fields",
        option="top_k",
        provider=provider,
    )


def _merge(ours: Mapping[str, Any], theirs: Mapping[str, Any], path: str, provider: str) -> dict[str, Any]:
    """``ours`` and ``theirs`` merged: tables merge key by key, and a value given twice is refused."""
    out = dict(ours)
    for key, value in theirs.items():
        if key not in out:
            out[key] = value
        elif isinstance(out[key], Mapping) and isinstance(value, Mapping):
            out[key] = _merge(out[key], value, f"{path}.{key}", provider)
        else:
            raise _invalid(
                f"{path}.{key} is set both by a clawdesk option (top_k or reasoning) and in "
                "provider_options.bedrock.additional_model_request_fields; give it once",
                provider,
            )
    return out


def encode_converse(request: ChatRequest, *, provider: str, stream: bool = False) -> dict[str, Any]:
    """The JSON body of ``POST /model/{modelId}/converse`` (or ``/converse-stream``) for ``request``.

    The model id goes in the path, not the body. See the module docstring
    for the mapping and what is refused.
    """
    if not request.messages:
        raise _invalid("messages: at least one message is needed", provider)
    options = request.options
    own = request.provider_options if isinstance(request.provider_options, BedrockOptions) else _DEFAULT_OPTIONS
    encoder = _Encoder(request, provider)
    system, turns = encoder.messages(request.messages)
    if not turns:
        raise _invalid("messages: Converse needs a user message besides the system prompt", provider)
    body: dict[str, Any] = {"messages": turns}
    if own.cache_system:
        if not system:
            raise _invalid("provider_options.bedrock.cache_system: there is no system prompt to cache", provider)
        system.append({"cachePoint": {"type": "default"}})
    if system:
        body["system"] = system
    if options.seed is not None:
        raise CapabilityMissing("options.seed: Converse takes no seed", option="seed", provider=provider)
    inference: dict[str, Any] = {}
    if options.max_tokens is not None:
        inference["maxTokens"] = _count("max_tokens", options.max_tokens, 1, provider)
    if options.temperature is not None:
        inference["temperature"] = _number("temperature", options.temperature, 0.0, 1.0, provider)
    if options.top_p is not None:
        inference["topP"] = _number("top_p", options.top_p, 0.0, 1.0, provider)
    if options.stop:
        for i, word in enumerate(options.stop):
            if not word:
                raise _invalid(f"options.stop[{i}]: a stop sequence cannot be empty", provider)
        inference["stopSequences"] = list(options.stop)
    if inference:
        body["inferenceConfig"] = inference
    fields: dict[str, Any] = {}
    if options.top_k is not None:
        fields = _top_k_fields(_count("top_k", options.top_k, 0, provider), request.model, provider)
    if options.reasoning is not None:
        fields = _merge(fields, _reasoning_fields(options.reasoning, request.model, provider), "fields", provider)
    if own.additional_model_request_fields is not None:
        fields = _merge(fields, own.additional_model_request_fields, "additional_model_request_fields", provider)
    if fields:
        body["additionalModelRequestFields"] = fields
    _encode_tools(request, own, encoder, body, provider)
    fmt = options.response_format
    if fmt is not None and fmt.kind is not ResponseFormatKind.TEXT:
        if fmt.kind is ResponseFormatKind.JSON:
            raise CapabilityMissing(
                "options.response_format: Converse has no JSON mode without a schema; give a JSON schema",
                capability=Capability.JSON_MODE,
                option="response_format",
                provider=provider,
            )
        schema = encode_json(dict(fmt.schema or {}), provider=provider).decode()
        definition = {"schema": schema, "name": fmt.name}
        body["outputConfig"] = {"textFormat": {"type": "json_schema", "structure": {"jsonSchema": definition}}}
    _encode_own(own, body, stream=stream, provider=provider)
    return body


def _encode_tools(
    request: ChatRequest, own: BedrockOptions, history: _Encoder, body: dict[str, Any], provider: str
) -> None:
    options = request.options
    names: list[str] = []
    tools: list[dict[str, Any]] = []
    for i, tool in enumerate(options.tools):
        if not _TOOL_NAME.fullmatch(tool.name):
            raise _invalid(
                f"options.tools[{i}].name: Converse wants 1-64 of a-z A-Z 0-9 _ -, got {tool.name!r}", provider
            )
        if tool.name in names:
            raise _invalid(f"options.tools[{i}].name: {tool.name!r} is given twice", provider)
        names.append(tool.name)
        spec: dict[str, Any] = {"name": tool.name, "inputSchema": {"json": dict(tool.parameters)}}
        if tool.description:
            spec["description"] = tool.description
        tools.append({"toolSpec": spec})
    choice = options.tool_choice
    mode = choice.mode if choice is not None else None
    if mode is ToolChoiceMode.FUNCTION and choice is not None and choice.name not in names:
        raise _invalid(f"options.tool_choice: the tool {choice.name!r} is not in options.tools", provider)
    if mode is ToolChoiceMode.REQUIRED and not names:
        raise _invalid("options.tool_choice: 'required' needs options.tools", provider)
    if names and mode is not ToolChoiceMode.NONE:
        if own.cache_tools:
            tools.append({"cachePoint": {"type": "default"}})
        config: dict[str, Any] = {"tools": tools}
        if mode is ToolChoiceMode.AUTO:
            config["toolChoice"] = {"auto": {}}
        elif mode is ToolChoiceMode.REQUIRED:
            config["toolChoice"] = {"any": {}}
        elif mode is ToolChoiceMode.FUNCTION and choice is not None:
            config["toolChoice"] = {"tool": {"name": choice.name}}
        body["toolConfig"] = config
        return
    if own.cache_tools:
        raise _invalid(
            "provider_options.bedrock.cache_tools: no tools are sent, so there is nothing to cache", provider
        )
    if history.tool_blocks:
        # Converse refuses toolUse/toolResult blocks without a toolConfig; these stand for the tools the
        # history used, and say that they are not offered now.
        used = list(dict.fromkeys(history.history_tools)) or ["tool"]
        placeholders = [
            {
                "toolSpec": {
                    "name": name,
                    "description": "Used earlier in this conversation; not available now.",
                    "inputSchema": {"json": _PLACEHOLDER_SCHEMA},
                }
            }
            for name in used
        ]
        body["toolConfig"] = {"tools": placeholders}


def _encode_own(own: BedrockOptions, body: dict[str, Any], *, stream: bool, provider: str) -> None:
    if own.guardrail_identifier is not None:
        guardrail: dict[str, Any] = {
            "guardrailIdentifier": own.guardrail_identifier,
            "guardrailVersion": own.guardrail_version,
        }
        if own.guardrail_trace is not None:
            guardrail["trace"] = own.guardrail_trace
        if own.guardrail_stream_processing_mode is not None:
            if not stream:
                raise _invalid(
                    "provider_options.bedrock.guardrail_stream_processing_mode applies to streams only", provider
                )
            guardrail["streamProcessingMode"] = own.guardrail_stream_processing_mode
        body["guardrailConfig"] = guardrail
    if own.performance_latency is not None:
        body["performanceConfig"] = {"latency": own.performance_latency}
    if own.service_tier is not None:
        body["serviceTier"] = {"type": own.service_tier}
    if own.request_metadata is not None:
        body["requestMetadata"] = dict(own.request_metadata)
    if own.additional_model_response_field_paths is not None:
        body["additionalModelResponseFieldPaths"] = list(own.additional_model_response_field_paths)


# -- answers ---------------------------------------------------------------------


def finish_reason(raw: str | None) -> FinishReason:
    """The normalised reason for Converse's ``stopReason`` (unknown ones are ``OTHER``)."""
    return _FINISH.get(raw or "", FinishReason.OTHER)


def _int(value: Any) -> int | None:
    return value if type(value) is int else None


def usage_from(data: Any) -> Usage | None:
    """Token counts from a ``TokenUsage`` object; ``None`` when there is none.

    Converse's ``inputTokens`` leaves out the cached part of the prompt
    (``totalTokens`` is input + output + cache read + cache write), so
    :attr:`~clawdesk.Usage.input_tokens` adds ``cacheReadInputTokens`` and
    ``cacheWriteInputTokens`` to it. Converse reports no reasoning tokens.
    """
    if not isinstance(data, Mapping):
        return None
    read = _int(data.get("cacheReadInputTokens"))
    write = _int(data.get("cacheWriteInputTokens"))
    fresh = _int(data.get("inputTokens"))
    return Usage(
        None if fresh is None else fresh + (read or 0) + (write or 0),
        _int(data.get("outputTokens")),
        cache_read_tokens=read,
        cache_write_tokens=write,
        raw=data,
    )


def _malformed(raw: str, provider: str, request_id: str | None) -> ApiError:
    return ApiError(
        f"the model stopped with stopReason {raw!r} (its output could not be used)",
        provider=provider,
        retryable=True,
        request_id=request_id,
    )


def _parts(content: Any, provider: str, metadata: dict[str, Any]) -> tuple[list[Any], list[ToolCall]]:
    parts: list[Any] = []
    calls: list[ToolCall] = []
    if not isinstance(content, list):
        raise ApiError("the answer's message has no content list", provider=provider)
    for block in content:
        if not isinstance(block, Mapping):
            continue
        if isinstance(block.get("text"), str):
            parts.append(TextPart(block["text"]))
        elif isinstance(block.get("reasoningContent"), Mapping):
            reasoning = block["reasoningContent"]
            text = reasoning.get("reasoningText")
            if isinstance(text, Mapping):
                signature = text.get("signature")
                parts.append(
                    ReasoningPart(
                        str(text.get("text", "")),
                        signature=signature if isinstance(signature, str) else None,
                        source=PLUGIN,
                    )
                )
            elif isinstance(reasoning.get("redactedContent"), str):
                parts.append(ReasoningPart("", redacted=reasoning["redactedContent"], source=PLUGIN))
        elif isinstance(block.get("toolUse"), Mapping):
            use = block["toolUse"]
            name = use.get("name")
            if not isinstance(name, str) or not name:
                raise ApiError("the answer has a tool call without a name", provider=provider)
            call_id = use.get("toolUseId")
            arguments = parse_arguments(use.get("input"), name=name, provider=provider)
            calls.append(
                ToolCall(call_id if isinstance(call_id, str) and call_id else f"call_{len(calls)}", name, arguments)
            )
        elif isinstance(block.get("citationsContent"), Mapping):
            cited = block["citationsContent"]
            for piece in cited.get("content") or ():
                if isinstance(piece, Mapping) and isinstance(piece.get("text"), str):
                    parts.append(TextPart(piece["text"]))
            metadata.setdefault("citations", []).extend(cited.get("citations") or ())
        else:
            # Blocks clawdesk has no part for (a generated image, a search result): kept, not dropped.
            metadata.setdefault("other_content", []).append(block)
    return parts, calls


def decode_converse(data: Any, *, model: str, provider: str, request_id: str | None = None) -> ChatResponse:
    """A :class:`~clawdesk.ChatResponse` from a Converse answer.

    ``metadata`` holds ``latency_ms``, and where the answer has them
    ``additional_model_response_fields``, ``trace``, ``performance_config``,
    ``service_tier``, ``citations`` and ``other_content`` (blocks with no
    clawdesk part). Raises :class:`~clawdesk.ApiError` for an answer without
    a message, with broken tool input, or that stopped with a malformed
    output (retryable).
    """
    output = data.get("output") if isinstance(data, Mapping) else None
    message = output.get("message") if isinstance(output, Mapping) else None
    if not isinstance(message, Mapping):
        raise ApiError("the answer has no output.message", provider=provider, request_id=request_id)
    raw = data.get("stopReason")
    raw = raw if isinstance(raw, str) else None
    if raw in _MALFORMED:
        raise _malformed(raw, provider, request_id)
    metadata: dict[str, Any] = {}
    parts, calls = _parts(message.get("content"), provider, metadata)
    metrics = data.get("metrics")
    if isinstance(metrics, Mapping) and _int(metrics.get("latencyMs")) is not None:
        metadata["latency_ms"] = metrics["latencyMs"]
    for key, name in (
        ("additionalModelResponseFields", "additional_model_response_fields"),
        ("trace", "trace"),
        ("performanceConfig", "performance_config"),
        ("serviceTier", "service_tier"),
    ):
        if data.get(key) is not None:
            metadata[name] = data[key]
    return ChatResponse(
        message=Message(Role.ASSISTANT, parts, tool_calls=calls),
        finish_reason=finish_reason(raw),
        finish_reason_raw=raw,
        usage=usage_from(data.get("usage")) or Usage(),
        provider=provider,
        model=model,
        request_id=request_id,
        metadata=metadata,
    )


class ConverseStream:
    """What one ConverseStream says, event by event: :meth:`event` gives the stream event each one makes.

    Tool input fragments are joined per content block (``""`` in all is
    ``{}``); the calls, the usage (from ``metadata``, which comes after
    ``messageStop``) and the finish come from :meth:`closing`. ``stopped``
    turns true at ``messageStop``, the stream's end marker. Unknown events and
    keys (the random ``"p"`` padding) are ignored.
    """

    __slots__ = ("_calls", "_provider", "_tail", "stopped")

    def __init__(self, provider: str) -> None:
        self._provider = provider
        self._calls = ToolCallAssembler(provider)
        self._tail = StreamTail()
        self.stopped = False

    def event(self, kind: str | None, data: Mapping[str, Any], request_id: str | None) -> StreamEvent | None:
        """The stream event for one Converse event (``None`` for most of them but the deltas)."""
        if kind == "contentBlockDelta":
            delta = data.get("delta")
            if type(delta) is not dict and not isinstance(delta, Mapping):  # the exact type first: cheaper
                raise ApiError("a contentBlockDelta event has no delta", provider=self._provider, request_id=request_id)
            text = delta.get("text")
            if text is not None:
                return TextDelta(text) if isinstance(text, str) and text else None
            if "toolUse" in delta:
                use = delta["toolUse"]
                piece = use.get("input") if isinstance(use, Mapping) else None
                self._calls.add(self._index(data), arguments=piece if isinstance(piece, str) else None)
                return None
            reasoning = delta.get("reasoningContent")
            if isinstance(reasoning, Mapping):
                return self._reasoning(reasoning)
            return None  # citations and what a later model adds
        if kind == "contentBlockStart":
            start = data.get("start")
            use = start.get("toolUse") if isinstance(start, Mapping) else None
            if isinstance(use, Mapping):
                call_id, name = use.get("toolUseId"), use.get("name")
                self._calls.add(
                    self._index(data),
                    call_id=call_id if isinstance(call_id, str) else None,
                    name=name if isinstance(name, str) else None,
                )
            return None
        if kind == "messageStop":
            raw = data.get("stopReason")
            raw = raw if isinstance(raw, str) else None
            if raw in _MALFORMED:
                raise _malformed(raw, self._provider, request_id)
            self._tail.finish(finish_reason(raw), raw)
            self.stopped = True
            return None
        if kind == "metadata":
            self._tail.usage(usage_from(data.get("usage")))
        return None

    def _index(self, data: Mapping[str, Any]) -> int:
        index = data.get("contentBlockIndex")
        if type(index) is not int:
            raise ApiError("a content block event has no contentBlockIndex", provider=self._provider)
        return index

    @staticmethod
    def _reasoning(reasoning: Mapping[str, Any]) -> ReasoningDelta | None:
        text = reasoning.get("text")
        if isinstance(text, str):
            return ReasoningDelta(text, source=PLUGIN) if text else None
        signature = reasoning.get("signature")
        if isinstance(signature, str):
            return ReasoningDelta("", signature=signature, source=PLUGIN)
        redacted = reasoning.get("redactedContent")
        if isinstance(redacted, str):
            return ReasoningDelta("", redacted=redacted, source=PLUGIN)
        return None

    def closing(self, request_id: str | None) -> list[StreamEvent]:
        """The last events, once the stream is over: the tool calls, the usage (if any), the finish."""
        return self._tail.events(self._calls.complete(), request_id=request_id)


def payload(data: bytes, provider: str, request_id: str | None) -> Mapping[str, Any]:
    """An event's JSON payload, which must be an object."""
    try:
        # Decoded as text first: UTF-8 only, as the event stream says (json.loads(bytes) would sniff).
        value = _json_decode(data.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        value = None
    if not isinstance(value, dict):
        raise ApiError("a stream event's payload is not a JSON object", provider=provider, request_id=request_id)
    return value
