"""Mistral's chat wire format: requests out, answers in. Pure functions, no I/O.

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
    ChatRequest,
    ChatResponse,
    FinishReason,
    ImagePart,
    InvalidRequest,
    Message,
    ResponseFormatKind,
    Role,
    TextPart,
    ToolCall,
    ToolChoiceMode,
    Usage,
)

__all__ = [
    "EXTRA_FIELDS",
    "PROVIDER",
    "ToolCallAccumulator",
    "decode_chat",
    "encode_chat",
    "error_in_body",
    "finish_reason",
    "parse_arguments",
    "split_content",
    "usage_from",
]

PROVIDER = "mistral"

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


def _invalid(message: str) -> InvalidRequest:
    return InvalidRequest(message, provider=PROVIDER)


# -- extras ----------------------------------------------------------------------


def _check_bool(key: str, value: Any) -> Any:
    if not isinstance(value, bool):
        raise _invalid(f"options.extra.{key}: expected true or false, got {type(value).__name__}")
    return value


def _check_penalty(key: str, value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not -2 <= value <= 2:
        raise _invalid(f"options.extra.{key}: expected a number from -2 to 2, got {value!r}")
    return value


def _check_choice(*choices: str | None) -> Any:
    def check(key: str, value: Any) -> Any:
        if value not in choices:
            names = ", ".join("null" if c is None else repr(c) for c in choices)
            raise _invalid(f"options.extra.{key}: expected one of {names}, got {value!r}")
        return value

    return check


def _check_str(key: str, value: Any) -> Any:
    if not isinstance(value, str):
        raise _invalid(f"options.extra.{key}: expected a string, got {type(value).__name__}")
    return value


def _check_metadata(key: str, value: Any) -> Any:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise _invalid(f"options.extra.{key}: expected a table with string keys")
    return dict(value)


def _check_prediction(key: str, value: Any) -> Any:
    # The expected output (predicted outputs); a string is its content.
    if isinstance(value, str):
        return {"type": "content", "content": value}
    if (
        isinstance(value, Mapping)
        and set(value) <= {"type", "content"}
        and value.get("type", "content") == "content"
        and isinstance(value.get("content", ""), str)
    ):
        return {"type": "content", "content": value.get("content", "")}
    raise _invalid(f"options.extra.{key}: expected a string or {{type: 'content', content: '...'}}")


#: Mistral request fields accepted in ``ChatOptions.extra``, each with its check.
EXTRA_FIELDS = {
    "safe_prompt": _check_bool,
    "parallel_tool_calls": _check_bool,
    "presence_penalty": _check_penalty,
    "frequency_penalty": _check_penalty,
    "reasoning_effort": _check_choice("high", "none"),
    "prompt_mode": _check_choice("reasoning", None),
    "prompt_cache_key": _check_str,
    "metadata": _check_metadata,
    "prediction": _check_prediction,
}

# Fields of the request that ChatOptions already has (or that the plugin owns):
# taking them from `extra` too would give two sources for one setting.
_OWNED = {
    "model": "the model id",
    "messages": "the messages",
    "stream": "stream()",
    "temperature": "ChatOptions.temperature",
    "top_p": "ChatOptions.top_p",
    "max_tokens": "ChatOptions.max_tokens",
    "stop": "ChatOptions.stop",
    "random_seed": "ChatOptions.seed",
    "seed": "ChatOptions.seed",
    "tools": "ChatOptions.tools",
    "tool_choice": "ChatOptions.tool_choice",
    "response_format": "ChatOptions.response_format",
}
_UNSUPPORTED = {
    "n": "clawdesk returns one answer per call; send several requests instead",
    "guardrails": "not supported by clawdesk-mistral",
}


def _encode_extra(extra: Mapping[str, Any], body: dict[str, Any]) -> None:
    for key, value in extra.items():
        check = EXTRA_FIELDS.get(key)
        if check is not None:
            body[key] = check(key, value)
        elif key in _OWNED:
            raise _invalid(f"options.extra.{key}: use {_OWNED[key]} instead")
        elif key in _UNSUPPORTED:
            raise _invalid(f"options.extra.{key}: {_UNSUPPORTED[key]}")
        else:
            known = ", ".join(sorted(EXTRA_FIELDS))
            raise _invalid(f"options.extra.{key}: Mistral has no such setting (known extras: {known})")


# -- messages --------------------------------------------------------------------


def _image_url(part: ImagePart, where: str) -> str:
    if part.data is not None:
        media_type = part.media_type or ""
        if not media_type.startswith("image/"):
            raise _invalid(f"{where}: media_type {media_type!r} is not an image type")
        return f"data:{media_type};base64,{base64.b64encode(part.data).decode('ascii')}"
    url = part.url or ""
    scheme = url.partition(":")[0].lower()
    if scheme not in ("http", "https", "data"):
        raise _invalid(f"{where}: Mistral takes http(s) and data: image URLs, not {scheme or url!r}")
    return url


def _content(message: Message, where: str, *, images: bool = True) -> str | list[dict[str, Any]]:
    parts = message.content
    if len(parts) == 1 and isinstance(parts[0], TextPart):
        return parts[0].text
    if not parts:
        return ""
    chunks: list[dict[str, Any]] = []
    for i, part in enumerate(parts):
        if isinstance(part, TextPart):
            chunks.append({"type": "text", "text": part.text})
        elif images:
            chunks.append({"type": "image_url", "image_url": _image_url(part, f"{where}.content[{i}]")})
        else:
            raise _invalid(f"{where}: a {message.role.value} message cannot hold images on Mistral")
    return chunks


def _encode_message(message: Message, index: int) -> dict[str, Any]:
    where = f"messages[{index}]"
    role = message.role
    if message.name is not None and role is not Role.TOOL:
        raise _invalid(f"{where}: Mistral has no name field for {role.value} messages")
    if message.reasoning is not None and role is not Role.ASSISTANT:
        raise _invalid(f"{where}: only assistant messages carry reasoning")
    if message.tool_call_id is not None and role is not Role.TOOL:
        raise _invalid(f"{where}: only tool messages carry tool_call_id")
    if role is Role.SYSTEM:
        return {"role": "system", "content": _content(message, where, images=False)}
    if role is Role.USER:
        return {"role": "user", "content": _content(message, where)}
    if role is Role.TOOL:
        out: dict[str, Any] = {"role": "tool", "tool_call_id": message.tool_call_id}
        if message.name is not None:
            out["name"] = message.name
        out["content"] = _content(message, where)
        return out
    out = {"role": "assistant"}
    content = _content(message, where)
    if message.reasoning:
        # A thinking chunk, so that a reasoning model sees its earlier thoughts.
        thinking = {"type": "thinking", "thinking": [{"type": "text", "text": message.reasoning}]}
        if isinstance(content, str):
            content = [{"type": "text", "text": content}] if content else []
        content = [thinking, *content]
    if content:
        out["content"] = content
    if message.tool_calls:
        out["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(dict(call.arguments), ensure_ascii=False)},
            }
            for call in message.tool_calls
        ]
    if "content" not in out and "tool_calls" not in out:
        raise _invalid(f"{where}: an assistant message needs text or tool calls")
    return out


# -- the request -----------------------------------------------------------------


def _number(name: str, value: float, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _invalid(f"options.{name}: expected a number, got {value!r}")
    if not low <= value <= high:
        raise _invalid(f"options.{name}: Mistral accepts {low:g} to {high:g}, got {value!r}")
    return value


def _count(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _invalid(f"options.{name}: expected an integer >= 0, got {value!r}")
    return value


def encode_chat(request: ChatRequest, *, stream: bool) -> dict[str, Any]:
    """The JSON body of ``POST /chat/completions`` for ``request``.

    Raises :class:`~clawdesk.InvalidRequest` for what Mistral cannot take:
    unknown ``extra`` keys, out-of-range numbers, images in system messages,
    names on non-tool messages, a forced tool that was not given, ...
    """
    if not request.messages:
        raise _invalid("messages: at least one message is needed")
    options = request.options
    body: dict[str, Any] = {
        "model": request.model,
        "messages": [_encode_message(m, i) for i, m in enumerate(request.messages)],
    }
    if stream:
        body["stream"] = True
    if options.temperature is not None:
        body["temperature"] = _number("temperature", options.temperature, 0.0, 1.5)
    if options.top_p is not None:
        body["top_p"] = _number("top_p", options.top_p, 0.0, 1.0)
    if options.max_tokens is not None:
        body["max_tokens"] = _count("max_tokens", options.max_tokens)
    if options.stop:
        body["stop"] = list(options.stop)
    if options.seed is not None:
        body["random_seed"] = _count("seed", options.seed)
    names = set()
    if options.tools:
        tools = []
        for i, tool in enumerate(options.tools):
            if not _TOOL_NAME.fullmatch(tool.name):
                raise _invalid(
                    f"options.tools[{i}].name: Mistral wants 1-64 letters, digits, '_' or '-', got {tool.name!r}"
                )
            if tool.name in names:
                raise _invalid(f"options.tools[{i}].name: {tool.name!r} is given twice")
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
                raise _invalid(f"options.tool_choice: the tool {choice.name!r} is not in options.tools")
            body["tool_choice"] = {"type": "function", "function": {"name": choice.name}}
        elif choice.mode is ToolChoiceMode.REQUIRED and not names:
            raise _invalid("options.tool_choice: 'required' needs options.tools")
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
    if options.extra:
        _encode_extra(options.extra, body)
    return body


# -- answers ---------------------------------------------------------------------


def finish_reason(raw: str | None) -> FinishReason:
    """The normalised reason for Mistral's ``finish_reason`` (unknown ones are ``OTHER``)."""
    return _FINISH.get(raw or "", FinishReason.OTHER)


