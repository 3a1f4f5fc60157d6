"""Gemini's ``generateContent`` wire format: requests out, answers in. Pure functions, no I/O.

Every function takes the provider's name (``config.name``) for its errors.
Requests follow ``GenerateContentRequest`` of the v1beta API; Google refuses
unknown fields, so whatever cannot be said exactly raises before anything is
sent: :class:`~clawdesk.InvalidRequest` when the request is wrong for anyone,
:class:`~clawdesk.CapabilityMissing` when another provider or model may
honour it.

The rules for what travels back to Gemini (see :func:`encode_request`):

- the model's parts go back as they came: text with its
  ``thoughtSignature``, thoughts (``thought: true``) with theirs, function
  calls with theirs and their arguments as objects;
- reasoning another backend signed or redacted is left out (no backend
  accepts another's signatures); unsigned reasoning goes back as a thought
  part;
- a function call that has no signature (history from another provider, or
  from a call made by hand) is sent to a Gemini 3 model with Google's
  documented stand-in signature (:data:`SKIP_SIGNATURE`) on the first call of
  its turn, since Gemini 3 refuses such a turn otherwise;
- tool results become ``functionResponse`` parts matched by the tool's name,
  consecutive results sharing one ``user`` turn (Gemini wants all the answers
  to one turn's calls together).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import unquote_to_bytes

from clawdesk import (
    ApiError,
    Capability,
    CapabilityMissing,
    ChatRequest,
    ChatResponse,
    ContentFiltered,
    ContentPart,
    DocumentPart,
    Finish,
    FinishReason,
    ImagePart,
    InvalidRequest,
    Message,
    ProviderError,
    ReasoningDelta,
    ReasoningEffort,
    ReasoningPart,
    ResponseFormatKind,
    Role,
    StreamEvent,
    TextDelta,
    TextPart,
    ToolCall,
    ToolCallEvent,
    ToolChoiceMode,
    Usage,
    UsageEvent,
)
from clawdesk.provider import parse_arguments, stable_call_id, tool_call_names

from ._config import GeminiOptions
from ._errors import google_status
from ._models import budget_range, is_gemini3, thinking_style

__all__ = [
    "PLUGIN",
    "SKIP_SIGNATURE",
    "ChunkReader",
    "ErrorFrom",
    "decode_response",
    "encode_request",
    "finish_reason",
    "model_path",
    "usage_from",
]

#: The plugin's name: the ``source`` of the reasoning it makes, whatever name an instance has.
PLUGIN = "gemini"
#: Google's documented stand-in for a missing thought signature ("skip_thought_signature_validator"),
#: for function calls Gemini 3 did not make itself.
SKIP_SIGNATURE = "skip_thought_signature_validator"

_DEFAULT_OPTIONS = GeminiOptions()
#: Turns the ``error`` object of a body or a stream chunk into its typed error (see ``_errors``).
ErrorFrom = Callable[[Mapping[str, Any]], ProviderError]
# Function names Gemini accepts: a letter or underscore, then letters, digits, _ . : -; at most 64.
_TOOL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]{0,63}")
_MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# Ids clawdesk made for calls that came without one (stable_call_id): never sent as Gemini's own.
_MINTED_ID = re.compile(r"call_[0-9a-f]{24}")
_INT32 = 2**31 - 1
_MAX_STOP = 5

_CHOICE = {ToolChoiceMode.AUTO: "AUTO", ToolChoiceMode.NONE: "NONE", ToolChoiceMode.REQUIRED: "ANY"}
_LEVEL = {
    ReasoningEffort.MINIMAL: "MINIMAL",
    ReasoningEffort.LOW: "LOW",
    ReasoningEffort.MEDIUM: "MEDIUM",
    ReasoningEffort.HIGH: "HIGH",
    ReasoningEffort.MAX: "HIGH",
}
_BUDGET = {
    ReasoningEffort.MINIMAL: 512,
    ReasoningEffort.LOW: 1_024,
    ReasoningEffort.MEDIUM: 8_192,
    ReasoningEffort.HIGH: 24_576,
}
_UNKNOWN_MAX_BUDGET = 24_576
_MEDIA_RESOLUTION = {
    "low": "MEDIA_RESOLUTION_LOW",
    "medium": "MEDIA_RESOLUTION_MEDIUM",
    "high": "MEDIA_RESOLUTION_HIGH",
}
_EXTENSIONS = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "gif": "image/gif",
    "heic": "image/heic",
    "heif": "image/heif",
    "pdf": "application/pdf",
    "txt": "text/plain",
}

#: ``finishReason`` values of an answer a filter stopped (what came before is kept).
CONTENT_FILTER_REASONS = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "LANGUAGE",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
        "MODEL_ARMOR",
        "JAILBREAK",
    }
)
# finishReason values that mean the model failed to produce an answer: asking again may succeed.
_RETRYABLE_FAILURES = frozenset({"MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL", "MALFORMED_RESPONSE"})
# ... and failures asking again will not mend.
_FAILURES = frozenset({"TOO_MANY_TOOL_CALLS", "MISSING_THOUGHT_SIGNATURE"})
# Part fields clawdesk has no place for in an answer.
_UNSUPPORTED_PARTS = (
    "executableCode",
    "codeExecutionResult",
    "fileData",
    "functionResponse",
    "toolCall",
    "toolResponse",
)


def _invalid(message: str, provider: str) -> InvalidRequest:
    return InvalidRequest(message, provider=provider)


def model_path(model: str, provider: str) -> str:
    """``/v1beta/models/{model}`` (or ``/v1beta/tunedModels/{id}``) for a model id.

    A leading ``models/`` (as the listing names models) is accepted; an id
    that is not letters, digits, ``.``, ``_`` and ``-`` raises
    :class:`~clawdesk.InvalidRequest` (it would change the URL's meaning).
    """
    name = model.removeprefix("models/")
    collection = "models"
    if name.startswith("tunedModels/"):
        collection, name = "tunedModels", name.removeprefix("tunedModels/")
    if not _MODEL_ID.fullmatch(name):
        raise _invalid(f"model {model!r} is not a Gemini model id (letters, digits, '.', '_' and '-')", provider)
    return f"/v1beta/{collection}/{name}"


# -- content -------------------------------------------------------------------------


def _media_type_of(url: str) -> str | None:
    path = url.split("?", 1)[0].split("#", 1)[0]
    extension = path.rsplit(".", 1)[-1].lower() if "." in path.rsplit("/", 1)[-1] else ""
    return _EXTENSIONS.get(extension)


def _data_url(url: str, media_type: str | None, where: str, provider: str) -> tuple[str, str]:
    """``(mime type, base64 data)`` of a ``data:`` URL."""
    header, comma, payload = url[5:].partition(",")
    if not comma:
        raise _invalid(f"{where}: a data: URL without a ',' before its data", provider)
    params = header.split(";")
    mime = params[0].strip() or media_type
    if not mime:
        raise _invalid(f"{where}: the data: URL names no media type; give media_type=", provider)
    if "base64" in (p.strip().lower() for p in params[1:]):
        try:
            raw = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise _invalid(f"{where}: the data: URL's base64 data is not valid base64", provider) from None
    else:
        raw = unquote_to_bytes(payload)
    return mime, base64.b64encode(raw).decode("ascii")


def _media(part: ImagePart | DocumentPart, where: str, provider: str) -> dict[str, Any]:
    """An ``inlineData`` part (bytes, ``data:`` URLs) or a ``fileData`` part (http(s) and ``gs://`` URLs)."""
    image = type(part) is ImagePart
    if part.data is not None:
        mime = part.media_type or ""
        if image and not mime.startswith("image/"):
            raise _invalid(f"{where}: media_type {mime!r} is not an image type", provider)
        return {"inlineData": {"mimeType": mime, "data": base64.b64encode(part.data).decode("ascii")}}
    url = part.url or ""
    scheme = url.partition(":")[0].lower()
    if scheme == "data":
        mime, data = _data_url(url, part.media_type, where, provider)
        if image and not mime.startswith("image/"):
            raise _invalid(f"{where}: the data: URL holds {mime!r}, not an image", provider)
        return {"inlineData": {"mimeType": mime, "data": data}}
    if scheme not in ("http", "https", "gs"):
        raise _invalid(f"{where}: Gemini reads http(s), gs:// and data: URLs, not {scheme or url!r}", provider)
    file_data: dict[str, Any] = {"fileUri": url}
    guessed = part.media_type or _media_type_of(url)
    if guessed:
        file_data["mimeType"] = guessed
    return {"fileData": file_data}


def _minted(call_id: str | None) -> bool:
    return call_id is None or _MINTED_ID.fullmatch(call_id) is not None


def _system_parts(message: Message, where: str, provider: str) -> list[dict[str, Any]]:
    parts = []
    for i, part in enumerate(message.content):
        if type(part) is not TextPart:
            raise CapabilityMissing(
                f"{where}.content[{i}]: Gemini's system instruction takes text only",
                option="messages",
                provider=provider,
            )
        if part.text:
            parts.append({"text": part.text})
    return parts


def _user_parts(message: Message, where: str, provider: str) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for i, part in enumerate(message.content):
        if type(part) is TextPart:
            if part.text:
                parts.append({"text": part.text})
        elif type(part) is ImagePart or type(part) is DocumentPart:
            parts.append(_media(part, f"{where}.content[{i}]", provider))
    if not parts:
        raise _invalid(f"{where}: an empty user message (Gemini refuses a turn without parts)", provider)
    return parts


def _model_parts(message: Message, where: str, model: str, provider: str) -> list[dict[str, Any]]:
    """The parts of an assistant turn, signatures where they came; see the module docstring."""
    parts: list[dict[str, Any]] = []
    for i, part in enumerate(message.content):
        if type(part) is TextPart:
            if part.text or part.signature:
                out: dict[str, Any] = {"text": part.text}
                if part.signature:
                    out["thoughtSignature"] = part.signature
                parts.append(out)
        elif type(part) is ReasoningPart:
            ours = part.source == PLUGIN and part.redacted is None
            unsigned = part.signature is None and part.redacted is None
            if (ours or unsigned) and (part.text or part.signature):
                out = {"text": part.text, "thought": True}
                if part.signature:
                    out["thoughtSignature"] = part.signature
                parts.append(out)
            # Reasoning another backend signed or redacted: no backend takes another's signatures.
        elif type(part) is ImagePart or type(part) is DocumentPart:
            parts.append(_media(part, f"{where}.content[{i}]", provider))
    calls: list[dict[str, Any]] = []
    for call in message.tool_calls:
        function: dict[str, Any] = {"name": call.name, "args": dict(call.arguments)}
        if not _minted(call.id):
            function["id"] = call.id
        out = {"functionCall": function}
        if call.signature:
            out["thoughtSignature"] = call.signature
        calls.append(out)
    if calls and is_gemini3(model) and not any("thoughtSignature" in c for c in calls):
        calls[0]["thoughtSignature"] = SKIP_SIGNATURE
    return parts + calls


def _tool_response(message: Message, where: str, names: Mapping[str, str], model: str, provider: str) -> dict[str, Any]:
    """A ``functionResponse`` part.

    The tool's text becomes ``response``: a JSON object as it is, anything
    else as ``{"result": text}`` (Gemini takes only an object there).
    """
    call_id = message.tool_call_id
    name = message.name or names.get(call_id or "")
    if not name:
        raise _invalid(
            f"{where}: Gemini matches a tool result to its call by the tool's name: give name= "
            "(or keep the assistant message that made the call)",
            provider,
        )
    texts: list[str] = []
    media: list[dict[str, Any]] = []
    for i, part in enumerate(message.content):
        if type(part) is TextPart:
            texts.append(part.text)
        elif type(part) is ImagePart or type(part) is DocumentPart:
            inner = f"{where}.content[{i}]"
            encoded = _media(part, inner, provider)
            if "inlineData" not in encoded or not is_gemini3(model):
                raise CapabilityMissing(
                    f"{inner}: a tool result with an image or document needs inline data and a Gemini 3 model",
                    option="messages",
                    provider=provider,
                )
            media.append(encoded)
    text = "".join(texts)
    response: Any = None
    if text.lstrip().startswith("{"):
        try:
            response = json.loads(text)
        except (ValueError, RecursionError):
            response = None
    if not isinstance(response, dict):
        response = {"result": text}
    function: dict[str, Any] = {"name": name, "response": response}
    if not _minted(call_id):
        function["id"] = call_id
    if media:
        function["parts"] = media
    return {"functionResponse": function}


def _contents(
    messages: Sequence[Message], model: str, provider: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(systemInstruction parts, contents)`` for the conversation."""
    names = tool_call_names(messages)
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    results: list[dict[str, Any]] | None = None  # the parts of the user turn holding tool results, while open
    started = False
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        role = message.role
        if message.name is not None and role is not Role.TOOL:
            raise CapabilityMissing(
                f"{where}: Gemini has no name for {role.value} messages", option="messages", provider=provider
            )
        if role is Role.SYSTEM:
            if started:
                raise CapabilityMissing(
                    f"{where}: Gemini takes system instructions only before the conversation starts",
                    option="messages",
                    provider=provider,
                )
            system.extend(_system_parts(message, where, provider))
            continue
        started = True
        if role is Role.TOOL:
            part = _tool_response(message, where, names, model, provider)
            if results is None:
                results = [part]
                contents.append({"role": "user", "parts": results})
            else:
                results.append(part)
            continue
        results = None
        if role is Role.USER:
            contents.append({"role": "user", "parts": _user_parts(message, where, provider)})
        else:
            parts = _model_parts(message, where, model, provider)
            # An empty assistant turn (a filtered answer kept in the history) carries nothing,
            # and Gemini refuses a turn without parts: it is left out.
            if parts:
                contents.append({"role": "model", "parts": parts})
    return system, contents


# -- the request ---------------------------------------------------------------------


def _number(name: str, value: float, low: float, high: float, provider: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _invalid(f"options.{name}: expected a number, got {value!r}", provider)
    if not low <= value <= high:
        raise _invalid(f"options.{name}: Gemini accepts {low:g} to {high:g}, got {value!r}", provider)
    return value


def _count(name: str, value: int, low: int, provider: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= _INT32:
        raise _invalid(f"options.{name}: expected an integer from {low} to {_INT32}, got {value!r}", provider)
    return value


def _needs(capabilities: frozenset[Capability] | None, capability: Capability, what: str, provider: str) -> None:
    if capabilities is not None and capability not in capabilities:
        raise CapabilityMissing(
            f"{what}: this model has no {capability.value}", capability=capability, provider=provider
        )


def _thinking(request: ChatRequest, own: GeminiOptions, provider: str) -> dict[str, Any] | None:
    """``thinkingConfig`` from :attr:`ChatOptions.reasoning` and the provider options.

    Gemini 3 models get ``thinkingLevel`` (``max`` as ``HIGH``; Pro models,
    which know no ``MINIMAL``, get ``LOW`` for ``minimal``; effort ``none``
    becomes ``MINIMAL`` where there is one and is refused on Pro models,
    which always think). Gemini 2.5 models and unknown ones get
    ``thinkingBudget``: the budget asked for (refused outside a known
    model's range), else one per effort (minimal 512, low 1024, medium 8192,
    high 24576, max the model's most), else ``-1`` (the model decides); a
    budget of 0 or effort ``none`` turns thinking off where the model allows
    it. Models that do not think refuse reasoning. Thought summaries are
    asked for whenever reasoning is, unless ``include_thoughts`` says
    otherwise; the ``thinking_level``/``thinking_budget`` provider options
    win over ``reasoning``.
    """
    model = request.model.removeprefix("models/")
    reasoning = request.options.reasoning
    style = thinking_style(model)
    level = own.thinking_level.upper() if own.thinking_level else None
    budget = own.thinking_budget
    include: bool | None = None
    if level is not None and budget is not None:
        raise _invalid("provider_options.gemini: thinking_level and thinking_budget cannot be used together", provider)
    if level is not None and style in ("budget", "none"):
        raise CapabilityMissing(
            f"provider_options.gemini.thinking_level: {model} takes no thinking level (Gemini 3 models do)",
            option="provider_options.gemini.thinking_level",
            provider=provider,
        )
    if reasoning is not None:
        effort, asked = reasoning.effort, reasoning.budget_tokens
        pro = "-pro" in model
        if not reasoning.enabled:
            if level is None and budget is None:
                if style == "level":
                    if pro:
                        raise CapabilityMissing(
                            f"options.reasoning: {model} always thinks; its least is effort 'low'",
                            option="reasoning.effort",
                            provider=provider,
                        )
                    level = "MINIMAL"
                elif style != "none":
                    span = budget_range(model)
                    if span is not None and not span[2]:
                        raise CapabilityMissing(
                            f"options.reasoning: {model} always thinks (its least budget is {span[0]})",
                            option="reasoning.effort" if effort is ReasoningEffort.NONE else "reasoning.budget_tokens",
                            provider=provider,
                        )
                    budget = 0
        else:
            if style == "none":
                raise CapabilityMissing(
                    f"options.reasoning: {model} does not think", capability=Capability.REASONING, provider=provider
                )
            include = True
            if level is None and budget is None:
                if style == "level" and effort is not None:
                    level = "LOW" if pro and effort is ReasoningEffort.MINIMAL else _LEVEL[effort]
                elif asked is not None:
                    budget = _checked_budget(model, asked, provider)
                elif effort is not None:
                    budget = _effort_budget(model, effort)
                elif style != "level":
                    budget = -1
    if own.include_thoughts is not None:
        include = own.include_thoughts
    config: dict[str, Any] = {}
    if include is not None:
        config["includeThoughts"] = include
    if level is not None:
        config["thinkingLevel"] = level
    if budget is not None:
        config["thinkingBudget"] = budget
    return config or None


def _checked_budget(model: str, budget: int, provider: str) -> int:
    span = budget_range(model)
    if span is not None and not span[0] <= budget <= span[1]:
        raise CapabilityMissing(
            f"options.reasoning.budget_tokens: {model} takes a thinking budget from {span[0]} to {span[1]}, "
            f"got {budget}",
            option="reasoning.budget_tokens",
            provider=provider,
        )
    if budget > _INT32:
        raise _invalid(f"options.reasoning.budget_tokens: at most {_INT32}, got {budget}", provider)
    return budget


def _effort_budget(model: str, effort: ReasoningEffort) -> int:
    span = budget_range(model)
    if effort is ReasoningEffort.MAX:
        return span[1] if span is not None else _UNKNOWN_MAX_BUDGET
    budget = _BUDGET[effort]
    return budget if span is None else min(max(budget, span[0]), span[1])


def _tools(request: ChatRequest, body: dict[str, Any], provider: str) -> None:
    options = request.options
    names: set[str] = set()
    declarations = []
    for i, tool in enumerate(options.tools):
        if not _TOOL_NAME.fullmatch(tool.name):
            raise _invalid(
                f"options.tools[{i}].name: Gemini wants a letter or '_' then up to 63 letters, digits, "
                f"'_', '.', ':' or '-', got {tool.name!r}",
                provider,
            )
        if tool.name in names:
            raise _invalid(f"options.tools[{i}].name: {tool.name!r} is given twice", provider)
        names.add(tool.name)
        parameters = dict(tool.parameters)
        if parameters.get("type", "object") != "object":
            raise _invalid(
                f"options.tools[{i}].parameters: Gemini takes an object schema, got type {parameters['type']!r}",
                provider,
            )
        # Real JSON Schema, as the caller wrote it: parametersJsonSchema takes what the
        # OpenAPI-subset `parameters` would refuse ($defs, additionalProperties, const, ...).
        declarations.append({"name": tool.name, "description": tool.description, "parametersJsonSchema": parameters})
    if declarations:
        body["tools"] = [{"functionDeclarations": declarations}]
    choice = options.tool_choice
    if choice is None:
        return
    if choice.mode is ToolChoiceMode.FUNCTION:
        if choice.name not in names:
            raise _invalid(f"options.tool_choice: the tool {choice.name!r} is not in options.tools", provider)
        body["toolConfig"] = {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [choice.name]}}
    elif choice.mode is ToolChoiceMode.REQUIRED and not names:
        raise _invalid("options.tool_choice: 'required' needs options.tools", provider)
    elif names:
        body["toolConfig"] = {"functionCallingConfig": {"mode": _CHOICE[choice.mode]}}
    # auto/none without tools say nothing Gemini needs to hear.


def _generation_config(request: ChatRequest, own: GeminiOptions, provider: str) -> dict[str, Any]:
    options = request.options
    config: dict[str, Any] = {}
    if options.temperature is not None:
        config["temperature"] = _number("temperature", options.temperature, 0.0, 2.0, provider)
    if options.top_p is not None:
        config["topP"] = _number("top_p", options.top_p, 0.0, 1.0, provider)
    if options.top_k is not None:
        config["topK"] = _count("top_k", options.top_k, 1, provider)
    if options.max_tokens is not None:
        config["maxOutputTokens"] = _count("max_tokens", options.max_tokens, 1, provider)
    if options.stop:
        if len(options.stop) > _MAX_STOP:
            raise CapabilityMissing(
                f"options.stop: Gemini takes at most {_MAX_STOP} stop sequences, got {len(options.stop)}",
                option="stop",
                provider=provider,
            )
        if not all(isinstance(s, str) and s for s in options.stop):
            raise _invalid("options.stop: stop sequences are non-empty strings", provider)
        config["stopSequences"] = list(options.stop)
    if options.seed is not None:
        if isinstance(options.seed, bool) or not isinstance(options.seed, int) or abs(options.seed) > _INT32:
            raise _invalid(f"options.seed: Gemini takes a 32-bit integer, got {options.seed!r}", provider)
        config["seed"] = options.seed
    fmt = options.response_format
    if fmt is not None:
        if fmt.kind is ResponseFormatKind.TEXT:
            config["responseMimeType"] = "text/plain"
        else:
            config["responseMimeType"] = "application/json"
            if fmt.kind is ResponseFormatKind.JSON_SCHEMA:
                # Full JSON Schema (responseJsonSchema), not the OpenAPI subset of responseSchema.
                config["responseJsonSchema"] = dict(fmt.schema or {})
    if own.presence_penalty is not None:
        config["presencePenalty"] = own.presence_penalty
    if own.frequency_penalty is not None:
        config["frequencyPenalty"] = own.frequency_penalty
    if own.media_resolution is not None:
        config["mediaResolution"] = _MEDIA_RESOLUTION[own.media_resolution]
    thinking = _thinking(request, own, provider)
    if thinking is not None:
        config["thinkingConfig"] = thinking
    return config


def _check_capabilities(request: ChatRequest, capabilities: frozenset[Capability] | None, provider: str) -> None:
    """Refuse what the model is known not to do (an unknown model is let through to answer for itself)."""
    if capabilities is None:
        return
    options = request.options
    if options.tools and not (options.tool_choice is not None and options.tool_choice.mode is ToolChoiceMode.NONE):
        _needs(capabilities, Capability.FUNCTION_CALLING, "options.tools", provider)
    fmt = options.response_format
    if fmt is not None and fmt.kind is ResponseFormatKind.JSON:
        _needs(capabilities, Capability.JSON_MODE, "options.response_format", provider)
    elif fmt is not None and fmt.kind is ResponseFormatKind.JSON_SCHEMA:
        _needs(capabilities, Capability.JSON_SCHEMA, "options.response_format", provider)
    if options.reasoning is not None and options.reasoning.enabled:
        _needs(capabilities, Capability.REASONING, "options.reasoning", provider)
    for index, message in enumerate(request.messages):
        for i, part in enumerate(message.content):
            if type(part) is ImagePart:
                _needs(capabilities, Capability.VISION, f"messages[{index}].content[{i}]", provider)
            elif type(part) is DocumentPart:
                _needs(capabilities, Capability.DOCUMENTS, f"messages[{index}].content[{i}]", provider)


def encode_request(
    request: ChatRequest, *, provider: str, capabilities: frozenset[Capability] | None = None
) -> dict[str, Any]:
    """The JSON body of ``:generateContent`` / ``:streamGenerateContent`` for ``request``.

    ``capabilities`` is what the model is known to do (``None``: unknown,
    nothing is refused for it). Raises :class:`~clawdesk.InvalidRequest` for
    what no one could take (numbers out of range, a forced tool that was not
    given, a tool result whose tool has no name, an empty user message,
    cached content together with a system instruction or tools, ...) and
    :class:`~clawdesk.CapabilityMissing` for what another model may honour
    (more than 5 stop sequences, a system message after the conversation
    started, names on messages, a capability the model lacks, a reasoning
    setting the model cannot take).
    """
    if not request.messages:
        raise _invalid("messages: at least one message is needed", provider)
    model = request.model.removeprefix("models/")
    own = request.provider_options if isinstance(request.provider_options, GeminiOptions) else _DEFAULT_OPTIONS
    _check_capabilities(request, capabilities, provider)
    system, contents = _contents(request.messages, model, provider)
    if not contents:
        raise _invalid("messages: Gemini needs at least one user message besides system messages", provider)
    if system and model.startswith("gemma-"):
        raise CapabilityMissing(
            f"messages: {model} takes no system instruction on the Gemini API", option="messages", provider=provider
        )
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": system}
    _tools(request, body, provider)
    config = _generation_config(request, own, provider)
    if config:
        body["generationConfig"] = config
    if own.safety_settings:
        body["safetySettings"] = [{"category": c, "threshold": t} for c, t in own.safety_settings.items()]
    if own.cached_content is not None:
        if system or "tools" in body or "toolConfig" in body:
            raise _invalid(
                "provider_options.gemini.cached_content: Gemini takes no system instruction or tools next to "
                "cached content (put them in the cache)",
                provider,
            )
        body["cachedContent"] = own.cached_content
    return body


# -- answers -------------------------------------------------------------------------


def finish_reason(raw: str | None, *, tool_calls: bool = False) -> FinishReason:
    """The normalised reason for Gemini's ``finishReason``.

    ``STOP`` is :attr:`~FinishReason.TOOL_CALLS` when the answer asks for
    tools (Gemini has no reason of its own for that), ``MAX_TOKENS`` is
    ``LENGTH``, the safety reasons (``SAFETY``, ``RECITATION``,
    ``PROHIBITED_CONTENT``, ...) are ``CONTENT_FILTER``, anything else is
    ``OTHER``.
    """
    if raw == "STOP":
        return FinishReason.TOOL_CALLS if tool_calls else FinishReason.STOP
    if raw == "MAX_TOKENS":
        return FinishReason.LENGTH
    if raw in CONTENT_FILTER_REASONS:
        return FinishReason.CONTENT_FILTER
    return FinishReason.OTHER


def _token_count(data: Mapping[str, Any], key: str) -> int | None:
    value = data.get(key)
    return value if type(value) is int and value >= 0 else None


def usage_from(data: Any) -> Usage | None:
    """Token counts from ``usageMetadata`` (``None`` when there is none).

    Input is ``promptTokenCount`` (cached content included) plus
    ``toolUsePromptTokenCount``; output is ``candidatesTokenCount`` plus
    ``thoughtsTokenCount`` (Gemini bills thinking as output but counts it
    apart); ``cachedContentTokenCount`` is the cached part of the input and
    ``thoughtsTokenCount`` the reasoning part of the output. Google leaves
    zero counts out, so a missing count in a report that has
    ``promptTokenCount`` or ``totalTokenCount`` is 0.
    """
    if not isinstance(data, Mapping):
        return None
    prompt = _token_count(data, "promptTokenCount")
    tool = _token_count(data, "toolUsePromptTokenCount")
    candidates = _token_count(data, "candidatesTokenCount")
    thoughts = _token_count(data, "thoughtsTokenCount")
    cached = _token_count(data, "cachedContentTokenCount")
    reported = prompt is not None or _token_count(data, "totalTokenCount") is not None
    if not reported:
        return Usage(raw=dict(data))
    return Usage(
        (prompt or 0) + (tool or 0),
        (candidates or 0) + (thoughts or 0),
        cache_read_tokens=cached,
        reasoning_tokens=thoughts,
        raw=dict(data),
    )


def _error_object(data: Any) -> Mapping[str, Any] | None:
    """Google's ``error`` object where an answer was expected (a body, a chunk, a list holding one)."""
    if isinstance(data, Mapping) and "candidates" in data:
        return None
    return google_status(data)


def _blocked(data: Mapping[str, Any], provider: str, request_id: str | None) -> ContentFiltered | None:
    """The error for a prompt Gemini's filters blocked (``promptFeedback.blockReason``), else ``None``."""
    feedback = data.get("promptFeedback")
    if not isinstance(feedback, Mapping):
        return None
    reason = feedback.get("blockReason")
    if not isinstance(reason, str) or not reason or reason == "BLOCK_REASON_UNSPECIFIED":
        return None
    detail = feedback.get("blockReasonMessage")
    why = f": {detail}" if isinstance(detail, str) and detail else ""
    return ContentFiltered(
        f"Gemini blocked the prompt ({reason}){why}", reason=reason, provider=provider, request_id=request_id
    )


def _failure(raw: str | None, candidate: Mapping[str, Any], provider: str, request_id: str | None) -> ApiError | None:
    """The error for a ``finishReason`` that means the model produced no usable answer, else ``None``."""
    if raw not in _RETRYABLE_FAILURES and raw not in _FAILURES:
        return None
    message = candidate.get("finishMessage")
    detail = f": {message}" if isinstance(message, str) and message else ""
    return ApiError(
        f"the model stopped with finishReason {raw}{detail}",
        provider=provider,
        retryable=raw in _RETRYABLE_FAILURES,
        request_id=request_id,
    )


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _call(part: Mapping[str, Any], position: int, seed: str, provider: str) -> ToolCall:
    function = part["functionCall"]
    name = function.get("name") if isinstance(function, Mapping) else None
    if not isinstance(name, str) or not name:
        raise ApiError("the answer has a function call without a name", provider=provider)
    assert isinstance(function, Mapping)
    arguments = parse_arguments(function.get("args"), name=name, provider=provider)
    call_id = _string(function.get("id")) or stable_call_id(seed, position, name, arguments)
    return ToolCall(call_id, name, arguments, signature=_string(part.get("thoughtSignature")))


def _unsupported(part: Mapping[str, Any], provider: str) -> ApiError | None:
    for key in _UNSUPPORTED_PARTS:
        if key in part:
            return ApiError(f"the answer holds a {key} part, which clawdesk has no place for", provider=provider)
    return None


def _inline(part: Mapping[str, Any], provider: str) -> ImagePart | DocumentPart:
    blob = part["inlineData"]
    mime = blob.get("mimeType") if isinstance(blob, Mapping) else None
    data = blob.get("data") if isinstance(blob, Mapping) else None
    if not isinstance(mime, str) or not mime or not isinstance(data, str):
        raise ApiError("the answer has inline data without a MIME type or data", provider=provider)
    try:
        raw = base64.b64decode(data, altchars=b"-_" if ("-" in data or "_" in data) else None, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError("the answer's inline data is not base64", provider=provider) from None
    if mime.startswith("image/"):
        return ImagePart(data=raw, media_type=mime)
    return DocumentPart(data=raw, media_type=mime)


def _read_part(
    part: Mapping[str, Any], position: int, seed: str, provider: str
) -> TextPart | ReasoningPart | ImagePart | DocumentPart | ToolCall | None:
    """What one part of the model's answer is, with its signature; ``None`` for a part that carries nothing.

    ``position`` is the number of calls before this part in the answer and
    ``seed`` the answer's ``responseId`` (for the id of a call that has none).
    Raises :class:`~clawdesk.ApiError` for a part clawdesk has no place for.
    """
    problem = _unsupported(part, provider)
    if problem is not None:
        raise problem
    if "functionCall" in part:
        return _call(part, position, seed, provider)
    if "inlineData" in part:
        return _inline(part, provider)
    signature = _string(part.get("thoughtSignature"))
    text = part.get("text")
    text = text if isinstance(text, str) else ""
    if not text and not signature:
        return None
    if part.get("thought") is True:
        return ReasoningPart(text, signature=signature, source=PLUGIN)
    return TextPart(text, signature=signature)


def _metadata(data: Mapping[str, Any], candidate: Mapping[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, name in (("responseId", "response_id"), ("modelVersion", "model_version")):
        if isinstance(data.get(key), str):
            out[name] = data[key]
    feedback = data.get("promptFeedback")
    if isinstance(feedback, Mapping) and feedback:
        out["prompt_feedback"] = dict(feedback)
    if candidate is not None:
        for key, name in (
            ("finishMessage", "finish_message"),
            ("safetyRatings", "safety_ratings"),
            ("citationMetadata", "citation_metadata"),
            ("groundingMetadata", "grounding_metadata"),
            ("urlContextMetadata", "url_context_metadata"),
            ("avgLogprobs", "avg_logprobs"),
            ("logprobsResult", "logprobs_result"),
        ):
            if key in candidate:
                out[name] = candidate[key]
    return out


def _parts_of(candidate: Mapping[str, Any], provider: str) -> list[Mapping[str, Any]]:
    content = candidate.get("content")
    if content is None:
        return []
    parts = content.get("parts") if isinstance(content, Mapping) else None
    if parts is None:
        return []
    if not isinstance(parts, list) or not all(isinstance(p, Mapping) for p in parts):
        raise ApiError("the answer's content.parts is not a list of objects", provider=provider)
    return parts


def decode_response(data: Any, *, model: str, provider: str, error_from: ErrorFrom | None = None) -> ChatResponse:
    """A :class:`~clawdesk.ChatResponse` from a ``GenerateContentResponse``.

    Raises :class:`~clawdesk.ContentFiltered` for a blocked prompt,
    :class:`~clawdesk.ApiError` for an answer without a candidate, for a
    ``finishReason`` that says the model failed (``MALFORMED_FUNCTION_CALL``
    and the like; retryable where asking again may help), for an empty
    answer that claims to be complete (retryable: Gemini sometimes sends
    one) and for parts clawdesk has no place for. An answer a filter
    stopped is returned, with what it holds and
    :attr:`~clawdesk.FinishReason.CONTENT_FILTER`. ``error_from`` turns an
    ``{"error": ...}`` body into its error. The id is ``responseId``;
    ``metadata`` holds ``response_id``, ``model_version``,
    ``prompt_feedback`` and the candidate's ``finish_message``,
    ``safety_ratings``, ``citation_metadata``, ``grounding_metadata``,
    ``url_context_metadata``, ``avg_logprobs`` and ``logprobs_result``, where
    Gemini sent them.
    """
    error = _error_object(data)
    if error is not None and error_from is not None:
        raise error_from(error)
    if not isinstance(data, Mapping):
        raise ApiError("the answer is not a JSON object", provider=provider)
    response_id = _string(data.get("responseId"))
    blocked = _blocked(data, provider, response_id)
    if blocked is not None:
        raise blocked
    candidates = data.get("candidates")
    if not isinstance(candidates, list) or not candidates or not isinstance(candidates[0], Mapping):
        raise ApiError("the answer has no candidates", provider=provider, retryable=True, request_id=response_id)
    candidate = candidates[0]
    raw = _string(candidate.get("finishReason"))
    failure = _failure(raw, candidate, provider, response_id)
    if failure is not None:
        raise failure
    content: list[ContentPart] = []
    calls: list[ToolCall] = []
    seed = response_id or ""
    for part in _parts_of(candidate, provider):
        piece = _read_part(part, len(calls), seed, provider)
        if isinstance(piece, ToolCall):
            calls.append(piece)
        elif piece is not None:
            content.append(piece)
    reason = finish_reason(raw, tool_calls=bool(calls))
    if (
        reason in (FinishReason.STOP, FinishReason.TOOL_CALLS)
        and not calls
        and not any((type(p) is TextPart and p.text) or type(p) in (ImagePart, DocumentPart) for p in content)
    ):
        raise ApiError(
            "the model returned an empty answer (finishReason STOP without text or calls)",
            provider=provider,
            retryable=True,
            request_id=response_id,
        )
    answered = _string(data.get("modelVersion"))
    return ChatResponse(
        message=Message(Role.ASSISTANT, tuple(content), tool_calls=tuple(calls)),
        finish_reason=reason,
        finish_reason_raw=raw,
        usage=usage_from(data.get("usageMetadata")) or Usage(),
        provider=provider,
        model=answered or model,
        request_id=response_id,
        metadata=_metadata(data, candidate),
    )


class ChunkReader:
    """The events of one streamed answer, chunk by chunk (each chunk a ``GenerateContentResponse``).

    :meth:`feed` takes one parsed chunk and gives its events at once (text,
    thoughts, whole function calls); :attr:`finished` turns true at the
    chunk whose candidate carries a ``finishReason`` (Gemini's only sign that
    the answer is whole); :meth:`tail` then gives the usage and the
    :class:`~clawdesk.Finish`. The same errors as :func:`decode_response`
    are raised, when their chunk comes.
    """

    __slots__ = ("_calls", "_error_from", "_provider", "_raw", "_said", "_usage", "finished", "response_id")

    def __init__(self, provider: str, *, error_from: ErrorFrom | None = None) -> None:
        self._provider = provider
        self._error_from = error_from
        self._calls = 0
        self._said = False  # whether any text, call or inline data came (an empty "answer" is an error)
        self._usage: Any = None  # the last usageMetadata, read once at the end
        self._raw: str | None = None
        #: Whether a candidate carried a finishReason (the answer is whole).
        self.finished = False
        #: Gemini's ``responseId`` of the answer (the same on every chunk), once seen.
        self.response_id: str | None = None

    def feed(self, data: Any) -> list[StreamEvent]:
        """The events one chunk brings; raises the typed error a chunk reports.

        This runs once per streamed chunk: it checks types with ``type(...)
        is`` (parsed JSON objects are plain dicts) rather than against the
        ``Mapping`` ABC, and a plain text part takes the shortest path.
        """
        provider = self._provider
        if type(data) is not dict:
            raise ApiError("a stream chunk is not a JSON object", provider=provider)
        if "error" in data:
            error = _error_object(data)
            if error is not None and self._error_from is not None:
                raise self._error_from(error)
        if self.response_id is None:
            self.response_id = _string(data.get("responseId"))
        if "promptFeedback" in data:
            blocked = _blocked(data, provider, self.response_id)
            if blocked is not None:
                raise blocked
        usage = data.get("usageMetadata")
        if usage is not None:
            self._usage = usage  # cumulative: the last one counts
        candidates = data.get("candidates")
        if type(candidates) is not list or not candidates or type(candidates[0]) is not dict:
            return []
        candidate = candidates[0]
        content = candidate.get("content")
        parts = content.get("parts") if type(content) is dict else None
        events: list[StreamEvent] = []
        if parts:
            if type(parts) is not list:
                raise ApiError("the answer's content.parts is not a list of objects", provider=provider)
            for part in parts:
                if type(part) is not dict:
                    raise ApiError("the answer's content.parts is not a list of objects", provider=provider)
                text = part.get("text")
                if type(text) is str and len(part) == 1:
                    # The common chunk: plain answer text.
                    if text:
                        events.append(TextDelta(text))
                        self._said = True
                    continue
                self._part(part, events)
        raw = candidate.get("finishReason")
        if raw is not None and type(raw) is str and raw:
            failure = _failure(raw, candidate, provider, self.response_id)
            if failure is not None:
                raise failure
            self._raw = raw
            self.finished = True
        return events

    def _part(self, part: dict[str, Any], events: list[StreamEvent]) -> None:
        if "inlineData" in part:
            raise ApiError(
                "the streamed answer holds inline data, which a stream cannot carry", provider=self._provider
            )
        piece = _read_part(part, self._calls, self.response_id or "", self._provider)
        if type(piece) is ToolCall:
            events.append(ToolCallEvent(piece))
            self._calls += 1
            self._said = True
        elif type(piece) is ReasoningPart:
            events.append(ReasoningDelta(piece.text, signature=piece.signature, source=PLUGIN))
        elif type(piece) is TextPart:
            events.append(TextDelta(piece.text, signature=piece.signature))
            self._said = self._said or bool(piece.text)

    def tail(self) -> list[StreamEvent]:
        """The usage (if any was reported) and the Finish; raises for an empty answer that claims to be complete."""
        reason = finish_reason(self._raw, tool_calls=self._calls > 0)
        if reason is FinishReason.STOP and not self._said:
            raise ApiError(
                "the model returned an empty answer (finishReason STOP without text or calls)",
                provider=self._provider,
                retryable=True,
                request_id=self.response_id,
            )
        out: list[StreamEvent] = []
        usage = usage_from(self._usage)
        if usage is not None:
            out.append(UsageEvent(usage))
        out.append(Finish(reason, self._raw, request_id=self.response_id))
        return out
