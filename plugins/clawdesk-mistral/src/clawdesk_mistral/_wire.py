"""Mistral's chat wire format: requests out, answers in. Pure functions, no I/O.

Every function takes the provider's name (``config.name``) for its errors.

Encoding follows ``ChatCompletionRequest`` of Mistral's OpenAPI document,
which forbids unknown fields (the server answers 422 ``extra_forbidden``): a
request that cannot be expressed exactly raises
:class:`~clawdesk.InvalidRequest` here, before anything is sent, instead of
losing part of what the caller asked for.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Mapping
from typing import Any

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
    ReasoningEffort,
    ReasoningPart,
    ResponseFormatKind,
    Role,
    TextPart,
    ToolCall,
    ToolChoiceMode,
    Usage,
)
from clawdesk.provider import encode_json, parse_arguments

from ._config import MistralOptions

__all__ = [
    "decode_chat",
    "encode_chat",
    "error_in_body",
    "finish_reason",
    "split_content",
    "tool_calls_from",
    "usage_from",
]

# Function names Mistral accepts (it answers 400 for others).
_TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")

_FINISH = {
    "stop": FinishReason.STOP,
    "length": FinishReason.LENGTH,
    "model_length": FinishReason.LENGTH,
    "tool_calls": FinishReason.TOOL_CALLS,
    "error": FinishReason.ERROR,
}

_TOOL_CHOICE = {
    ToolChoiceMode.AUTO: "auto",
    ToolChoiceMode.NONE: "none",
    ToolChoiceMode.REQUIRED: "required",
}


_DEFAULT_OPTIONS = MistralOptions()


def _invalid(message: str, provider: str) -> InvalidRequest:
    return InvalidRequest(message, provider=provider)


def _encode_options(options: MistralOptions, body: dict[str, Any]) -> None:
    """Mistral's own request fields from ``provider_options.mistral`` (already typed and checked by core)."""
    for key in ("safe_prompt", "parallel_tool_calls", "presence_penalty", "frequency_penalty", "prompt_cache_key"):
        value = getattr(options, key)
        if value is not None:
            body[key] = value
    if options.prompt_mode is not None:
        body["prompt_mode"] = None if options.prompt_mode == "none" else options.prompt_mode
    if options.metadata is not None:
        body["metadata"] = dict(options.metadata)
    prediction = options.prediction
    if prediction is not None:
        content = prediction if isinstance(prediction, str) else prediction.get("content", "")
        body["prediction"] = {"type": "content", "content": content}


# -- messages --------------------------------------------------------------------


def _image_url(part: ImagePart, where: str, provider: str) -> str:
    if part.data is not None:
        media_type = part.media_type or ""
        if not media_type.startswith("image/"):
            raise _invalid(f"{where}: media_type {media_type!r} is not an image type", provider)
        return f"data:{media_type};base64,{base64.b64encode(part.data).decode('ascii')}"
    url = part.url or ""
    scheme = url.partition(":")[0].lower()
    if scheme not in ("http", "https", "data"):
        raise _invalid(f"{where}: Mistral takes http(s) and data: image URLs, not {scheme or url!r}", provider)
    return url


def _thinking(text: str) -> dict[str, Any]:
    return {"type": "thinking", "thinking": [{"type": "text", "text": text}]}


def _content(message: Message, where: str, provider: str) -> str | list[dict[str, Any]]:
    """A message's content: a plain string for one text part, else a list of content chunks.

    Reasoning goes into ``thinking`` chunks where it stands (Mistral keeps no
    signatures, so only the text travels; a redacted part with no text has
    nothing Mistral could read and is left out). Images need vision and are
    allowed in user, tool and assistant turns, not in system ones.
    """
    parts = message.content
    if len(parts) == 1 and type(parts[0]) is TextPart:
        return parts[0].text
    if not parts:
        return ""
    chunks: list[dict[str, Any]] = []
    for i, part in enumerate(parts):
        if type(part) is TextPart:
            chunks.append({"type": "text", "text": part.text})
        elif type(part) is ReasoningPart:
            if part.text:
                chunks.append(_thinking(part.text))
        elif type(part) is ImagePart:
            if message.role is Role.SYSTEM:
                raise _invalid(f"{where}: a system message cannot hold images on Mistral", provider)
            chunks.append({"type": "image_url", "image_url": _image_url(part, f"{where}.content[{i}]", provider)})
        else:
            assert type(part) is DocumentPart
            raise CapabilityMissing(
                f"{where}.content[{i}]: Mistral's chat takes no documents",
                capability=Capability.DOCUMENTS,
                provider=provider,
            )
    return chunks


