"""The request body of ``POST /chat/completions``, for any dialect. Pure functions, no I/O.

:func:`encode_chat` builds the body from a :class:`~clawdesk.ChatRequest` and
refuses, before anything is sent, what the dialect cannot express:
:class:`~clawdesk.InvalidRequest` for what no provider could take (a number
out of every range, a tool named twice, an image URL of no known scheme),
:class:`~clawdesk.CapabilityMissing` for what another provider may honour
(``top_k``, documents, a reasoning budget, too many stop sequences). A
provider adds its own options to the body it returns.
"""

from __future__ import annotations

import base64
import math
import re
from typing import Any

from clawdesk import (
    Capability,
    CapabilityMissing,
    ChatOptions,
    ChatRequest,
    DocumentPart,
    ImagePart,
    InvalidRequest,
    Message,
    Reasoning,
    ReasoningPart,
    ResponseFormatKind,
    Role,
    TextPart,
    ToolChoiceMode,
)
from clawdesk.provider import encode_json

from ._dialect import Dialect

__all__ = ["encode_chat", "encode_message"]

# Function names the chat completions wire accepts (OpenAI documents a-z, A-Z, 0-9, _ and -, at most 64).
_TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TOOL_CHOICE = {ToolChoiceMode.AUTO: "auto", ToolChoiceMode.NONE: "none", ToolChoiceMode.REQUIRED: "required"}
# The schema a dialect with json_object = "schema" sends for ResponseFormat.json().
_ANY_OBJECT = {"type": "json_schema", "json_schema": {"name": "json_object", "schema": {"type": "object"}}}


def _invalid(message: str, provider: str) -> InvalidRequest:
    return InvalidRequest(message, provider=provider)


# -- messages --------------------------------------------------------------------


def _image_url(part: ImagePart, where: str, dialect: Dialect, provider: str) -> str:
    if part.data is not None:
        media_type = part.media_type or ""
        if not media_type.startswith("image/"):
            raise _invalid(f"{where}: media_type {media_type!r} is not an image type", provider)
        return f"data:{media_type};base64,{base64.b64encode(part.data).decode('ascii')}"
    url = part.url or ""
    scheme = url.partition(":")[0].lower()
    if scheme not in ("http", "https", "data"):
        raise _invalid(f"{where}: {dialect.label} takes http(s) and data: image URLs, not {scheme or url!r}", provider)
    if scheme == "data":
        # data:image/png;base64,AAAA: a header naming an image type, a comma, then the data.
        header, comma, _ = url[5:].partition(",")
        if not comma:
            raise _invalid(f"{where}: the data: URL has no comma before its data", provider)
        if not header.lower().startswith("image/"):
            raise _invalid(
                f"{where}: the data: URL's media type {header.split(';')[0]!r} is not an image type", provider
            )
    return url


def _document(part: DocumentPart, where: str, dialect: Dialect, provider: str) -> dict[str, Any]:
    """A PDF as a ``file`` part (inline data only: the wire has no document URLs)."""
    if not dialect.documents:
        raise CapabilityMissing(
            f"{where}: {dialect.label} takes no documents", capability=Capability.DOCUMENTS, provider=provider
        )
    if part.data is None or part.media_type != "application/pdf":
        what = "a document URL" if part.data is None else f"a {part.media_type} document"
        raise CapabilityMissing(
            f"{where}: {dialect.label} takes documents as inline PDF data, not {what}",
            capability=Capability.DOCUMENTS,
            provider=provider,
        )
    data = base64.b64encode(part.data).decode("ascii")
    file: dict[str, Any] = {"file_data": f"data:application/pdf;base64,{data}"}
    file["filename"] = part.name or "document.pdf"
    return {"type": "file", "file": file}


