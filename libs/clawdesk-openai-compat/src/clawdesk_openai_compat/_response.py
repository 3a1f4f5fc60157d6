"""Answers in: a whole ``chat.completion``, usage, finish reasons and stream chunks. Pure functions, no I/O.

Whatever the dialect, the answer has the same shape; what servers add is read
where it is found and ignored otherwise:

- text in ``content`` (a string, or a list of ``text`` and ``thinking``
  chunks, as Mistral sends), reasoning in ``reasoning_content`` (DeepSeek,
  llama.cpp, vLLM) or ``reasoning`` (OpenRouter, newer vLLM), a refusal in
  ``refusal`` (OpenAI);
- usage with ``prompt_tokens_details.cached_tokens`` and
  ``completion_tokens_details.reasoning_tokens`` (OpenAI and most others),
  DeepSeek's ``prompt_cache_hit_tokens``, Groq's ``x_groq.usage``;
- finish reasons beyond OpenAI's (``model_length``, ``error``, ``abort``).

Every function takes the provider's name (``config.name``) for its errors.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from clawdesk import ApiError, ChatResponse, FinishReason, Message, ToolCall, Usage
from clawdesk.provider import parse_arguments, short_text, stable_call_id

__all__ = [
    "decode_chat",
    "error_in_body",
    "error_text",
    "finish_reason",
    "real_id",
    "reasoning_of",
    "split_content",
    "tool_calls_from",
    "usage_from",
]

_FINISH = {
    "stop": FinishReason.STOP,
    "length": FinishReason.LENGTH,
    "model_length": FinishReason.LENGTH,
    "tool_calls": FinishReason.TOOL_CALLS,
    "function_call": FinishReason.TOOL_CALLS,
    "content_filter": FinishReason.CONTENT_FILTER,
    "error": FinishReason.ERROR,
}


def finish_reason(raw: str | None) -> FinishReason:
    """The normalised reason for a ``finish_reason`` (unknown ones, vLLM's ``abort`` say, are ``OTHER``)."""
    return _FINISH.get(raw or "", FinishReason.OTHER)


def _int(value: Any) -> int | None:
    return value if type(value) is int else None


def usage_from(data: Any) -> Usage | None:
    """Token counts from a ``usage`` object; ``None`` when there is none (missing or odd values are ``None``).

    ``input_tokens`` counts cached tokens too and ``output_tokens`` reasoning
    tokens too, as OpenAI's ``prompt_tokens`` and ``completion_tokens`` do.
    ``cache_read_tokens`` is ``prompt_tokens_details.cached_tokens`` (or
    DeepSeek's ``prompt_cache_hit_tokens``), ``cache_write_tokens``
    ``prompt_tokens_details.cache_write_tokens`` where a server reports it,
    ``reasoning_tokens`` ``completion_tokens_details.reasoning_tokens``.
    ``Usage.raw`` keeps the server's object.
    """
    if not isinstance(data, Mapping):
        return None
    prompt = data.get("prompt_tokens_details")
    output = data.get("completion_tokens_details")
    prompt = prompt if isinstance(prompt, Mapping) else {}
    output = output if isinstance(output, Mapping) else {}
    cached = _int(prompt.get("cached_tokens"))
    if cached is None:
        cached = _int(data.get("prompt_cache_hit_tokens"))
    return Usage(
        _int(data.get("prompt_tokens")),
        _int(data.get("completion_tokens")),
        cache_read_tokens=cached,
        cache_write_tokens=_int(prompt.get("cache_write_tokens")),
        reasoning_tokens=_int(output.get("reasoning_tokens")),
        raw=data,
    )


def split_content(content: Any) -> tuple[str, str]:
    """``(text, reasoning)`` from a message's or delta's ``content``: a string, or a list of chunks.

    In a list, ``text`` chunks are text and ``thinking`` chunks (a list of
    text chunks) reasoning; other kinds (references, ...) carry no answer text.
    """
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
    return "".join(text), "".join(thinking)


def reasoning_of(message: Mapping[str, Any]) -> str:
    """The reasoning text a message or delta carries beside its content (``reasoning_content`` or ``reasoning``)."""
    value = message.get("reasoning_content")
    if not isinstance(value, str) or not value:
        value = message.get("reasoning")
    return value if isinstance(value, str) else ""


def real_id(value: Any) -> str | None:
    """A tool call id, or ``None`` for none (Mistral's schema defaults a missing id to the string "null")."""
    return value if isinstance(value, str) and value and value != "null" else None


def tool_calls_from(raw: Any, provider: str, *, seed: str = "") -> tuple[ToolCall, ...]:
    """The tool calls of a whole (non-streamed) answer; a call without an id gets a stable one made from ``seed``."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ApiError("the answer's tool_calls is not a list", provider=provider)
    calls = []
    for position, item in enumerate(raw):
        function = item.get("function") if isinstance(item, Mapping) else None
        if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
            raise ApiError("the answer has a tool call without a function name", provider=provider)
        assert isinstance(item, Mapping)
        name = function["name"]
        arguments = parse_arguments(function.get("arguments"), name=name, provider=provider)
        call_id = real_id(item.get("id")) or stable_call_id(seed, position, name, arguments)
        calls.append(ToolCall(call_id, name, arguments))
    return tuple(calls)


def error_in_body(data: Any) -> Mapping[str, Any] | None:
    """The error object of a body sent where an answer was expected, else ``None``.

    OpenAI and most servers send ``{"error": {...}}`` (or ``{"error": "..."}``);
    vLLM and Mistral a flat ``{"object": "error", "message": ...}``. A body
    with ``choices`` is never an error.
    """
    if not isinstance(data, Mapping) or "choices" in data:
        return None
    inner = data.get("error")
    if isinstance(inner, Mapping):
        return inner
    if isinstance(inner, str):
        return {"message": inner}
    if data.get("object") == "error" or "message" in data:
        return data
    return None


def error_text(error: Mapping[str, Any]) -> str:
    """The message of an error object, on one line and bounded."""
    message = error.get("message")
    text = message if isinstance(message, str) else json.dumps(message, default=str)
    return short_text(text, 300)


def decode_chat(data: Any, *, model: str, provider: str, request_id: str | None = None) -> ChatResponse:
    """A :class:`~clawdesk.ChatResponse` from a ``chat.completion`` answer.

    The reply's text is ``content`` (or, when the model refused and said
    nothing else, its ``refusal``, also kept in ``metadata["refusal"]``);
    its reasoning what :func:`reasoning_of` and ``thinking`` chunks hold.
    Raises :class:`~clawdesk.ApiError` for an error object where the answer
    should be, an answer without a choice or a message, tool call arguments
    that are not a JSON object, and ``finish_reason: "error"`` (retryable:
    the server failed this once).
    """
    problem = error_in_body(data)
    if problem is not None:
        raise ApiError(
            f"the server answered with an error: {error_text(problem)}", provider=provider, request_id=request_id
        )
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
    assert isinstance(data, Mapping)
    text, thinking = split_content(message.get("content"))
    reasoning = reasoning_of(message) + thinking
    metadata: dict[str, Any] = {}
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal:
        metadata["refusal"] = refusal
        text = text or refusal
    seed = str(data.get("id") or data.get("created") or "")
    reply = Message.assistant(
        text, tool_calls=tool_calls_from(message.get("tool_calls"), provider, seed=seed), reasoning=reasoning or None
    )
    answered_model = data.get("model")
    return ChatResponse(
        message=reply,
        finish_reason=finish_reason(raw_reason),
        finish_reason_raw=raw_reason,
        usage=usage_from(data.get("usage")) or Usage(),
        provider=provider,
        model=answered_model if isinstance(answered_model, str) and answered_model else model,
        request_id=request_id,
        metadata=metadata,
    )
