"""The Chat Completions protocol at the gateway's edge: requests in, answers and errors out.

:func:`parse_chat` turns a request body into clawdesk's types, refusing
everything it cannot honour with a :class:`BadRequest` naming the field (the
gateway answers 400 with it): an unknown field, a value of the wrong type, an
option no clawdesk provider has (``logit_bias``, ``n`` above 1, audio...).
Nothing is dropped silently; fields that only restate the protocol's default
(``n: 1``, ``parallel_tool_calls: true``, penalties of 0, ``logprobs: false``)
are accepted, as ``null`` is for any optional field.

:func:`completion`, :func:`chunk` and :func:`usage_json` write answers in the
protocol's shapes; :func:`error_of` maps a clawdesk error to an HTTP status
and the protocol's error object.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from attrs import frozen

from .._errors import (
    AllProvidersFailed,
    ClawdeskError,
    ConfigError,
    InvalidModelId,
    PluginError,
    ProviderError,
    ProviderNotFound,
    StreamInterrupted,
)
from .._messages import message_from_dict
from .._types import (
    ChatOptions,
    ChatResponse,
    FinishReason,
    Message,
    Reasoning,
    ReasoningEffort,
    ResponseFormat,
    Tool,
    ToolCall,
    ToolChoice,
    ToolChoiceMode,
    Usage,
)

__all__ = [
    "BadRequest",
    "ErrorReply",
    "ParsedChat",
    "chunk",
    "completion",
    "error_body",
    "error_of",
    "finish_reason",
    "parse_chat",
    "tool_call_json",
    "usage_json",
]

#: Fields of a chat completion request the gateway maps to clawdesk's options.
_MAPPED = frozenset(
    {
        "model",
        "messages",
        "stream",
        "stream_options",
        "temperature",
        "top_p",
        "top_k",
        "max_tokens",
        "max_completion_tokens",
        "stop",
        "seed",
        "tools",
        "tool_choice",
        "response_format",
        "reasoning_effort",
    }
)
#: Fields accepted only with the protocol's default value (which is what clawdesk does anyway).
_DEFAULT_ONLY: dict[str, Any] = {
    "n": 1,
    "parallel_tool_calls": True,
    "presence_penalty": 0,
    "frequency_penalty": 0,
    "logprobs": False,
    "store": False,
}
#: Fields of the protocol the gateway knows and cannot honour (refused by name, never ignored).
_UNSUPPORTED = frozenset(
    {
        "audio",
        "function_call",
        "functions",
        "logit_bias",
        "metadata",
        "modalities",
        "prediction",
        "prompt_cache_key",
        "safety_identifier",
        "service_tier",
        "top_logprobs",
        "user",
        "verbosity",
        "web_search_options",
    }
)
_EFFORTS = tuple(e.value for e in ReasoningEffort)
_MAX_STOP = 16


#: Control characters (and DEL, C1): a field name from the client may hold them; the message shows them escaped.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _escaped(text: str) -> str:
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class BadRequest(Exception):
    """A request the gateway refuses before sending anything: HTTP ``status``, the field it is about.

    The message is one line whatever the client sent: control characters in
    field names or values it quotes are shown escaped (``\\n``).
    """

    def __init__(self, message: str, *, param: str | None = None, status: int = 400, code: str | None = None) -> None:
        message = _escaped(message)
        super().__init__(message)
        self.message = message
        self.param = param
        self.status = status
        self.code = code


@frozen
class ParsedChat:
    """A chat completion request in clawdesk's terms."""

    model: str
    messages: tuple[Message, ...]
    options: ChatOptions
    stream: bool
    include_usage: bool


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _number(data: Mapping[str, Any], name: str, low: float, high: float) -> float | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BadRequest(f"{name}: expected a number, got {_kind(value)}", param=name)
    if not low <= value <= high:
        raise BadRequest(f"{name}: expected a number from {low:g} to {high:g}, got {value!r}", param=name)
    return float(value)


def _integer(data: Mapping[str, Any], name: str, low: int) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"{name}: expected an integer, got {_kind(value)}", param=name)
    if value < low:
        raise BadRequest(f"{name}: expected an integer >= {low}, got {value!r}", param=name)
    return value


