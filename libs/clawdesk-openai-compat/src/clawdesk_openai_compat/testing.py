"""The server side of the chat completions wire, for tests: answers, stream events, errors, and the kit's adapter.

A scripted server (:class:`clawdesk.testing.ScriptedServer`) answers from
these, byte for byte as an OpenAI-style server writes them::

    from clawdesk.testing import Reply
    from clawdesk_openai_compat.testing import chunk, completion, sse, sse_reply, text_stream

    server.add(Reply.json(completion("Hello!")))
    server.add(sse_reply(text_stream("Hel", "lo!")))

:class:`OpenAICompatibleWire` is the conformance kit's adapter half for a
provider on this wire; mix it in before
:class:`clawdesk.testing.ProviderConformance`::

    from clawdesk.testing import ProviderConformance
    from clawdesk_openai_compat.testing import OpenAICompatibleWire

    class TestAcmeConformance(OpenAICompatibleWire, ProviderConformance):
        plugin = clawdesk_acme._plugin

Every builder gives plain JSON data (dicts and lists) whose shapes are
OpenAI's ``chat.completion``, ``chat.completion.chunk`` and error object;
keyword arguments add or replace fields, so a server's own extras (a
``prefix`` in Mistral's messages, ``timings`` in llama.cpp's chunks) are one
argument away. Needs no pytest.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

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
from clawdesk.testing import RecordedRequest, Reply, SentMessage, SentRequest

__all__ = [
    "DONE",
    "SSE_CONTENT_TYPE",
    "OpenAICompatibleWire",
    "chunk",
    "completion",
    "error_body",
    "error_reply",
    "read_chat_request",
    "sse",
    "sse_reply",
    "text_stream",
    "token_usage",
    "tool_call",
    "tool_call_stream",
    "usage_chunk",
]

#: The last event of every complete stream.
DONE = b"data: [DONE]\n\n"
SSE_CONTENT_TYPE = "text/event-stream; charset=utf-8"
_ID = "chatcmpl-clawdesk0test"
_CREATED = 1764547200
_MODEL = "gpt-4o-mini"


def sse(data: Any) -> bytes:
    """One server-sent event carrying ``data`` as compact JSON: ``data: {...}`` and a blank line."""
    return b"data: " + json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode() + b"\n\n"


def sse_reply(events: Sequence[bytes], **kw: Any) -> Reply:
    """A :class:`~clawdesk.testing.Reply` streaming ``events`` (one HTTP chunk each) as ``text/event-stream``."""
    kw.setdefault("content_type", SSE_CONTENT_TYPE)
    return Reply.stream(list(events), **kw)


def token_usage(
    prompt: int = 9, completion: int = 5, *, cached: int | None = None, reasoning: int | None = None
) -> dict[str, Any]:
    """A ``usage`` object; ``cached`` and ``reasoning`` add OpenAI's ``*_tokens_details``."""
    out: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if cached is not None:
        out["prompt_tokens_details"] = {"cached_tokens": cached, "audio_tokens": 0}
    if reasoning is not None:
        out["completion_tokens_details"] = {
            "reasoning_tokens": reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        }
    return out


def tool_call(call: ToolCall, *, index: int | None = None) -> dict[str, Any]:
    """``call`` as the wire writes it: ``{id, type, function: {name, arguments}}``, arguments a JSON string."""
    arguments = json.dumps(dict(call.arguments), ensure_ascii=False)
    out: dict[str, Any] = {} if index is None else {"index": index}
    out.update({"id": call.id, "type": "function", "function": {"name": call.name, "arguments": arguments}})
    return out