def _content(message: Message, where: str, dialect: Dialect, provider: str) -> str | list[dict[str, Any]]:
    """A message's content: a plain string for one piece of text, else a list of content parts.

    Images and documents are taken in user turns (in every turn but system
    ones where the dialect says so). Reasoning parts are left out, or sent as
    ``thinking`` chunks where the dialect has them (text only: no compatible
    server checks signatures, and a redacted part with no text has nothing to
    read). Several text parts stay several ``text`` parts.
    """
    parts = message.content
    if len(parts) == 1 and type(parts[0]) is TextPart:
        return parts[0].text
    thinking = dialect.reasoning_parts == "thinking"
    chunks: list[dict[str, Any]] = []
    for i, part in enumerate(parts):
        if type(part) is TextPart:
            chunks.append({"type": "text", "text": part.text})
        elif type(part) is ReasoningPart:
            if thinking and part.text:
                chunks.append({"type": "thinking", "thinking": [{"type": "text", "text": part.text}]})
        elif type(part) is ImagePart:
            _check_media_turn(message.role, Capability.VISION, where, dialect, provider)
            url = _image_url(part, f"{where}.content[{i}]", dialect, provider)
            chunks.append({"type": "image_url", "image_url": url if dialect.image_url_string else {"url": url}})
        else:
            assert type(part) is DocumentPart
            _check_media_turn(message.role, Capability.DOCUMENTS, where, dialect, provider)
            chunks.append(_document(part, f"{where}.content[{i}]", dialect, provider))
    if not chunks:
        return ""
    if len(chunks) == 1 and chunks[0]["type"] == "text":
        return str(chunks[0]["text"])  # what is left after reasoning was left out: one string, as every server takes
    return chunks


def _check_media_turn(role: Role, capability: Capability, where: str, dialect: Dialect, provider: str) -> None:
    what = "images" if capability is Capability.VISION else "documents"
    if role is Role.SYSTEM:
        raise _invalid(f"{where}: a system message cannot hold {what}", provider)
    if role is not Role.USER and not dialect.media_in_all_turns:
        raise CapabilityMissing(
            f"{where}: {dialect.label} takes {what} only in user messages, not in {role.value} messages",
            capability=capability,
            provider=provider,
        )


def encode_message(message: Message, index: int, *, dialect: Dialect, provider: str) -> dict[str, Any]:
    """One message of the ``messages`` array (``index`` only names it in errors)."""
    where = f"messages[{index}]"
    role = message.role
    if role is Role.TOOL:
        out: dict[str, Any] = {"role": "tool", "tool_call_id": message.tool_call_id}
        if message.name is not None and dialect.tool_result_name:
            out["name"] = message.name
        # Without tool_result_name the name is not sent: the result is matched to its call by tool_call_id.
        out["content"] = _content(message, where, dialect, provider)
        return out
    if message.name is not None and not dialect.message_names:
        raise _invalid(f"{where}: {dialect.label} has no name field for {role.value} messages", provider)
    if role is not Role.ASSISTANT:
        out = {"role": role.value, "content": _content(message, where, dialect, provider)}
        if message.name is not None:
            out["name"] = message.name
        return out
    out = {"role": "assistant"}
    content = _content(message, where, dialect, provider)
    if content:
        out["content"] = content
    if message.name is not None:
        out["name"] = message.name
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


# -- options ---------------------------------------------------------------------