def _encode_message(message: Message, index: int, provider: str) -> dict[str, Any]:
    where = f"messages[{index}]"
    role = message.role
    if message.name is not None and role is not Role.TOOL:
        raise _invalid(f"{where}: Mistral has no name field for {role.value} messages", provider)
    if role is Role.TOOL:
        out: dict[str, Any] = {"role": "tool", "tool_call_id": message.tool_call_id}
        if message.name is not None:
            out["name"] = message.name
        out["content"] = _content(message, where, provider)
        return out
    if role is not Role.ASSISTANT:
        return {"role": role.value, "content": _content(message, where, provider)}
    out = {"role": "assistant"}
    content = _content(message, where, provider)
    if content:
        out["content"] = content
    if message.tool_calls:
        out["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {
                    "name": call.name,
                    "arguments": encode_json(dict(call.arguments), provider=provider).decode(),
                },
            }
            for call in message.tool_calls
        ]
    if "content" not in out and "tool_calls" not in out:
        raise _invalid(f"{where}: an assistant message needs text or tool calls", provider)
    return out


# -- the request -----------------------------------------------------------------


def _number(name: str, value: float, low: float, high: float, provider: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _invalid(f"options.{name}: expected a number, got {value!r}", provider)
    if not low <= value <= high:
        raise _invalid(f"options.{name}: Mistral accepts {low:g} to {high:g}, got {value!r}", provider)
    return value


def _count(name: str, value: int, provider: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _invalid(f"options.{name}: expected an integer >= 0, got {value!r}", provider)
    return value


def _reasoning_effort(request: ChatRequest, provider: str) -> str | None:
    """``reasoning_effort`` for :attr:`ChatOptions.reasoning`.

    Mistral has two settings: ``"none"`` (no reasoning: effort ``none`` or a
    budget of 0) and ``"high"`` (any other effort, or ``Reasoning()``). A
    token budget cannot be told to Mistral, so one is refused
    (:class:`~clawdesk.CapabilityMissing`, another provider may take it).
    """
    reasoning = request.options.reasoning
    if reasoning is None:
        return None
    if not reasoning.enabled:
        return "none"
    if reasoning.budget_tokens is not None:
        raise CapabilityMissing(
            "options.reasoning.budget_tokens: Mistral takes no reasoning budget (only an effort)",
            option="reasoning.budget_tokens",
            provider=provider,
        )
    assert reasoning.effort is not ReasoningEffort.NONE
    return "high"


def encode_chat(request: ChatRequest, *, stream: bool, provider: str) -> dict[str, Any]:
    """The JSON body of ``POST /chat/completions`` for ``request``.

    Raises :class:`~clawdesk.InvalidRequest` for what Mistral cannot take and
    no one could (out-of-range numbers, images in system messages, names on
    non-tool messages, a forced tool that was not given, ...), and
    :class:`~clawdesk.CapabilityMissing` for what another provider may
    honour: ``top_k``, documents, a reasoning budget.
    """
    if not request.messages:
        raise _invalid("messages: at least one message is needed", provider)
    options = request.options
    if options.top_k is not None:
        raise CapabilityMissing("options.top_k: Mistral has no top_k", option="top_k", provider=provider)
    body: dict[str, Any] = {
        "model": request.model,
        "messages": [_encode_message(m, i, provider) for i, m in enumerate(request.messages)],
    }
    if stream:
        body["stream"] = True
    if options.temperature is not None:
        body["temperature"] = _number("temperature", options.temperature, 0.0, 1.5, provider)
    if options.top_p is not None:
        body["top_p"] = _number("top_p", options.top_p, 0.0, 1.0, provider)
    if options.max_tokens is not None:
        body["max_tokens"] = _count("max_tokens", options.max_tokens, provider)
    if options.stop:
        body["stop"] = list(options.stop)
    if options.seed is not None:
        body["random_seed"] = _count("seed", options.seed, provider)
    names = set()
    if options.tools:
        tools = []
        for i, tool in enumerate(options.tools):
            if not _TOOL_NAME.fullmatch(tool.name):
                raise _invalid(
                    f"options.tools[{i}].name: Mistral wants 1-64 letters, digits, '_' or '-', got {tool.name!r}",
                    provider,
                )
            if tool.name in names:
                raise _invalid(f"options.tools[{i}].name: {tool.name!r} is given twice", provider)
            names.add(tool.name)
            function: dict[str, Any] = {"name": tool.name, "parameters": dict(tool.parameters)}
            if tool.description:
                function["description"] = tool.description
            tools.append({"type": "function", "function": function})
        body["tools"] = tools
    choice = options.tool_choice
    if choice is not None:
        if choice.mode is ToolChoiceMode.FUNCTION:
            if choice.name not in names:
                raise _invalid(f"options.tool_choice: the tool {choice.name!r} is not in options.tools", provider)
            body["tool_choice"] = {"type": "function", "function": {"name": choice.name}}
        elif choice.mode is ToolChoiceMode.REQUIRED and not names:
            raise _invalid("options.tool_choice: 'required' needs options.tools", provider)
        elif names:
            body["tool_choice"] = _TOOL_CHOICE[choice.mode]
        # auto/none without tools say nothing Mistral needs to hear.
    fmt = options.response_format
    if fmt is not None:
        if fmt.kind is ResponseFormatKind.TEXT:
            body["response_format"] = {"type": "text"}
        elif fmt.kind is ResponseFormatKind.JSON:
            body["response_format"] = {"type": "json_object"}
        else:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": fmt.name, "schema": dict(fmt.schema or {}), "strict": fmt.strict},
            }
    effort = _reasoning_effort(request, provider)
    if effort is not None:
        body["reasoning_effort"] = effort
    own = request.provider_options
    _encode_options(own if isinstance(own, MistralOptions) else _DEFAULT_OPTIONS, body)
    return body


# -- answers ---------------------------------------------------------------------


def finish_reason(raw: str | None) -> FinishReason:
    """The normalised reason for Mistral's ``finish_reason`` (unknown ones are ``OTHER``)."""
    return _FINISH.get(raw or "", FinishReason.OTHER)


def _int(value: Any) -> int | None:
    return value if type(value) is int else None


def usage_from(data: Any) -> Usage:
    """Token counts from a ``usage`` object (missing or odd values are ``None``).

    ``prompt_tokens_details.cached_tokens`` (prompt caching) is the cached
    part of the input; ``completion_tokens_details.reasoning_tokens`` the
    reasoning part of the output, where the server reports them.
    """
    if not isinstance(data, Mapping):
        return Usage()
    prompt_details = data.get("prompt_tokens_details")
    output_details = data.get("completion_tokens_details")
    return Usage(
        _int(data.get("prompt_tokens")),
        _int(data.get("completion_tokens")),
        cache_read_tokens=_int(prompt_details.get("cached_tokens")) if isinstance(prompt_details, Mapping) else None,
        reasoning_tokens=_int(output_details.get("reasoning_tokens")) if isinstance(output_details, Mapping) else None,
        raw=data,
    )


def split_content(content: Any) -> tuple[str, str]:
    """``(text, reasoning)`` from a message's or delta's ``content`` (a string or a list of chunks)."""
    if content is None:
        return "", ""
    if isinstance(content, str):
        return content, ""
    text: list[str] = []
    thinking: list[str] = []
    if isinstance(content, list):
        for chunk in content:
            if not isinstance(chunk, Mapping):
                continue
            kind = chunk.get("type")
            if kind == "text" and isinstance(chunk.get("text"), str):
                text.append(chunk["text"])
            elif kind == "thinking" and isinstance(chunk.get("thinking"), list):
                for inner in chunk["thinking"]:
                    if isinstance(inner, Mapping) and isinstance(inner.get("text"), str):
                        thinking.append(inner["text"])
            # Other chunk kinds (references, ...) carry no answer text.
    return "".join(text), "".join(thinking)


def real_id(value: Any) -> str | None:
    """A tool call id, or ``None`` for none (Mistral's schema defaults a missing id to the string "null")."""
    return value if isinstance(value, str) and value and value != "null" else None


def tool_calls_from(raw: Any, provider: str) -> tuple[ToolCall, ...]:
    """The tool calls of a whole (non-streamed) answer."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ApiError("the answer's tool_calls is not a list", provider=provider)
    calls = []
    for number, item in enumerate(raw):
        function = item.get("function") if isinstance(item, Mapping) else None
        if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
            raise ApiError("the answer has a tool call without a function name", provider=provider)
        name = function["name"]
        assert isinstance(item, Mapping)
        call_id = real_id(item.get("id")) or f"call_{number}"
        calls.append(ToolCall(call_id, name, parse_arguments(function.get("arguments"), name=name, provider=provider)))
    return tuple(calls)


def error_in_body(data: Any) -> str | None:
    """The message of an error object sent where an answer was expected, else ``None``."""
    if isinstance(data, Mapping) and "choices" not in data and (data.get("object") == "error" or "message" in data):
        message = data.get("message")
        return message if isinstance(message, str) else json.dumps(message)[:300]
    return None


def decode_chat(data: Any, *, model: str, provider: str, request_id: str | None = None) -> ChatResponse:
    """A :class:`~clawdesk.ChatResponse` from Mistral's JSON answer.

    Raises :class:`~clawdesk.ApiError` for an answer without a choice, with
    ``finish_reason: "error"``, or with tool call arguments that are not JSON.
    """
    problem = error_in_body(data)
    if problem is not None:
        raise ApiError(f"the server answered with an error: {problem}", provider=provider, request_id=request_id)
    choices = data.get("choices") if isinstance(data, Mapping) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        raise ApiError("the answer has no choices", provider=provider, request_id=request_id)
    choice = choices[0]
    raw_reason = choice.get("finish_reason")
    raw_reason = raw_reason if isinstance(raw_reason, str) else None
    if raw_reason == "error":
        raise ApiError(
            "the model stopped with finish_reason 'error'", provider=provider, retryable=True, request_id=request_id
        )
    message = choice.get("message")
    if not isinstance(message, Mapping):
        raise ApiError("the answer's choice has no message", provider=provider, request_id=request_id)
    text, reasoning = split_content(message.get("content"))
    reply = Message.assistant(
        text, tool_calls=tool_calls_from(message.get("tool_calls"), provider), reasoning=reasoning or None
    )
    answered_model = data.get("model")
    return ChatResponse(
        message=reply,
        finish_reason=finish_reason(raw_reason),
        finish_reason_raw=raw_reason,
        usage=usage_from(data.get("usage")),
        provider=provider,
        model=answered_model if isinstance(answered_model, str) and answered_model else model,
        request_id=request_id,
    )