def completion(
    content: Any = "Hello!",
    *,
    finish: str | None = "stop",
    tool_calls: Sequence[Mapping[str, Any]] | None = None,
    usage: Mapping[str, Any] | None = None,
    reasoning: str | None = None,
    model: str = _MODEL,
    message: Mapping[str, Any] | None = None,
    choice: Mapping[str, Any] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A whole ``chat.completion``: one choice whose message says ``content``.

    ``tool_calls`` go into the message (see :func:`tool_call`), ``reasoning``
    into its ``reasoning_content``; ``message`` and ``choice`` add fields to
    those objects and ``fields`` to the answer (``usage`` defaults to 9
    prompt and 5 completion tokens).
    """
    reply: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
    if tool_calls is not None:
        reply["tool_calls"] = list(tool_calls)
    if reasoning is not None:
        reply["reasoning_content"] = reasoning
    reply.update(message or {})
    body: dict[str, Any] = {
        "id": _ID,
        "object": "chat.completion",
        "created": _CREATED,
        "model": model,
        "choices": [{"index": 0, "message": reply, "logprobs": None, "finish_reason": finish, **(choice or {})}],
        "usage": dict(usage) if usage is not None else token_usage(),
    }
    body.update(fields)
    return body


def chunk(
    content: Any = None,
    *,
    finish: str | None = None,
    role: str | None = None,
    tool_calls: Sequence[Mapping[str, Any]] | None = None,
    reasoning: str | None = None,
    model: str = _MODEL,
    delta: Mapping[str, Any] | None = None,
    choice: Mapping[str, Any] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A ``chat.completion.chunk`` with one choice: the delta's ``role``, ``content``, ``reasoning_content``
    (``reasoning``) and ``tool_calls`` where given, and ``finish``; ``delta``, ``choice`` and ``fields``
    add to those objects and to the chunk (``usage=...`` for a last chunk that carries usage)."""
    moved: dict[str, Any] = {}
    if role is not None:
        moved["role"] = role
    if content is not None:
        moved["content"] = content
    if reasoning is not None:
        moved["reasoning_content"] = reasoning
    if tool_calls is not None:
        moved["tool_calls"] = list(tool_calls)
    moved.update(delta or {})
    body: dict[str, Any] = {
        "id": _ID,
        "object": "chat.completion.chunk",
        "created": _CREATED,
        "model": model,
        "choices": [{"index": 0, "delta": moved, "finish_reason": finish, **(choice or {})}],
    }
    body.update(fields)
    return body


def usage_chunk(usage: Mapping[str, Any] | None = None, *, model: str = _MODEL) -> dict[str, Any]:
    """The extra last chunk ``stream_options.include_usage`` asks for: ``choices: []`` and the usage."""
    return {
        "id": _ID,
        "object": "chat.completion.chunk",
        "created": _CREATED,
        "model": model,
        "choices": [],
        "usage": dict(usage) if usage is not None else token_usage(),
    }


def text_stream(
    *pieces: str,
    finish: str = "stop",
    usage: Mapping[str, Any] | None = None,
    usage_apart: bool = True,
    model: str = _MODEL,
) -> list[bytes]:
    """The events of a streamed text answer, as OpenAI writes them with ``include_usage``.

    A first chunk with the role (and ``content: ""``), one chunk per piece, a
    chunk with ``finish``, then the usage: in its own ``choices: []`` chunk
    (``usage_apart``, OpenAI's way) or on the finishing chunk (Mistral's), and
    ``data: [DONE]``.
    """
    counts = dict(usage) if usage is not None else token_usage(9, len(pieces))
    events = [sse(chunk("", role="assistant", model=model))]
    events += [sse(chunk(piece, model=model)) for piece in pieces]
    if usage_apart:
        events += [sse(chunk(finish=finish, model=model)), sse(usage_chunk(counts, model=model))]
    else:
        events.append(sse(chunk(finish=finish, model=model, usage=counts)))
    events.append(DONE)
    return events


def tool_call_stream(*calls: ToolCall, pieces: int = 3, model: str = _MODEL) -> list[bytes]:
    """The events of a streamed answer asking for ``calls``, as OpenAI writes them.

    Each call's first chunk carries its index, id, type and name with
    ``arguments: ""``; then its arguments come in ``pieces`` pieces; then a
    ``tool_calls`` finish, the usage chunk and ``data: [DONE]``.
    """
    events = [sse(chunk(role="assistant", model=model, delta={"content": None}))]
    for index, call in enumerate(calls):
        first = tool_call(call, index=index)
        arguments = first["function"]["arguments"]
        first["function"]["arguments"] = ""
        events.append(sse(chunk(tool_calls=[first], model=model)))
        size = max(1, -(-len(arguments) // pieces))
        for start in range(0, len(arguments), size):
            part = {"index": index, "function": {"arguments": arguments[start : start + size]}}
            events.append(sse(chunk(tool_calls=[part], model=model)))
    events += [sse(chunk(finish="tool_calls", model=model)), sse(usage_chunk(model=model)), DONE]
    return events


# The type and code OpenAI sends with each status (its documented error objects).
_STATUS_ERRORS: Mapping[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    503: ("server_error", None),
}


def error_body(
    message: str, *, type: str = "invalid_request_error", code: str | int | None = None, param: str | None = None
) -> dict[str, Any]:
    """OpenAI's error object: ``{"error": {"message", "type", "param", "code"}}``."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def error_reply(status: int, message: str, **kw: Any) -> Reply:
    """An error answer with ``status``, its body as OpenAI writes it for that status (``kw`` replaces fields)."""
    kind, code = _STATUS_ERRORS.get(status, ("api_error", None))
    fields: dict[str, Any] = {"type": kind, "code": code, **kw}
    return Reply.json(error_body(message, **fields), status=status)


def _content(value: Any, where: str) -> tuple[ContentPart, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (TextPart(value),) if value else ()
    if not isinstance(value, list):
        raise ValueError(f"{where}.content is {type(value).__name__}, not a string or a list of parts")
    parts: list[ContentPart] = []
    for i, chunk_ in enumerate(value):
        kind = chunk_.get("type") if isinstance(chunk_, dict) else None
        at = f"{where}.content[{i}]"
        if kind == "text" and isinstance(chunk_.get("text"), str):
            parts.append(TextPart(chunk_["text"]))
        elif kind == "image_url":
            image = chunk_.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if not isinstance(url, str):
                raise ValueError(f"{at}.image_url has no URL")
            parts.append(ImagePart(url=url))
        elif kind == "file" and isinstance(chunk_.get("file"), dict):
            data = chunk_["file"].get("file_data")
            if not isinstance(data, str):
                raise ValueError(f"{at}.file has no file_data")
            parts.append(DocumentPart(url=data))
        elif kind == "thinking" and isinstance(chunk_.get("thinking"), list):
            parts.append(ReasoningPart("".join(t.get("text", "") for t in chunk_["thinking"])))
        else:
            raise ValueError(f"{at} is not a part the chat completions wire takes: {chunk_!r}")
    return tuple(parts)


def _message(data: Any, index: int) -> SentMessage:
    where = f"messages[{index}]"
    if not isinstance(data, dict) or data.get("role") not in ("system", "developer", "user", "assistant", "tool"):
        raise ValueError(f"{where} is not a chat completions message: {data!r}")
    role = Role.SYSTEM if data["role"] == "developer" else Role(data["role"])
    calls = []
    for i, call in enumerate(data.get("tool_calls") or ()):
        function = call.get("function") if isinstance(call, dict) else None
        if call.get("type") != "function" or not isinstance(function, dict):
            raise ValueError(f"{where}.tool_calls[{i}] is not a function call: {call!r}")
        arguments = function.get("arguments")
        if not isinstance(arguments, str):
            raise ValueError(f"{where}.tool_calls[{i}].function.arguments is not a JSON string: {arguments!r}")
        calls.append(ToolCall(call.get("id", ""), function["name"], json.loads(arguments)))
    tool_call_id = data.get("tool_call_id") if role is Role.TOOL else None
    if role is Role.TOOL and not isinstance(tool_call_id, str):
        raise ValueError(f"{where}: a tool message without tool_call_id")
    return SentMessage(
        role=role, parts=_content(data.get("content"), where), tool_calls=tuple(calls), tool_call_id=tool_call_id
    )


_EFFORTS = {e.value: e for e in ReasoningEffort}


def _reasoning(body: Mapping[str, Any]) -> Reasoning | None:
    if "reasoning_effort" in body:
        effort = body["reasoning_effort"]
        if effort not in _EFFORTS:
            raise ValueError(f"reasoning_effort {effort!r} is not an effort")
        return Reasoning(effort=_EFFORTS[effort])
    value = body.get("reasoning")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError(f"reasoning {value!r} is not an object")
    if value.get("enabled") is False:
        return Reasoning(effort=ReasoningEffort.NONE)
    if "max_tokens" in value:
        return Reasoning(budget_tokens=value["max_tokens"])
    return Reasoning(effort=_EFFORTS[value["effort"]]) if "effort" in value else Reasoning()


def _tool_choice(value: Any) -> ToolChoice | None:
    if value is None:
        return None
    if value in ("auto", "none", "required"):
        return ToolChoice(ToolChoiceMode(value))
    if value == "any":  # Mistral's spelling of required
        return ToolChoice(ToolChoiceMode.REQUIRED)
    if isinstance(value, dict) and value.get("type") == "function" and isinstance(value.get("function"), dict):
        return ToolChoice.function(value["function"]["name"])
    raise ValueError(f"tool_choice {value!r} is not what the chat completions wire takes")


def _response_format(value: Any) -> ResponseFormat | None:
    if value is None:
        return None
    kind = value.get("type") if isinstance(value, dict) else None
    if kind == "text":
        return ResponseFormat()
    if kind == "json_object":
        return ResponseFormat.json()
    if kind == "json_schema" and isinstance(value.get("json_schema"), dict):
        spec = value["json_schema"]
        if spec.get("name") == "json_object" and spec.get("schema") == {"type": "object"}:
            return ResponseFormat.json()  # llama.cpp's way to ask for any JSON object
        return ResponseFormat.json_schema(spec["schema"], name=spec.get("name", ""), strict=spec.get("strict", False))
    raise ValueError(f"response_format {value!r} is not what the chat completions wire takes")


#: The request body's fields :func:`read_chat_request` reads; a provider's own options are the others.
CHAT_FIELDS = frozenset(
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
        "random_seed",
        "tools",
        "tool_choice",
        "response_format",
        "reasoning_effort",
        "reasoning",
    }
)


def read_chat_request(sent: RecordedRequest) -> SentRequest:
    """A captured ``POST /chat/completions`` read back into what it asks (the kit's ``read_request``).

    Strict: a field in a shape the wire does not take (``tool_choice`` as a
    bare tool name, an ``image_url`` without a URL) raises ``ValueError``
    naming it. Fields it does not know go to ``provider_options``.
    """
    body = sent.json()
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        raise ValueError("the body is not a chat completions request (no messages list)")
    options: dict[str, Any] = {}
    for name in ("temperature", "top_p", "top_k"):
        if name in body:
            options[name] = body[name]
    for field_ in ("max_completion_tokens", "max_tokens"):
        if field_ in body:
            options["max_tokens"] = body[field_]
    for field_ in ("seed", "random_seed"):
        if field_ in body:
            options["seed"] = body[field_]
    if "stop" in body:
        stop = body["stop"]
        options["stop"] = (stop,) if isinstance(stop, str) else tuple(stop)
    tools = []
    for i, tool in enumerate(body.get("tools") or ()):
        function = tool.get("function") if isinstance(tool, dict) else None
        if tool.get("type") != "function" or not isinstance(function, dict):
            raise ValueError(f"tools[{i}] is not a function tool: {tool!r}")
        tools.append(Tool(function["name"], function.get("description", ""), function.get("parameters", {})))
    return SentRequest(
        model=body.get("model"),
        messages=tuple(_message(m, i) for i, m in enumerate(body["messages"])),
        options=options,
        tools=tuple(tools),
        tool_choice=_tool_choice(body.get("tool_choice")),
        response_format=_response_format(body.get("response_format")),
        reasoning=_reasoning(body),
        provider_options={k: v for k, v in body.items() if k not in CHAT_FIELDS},
        stream=bool(body.get("stream", False)),
    )


class OpenAICompatibleWire:
    """The conformance kit's adapter half for a chat completions backend that streams server-sent events.

    Mix it in before :class:`~clawdesk.testing.ProviderConformance`. Answers
    are :func:`completion`; streams one chunk per text piece, a finishing
    chunk, the ``include_usage`` chunk and ``data: [DONE]``
    (:func:`text_stream`); errors OpenAI's object for each status
    (:func:`error_reply`); tool calls with their arguments split over three
    chunks (:func:`tool_call_stream`); requests read back with
    :func:`read_chat_request`. The wire has no place for reasoning
    signatures, so ``reasoning_round_trip`` is off.
    """

    stream_content_type: ClassVar[str] = "text/event-stream"
    stream_end_marker: ClassVar[bytes | None] = b"data: [DONE]"
    reasoning_round_trip: ClassVar[bool] = False

    def chat_reply(self, text: str) -> Reply:
        """A ``chat.completion`` with one choice whose content is ``text``."""
        return Reply.json(completion(text, model="conformance-model"))

    def stream_pieces(self, texts: Sequence[str]) -> Sequence[bytes]:
        """``chat.completion.chunk`` events: one per text, the finish, the usage, then ``[DONE]``."""
        return text_stream(*texts, model="conformance-model")

    def tool_call_reply(self, call: ToolCall) -> Reply | None:
        """A ``chat.completion`` whose message asks for ``call``."""
        return Reply.json(
            completion(None, finish="tool_calls", tool_calls=[tool_call(call)], model="conformance-model")
        )

    def tool_call_pieces(self, call: ToolCall) -> Sequence[bytes] | None:
        """The call's id and name first, then its arguments in three pieces, then the finish and ``[DONE]``."""
        return tool_call_stream(call, model="conformance-model")

    def error_reply(self, status: int, message: str) -> Reply:
        """OpenAI's error object for ``status``."""
        return error_reply(status, message)

    def read_request(self, sent: RecordedRequest) -> SentRequest:
        """The request read back with :func:`read_chat_request`."""
        return read_chat_request(sent)

    def stream_error_pieces(self, message: str) -> Sequence[bytes] | None:
        """A first text chunk, then an ``error`` object in the stream (as OpenAI sends one mid-stream)."""
        return [
            sse(chunk("Hel", role="assistant", model="conformance-model")),
            sse(error_body(message, type="server_error")),
        ]

    def finish_reply(self, text: str, reason: FinishReason) -> Reply | None:
        """A ``chat.completion`` that stops with ``finish_reason`` ``reason``."""
        return Reply.json(completion(text, finish=reason.value, model="conformance-model"))

    def finish_pieces(self, texts: Sequence[str], reason: FinishReason) -> Sequence[bytes] | None:
        """The text stream, its finishing chunk saying ``reason``."""
        return text_stream(*texts, finish=reason.value, model="conformance-model")

    def chat_usage(self) -> Usage | None:
        """:func:`completion`'s default usage: 9 prompt and 5 completion tokens."""
        return Usage(9, 5)

    def stream_usage(self, texts: Sequence[str]) -> Usage | None:
        """:func:`text_stream`'s usage chunk: 9 prompt tokens, one completion token per text."""
        return Usage(9, len(texts))
