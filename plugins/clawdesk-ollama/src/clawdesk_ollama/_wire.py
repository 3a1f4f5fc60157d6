"""Ollama's ``/api/chat`` wire format: request bodies out, answers and errors in.

Pure functions over clawdesk's data types and parsed JSON; no httpx, no I/O,
so every mapping rule is testable on its own.
"""

from __future__ import annotations

import base64
import binascii
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

from clawdesk import (
    ApiError,
    AuthFailed,
    Capability,
    CapabilityMissing,
    ChatRequest,
    DocumentPart,
    FinishReason,
    ImagePart,
    InvalidRequest,
    Message,
    ModelNotFound,
    ProviderError,
    ReasoningEffort,
    ReasoningPart,
    ResponseFormatKind,
    Role,
    TextPart,
    ToolCall,
    ToolChoiceMode,
    Usage,
)
from clawdesk.provider import ErrorResponse, parse_arguments, stable_call_id, tool_call_names

from ._config import RUNNER_OPTIONS, OllamaConfig, OllamaOptions

__all__ = [
    "CAPABILITY_MAP",
    "build_chat_body",
    "capabilities_from",
    "classify",
    "context_length_from",
    "error_from_message",
    "finish_reason",
    "parse_tool_calls",
    "usage_from",
]

#: Ollama's capability names and what they mean to the negotiator. Every
#: completion model can stream and be held to JSON or a schema (Ollama
#: enforces ``format`` with a grammar, whatever the model).
CAPABILITY_MAP: Mapping[str, frozenset[Capability]] = {
    "completion": frozenset({Capability.CHAT, Capability.STREAMING, Capability.JSON_MODE, Capability.JSON_SCHEMA}),
    "tools": frozenset({Capability.FUNCTION_CALLING}),
    "vision": frozenset({Capability.VISION}),
    "thinking": frozenset({Capability.REASONING}),
    "embedding": frozenset({Capability.EMBEDDING}),
}
# The capability named in a 400 "<model> does not support <x>".
_MISSING = {
    "chat": Capability.CHAT,
    "completion": Capability.CHAT,
    "generate": Capability.CHAT,
    "tools": Capability.FUNCTION_CALLING,
    "thinking": Capability.REASONING,
    "vision": Capability.VISION,
    "images": Capability.VISION,
    "embedding": Capability.EMBEDDING,
    "embeddings": Capability.EMBEDDING,
}
_NOT_FOUND_RE = re.compile(r"""model\s+['"]([^'"]+)['"]\s+not\s+found""", re.I)
_NOT_SUPPORTED_RE = re.compile(r"does not support\s+([a-z_]+)", re.I)


_DEFAULT_OPTIONS = OllamaOptions()
# Reasoning efforts as Ollama's think levels; "minimal" has no level of its own and gets the lowest.
_THINK_LEVEL = {
    ReasoningEffort.MINIMAL: "low",
    ReasoningEffort.LOW: "low",
    ReasoningEffort.MEDIUM: "medium",
    ReasoningEffort.HIGH: "high",
    ReasoningEffort.MAX: "max",
}


def _invalid(message: str, provider: str) -> InvalidRequest:
    return InvalidRequest(message, provider=provider)


# -- request ---------------------------------------------------------------------


