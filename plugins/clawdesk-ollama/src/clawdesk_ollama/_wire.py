"""Ollama's ``/api/chat`` wire format: request bodies out, answers and errors in.

Pure functions over clawdesk's data types and parsed JSON; no httpx, no I/O,
so every mapping rule is testable on its own.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
import reprlib
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from clawdesk import (
    ApiError,
    AuthFailed,
    Capability,
    CapabilityMissing,
    ChatRequest,
    FinishReason,
    ImagePart,
    InvalidRequest,
    Message,
    ModelNotFound,
    ProviderError,
    ResponseFormatKind,
    Role,
    TextPart,
    ToolCall,
    ToolChoiceMode,
    Usage,
)

from ._config import OllamaConfig, check_keep_alive_value

__all__ = [
    "CAPABILITY_MAP",
    "OPTION_EXTRAS",
    "PROVIDER",
    "TOP_LEVEL_EXTRAS",
    "build_chat_body",
    "capabilities_from",
    "classifier",
    "context_length_from",
    "error_from_message",
    "finish_reason",
    "parse_tool_calls",
    "usage_from",
]

PROVIDER = "ollama"

_INT = "an integer"
_NUM = "a number"
_BOOL = "true or false"

#: Extras that go into ``options`` (Ollama's model and runner options), with
#: the JSON type Ollama expects. The core options (temperature, top_p,
#: max_tokens, stop, seed) have their own ChatOptions fields.
OPTION_EXTRAS: Mapping[str, str] = {
    "num_ctx": _INT,
    "num_keep": _INT,
    "num_batch": _INT,
    "num_gpu": _INT,
    "main_gpu": _INT,
    "num_thread": _INT,
    "use_mmap": _BOOL,
    "top_k": _INT,
    "min_p": _NUM,
    "typical_p": _NUM,
    "repeat_last_n": _INT,
    "repeat_penalty": _NUM,
    "presence_penalty": _NUM,
    "frequency_penalty": _NUM,
}
#: Extras that are top-level fields of the request body.
TOP_LEVEL_EXTRAS = ("keep_alive", "think")
_THINK_LEVELS = ("low", "medium", "high", "max")
# Names that have a ChatOptions field: an extra of that name is a mistake.
_CORE_FIELDS = {
    "temperature": "temperature",
    "top_p": "top_p",
    "num_predict": "max_tokens",
    "max_tokens": "max_tokens",
    "stop": "stop",
    "seed": "seed",
    "format": "response_format",
    "tools": "tools",
}

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

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def _invalid(message: str) -> InvalidRequest:
    return InvalidRequest(message, provider=PROVIDER)


# -- request ---------------------------------------------------------------------


def build_chat_body(config: OllamaConfig, request: ChatRequest, *, stream: bool) -> bytes:
    """The JSON body of ``POST /api/chat`` for ``request``.

    Raises :class:`~clawdesk.InvalidRequest` for anything Ollama cannot be
    told: an image given by http(s) URL, a ``tool_choice`` other than
    ``auto`` or ``none`` (``none`` is honoured by not offering the tools), an
    unknown extra or an extra of the wrong type, a value JSON cannot carry.
    """
    options = request.options
    body: dict[str, Any] = {"model": request.model, "messages": _messages(request.messages), "stream": stream}

    tools = options.tools
    choice = options.tool_choice
    if choice is not None and choice.mode is not ToolChoiceMode.AUTO:
        if choice.mode is ToolChoiceMode.NONE:
            tools = ()
        else:
            what = f"function {choice.name!r}" if choice.mode is ToolChoiceMode.FUNCTION else repr(choice.mode.value)
            raise _invalid(
                f"tool_choice {what} cannot be honoured: Ollama has no tool_choice "
                "(the model decides; use 'auto' or 'none')"
            )
    if tools:
        body["tools"] = [_tool(tool.name, tool.description, tool.parameters) for tool in tools]

    fmt = options.response_format
    if fmt is not None:
        if fmt.kind is ResponseFormatKind.JSON:
            body["format"] = "json"
        elif fmt.kind is ResponseFormatKind.JSON_SCHEMA:
            body["format"] = dict(fmt.schema or {})

    model_options: dict[str, Any] = {}
    if options.temperature is not None:
        model_options["temperature"] = options.temperature
    if options.top_p is not None:
        model_options["top_p"] = options.top_p
    if options.max_tokens is not None:
        model_options["num_predict"] = options.max_tokens
    if options.stop:
        model_options["stop"] = list(options.stop)
    if options.seed is not None:
        model_options["seed"] = options.seed

    keep_alive = config.keep_alive
    if options.extra:
        keep_alive = _extras(options.extra, body, model_options, keep_alive)
    if model_options:
        body["options"] = model_options
    if keep_alive is not None:
        body["keep_alive"] = keep_alive
    try:
        return _dumps(body).encode()
    except (ValueError, TypeError) as exc:
        raise _invalid(f"the request cannot be sent as JSON: {exc}") from None


def _extras(
    extra: Mapping[str, Any], body: dict[str, Any], model_options: dict[str, Any], keep_alive: float | str | None
) -> float | str | None:
    for key, value in extra.items():
        expected = OPTION_EXTRAS.get(key)
        if expected is not None:
            if not _has_type(value, expected):
                raise _invalid(f"extra {key!r} must be {expected}, got {reprlib.repr(value)}")
            model_options[key] = value
        elif key == "keep_alive":
            try:
                check_keep_alive_value(value)
            except ValueError as exc:
                raise _invalid(f"extra 'keep_alive': {exc}") from None
            keep_alive = value
        elif key == "think":
            if not (isinstance(value, bool) or value in _THINK_LEVELS):
                raise _invalid(
                    f"extra 'think' must be true, false or one of {', '.join(_THINK_LEVELS)}; got {reprlib.repr(value)}"
                )
            body["think"] = value
        elif key in _CORE_FIELDS:
            raise _invalid(f"extra {key!r} is not an Ollama extra: use ChatOptions.{_CORE_FIELDS[key]}")
        else:
            known = ", ".join(sorted((*OPTION_EXTRAS, *TOP_LEVEL_EXTRAS)))
            raise _invalid(f"unknown extra {key!r} for Ollama (known: {known})")
    return keep_alive


def _has_type(value: object, expected: str) -> bool:
    if isinstance(value, bool):
        return expected == _BOOL
    if expected == _INT:
        return isinstance(value, int)
    if expected == _NUM:
        return isinstance(value, (int, float)) and math.isfinite(value)
    return False


def _tool(name: str, description: str, parameters: Mapping[str, Any]) -> dict[str, Any]:
    function: dict[str, Any] = {"name": name}
    if description:
        function["description"] = description
    function["parameters"] = dict(parameters)
    return {"type": "function", "function": function}


def _messages(messages: Sequence[Message]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    tool_names: dict[str, str] = {}
    for index, message in enumerate(messages):
        parts = message.content
        if len(parts) == 1 and type(parts[0]) is TextPart:
            item: dict[str, Any] = {"role": message.role.value, "content": parts[0].text}
        else:
            texts: list[str] = []
            images: list[str] = []
            for part in parts:
                if isinstance(part, TextPart):
                    texts.append(part.text)
                elif isinstance(part, ImagePart):
                    images.append(_image(part, index))
            item = {"role": message.role.value, "content": "".join(texts)}
            if images:
                item["images"] = images
        role = message.role
        if role is Role.ASSISTANT:
            if message.reasoning:
                item["thinking"] = message.reasoning
            if message.tool_calls:
                calls = []
                for call in message.tool_calls:
                    tool_names[call.id] = call.name
                    calls.append({"function": {"name": call.name, "arguments": dict(call.arguments)}})
                item["tool_calls"] = calls
        elif role is Role.TOOL:
            # Ollama matches a result to its call by the tool's name, not an id.
            name = message.name or tool_names.get(message.tool_call_id or "")
            if name:
                item["tool_name"] = name
        out.append(item)
    return out


def _image(part: ImagePart, index: int) -> str:
    if part.data is not None:
        return base64.b64encode(part.data).decode("ascii")
    url = part.url or ""
    scheme = url.partition(":")[0].lower()
    if scheme != "data":
        raise _invalid(
            f"messages[{index}]: Ollama takes images inline only, not by {scheme or 'relative'} URL; "
            "pass the bytes (ImagePart(data=..., media_type=...)) or a data: URL"
        )
    header, sep, payload = url[5:].partition(",")
    if not sep:
        raise _invalid(f"messages[{index}]: malformed data: URL (no ',' before the data)")
    if header.lower().endswith(";base64"):
        text = "".join(urllib.parse.unquote(payload).split())
        try:
            base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise _invalid(f"messages[{index}]: the data: URL's base64 data is invalid") from None
        return text
    return base64.b64encode(urllib.parse.unquote_to_bytes(payload)).decode("ascii")


# -- answers ---------------------------------------------------------------------


def parse_tool_calls(raw: object, start: int, stamp: str) -> list[ToolCall]:
    """Tool calls from a message's ``tool_calls``; ``start`` is how many came before in this answer.

    Ollama sends arguments as a JSON object (a JSON string is accepted too)
    and often no id; a missing id is made from ``stamp`` (the line's
    ``created_at``), the call's position in the answer, its name and its
    arguments, so the same answer always gives the same ids.
    """
    if not isinstance(raw, list):
        raise ApiError(f"malformed tool_calls in the answer: {type(raw).__name__}", provider=PROVIDER)
    calls = []
    for offset, item in enumerate(raw):
        function = item.get("function") if isinstance(item, dict) else None
        name = function.get("name") if isinstance(function, dict) else None
        if not isinstance(name, str) or not name:
            raise ApiError("malformed tool call in the answer: no function name", provider=PROVIDER)
        assert isinstance(function, dict)
        arguments = function.get("arguments")
        if arguments is None:
            arguments = {}
        elif isinstance(arguments, str):
            try:
                arguments = json.loads(arguments) if arguments.strip() else {}
            except ValueError:
                raise ApiError(f"tool call {name!r}: arguments are not JSON", provider=PROVIDER) from None
        if not isinstance(arguments, dict):
            raise ApiError(f"tool call {name!r}: arguments are not a JSON object", provider=PROVIDER)
        call_id = item.get("id")
        if not isinstance(call_id, str) or not call_id:
            call_id = _stable_id(stamp, start + offset, name, arguments)
        calls.append(ToolCall(call_id, name, arguments))
    return calls


def _stable_id(stamp: str, index: int, name: str, arguments: Mapping[str, Any]) -> str:
    seed = f"{stamp}\x00{index}\x00{name}\x00{json.dumps(arguments, sort_keys=True, default=str)}"
    return "call_" + hashlib.sha256(seed.encode()).hexdigest()[:24]


def finish_reason(done_reason: object, had_tool_calls: bool) -> FinishReason:
    """The normalised reason; Ollama says ``stop`` also when it ends on tool calls."""
    if had_tool_calls:
        return FinishReason.TOOL_CALLS
    if done_reason == "stop" or done_reason is None or done_reason == "":
        return FinishReason.STOP
    if done_reason == "length":
        return FinishReason.LENGTH
    return FinishReason.OTHER


def usage_from(data: Mapping[str, Any]) -> Usage | None:
    """Token counts of a final line (Ollama leaves out counts that are 0)."""
    prompt = data.get("prompt_eval_count")
    output = data.get("eval_count")
    if prompt is None and output is None:
        return None
    return Usage(prompt if isinstance(prompt, int) else None, output if isinstance(output, int) else None)


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


def error_from_message(message: str, *, status: int | None, url: str | None) -> ProviderError | None:
    """The error for what Ollama says in its own words, or ``None`` to let the status decide.

    - ``model 'x' not found`` -> :class:`~clawdesk.ModelNotFound` suggesting ``ollama pull x``;
    - ``"x" does not support tools`` (chat, thinking, vision, ...) ->
      :class:`~clawdesk.CapabilityMissing` naming the capability.
    """
    kw: dict[str, Any] = {"provider": PROVIDER, "status": status, "url": url}
    found = _NOT_FOUND_RE.search(message)
    if found is not None:
        name = found.group(1)
        return ModelNotFound(f"model {name!r} not found; pull it with `ollama pull {name}`", model=name, **kw)
    missing = _NOT_SUPPORTED_RE.search(message)
    if missing is not None:
        capability = _MISSING.get(missing.group(1).lower())
        return CapabilityMissing(message, capability=capability, **kw)
    return None


def classifier(url: str | None) -> Callable[[int, bytes, str], ProviderError | None]:
    """A ``classify`` for :func:`clawdesk.http.raise_for_response` on a request to ``url``."""

    def classify(status: int, body: bytes, message: str) -> ProviderError | None:
        error = error_from_message(message, status=status, url=url)
        if error is None and status == 401:
            detail = message or "the API key was refused"
            return AuthFailed(
                f"{detail} (hosted Ollama needs a key: set OLLAMA_API_KEY or providers.ollama.api_key)",
                provider=PROVIDER,
                status=status,
                url=url,
            )
        return error

    return classify