def _number(name: str, value: float, low: float, high: float, dialect: Dialect, provider: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _invalid(f"options.{name}: expected a number, got {value!r}", provider)
    if not low <= value <= high:
        raise _invalid(f"options.{name}: {dialect.label} accepts {low:g} to {high:g}, got {value!r}", provider)
    return value


def _count(name: str, value: int, provider: str, low: int | None = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or (low is not None and value < low):
        floor = f" >= {low}" if low is not None else ""
        raise _invalid(f"options.{name}: expected an integer{floor}, got {value!r}", provider)
    return value


def _reasoning(reasoning: Reasoning, dialect: Dialect, provider: str) -> dict[str, Any]:
    """The fields that ask for :attr:`~clawdesk.ChatOptions.reasoning`, in the dialect's way."""
    mode = dialect.reasoning
    if mode == "none":
        raise CapabilityMissing(
            f"options.reasoning: {dialect.label} has no reasoning setting (choose a reasoning model instead)",
            option="reasoning",
            provider=provider,
        )
    if mode == "openrouter":
        if not reasoning.enabled:
            return {"reasoning": {"enabled": False}}
        # One of the two, as OpenRouter asks: a budget is the more precise wish.
        if reasoning.budget_tokens is not None:
            return {"reasoning": {"max_tokens": reasoning.budget_tokens}}
        if reasoning.effort is not None:
            return {"reasoning": {"effort": reasoning.effort.value}}
        return {"reasoning": {"enabled": True}}
    if not reasoning.enabled:
        return {"reasoning_effort": "none"}
    if reasoning.budget_tokens is not None:
        raise CapabilityMissing(
            f"options.reasoning.budget_tokens: {dialect.label} takes no reasoning budget (only an effort)",
            option="reasoning.budget_tokens",
            provider=provider,
        )
    if mode == "high-or-none":
        return {"reasoning_effort": "high"}
    return {"reasoning_effort": reasoning.effort.value if reasoning.effort is not None else "medium"}


def _tools(options: ChatOptions, body: dict[str, Any], provider: str) -> set[str]:
    names: set[str] = set()
    if not options.tools:
        return names
    tools = []
    for i, tool in enumerate(options.tools):
        if not _TOOL_NAME.fullmatch(tool.name):
            raise _invalid(
                f"options.tools[{i}].name: a tool name is 1-64 letters, digits, '_' or '-', got {tool.name!r}",
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
    return names


def _tool_choice(options: ChatOptions, names: set[str], body: dict[str, Any], provider: str) -> None:
    choice = options.tool_choice
    if choice is None:
        return
    if choice.mode is ToolChoiceMode.FUNCTION:
        if choice.name not in names:
            raise _invalid(f"options.tool_choice: the tool {choice.name!r} is not in options.tools", provider)
        body["tool_choice"] = {"type": "function", "function": {"name": choice.name}}
    elif choice.mode is ToolChoiceMode.REQUIRED and not names:
        raise _invalid("options.tool_choice: 'required' needs options.tools", provider)
    elif names:
        body["tool_choice"] = _TOOL_CHOICE[choice.mode]
    # auto and none without tools say nothing a server needs to hear (OpenAI refuses tool_choice without tools).


def _response_format(options: ChatOptions, dialect: Dialect, body: dict[str, Any]) -> None:
    fmt = options.response_format
    if fmt is None:
        return
    if fmt.kind is ResponseFormatKind.TEXT:
        body["response_format"] = {"type": "text"}
    elif fmt.kind is ResponseFormatKind.JSON:
        body["response_format"] = _ANY_OBJECT if dialect.json_object == "schema" else {"type": "json_object"}
    else:
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": fmt.name, "schema": dict(fmt.schema or {}), "strict": fmt.strict},
        }


# -- the request -----------------------------------------------------------------


def encode_chat(request: ChatRequest, *, dialect: Dialect, provider: str, stream: bool) -> dict[str, Any]:
    """The JSON body of ``POST /chat/completions`` for ``request``, in ``dialect``.

    ``provider`` (``config.name``) goes into every error. The body holds
    no provider options: the provider adds what its options class holds.
    Raises :class:`~clawdesk.InvalidRequest` or
    :class:`~clawdesk.CapabilityMissing` (see the module docstring).
    """
    if not request.messages:
        raise _invalid("messages: at least one message is needed", provider)
    options = request.options
    if options.top_k is not None and not dialect.top_k:
        raise CapabilityMissing(f"options.top_k: {dialect.label} has no top_k", option="top_k", provider=provider)
    body: dict[str, Any] = {
        "model": request.model,
        "messages": [
            encode_message(message, i, dialect=dialect, provider=provider) for i, message in enumerate(request.messages)
        ],
    }
    if stream:
        body["stream"] = True
        if dialect.stream_usage:
            body["stream_options"] = {"include_usage": True}
    if options.temperature is not None:
        body["temperature"] = _number(
            "temperature", options.temperature, 0.0, dialect.temperature_max, dialect, provider
        )
    if options.top_p is not None:
        body["top_p"] = _number("top_p", options.top_p, 0.0, 1.0, dialect, provider)
    if options.top_k is not None:
        body["top_k"] = _count("top_k", options.top_k, provider, low=1)
    if options.max_tokens is not None:
        body[dialect.max_tokens_field] = _count("max_tokens", options.max_tokens, provider)
    if options.stop:
        if dialect.max_stop is not None and len(options.stop) > dialect.max_stop:
            raise CapabilityMissing(
                f"options.stop: {dialect.label} takes at most {dialect.max_stop} stop sequences, "
                f"got {len(options.stop)}",
                option="stop",
                provider=provider,
            )
        body["stop"] = list(options.stop)
    if options.seed is not None:
        body[dialect.seed_field] = _count("seed", options.seed, provider, low=dialect.seed_min)
    names = _tools(options, body, provider)
    _tool_choice(options, names, body, provider)
    _response_format(options, dialect, body)
    if options.reasoning is not None:
        body.update(_reasoning(options.reasoning, dialect, provider))
    return body