def _object(value: object, param: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise BadRequest(f"{param}: expected an object, got {_kind(value)}", param=param)
    return value


def _only(value: Mapping[str, Any], allowed: Sequence[str], param: str) -> None:
    for key in value:
        if key not in allowed:
            raise BadRequest(f"{param}.{key}: unknown field (expected: {', '.join(allowed)})", param=f"{param}.{key}")


def _text(value: object, param: str) -> str:
    if not isinstance(value, str):
        raise BadRequest(f"{param}: expected a string, got {_kind(value)}", param=param)
    return value


def parse_chat(body: bytes) -> ParsedChat:
    """The request ``body`` (JSON) as a :class:`ParsedChat`; raises :class:`BadRequest` naming the field."""
    try:
        data = json.loads(body)
    except UnicodeDecodeError:
        raise BadRequest("the body is not UTF-8 text") from None
    except ValueError as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadRequest(f"the body must be a JSON object, got {_kind(data)}")
    for name in data:
        if data[name] is None or name in _MAPPED:
            continue
        if name in _DEFAULT_ONLY:
            default = _DEFAULT_ONLY[name]
            value = data[name]
            if type(value) is type(default) and value == default:
                continue
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if number and type(default) is int and value == default:
                continue
            raise BadRequest(
                f"{name}: only {json.dumps(default)} is supported by this gateway, got {json.dumps(value)}", param=name
            )
        if name in _UNSUPPORTED:
            raise BadRequest(f"{name}: not supported by this gateway", param=name)
        raise BadRequest(f"{name}: unknown field", param=name)

    model = data.get("model")
    if model is None:
        raise BadRequest("model: missing (an alias, or provider/model)", param="model")
    model = _text(model, "model")
    if not model.strip():
        raise BadRequest("model: must not be empty", param="model")

    raw_messages = data.get("messages")
    if raw_messages is None:
        raise BadRequest("messages: missing", param="messages")
    if not isinstance(raw_messages, list):
        raise BadRequest(f"messages: expected an array, got {_kind(raw_messages)}", param="messages")
    if not raw_messages:
        raise BadRequest("messages: must not be empty", param="messages")
    messages = []
    for index, item in enumerate(raw_messages):
        try:
            messages.append(message_from_dict(item, f"messages[{index}]"))
        except (ValueError, TypeError) as exc:
            text = str(exc)
            raise BadRequest(text, param=text.partition(":")[0]) from None

    stream = data.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise BadRequest(f"stream: expected a boolean, got {_kind(stream)}", param="stream")
    include_usage = False
    stream_options = data.get("stream_options")
    if stream_options is not None:
        if not stream:
            raise BadRequest("stream_options: only allowed with stream: true", param="stream_options")
        options_table = _object(stream_options, "stream_options")
        _only(options_table, ("include_usage",), "stream_options")
        flag = options_table.get("include_usage")
        if flag is not None and not isinstance(flag, bool):
            raise BadRequest(
                f"stream_options.include_usage: expected a boolean, got {_kind(flag)}",
                param="stream_options.include_usage",
            )
        include_usage = bool(flag)

    max_tokens = _integer(data, "max_tokens", 1)
    max_completion = _integer(data, "max_completion_tokens", 1)
    if max_tokens is not None and max_completion is not None and max_tokens != max_completion:
        raise BadRequest("max_tokens and max_completion_tokens disagree: give one of them", param="max_tokens")
    tools = _tools(data.get("tools"))
    tool_choice = _tool_choice(data.get("tool_choice"), tools)
    effort = data.get("reasoning_effort")
    reasoning = None
    if effort is not None:
        if not isinstance(effort, str) or effort not in _EFFORTS:
            raise BadRequest(
                f"reasoning_effort: expected one of {', '.join(_EFFORTS)}, got {json.dumps(effort)}",
                param="reasoning_effort",
            )
        reasoning = Reasoning(effort=effort)
    options = ChatOptions(
        temperature=_number(data, "temperature", 0.0, 2.0),
        top_p=_number(data, "top_p", 0.0, 1.0),
        top_k=_integer(data, "top_k", 1),
        max_tokens=max_tokens if max_tokens is not None else max_completion,
        stop=_stop(data.get("stop")),
        seed=_integer(data, "seed", -(2**63)),
        tools=tools,
        tool_choice=tool_choice,
        response_format=_response_format(data.get("response_format")),
        reasoning=reasoning,
    )
    return ParsedChat(model, tuple(messages), options, bool(stream), include_usage)


def _stop(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,) if value else ()
    if not isinstance(value, list):
        raise BadRequest(f"stop: expected a string or an array of strings, got {_kind(value)}", param="stop")
    if len(value) > _MAX_STOP:
        raise BadRequest(f"stop: at most {_MAX_STOP} sequences, got {len(value)}", param="stop")
    return tuple(_text(item, f"stop[{i}]") for i, item in enumerate(value))


def _tools(value: object) -> tuple[Tool, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise BadRequest(f"tools: expected an array, got {_kind(value)}", param="tools")
    tools = []
    names: set[str] = set()
    for index, item in enumerate(value):
        where = f"tools[{index}]"
        entry = _object(item, where)
        _only(entry, ("type", "function"), where)
        if entry.get("type") != "function":
            raise BadRequest(
                f"{where}.type: only 'function' tools are supported, got {json.dumps(entry.get('type'))}",
                param=f"{where}.type",
            )
        function = _object(entry.get("function"), f"{where}.function")
        _only(function, ("name", "description", "parameters", "strict"), f"{where}.function")
        name = _text(function.get("name"), f"{where}.function.name")
        if not name or name in names:
            problem = "must not be empty" if not name else f"{name!r} is declared twice"
            raise BadRequest(f"{where}.function.name: {problem}", param=f"{where}.function.name")
        names.add(name)
        description = function.get("description")
        if description is not None:
            _text(description, f"{where}.function.description")
        parameters = function.get("parameters")
        if parameters is None:
            parameters = {"type": "object", "properties": {}}
        else:
            parameters = _object(parameters, f"{where}.function.parameters")
        if function.get("strict"):
            raise BadRequest(
                f"{where}.function.strict: strict tool schemas are not supported by this gateway",
                param=f"{where}.function.strict",
            )
        tools.append(Tool(name, description or "", parameters))
    return tuple(tools)


def _tool_choice(value: object, tools: Sequence[Tool]) -> ToolChoice | None:
    if value is None:
        return None
    if isinstance(value, str):
        if value not in ("auto", "none", "required"):
            raise BadRequest(
                f"tool_choice: expected 'auto', 'none', 'required' or a function, got {json.dumps(value)}",
                param="tool_choice",
            )
        if value == "required" and not tools:
            raise BadRequest("tool_choice: 'required' needs tools", param="tool_choice")
        return ToolChoice(ToolChoiceMode(value))
    choice = _object(value, "tool_choice")
    _only(choice, ("type", "function"), "tool_choice")
    if choice.get("type") != "function":
        raise BadRequest("tool_choice.type: expected 'function'", param="tool_choice.type")
    function = _object(choice.get("function"), "tool_choice.function")
    _only(function, ("name",), "tool_choice.function")
    name = _text(function.get("name"), "tool_choice.function.name")
    if name not in {tool.name for tool in tools}:
        raise BadRequest(f"tool_choice.function.name: no tool named {name!r}", param="tool_choice.function.name")
    return ToolChoice.function(name)


def _response_format(value: object) -> ResponseFormat | None:
    if value is None:
        return None
    table = _object(value, "response_format")
    kind = table.get("type")
    if kind == "text":
        _only(table, ("type",), "response_format")
        return None
    if kind == "json_object":
        _only(table, ("type",), "response_format")
        return ResponseFormat.json()
    if kind == "json_schema":
        _only(table, ("type", "json_schema"), "response_format")
        spec = _object(table.get("json_schema"), "response_format.json_schema")
        _only(spec, ("name", "schema", "strict", "description"), "response_format.json_schema")
        if spec.get("description") is not None:
            raise BadRequest(
                "response_format.json_schema.description: not supported by this gateway (put it in the schema)",
                param="response_format.json_schema.description",
            )
        name = _text(spec.get("name", "response"), "response_format.json_schema.name")
        schema = _object(spec.get("schema"), "response_format.json_schema.schema")
        strict = spec.get("strict")
        if strict is not None and not isinstance(strict, bool):
            raise BadRequest(
                f"response_format.json_schema.strict: expected a boolean, got {_kind(strict)}",
                param="response_format.json_schema.strict",
            )
        return ResponseFormat.json_schema(schema, name=name, strict=bool(strict))
    raise BadRequest(
        f"response_format.type: expected 'text', 'json_object' or 'json_schema', got {json.dumps(kind)}",
        param="response_format.type",
    )


# -- answers ---------------------------------------------------------------------------------------

_FINISH = {
    FinishReason.STOP: "stop",
    FinishReason.LENGTH: "length",
    FinishReason.TOOL_CALLS: "tool_calls",
    FinishReason.CONTENT_FILTER: "content_filter",
}


def finish_reason(reason: FinishReason) -> str:
    """The protocol's ``finish_reason``; ``other`` and ``error`` have no word of their own there: ``stop``."""
    return _FINISH.get(reason, "stop")


def usage_json(usage: Usage) -> dict[str, Any] | None:
    """``usage`` in the protocol's shape, with cached and reasoning tokens when known; ``None`` when unknown."""
    if usage.input_tokens is None or usage.output_tokens is None:
        return None
    data: dict[str, Any] = {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.input_tokens + usage.output_tokens,
    }
    if usage.cache_read_tokens is not None:
        data["prompt_tokens_details"] = {"cached_tokens": usage.cache_read_tokens}
    if usage.reasoning_tokens is not None:
        data["completion_tokens_details"] = {"reasoning_tokens": usage.reasoning_tokens}
    return data


def tool_call_json(call: ToolCall, index: int | None = None) -> dict[str, Any]:
    """A tool call as the protocol writes it (arguments as a JSON string); ``index`` for stream deltas."""
    data: dict[str, Any] = {} if index is None else {"index": index}
    data.update(
        {
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": json.dumps(dict(call.arguments), ensure_ascii=False)},
        }
    )
    return data


def completion(response: ChatResponse, *, id: str, created: int, model: str) -> dict[str, Any]:
    """A whole ``chat.completion`` object."""
    message: dict[str, Any] = {"role": "assistant", "content": response.message.text or None}
    reasoning = response.message.reasoning
    if reasoning:
        message["reasoning_content"] = reasoning
    if response.message.tool_calls:
        message["tool_calls"] = [tool_call_json(call) for call in response.message.tool_calls]
    data: dict[str, Any] = {
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason(response.finish_reason)}],
    }
    usage = usage_json(response.usage)
    if usage is not None:
        data["usage"] = usage
    return data