def usage_from(data: Any) -> Usage:
    """Token counts from a ``usage`` object (missing or odd values are ``None``)."""
    if not isinstance(data, Mapping):
        return Usage()
    prompt, completion = data.get("prompt_tokens"), data.get("completion_tokens")
    return Usage(
        prompt if isinstance(prompt, int) and not isinstance(prompt, bool) else None,
        completion if isinstance(completion, int) and not isinstance(completion, bool) else None,
    )


def parse_arguments(raw: Any, name: str) -> Mapping[str, Any]:
    """A tool call's arguments as a mapping; Mistral sends a JSON string (or, rarely, an object)."""
    if isinstance(raw, Mapping):
        return dict(raw)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    if isinstance(raw, str):
        try:
            value = json.loads(raw)
        except ValueError:
            shown = raw if len(raw) <= 60 else raw[:57] + "..."
            raise ApiError(
                f"the arguments of tool call {name!r} are not valid JSON: {shown!r}", provider=PROVIDER
            ) from None
        if isinstance(value, dict):
            return value
    raise ApiError(f"the arguments of tool call {name!r} are not a JSON object", provider=PROVIDER)


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


def _real_id(value: Any) -> str | None:
    # Mistral's schema defaults a missing id to the string "null".
    return value if isinstance(value, str) and value and value != "null" else None