def build_chat_body(config: OllamaConfig, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
    """The JSON body of ``POST /api/chat`` for ``request``.

    Refuses, before anything is sent, what Ollama cannot be told:
    :class:`~clawdesk.CapabilityMissing` (another provider may honour it) for
    an image given by http(s) URL, a document, a ``tool_choice`` other than
    ``auto`` or ``none`` (``none`` is honoured by not offering the tools) and
    a reasoning token budget; :class:`~clawdesk.InvalidRequest` for a broken
    ``data:`` URL.

    Reasoning (:attr:`~clawdesk.ChatOptions.reasoning`) becomes ``think``:
    ``false`` when turned off, ``true`` for ``Reasoning()``, and the level of
    the effort otherwise (``minimal`` and ``low`` as ``"low"``). The
    ``think`` provider option wins over it.
    """
    provider = config.name or "ollama"
    options = request.options
    body: dict[str, Any] = {
        "model": request.model,
        "messages": _messages(request.messages, provider),
        "stream": stream,
    }

    tools = options.tools
    choice = options.tool_choice
    if choice is not None and choice.mode is not ToolChoiceMode.AUTO:
        if choice.mode is ToolChoiceMode.NONE:
            tools = ()
        else:
            what = f"function {choice.name!r}" if choice.mode is ToolChoiceMode.FUNCTION else repr(choice.mode.value)
            raise CapabilityMissing(
                f"tool_choice {what} cannot be honoured: Ollama has no tool_choice "
                "(the model decides; use 'auto' or 'none')",
                option="tool_choice",
                provider=provider,
            )
    if tools:
        body["tools"] = [_tool(tool.name, tool.description, tool.parameters) for tool in tools]

    fmt = options.response_format
    if fmt is not None:
        if fmt.kind is ResponseFormatKind.JSON:
            body["format"] = "json"
        elif fmt.kind is ResponseFormatKind.JSON_SCHEMA:
            body["format"] = dict(fmt.schema or {})

    own = request.provider_options
    extra = own if isinstance(own, OllamaOptions) else _DEFAULT_OPTIONS
    model_options: dict[str, Any] = {}
    if options.temperature is not None:
        model_options["temperature"] = options.temperature
    if options.top_p is not None:
        model_options["top_p"] = options.top_p
    if options.top_k is not None:
        model_options["top_k"] = options.top_k
    if options.max_tokens is not None:
        model_options["num_predict"] = options.max_tokens
    if options.stop:
        model_options["stop"] = list(options.stop)
    if options.seed is not None:
        model_options["seed"] = options.seed
    if extra is not _DEFAULT_OPTIONS:  # most calls give none: skip thirteen lookups
        for name in RUNNER_OPTIONS:
            value = getattr(extra, name)
            if value is not None:
                model_options[name] = value
    if model_options:
        body["options"] = model_options

    think = extra.think if extra.think is not None else _think(request, provider)
    if think is not None:
        body["think"] = think
    keep_alive = extra.keep_alive if extra.keep_alive is not None else config.keep_alive
    if keep_alive is not None:
        body["keep_alive"] = keep_alive
    return body


def _think(request: ChatRequest, provider: str) -> bool | str | None:
    reasoning = request.options.reasoning
    if reasoning is None:
        return None
    if not reasoning.enabled:
        return False
    if reasoning.budget_tokens is not None:
        raise CapabilityMissing(
            "options.reasoning.budget_tokens: Ollama takes no reasoning budget (only think or a level)",
            option="reasoning.budget_tokens",
            provider=provider,
        )
    return True if reasoning.effort is None else _THINK_LEVEL[reasoning.effort]


def _tool(name: str, description: str, parameters: Mapping[str, Any]) -> dict[str, Any]:
    function: dict[str, Any] = {"name": name}
    if description:
        function["description"] = description
    function["parameters"] = dict(parameters)
    return {"type": "function", "function": function}


def _messages(messages: Sequence[Message], provider: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    names: dict[str, str] | None = None
    for index, message in enumerate(messages):
        parts = message.content
        role = message.role
        if len(parts) == 1 and type(parts[0]) is TextPart:
            item: dict[str, Any] = {"role": role.value, "content": parts[0].text}
        else:
            texts: list[str] = []
            images: list[str] = []
            thinking: list[str] = []
            for i, part in enumerate(parts):
                if isinstance(part, TextPart):
                    texts.append(part.text)
                elif isinstance(part, ImagePart):
                    images.append(_image(part, index, provider))
                elif isinstance(part, ReasoningPart):
                    # Ollama keeps no signatures: the text goes back as `thinking`; a redacted
                    # part without text holds nothing Ollama could read.
                    if part.text:
                        thinking.append(part.text)
                else:
                    assert isinstance(part, DocumentPart)
                    raise CapabilityMissing(
                        f"messages[{index}].content[{i}]: Ollama's chat takes no documents",
                        capability=Capability.DOCUMENTS,
                        provider=provider,
                    )
            item = {"role": role.value, "content": "".join(texts)}
            if images:
                item["images"] = images
            if thinking:
                item["thinking"] = "".join(thinking)
        if role is Role.ASSISTANT:
            if message.tool_calls:
                item["tool_calls"] = [
                    {"function": {"name": call.name, "arguments": dict(call.arguments)}} for call in message.tool_calls
                ]
        elif role is Role.TOOL:
            # Ollama matches a result to its call by the tool's name, not an id.
            name = message.name
            if name is None:
                if names is None:
                    names = tool_call_names(messages)
                name = names.get(message.tool_call_id or "")
            if name:
                item["tool_name"] = name
        out.append(item)
    return out


def _image(part: ImagePart, index: int, provider: str) -> str:
    if part.data is not None:
        return base64.b64encode(part.data).decode("ascii")
    url = part.url or ""
    scheme = url.partition(":")[0].lower()
    if scheme != "data":
        raise CapabilityMissing(
            f"messages[{index}]: Ollama takes images inline only, not by {scheme or 'relative'} URL; "
            "pass the bytes (ImagePart(data=..., media_type=...)) or a data: URL",
            option="image_url",
            provider=provider,
        )
    header, sep, payload = url[5:].partition(",")
    if not sep:
        raise _invalid(f"messages[{index}]: malformed data: URL (no ',' before the data)", provider)
    if header.lower().endswith(";base64"):
        text = "".join(urllib.parse.unquote(payload).split())
        try:
            base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise _invalid(f"messages[{index}]: the data: URL's base64 data is invalid", provider) from None
        return text
    return base64.b64encode(urllib.parse.unquote_to_bytes(payload)).decode("ascii")


# -- answers ---------------------------------------------------------------------


def parse_tool_calls(raw: object, start: int, stamp: str, provider: str) -> list[ToolCall]:
    """Tool calls from a message's ``tool_calls``; ``start`` is how many came before in this answer.

    Ollama sends arguments as a JSON object (a JSON string is accepted too)
    and often no id; a missing id is made from ``stamp`` (the line's
    ``created_at``), the call's position in the answer, its name and its
    arguments (:func:`~clawdesk.provider.stable_call_id`), so the same answer
    always gives the same ids.
    """
    if not isinstance(raw, list):
        raise ApiError(f"malformed tool_calls in the answer: {type(raw).__name__}", provider=provider)
    calls = []
    for offset, item in enumerate(raw):
        function = item.get("function") if isinstance(item, dict) else None
        name = function.get("name") if isinstance(function, dict) else None
        if not isinstance(name, str) or not name:
            raise ApiError("malformed tool call in the answer: no function name", provider=provider)
        assert isinstance(function, dict)
        assert isinstance(item, dict)
        arguments = parse_arguments(function.get("arguments"), name=name, provider=provider)
        call_id = item.get("id")
        if not isinstance(call_id, str) or not call_id:
            call_id = stable_call_id(stamp, start + offset, name, arguments)
        calls.append(ToolCall(call_id, name, arguments))
    return calls


def finish_reason(done_reason: object, had_tool_calls: bool) -> FinishReason:
    """The normalised reason; Ollama says ``stop`` also when it ends on tool calls."""
    if had_tool_calls:
        return FinishReason.TOOL_CALLS
    if done_reason == "stop" or done_reason is None or done_reason == "":
        return FinishReason.STOP
    if done_reason == "length":
        return FinishReason.LENGTH
    return FinishReason.OTHER


_USAGE_FIELDS = (
    "prompt_eval_count",
    "eval_count",
    "total_duration",
    "load_duration",
    "prompt_eval_duration",
    "eval_duration",
)


def usage_from(data: Mapping[str, Any]) -> Usage | None:
    """Token counts of a final line (Ollama leaves out counts that are 0); ``raw`` keeps the timings too."""
    prompt = data.get("prompt_eval_count")
    output = data.get("eval_count")
    if prompt is None and output is None:
        return None
    return Usage(
        prompt if type(prompt) is int else None,
        output if type(output) is int else None,
        raw={key: data[key] for key in _USAGE_FIELDS if key in data},
    )


# -- models ----------------------------------------------------------------------


def capabilities_from(names: object) -> frozenset[Capability]:
    """clawdesk capabilities for Ollama's list (``completion``, ``tools``, ...); unknown names are ignored."""
    if not isinstance(names, list):
        return frozenset()
    found: set[Capability] = set()
    for name in names:
        found |= CAPABILITY_MAP.get(name, frozenset()) if isinstance(name, str) else frozenset()
    return frozenset(found)


def context_length_from(model_info: object) -> int | None:
    """``<arch>.context_length`` from ``/api/show``'s ``model_info``, or ``None``."""
    if not isinstance(model_info, dict):
        return None
    arch = model_info.get("general.architecture")
    value = model_info.get(f"{arch}.context_length") if isinstance(arch, str) else None
    if value is None:
        value = next((v for k, v in model_info.items() if k.endswith(".context_length")), None)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


# -- errors ----------------------------------------------------------------------


def error_from_message(message: str, *, provider: str, **kw: Any) -> ProviderError | None:
    """The error for what Ollama says in its own words, or ``None`` to let the status decide.

    - ``model 'x' not found`` -> :class:`~clawdesk.ModelNotFound` suggesting ``ollama pull x``;
    - ``"x" does not support tools`` (chat, thinking, vision, ...) ->
      :class:`~clawdesk.CapabilityMissing` naming the capability.

    ``kw`` (status, url, request id, ...) goes into the error.
    """
    found = _NOT_FOUND_RE.search(message)
    if found is not None:
        name = found.group(1)
        return ModelNotFound(
            f"model {name!r} not found; pull it with `ollama pull {name}`", model=name, provider=provider, **kw
        )
    missing = _NOT_SUPPORTED_RE.search(message)
    if missing is not None:
        capability = _MISSING.get(missing.group(1).lower())
        return CapabilityMissing(message, capability=capability, provider=provider, **kw)
    return None


def _ollama_error_body(error: ErrorResponse) -> bool:
    # Ollama's errors are {"error": "<text>"}. An error *object* there is another server's (llama-server
    # answers {"error": {"message": "File Not Found", ...}} for /api/chat), not Ollama's. A body cut at
    # the error-body limit, or not UTF-8, counts when it at least starts like Ollama's.
    if isinstance(error.json, dict):
        return isinstance(error.json.get("error"), str)
    return error.body.lstrip().replace(b" ", b"").startswith(b'{"error":"')


def classify(error: ErrorResponse) -> ProviderError | None:
    """Ollama's own error answers, on top of the toolkit's status table.

    Ollama answers every error with a JSON ``{"error": "<text>"}`` body; a
    404 without one (``404 page not found``, an HTML page, another server's
    ``{"error": {...}}`` object) comes from a server that has no Ollama API
    at that path, and is said so (check ``base_url``) instead of being
    reported as an unknown model.
    """
    kw = error.kw()
    provider = kw.pop("provider")
    found = error_from_message(error.message, provider=provider, **kw)
    if found is not None:
        return found
    if error.status == 401:
        detail = error.message or "the API key was refused"
        return AuthFailed(
            f"{detail} (hosted Ollama needs a key: set OLLAMA_API_KEY or providers.{provider}.api_key)",
            provider=provider,
            **kw,
        )
    if error.status == 404 and not _ollama_error_body(error):
        path = urllib.parse.urlsplit(error.url).path
        detail = f" ({error.message})" if error.message else ""
        return ApiError(
            f"the server does not look like Ollama: it has no {path}{detail}; check base_url",
            provider=provider,
            retryable=False,
            **kw,
        )
    return None