def chunk(
    *,
    id: str,
    created: int,
    model: str,
    delta: Mapping[str, Any] | None = None,
    finish: str | None = None,
    usage: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One ``chat.completion.chunk``; with ``usage`` and no ``delta``, the usage chunk (``choices: []``)."""
    data: dict[str, Any] = {"id": id, "object": "chat.completion.chunk", "created": created, "model": model}
    if delta is None and usage is not None:
        data["choices"] = []
        data["usage"] = usage
        return data
    data["choices"] = [{"index": 0, "delta": dict(delta or {}), "finish_reason": finish}]
    return data


# -- errors ----------------------------------------------------------------------------------------


@frozen
class ErrorReply:
    """An error as the gateway answers it: status, the protocol's error object fields, ``Retry-After``."""

    status: int
    message: str
    type: str
    code: str | None = None
    param: str | None = None
    retry_after: float | None = None
    kind: str = "error"  # for the metrics: what failed


def error_body(reply: ErrorReply) -> dict[str, Any]:
    """``{"error": {"message", "type", "param", "code"}}``."""
    return {"error": {"message": reply.message, "type": reply.type, "param": reply.param, "code": reply.code}}


#: Upstream error kinds and what the client gets: status, error type, code.
_UPSTREAM: dict[str, tuple[int, str, str | None]] = {
    "invalid_request": (400, "invalid_request_error", None),
    "capability_missing": (400, "invalid_request_error", "unsupported_option"),
    "context_length_exceeded": (400, "invalid_request_error", "context_length_exceeded"),
    "content_filtered": (400, "invalid_request_error", "content_filter"),
    "model_not_found": (404, "invalid_request_error", "model_not_found"),
    "rate_limited": (429, "rate_limit_error", "rate_limit_exceeded"),
    "quota_exceeded": (429, "insufficient_quota", "insufficient_quota"),
    # The gateway's own provider credentials were refused: the operator's to fix, not the client's key.
    "auth_failed": (502, "upstream_error", "upstream_auth_failed"),
    "permission_denied": (502, "upstream_error", "upstream_permission_denied"),
    "timeout": (504, "upstream_error", "upstream_timeout"),
}


def _one(error: BaseException) -> ErrorReply:
    if isinstance(error, StreamInterrupted):
        error = error.cause if isinstance(error.cause, ClawdeskError) else error
    if isinstance(error, ProviderError):
        status, kind, code = _UPSTREAM.get(error.kind, (502, "upstream_error", error.kind))
        retry = error.retry_after if status == 429 else None
        return ErrorReply(status, str(error), kind, code, retry_after=retry, kind=error.kind)
    if isinstance(error, ProviderNotFound):
        return ErrorReply(404, str(error), "invalid_request_error", "model_not_found", "model", kind="model_not_found")
    if isinstance(error, InvalidModelId):
        return ErrorReply(400, str(error), "invalid_request_error", "invalid_model", "model", kind="invalid_model")
    if isinstance(error, PluginError):
        return ErrorReply(502, str(error), "upstream_error", "plugin_error", kind="plugin_error")
    if isinstance(error, ConfigError):
        return ErrorReply(502, str(error), "upstream_error", "gateway_misconfigured", kind="config_error")
    if isinstance(error, (ValueError, TypeError)):  # the engine's word on a request it cannot take
        return ErrorReply(400, str(error), "invalid_request_error", None, kind="bad_request")
    return ErrorReply(502, str(error), "upstream_error", None, kind="error")


def error_of(error: BaseException, *, cooldown: float | None = None) -> ErrorReply:
    """What the client is told about ``error``, raised by the fallback engine before any answer.

    A chain that failed as a whole answers with the status its failures
    agree on (every candidate rate limited: 429 with the shortest
    ``Retry-After``; a pinned model that does not exist: 404), else 502; a
    chain whose every candidate was skipped (cooling down, over its rate
    budget) answers 503, with ``cooldown`` seconds as ``Retry-After``.
    """
    if not isinstance(error, AllProvidersFailed):
        return _one(error)
    failed = [a.error for a in error.attempts if a.outcome == "failed" and a.error is not None]
    if not failed:
        # Nothing was tried: why each candidate was skipped says what to answer.
        kinds = {a.kind for a in error.attempts if a.outcome == "skipped"}
        message = str(error)
        if kinds == {"capability_missing"}:
            return ErrorReply(400, message, "invalid_request_error", "unsupported_option", kind="capability_missing")
        if kinds and kinds <= {"provider_not_found", "invalid_model_id"}:
            return ErrorReply(404, message, "invalid_request_error", "model_not_found", "model", kind="model_not_found")
        if kinds == {"deadline"}:
            return ErrorReply(504, message, "upstream_error", "upstream_timeout", kind="deadline")
        if kinds and kinds <= {"config_error", "provider_not_found", "invalid_model_id", "capability_missing"}:
            return ErrorReply(502, message, "upstream_error", "gateway_misconfigured", kind="config_error")
        retry = max(1.0, cooldown) if cooldown is not None else None
        code = "no_provider_available"
        return ErrorReply(503, message, "upstream_error", code, retry_after=retry, kind="unavailable")
    replies = [_one(e) for e in failed]
    statuses = {r.status for r in replies}
    if len(statuses) == 1:
        last = replies[-1]
        waits = [r.retry_after for r in replies if r.retry_after is not None]
        retry = min(waits) if waits else (1.0 if last.status == 429 else None)
        return ErrorReply(last.status, str(error), last.type, last.code, last.param, retry, last.kind)
    return ErrorReply(502, str(error), "upstream_error", "all_providers_failed", kind="all_providers_failed")