class ToolCallAccumulator:
    """Tool calls of a stream, put together from deltas by ``index``.

    OpenAI-style servers split a call's arguments over several deltas that
    share an index; Mistral sends each call whole, sometimes several with the
    same index. A delta starts a new call when its index is new, or when it
    brings an id (or a name) different from the call at that index.
    """

    __slots__ = ("_calls", "_current")

    def __init__(self) -> None:
        self._calls: list[list[Any]] = []  # [id, name, argument pieces, whole object arguments]
        self._current: dict[int, list[Any]] = {}

    def __bool__(self) -> bool:
        return bool(self._calls)

    def add(self, deltas: Any) -> None:
        if not isinstance(deltas, list):
            raise ApiError("a stream chunk has tool_calls that are not a list", provider=PROVIDER)
        for position, delta in enumerate(deltas):
            if not isinstance(delta, Mapping):
                raise ApiError("a stream chunk has a tool call that is not an object", provider=PROVIDER)
            index = delta.get("index", position)
            if not isinstance(index, int):
                index = position
            function = delta.get("function")
            function = function if isinstance(function, Mapping) else {}
            call_id = _real_id(delta.get("id"))
            name = function.get("name") if isinstance(function.get("name"), str) else None
            call = self._current.get(index)
            if (
                call is None
                or (call_id is not None and call[0] is not None and call_id != call[0])
                or (name and call[1] and name != call[1])
            ):
                call = [None, None, [], None]
                self._current[index] = call
                self._calls.append(call)
            if call_id is not None and call[0] is None:
                call[0] = call_id
            if name:
                call[1] = name
            arguments = function.get("arguments")
            if isinstance(arguments, str):
                call[2].append(arguments)
            elif isinstance(arguments, Mapping):
                call[3] = arguments

    def complete(self) -> list[ToolCall]:
        """Every call, in the order they began, with parsed arguments; then starts afresh."""
        calls, self._calls, self._current = self._calls, [], {}
        out = []
        for number, (call_id, name, pieces, whole) in enumerate(calls):
            if not name:
                raise ApiError("a streamed tool call has no function name", provider=PROVIDER)
            arguments = parse_arguments(whole if whole is not None else "".join(pieces), name)
            out.append(ToolCall(call_id or f"call_{number}", name, arguments))
        return out


def _tool_calls(raw: Any) -> tuple[ToolCall, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ApiError("the answer's tool_calls is not a list", provider=PROVIDER)
    calls = []
    for number, item in enumerate(raw):
        function = item.get("function") if isinstance(item, Mapping) else None
        if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
            raise ApiError("the answer has a tool call without a function name", provider=PROVIDER)
        name = function["name"]
        call_id = _real_id(item.get("id")) or f"call_{number}"
        calls.append(ToolCall(call_id, name, parse_arguments(function.get("arguments"), name)))
    return tuple(calls)


def error_in_body(data: Any) -> str | None:
    """The message of an error object sent where an answer was expected, else ``None``."""
    if isinstance(data, Mapping) and "choices" not in data and (data.get("object") == "error" or "message" in data):
        message = data.get("message")
        return message if isinstance(message, str) else json.dumps(message)[:300]
    return None


def decode_chat(data: Any, *, model: str) -> ChatResponse:
    """A :class:`~clawdesk.ChatResponse` from Mistral's JSON answer.

    Raises :class:`~clawdesk.ApiError` for an answer without a choice, with
    ``finish_reason: "error"``, or with tool call arguments that are not JSON.
    """
    problem = error_in_body(data)
    if problem is not None:
        raise ApiError(f"the server answered with an error: {problem}", provider=PROVIDER)
    choices = data.get("choices") if isinstance(data, Mapping) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        raise ApiError("the answer has no choices", provider=PROVIDER)
    choice = choices[0]
    raw_reason = choice.get("finish_reason")
    raw_reason = raw_reason if isinstance(raw_reason, str) else None
    if raw_reason == "error":
        raise ApiError("the model stopped with finish_reason 'error'", provider=PROVIDER, retryable=True)
    message = choice.get("message")
    if not isinstance(message, Mapping):
        raise ApiError("the answer's choice has no message", provider=PROVIDER)
    text, reasoning = split_content(message.get("content"))
    reply = Message(
        Role.ASSISTANT,
        text,
        tool_calls=_tool_calls(message.get("tool_calls")),
        reasoning=reasoning or None,
    )
    answered_model = data.get("model")
    return ChatResponse(
        message=reply,
        finish_reason=finish_reason(raw_reason),
        finish_reason_raw=raw_reason,
        usage=usage_from(data.get("usage")),
        provider=PROVIDER,
        model=answered_model if isinstance(answered_model, str) and answered_model else model,
    )
